"""What the tests share: the repository's fixtures, plan files as `mohawk plan` writes them, small token
stores, and runs of the trainer in this process or in several (gloo) processes."""
import json
import os
import socket
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
ROOT = os.path.dirname(PYTHON_DIR)
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
FAMILIES = ("gpt2", "llama-gqa", "gpt_neox", "phi", "llama-bf16", "qwen2", "qwen3", "mistral-swa", "llama3-rope", "gemma3")
sys.path.insert(0, PYTHON_DIR)


def plan_file(path, **over):
    """A plan file (format mohawk-plan, version 1) with the studio's defaults but small budgets."""
    plan = {"stages": [1, 2, 3], "tokens": {"1": 128, "2": 128, "3": 128}, "lr": {"1": 0.001, "2": 0.001, "3": 0.0003},
            "seq_len": 32, "batch": 2, "accumulate": 1, "warmup": 0.05, "decay": 0.2, "max_grad_norm": 1, "weight_decay": 0,
            "temperature": 1, "freeze_mlp": False, "attention_layers": [], "seed": 1, "stream_layers": False,
            "packing": "across", "recompute": "auto"}
    plan.update(over)
    doc = {"format": "mohawk-plan", "version": 1, "made_by": "tests", "made_at": "2026-01-01T00:00:00.000Z",
           "teacher": {"name": "fixture"}, "plan": plan,
           "data": {"text_column": "text", "skip_bad_lines": False, "docs": None, "held_out": 0.1},
           "evaluation": {"docs": 4, "tokens": 64}}
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def random_store(path, vocab=512, docs=24, seed=0):
    """A token store of `docs` documents of random ids (BOS 1 first), lengths 40..120."""
    from mohawk_torch.tokens import write_store
    rng = np.random.default_rng(seed)
    write_store(path, [[1] + rng.integers(3, vocab, size=int(rng.integers(40, 120))).tolist() for _ in range(docs)], vocab)
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_distill(args, processes=1, timeout=300):
    """`python3 -m mohawk_torch.distill ARGS` in `processes` gloo processes (env:// rendezvous, as torchrun
    sets it; Debian's torchrun 1.13 does not start on Python 3.11); rank 0's stdout, every stderr, exit codes."""
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR, PYTHONUNBUFFERED="1")
    env.pop("CUDA_VISIBLE_DEVICES", None)
    port = str(free_port())
    procs = []
    for r in range(processes):
        e = dict(env, MASTER_ADDR="127.0.0.1", MASTER_PORT=port, WORLD_SIZE=str(processes), RANK=str(r), LOCAL_RANK=str(r)) if processes > 1 else env
        procs.append(subprocess.Popen([sys.executable, "-m", "mohawk_torch.distill", "--device", "cpu", *args], env=e,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=timeout) for p in procs]
    return outs[0][0], "\n".join(o[1] for o in outs), [p.returncode for p in procs]


def json_lines(text):
    return [json.loads(ln) for ln in text.splitlines() if ln.startswith("{")]


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)
