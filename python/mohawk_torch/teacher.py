"""The frozen teacher: transformers' own model when the package is installed (every family the studio
supports), else this package's plain-PyTorch decoder over the same canonical tensors (model.Model). Both
give what the stages read: the logits (stage 3), and per layer, while the forward runs, the attention's
normed input, its probabilities (stage 1) and its output after the output projection (stage 2).

The teacher runs in f32: a 16-bit checkpoint's weights are widened (transformers loads them as f32; the
plain model widens them where they are used), as the studio computes with them.
"""
import hashlib
import json
import os
import struct

import torch

from .canonical import canonical_layout
from .config import parse_config
from .model import Model
from .safetensors_io import Checkpoint


def fingerprint(folder):
    """teacherFilesFingerprint (src/mohawk/run.ts): config.json and each safetensors header, length-prefixed,
    SHA-256, the first 8 bytes in hex: what a checkpoint records so that a resume checks its teacher."""
    h = hashlib.sha256()
    for name in sorted(n for n in os.listdir(folder) if os.path.isfile(os.path.join(folder, n))):
        if name != "config.json" and not name.endswith(".safetensors"):
            continue
        path = os.path.join(folder, name)
        with open(path, "rb") as f:
            if name == "config.json":
                data = f.read()
            else:
                head = f.read(8)
                n = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
                size = os.path.getsize(path)
                data = head + f.read(max(0, min(size, 8 + n) - 8))
        for part in (name.encode("utf-8"), data):
            h.update(struct.pack("<I", len(part)))
            h.update(part)
    return h.digest()[:8].hex()


def transformers_available():
    try:
        import transformers  # noqa: F401
        return True
    except ImportError:
        return False


def _hf_layers(model):
    """Each decoder layer's attention module in a transformers causal LM."""
    base = getattr(model, "model", None) or getattr(model, "transformer", None) or getattr(model, "gpt_neox", None)
    if hasattr(base, "layers"):
        layers = base.layers
    elif hasattr(base, "h"):
        layers = base.h
    else:
        raise TypeError(f"{type(model).__name__}: no decoder layers found")
    out = []
    for layer in layers:
        for name in ("self_attn", "attn", "attention"):
            if hasattr(layer, name):
                out.append((layer, getattr(layer, name)))
                break
        else:
            raise TypeError(f"{type(layer).__name__}: no attention module found")
    return out


class Teacher:
    """folder: config.json, *.safetensors, tokenizer files. impl: 'auto' (transformers when installed),
    'hf' or 'own'."""

    def __init__(self, folder, device, impl="auto"):
        self.folder = folder
        self.name = os.path.basename(os.path.abspath(folder).rstrip("/"))
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
            self.config_json = json.load(f)
        self.arch = parse_config(self.config_json, f"{self.name}/config.json")
        self.ckpt = Checkpoint(folder)
        self.layout, unused = canonical_layout(self.arch, self.ckpt, f"{self.name}'s checkpoint")
        self.warnings = [f"{len(unused)} tensor(s) in the checkpoint are not used: {', '.join(unused[:5])}"] if unused else []
        self.device = device
        if impl == "auto":
            impl = "hf" if transformers_available() else "own"
        self.impl = impl
        if impl == "hf":
            from transformers import AutoModelForCausalLM
            self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")
            self.attn_impl = "eager"
            self.hf_layers = _hf_layers(self.model)
        elif impl == "own":
            self.model = Model(self.arch)
            self.model.load({n: self.layout[n][1]() for n in self.layout})
        else:
            raise ValueError(f"--teacher-impl {impl!r} is not one of auto, hf, own")
        self.model.requires_grad_(False)
        self.model.eval()
        self.model.to(device)
        self.parameters = sum(p.numel() for p in self.model.parameters())

    def read(self, name):
        """A canonical tensor of the teacher (for the student's initial values), in its checkpoint's precision."""
        return self.layout[name][1]()

    def _hf_attention(self, impl):
        if self.attn_impl == impl:
            return
        if hasattr(self.model, "set_attn_implementation"):
            self.model.set_attn_implementation(impl)
        else:
            self.model.config._attn_implementation = impl
        self.attn_impl = impl

    @torch.no_grad()
    def logits(self, ids):
        if self.impl == "hf":
            self._hf_attention("sdpa")
            return self.model(input_ids=ids, use_cache=False).logits.float()
        return self.model(ids)

    @torch.no_grad()
    def taps(self, ids, tap, probs):
        """Runs the teacher over ids, calling tap(layer, normed input, probabilities or None, attention
        output) as each layer's attention is done (the forward goes on after the call returns)."""
        if self.impl == "own":
            self.model(ids, tap=tap, probs=probs, logits=False)
            return
        self._hf_attention("eager" if probs else "sdpa")
        handles = []
        for i, (_, attn) in enumerate(self.hf_layers):
            def hook(mod, args, kwargs, out, i=i):
                u = kwargs.get("hidden_states", args[0] if args else None)
                p = out[1] if probs else None
                if probs and p is None:
                    raise RuntimeError(f"layer {i}: transformers gave no attention probabilities (eager attention needed)")
                tap(i, u, p, out[0])
            handles.append(attn.register_forward_hook(hook, with_kwargs=True))
        try:
            inner = getattr(self.model, "model", None) or getattr(self.model, "transformer", None) or getattr(self.model, "gpt_neox")
            inner(input_ids=ids, use_cache=False, output_attentions=probs)
        finally:
            for h in handles:
                h.remove()
