#!/usr/bin/env python3
"""A randomly initialised GPT-2-small teacher for the stage-3 throughput benchmark (issue 5).

    python3 scripts/bench/gpt2_small_teacher.py --out DIR --corpus FILE [--seed 0] [--tokenizer-only]

DIR gets what `mohawk distill --teacher` reads: config.json and model.safetensors (transformers'
GPT2Config() defaults: 12 layers, d 768, 12 heads, vocab 50257, 1024 positions; GPT2LMHeadModel,
save_pretrained as safetensors), tokenizer.json, tokenizer_config.json, and corpus_ids.npy (the
corpus's token ids, int32, for scripts/bench/stage3_torch.py to sample the same kind of windows).

The tokenizer is a WordLevel one with exactly 50257 ids, built from the corpus (no GPT-2 BPE can
be fetched on the GPU machine): id 0 <unk>, then the corpus's words by frequency, then unused
fillers, and <|endoftext|> at 50256 as in GPT-2. Words are split as the Whitespace pre-tokenizer of
@huggingface/tokenizers (the library `mohawk` uses) splits them: `\\w+|[^\\w\\s]+` with JavaScript's
ASCII \\w and its \\s. The library gives no id at all for a word missing from a WordLevel vocabulary,
so every word of the corpus is in it; the weights are random, so only shapes and the spread of ids
matter for the benchmark, not what the ids mean.
"""
import argparse
import collections
import json
import os
import re

VOCAB = 50257
EOT = '<|endoftext|>'
# JavaScript's \s (ECMAScript WhiteSpace and LineTerminator), spelled out so that Python splits alike.
JS_SPACE = '\t\n\x0b\x0c\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff'
PIECE = re.compile(f'[A-Za-z0-9_]+|[^A-Za-z0-9_{JS_SPACE}]+')


def documents(text):
    """As src/io/corpus.ts splitDocuments: on <|endoftext|>, else on blank lines; trimmed, non-empty."""
    t = text.replace('\r\n', '\n').replace('\r', '\n')
    parts = t.split(EOT) if EOT in t else re.split(r'\n[ \t\f\v]*\n', t)
    return [s for s in (p.strip() for p in parts) if s]


def build_tokenizer(text):
    docs = [PIECE.findall(d) for d in documents(text)]
    counts = collections.Counter(w for d in docs for w in d)
    words = [w for w, _ in sorted(counts.items(), key=lambda kv: -kv[1])]
    if len(words) > VOCAB - 2:
        raise SystemExit(f'the corpus has {len(words)} distinct words, more than {VOCAB - 2} ids')
    vocab = {'<unk>': 0}
    for w in words:
        vocab[w] = len(vocab)
    for i in range(len(vocab), VOCAB - 1):
        vocab[f'<unused_{i}>'] = i
    vocab[EOT] = VOCAB - 1
    special = lambda i, c: {'id': i, 'content': c, 'single_word': False, 'lstrip': False, 'rstrip': False, 'normalized': False, 'special': True}
    tokenizer = {
        'version': '1.0', 'truncation': None, 'padding': None,
        'added_tokens': [special(0, '<unk>'), special(VOCAB - 1, EOT)],
        'normalizer': None, 'pre_tokenizer': {'type': 'Whitespace'}, 'post_processor': None,
        'decoder': {'type': 'WordPiece', 'prefix': '##', 'cleanup': True},
        'model': {'type': 'WordLevel', 'vocab': vocab, 'unk_token': '<unk>'},
    }
    config = {'tokenizer_class': 'PreTrainedTokenizerFast', 'bos_token': EOT, 'eos_token': EOT, 'unk_token': '<unk>',
              'add_bos_token': False, 'model_max_length': 1024}
    ids = [vocab[w] for d in docs for w in d]
    return tokenizer, config, ids, len(words)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True)
    ap.add_argument('--corpus', required=True)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--tokenizer-only', action='store_true', help='write the tokenizer files and corpus ids, no model')
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    tokenizer, tcfg, ids, n_words = build_tokenizer(open(a.corpus, encoding='utf-8').read())
    json.dump(tokenizer, open(os.path.join(a.out, 'tokenizer.json'), 'w', encoding='utf-8'), ensure_ascii=False)
    json.dump(tcfg, open(os.path.join(a.out, 'tokenizer_config.json'), 'w'), indent=2)
    import numpy as np
    np.save(os.path.join(a.out, 'corpus_ids.npy'), np.asarray(ids, dtype=np.int32))
    print(f'tokenizer: {n_words} corpus words + fillers = {VOCAB} ids; corpus {len(ids)} tokens')
    if a.tokenizer_only:
        return

    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(a.seed)
    cfg = GPT2Config()
    model = GPT2LMHeadModel(cfg).float().eval()
    try:
        model.save_pretrained(a.out, safe_serialization=True)
    except TypeError:  # transformers versions that always write safetensors dropped the argument
        model.save_pretrained(a.out)
    if not os.path.exists(os.path.join(a.out, 'model.safetensors')):
        raise SystemExit(f'{a.out}: save_pretrained wrote no model.safetensors ({os.listdir(a.out)})')
    n = sum(p.numel() for p in model.parameters())
    print(f'GPT-2 small (random, seed {a.seed}): {cfg.n_layer} layers, d {cfg.n_embd}, {cfg.n_head} heads, vocab {cfg.vocab_size}, {n:,} parameters -> {a.out}')


if __name__ == '__main__':
    main()
