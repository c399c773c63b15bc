#!/usr/bin/env python3
"""A small Llama teacher of more layers than stories260K's five, trained here on TinyStories, for the
hybrid advisor's benchmark (issue 15, scripts/bench/hybrid_gpu.sh). Which layers a hybrid should keep
as attention is a question about trained attention: random weights (shaped_teacher.py) would not do,
and no larger real checkpoint can be fetched on the GPU machine (/work/shared/data/README.md).

    python3 scripts/bench/small_teacher.py --out DIR --corpus FILE [--layers 6] [--d 128] [--heads 4]
        [--steps 3000] [--batch 64] [--seq 256] [--lr 3e-3] [--train-docs 0.85] [--seed 0]

DIR gets config.json and model.safetensors (LlamaForCausalLM, f32, save_pretrained) and the built-in
teacher's tokenizer.json and tokenizer_config.json (stories260K's 512-id BPE, public/teacher), so the
corpus tokenizes as `mohawk distill` tokenizes it. The teacher trains on the first --train-docs of the
corpus's documents only: `mohawk distill` holds out the last 10%, which it must never have seen. The
last line of stdout is a JSON object: the shape, the steps, the seconds and the NLL on the documents
it did not train on.
"""
import argparse
import json
import math
import os
import re
import shutil
import time

import torch
import transformers
from tokenizers import Tokenizer

EOT = '<|endoftext|>'
HERE = os.path.dirname(os.path.abspath(__file__))
BUILTIN = os.path.join(HERE, '..', '..', 'public', 'teacher', 'stories260K')


def documents(text):
    """As src/io/corpus.ts splitDocuments: on <|endoftext|>, else on blank lines; trimmed, non-empty."""
    t = text.replace('\r\n', '\n').replace('\r', '\n')
    parts = t.split(EOT) if EOT in t else re.split(r'\n[ \t\f\v]*\n', t)
    return [s for s in (p.strip() for p in parts) if s]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', required=True)
    ap.add_argument('--corpus', required=True)
    ap.add_argument('--layers', type=int, default=6)
    ap.add_argument('--d', type=int, default=128)
    ap.add_argument('--heads', type=int, default=4)
    ap.add_argument('--steps', type=int, default=3000)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--seq', type=int, default=256)
    ap.add_argument('--lr', type=float, default=3e-3)
    ap.add_argument('--train-docs', type=float, default=0.85)
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    t0 = time.time()
    torch.manual_seed(a.seed)
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'

    tok = Tokenizer.from_file(os.path.join(BUILTIN, 'tokenizer.json'))
    docs = documents(open(a.corpus, encoding='utf-8').read())
    n_train = int(len(docs) * a.train_docs)
    ids = lambda ds: [i for d in ds for i in tok.encode(d).ids]
    train = torch.tensor(ids(docs[:n_train]), dtype=torch.long, device=dev)
    held = [torch.tensor(tok.encode(d).ids[: a.seq], dtype=torch.long, device=dev) for d in docs[n_train:]]

    config = transformers.LlamaConfig(
        vocab_size=512, hidden_size=a.d, intermediate_size=int(a.d * 8 / 3 + 7) // 8 * 8, num_hidden_layers=a.layers,
        num_attention_heads=a.heads, num_key_value_heads=a.heads, head_dim=a.d // a.heads, max_position_embeddings=512,
        rms_norm_eps=1e-5, rope_theta=10000.0, hidden_act='silu', tie_word_embeddings=True, attention_bias=False, mlp_bias=False,
        bos_token_id=1, eos_token_id=2,
    )
    config.architectures = ['LlamaForCausalLM']
    model = transformers.LlamaForCausalLM(config).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=0.1)
    warm = max(1, a.steps // 30)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: min(1.0, (k + 1) / warm) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, k / a.steps)))))
    model.train()
    for step in range(a.steps):
        starts = torch.randint(0, train.numel() - a.seq - 1, (a.batch,), device=dev)
        x = torch.stack([train[s: s + a.seq] for s in starts.tolist()])
        with torch.autocast(device_type='cuda', dtype=torch.bfloat16, enabled=dev == 'cuda'):
            loss = model(input_ids=x, labels=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 500 == 0 or step == a.steps - 1:
            print(f'step {step} loss {loss.item():.4f}', flush=True)

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for d in held[:200]:
            if d.numel() < 2:
                continue
            logits = model(input_ids=d[None]).logits.float()[0, :-1]
            total += torch.nn.functional.cross_entropy(logits, d[1:], reduction='sum').item()
            count += d.numel() - 1
    model.save_pretrained(a.out, safe_serialization=True)
    for name in ('tokenizer.json', 'tokenizer_config.json'):
        shutil.copy(os.path.join(BUILTIN, name), os.path.join(a.out, name))
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({
        'out': a.out, 'layers': a.layers, 'd_model': a.d, 'heads': a.heads, 'parameters': params, 'steps': a.steps,
        'train_docs': n_train, 'train_tokens': train.numel(), 'held_out_nll': total / max(1, count), 'seconds': round(time.time() - t0, 1),
    }))


if __name__ == '__main__':
    main()
