"""The three MOHAWK stages as training steps (src/mohawk/stages.ts), teacher-forced, with the studio's
losses, its clipping and AdamW:
  1. matrix orientation: each mixer's SSD matrix L∘(C·Bᵀ) + D on the teacher's normed layer input
     against the teacher's attention probabilities; per (sequence, head) the unsquared Frobenius
     distance; the loss is the mean over layers of the mean over (sequence, head). Trains in_proj, conv, D.
  2. hidden-state alignment: each mixer on the teacher's normed input against the teacher's attention
     output; the loss is the mean over layers of the mean over tokens of the L2 distance. Trains the mixers.
  3. distillation: the whole student against the teacher's logits, soft cross-entropy
     -Σ softmax(t/τ)·log softmax(s/τ), mean over tokens. Trains everything (MLPs frozen if asked).
A step is the plan's batch × accumulate sequences; gradients are those of the mean over all of them
(the studio sums its micro-batches' and scales by 1/accumulate), clipped at the global norm
(clip = min(1, max_norm/(norm + 1e-6))), then AdamW (betas 0.9/0.95, eps 1e-8, decoupled weight decay).

With several processes, rank r takes the r-th W-th of the step's sequences (W must divide batch ×
accumulate) in micro-batches of at most `batch`; every rank runs the same number of micro-batches.
"""
import re

import torch
import torch.nn.functional as F

from .model import Model, Mixer, is_mlp

_SHAPES_MATRIX = re.compile(r"^layers\.\d+\.mixer\.(in_proj\.weight|conv1d\.(weight|bias)|D)$")


def trained_by(stage, freeze_mlp):
    if stage == 1:
        return lambda n: bool(_SHAPES_MATRIX.match(n))
    if stage == 2:
        return lambda n: ".mixer." in n
    return (lambda n: not is_mlp(n)) if freeze_mlp else (lambda n: True)


class StageRun:
    """One stage over the student's whole weights (`weights`, f32 CPU, every student tensor): the units it
    trains built, sharded and given AdamW; `step(ids, lr)` for each optimizer step; `weights_back()` and
    `moments()` gather what it trained."""

    def __init__(self, stage, plan, arch, mixer, teacher, weights, par, ssd="torch", recompute=False):
        self.stage, self.plan, self.arch, self.teacher, self.par = stage, plan, arch, teacher, par
        self.mixer_layers = [l for l in range(arch.layers) if l not in plan.attention_layers]
        if stage != 3 and not self.mixer_layers:
            raise ValueError(f"stage {stage} has nothing to train: every layer keeps its attention")
        trained = trained_by(stage, plan.freeze_mlp)
        dev = par.device
        self.units = []  # (prefix, module)
        if stage == 3:
            model = Model(arch, mixer, set(plan.attention_layers))
            model.load(weights)
            for blk in model.layers:
                blk.recompute = recompute
                if blk.mixer is not None:
                    blk.mixer.ssd = ssd
            model.to(dev)
            for n, p in model.named_parameters():
                p.requires_grad_(trained(n))
            self.units.append(("", par.wrap(model, inner=list(model.layers))))
        else:
            for l in self.mixer_layers:
                prefix = f"layers.{l}.mixer."
                m = Mixer(mixer)
                m.load_state_dict({n[len(prefix):]: weights[n] for n in weights if n.startswith(prefix)})
                m.ssd = ssd
                m.to(dev)
                for n, p in m.named_parameters():
                    p.requires_grad_(trained(prefix + n))
                self.units.append((prefix, par.wrap(m)))
        self.opts = []
        for _, u in self.units:
            params = [p for p in u.parameters() if p.requires_grad]
            self.opts.append(torch.optim.AdamW(params, lr=plan.lr[stage], betas=(0.9, 0.95), eps=1e-8,
                                               weight_decay=plan.weight_decay, foreach=False) if params else None)
        self.params = [p for _, u in self.units for p in u.parameters() if p.requires_grad]
        self.by_layer = {l: u for l, (_, u) in zip(self.mixer_layers, self.units)} if stage != 3 else {}

    # ---- one step ----

    def _slices(self, n):
        """This rank's sequences of a step of n, in micro-batches of at most the plan's batch."""
        W, r = self.par.world, self.par.rank
        if n % W:
            raise ValueError(f"batch × accumulate ({n} sequences a step) must be a multiple of the {W} processes")
        per = n // W
        lo = r * per
        b = self.plan.batch
        return [(lo + k, min(lo + k + b, lo + per)) for k in range(0, per, b)]

    def step(self, ids, lr):
        """ids: (batch·accumulate, L) int64 token ids of the whole step (every rank gets them all)."""
        S = ids.shape[0]
        dev = self.par.device
        micro = self._slices(S)
        total = torch.zeros((), dtype=torch.float64, device=dev)
        layers = torch.zeros(self.arch.layers, dtype=torch.float64, device=dev)
        for k, (a, b) in enumerate(micro):
            x = ids[a:b].to(dev)
            sync = self.par.no_sync([u for _, u in self.units]) if k < len(micro) - 1 else _Null()
            with sync:
                if self.stage == 3:
                    total += self._distill(x, S)
                else:
                    t, per_layer = self._fit(x, S)
                    total += t
                    layers += per_layer
        self.par.reduce_grads(self.params)
        norm = self.par.grad_norm(self.params)
        clip = min(1.0, self.plan.max_grad_norm / (float(norm) + 1e-6))
        for p in self.params:
            if p.grad is not None and clip < 1.0:
                p.grad.mul_(clip)
        for opt in self.opts:
            if opt is not None:
                for g in opt.param_groups:
                    g["lr"] = lr
                opt.step()
                opt.zero_grad(set_to_none=True)
        self.par.all_sum(total)
        if self.stage != 3:
            self.par.all_sum(layers)
        return {"loss": float(total), "grad_norm": float(norm), "layer_losses": layers.tolist() if self.stage != 3 else None}

    def _fit(self, x, S):
        """Stages 1 and 2 on one micro-batch: each layer's loss backpropagated as the teacher's forward
        reaches it, so one layer's graph is held at a time."""
        stage, per = self.stage, 1.0 / len(self.mixer_layers)
        scale = self.par.grad_scale
        dev = self.par.device
        out = {"total": torch.zeros((), dtype=torch.float64, device=dev), "layers": torch.zeros(self.arch.layers, dtype=torch.float64, device=dev)}

        def tap(l, u, probs, mixed):
            unit = self.by_layer.get(l)
            if unit is None:
                return
            with torch.enable_grad():
                u = u.detach().float()
                if stage == 1:
                    T = unit(u, "matrix")
                    dist = (T - probs.detach().float()).pow(2).sum((-2, -1)).sqrt()  # (b, heads)
                    seq = dist.mean(-1)
                else:
                    y = unit(u)
                    seq = (y - mixed.detach().float()).norm(dim=-1).mean(-1)  # (b,)
                loss = seq.sum() / S
                (loss * per * scale).backward()
            out["total"] += loss.detach().double() * per
            out["layers"][l] += loss.detach().double()

        self.teacher.taps(x, tap, probs=stage == 1)
        return out["total"], out["layers"]

    def _distill(self, x, S):
        tau = self.plan.temperature
        t = self.teacher.logits(x)
        model = self.units[0][1]
        s = model(x).float()
        row = -(F.softmax(t / tau, dim=-1) * F.log_softmax(s / tau, dim=-1)).sum(-1)  # (b, L)
        loss = row.mean(-1).sum() / S
        (loss * self.par.grad_scale).backward()
        return loss.detach().double()

    # ---- what the stage trained ----

    def weights_back(self):
        out = {}
        for prefix, u in self.units:
            out.update(self.par.full_params(u, prefix))
        return out

    def moments(self):
        m, v = {}, {}
        for (prefix, u), opt in zip(self.units, self.opts):
            if opt is not None:
                mm, vv = self.par.full_moments(u, opt, prefix)
                m.update(mm)
                v.update(vv)
        return m, v

    def set_moments(self, m, v, step):
        for (prefix, u), opt in zip(self.units, self.opts):
            if opt is not None:
                self.par.set_moments(u, opt, m, v, step, prefix)


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False
