#!/usr/bin/env python3
"""Python `tokenizers` beside `mohawk tokenize` on the same text and CPU (issue 13, part 5).

    python3 scripts/bench/tokenize_rate.py make --out corpus.txt [--mib 100]
    python3 scripts/bench/tokenize_rate.py rate --tokenizer DIR --data corpus.txt [--threads 1]

`make` writes MIB MiB of TinyStories-like documents: the sentences of public/corpus/tinystories-2MiB.txt
drawn at random (seed 0) into documents of 5-40 sentences, separated by <|endoftext|> lines as the studio
splits plain text, so the text is not one slice repeated (a tokenizer's word cache sees what it would
see on a real corpus of this kind).
`rate` encodes every document with tokenizer.json from DIR (add_special_tokens as the tokenizer's own
post-processor says) by `encode_batch` in batches of 1,000 documents, RAYON_NUM_THREADS threads (1: the
single-thread rate), and prints one JSON object: documents, tokens, seconds, tokens_per_s, threads.
Reading and splitting the file is outside the timed part; `mohawk tokenize` times its reading too.
"""
import argparse
import json
import os
import random
import re
import sys
import time

SEP = '<|endoftext|>'


def make(a):
    here = os.path.dirname(os.path.abspath(__file__))
    text = open(os.path.join(here, '..', '..', 'public', 'corpus', 'tinystories-2MiB.txt'), encoding='utf-8').read()
    sentences = [s.strip() for s in re.split(r'(?<=[.!?])\s+', text.replace(SEP, ' ')) if s.strip()]
    rng = random.Random(0)
    target = a.mib * 2**20
    n = 0
    with open(a.out, 'w', encoding='utf-8') as f:
        while n < target:
            doc = ' '.join(rng.choice(sentences) for _ in range(rng.randint(5, 40)))
            chunk = doc + f'\n{SEP}\n'
            f.write(chunk)
            n += len(chunk.encode('utf-8'))
    print(json.dumps({'out': a.out, 'bytes': n, 'sentences': len(sentences)}))


def rate(a):
    os.environ['RAYON_NUM_THREADS'] = str(a.threads)  # read when the pool first starts
    from tokenizers import Tokenizer, __version__
    tok = Tokenizer.from_file(os.path.join(a.tokenizer, 'tokenizer.json'))
    docs = [d.strip() for d in open(a.data, encoding='utf-8').read().split(SEP)]
    docs = [d for d in docs if d]
    t0 = time.perf_counter()
    tokens = 0
    for i in range(0, len(docs), 1000):
        tokens += sum(len(e.ids) for e in tok.encode_batch(docs[i:i + 1000]))
    dt = time.perf_counter() - t0
    print(json.dumps({'tokenizers': __version__, 'documents': len(docs), 'tokens': tokens, 'seconds': dt, 'tokens_per_s': tokens / dt, 'threads': a.threads, 'cpus': os.cpu_count()}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    m = sub.add_parser('make')
    m.add_argument('--out', required=True)
    m.add_argument('--mib', type=int, default=100)
    r = sub.add_parser('rate')
    r.add_argument('--tokenizer', required=True)
    r.add_argument('--data', required=True)
    r.add_argument('--threads', type=int, default=1)
    a = ap.parse_args()
    make(a) if a.cmd == 'make' else rate(a)


if __name__ == '__main__':
    sys.exit(main())
