"""How the student's parameters are spread over the processes torchrun starts, and the few collectives
the trainer needs. One of:

  single     one process: nothing is shared.
  fsdp2      `fully_shard` (torch >= 2.4): each unit's parameters, gradients and AdamW moments are
             sharded over the ranks (DTensors); the unit all-gathers its weights around its forward and
             backward and reduce-scatters its gradients (averaged over the ranks).
  fsdp1      FullyShardedDataParallel (use_orig_params), where fully_shard is missing.
  replicate  every rank holds the whole student and the gradients are summed with all_reduce: for a
             torch whose FSDP does not work (Debian's python3-torch 1.13 on Python 3.11 cannot import
             torch.distributed.fsdp), and what CI's two-process test runs.

A unit is a module that is an FSDP root of its own: in stages 1 and 2 each mixer (they are trained one
layer at a time, on the teacher's activations), in stage 3 the whole student with each block sharded
apart. Every rank runs the same units in the same order, as the collectives need.
"""
import contextlib
import os

import torch
import torch.distributed as dist


def _fully_shard():
    # Exception, not ImportError: Debian's 1.13 fails importing torch.distributed.fsdp with a ValueError.
    try:
        from torch.distributed.fsdp import fully_shard
        return fully_shard
    except Exception:  # noqa: BLE001
        pass
    try:
        from torch.distributed._composable.fsdp import fully_shard
        return fully_shard
    except Exception:  # noqa: BLE001
        return None


def _fsdp1():
    try:
        from torch.distributed.fsdp import FullyShardedDataParallel
        return FullyShardedDataParallel
    except Exception:  # noqa: BLE001 - Debian's 1.13 fails with a ValueError on Python 3.11
        return None


def _dtensor_type():
    try:
        from torch.distributed.tensor import DTensor
        return DTensor
    except ImportError:
        try:
            from torch.distributed._tensor import DTensor
            return DTensor
        except ImportError:
            return None


def clean_name(n):
    return n.replace("_fsdp_wrapped_module.", "").replace("_checkpoint_wrapped_module.", "")


class Parallel:
    def __init__(self, device=None, shard="auto"):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device is None:
            device = f"cuda:{self.local_rank}" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if (self.world > 1 or shard in ("fsdp2", "fsdp1")) and not dist.is_initialized():
            # One process may still shard (over itself): what exercises the FSDP code paths on one GPU.
            os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
            os.environ.setdefault("MASTER_PORT", "29500")
            os.environ.setdefault("WORLD_SIZE", str(self.world))
            os.environ.setdefault("RANK", str(self.rank))
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        self.mesh = None
        if self.world == 1 and shard in ("auto", "replicate"):
            self.mode = "single"
        elif shard == "auto":
            self.mode = "fsdp2" if _fully_shard() else "fsdp1" if _fsdp1() else "replicate"
        else:
            self.mode = shard
        if self.mode == "fsdp2":
            if not _fully_shard():
                raise RuntimeError(f"--shard fsdp2: this torch ({torch.__version__}) has no fully_shard")
            from torch.distributed.device_mesh import init_device_mesh
            self.mesh = init_device_mesh(self.device.type, (self.world,))
        elif self.mode == "fsdp1" and not _fsdp1():
            raise RuntimeError(f"--shard fsdp1: this torch ({torch.__version__}) cannot import FullyShardedDataParallel")
        elif self.mode not in ("single", "fsdp2", "fsdp1", "replicate"):
            raise ValueError(f"--shard {shard!r} is not one of auto, fsdp2, fsdp1, replicate")

    @property
    def sharded(self):
        return self.mode in ("fsdp2", "fsdp1")

    @property
    def main(self):
        return self.rank == 0

    def barrier(self):
        if self.world > 1:
            dist.barrier()

    def all_sum(self, t):
        if self.world > 1:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def broadcast_object(self, obj):
        if self.world == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    # ---- units ----

    def wrap(self, module, inner=()):
        """Module made a unit: `inner` submodules (the blocks) sharded apart, then the whole."""
        if self.mode == "fsdp2":
            fs = _fully_shard()
            for m in inner:
                fs(m, mesh=self.mesh)
            fs(module, mesh=self.mesh)
            return module
        if self.mode == "fsdp1":
            FSDP = _fsdp1()
            kinds = {type(m) for m in inner}
            policy = None
            if kinds:
                from torch.distributed.fsdp.wrap import ModuleWrapPolicy
                policy = ModuleWrapPolicy(kinds)
            dev = self.device if self.device.type == "cuda" else None
            return FSDP(module, auto_wrap_policy=policy, use_orig_params=True, device_id=dev)
        return module

    def no_sync(self, units):
        """Within it, sharded units keep gradients local (micro-batches before a step's last)."""
        stack = contextlib.ExitStack()
        if self.mode == "fsdp1":
            for u in units:
                stack.enter_context(u.no_sync())
        elif self.mode == "fsdp2":
            for u in units:
                u.set_requires_gradient_sync(False)
                stack.callback(u.set_requires_gradient_sync, True)
        return stack

    @property
    def grad_scale(self):
        """Sharded gradients are averaged over the ranks; the loss each rank backpropagates is its share
        of the step's mean, so it is scaled by the world size to make the average the step's gradient."""
        return float(self.world) if self.sharded else 1.0

    def reduce_grads(self, params):
        if self.mode == "replicate":
            for p in params:
                if p.grad is not None:
                    dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)

    def local(self, t):
        D = _dtensor_type()
        return t.to_local() if D is not None and isinstance(t, D) else t

    def grad_norm(self, params):
        """The global L2 norm of the gradients (each rank's shards summed over the ranks when sharded)."""
        sq = torch.zeros((), dtype=torch.float64, device=self.device)
        for p in params:
            if p.grad is not None:
                sq += self.local(p.grad).double().pow(2).sum()
        if self.sharded:
            self.all_sum(sq)
        return sq.sqrt()

    def full(self, t):
        D = _dtensor_type()
        return (t.full_tensor() if D is not None and isinstance(t, D) else t).detach().to("cpu", torch.float32).clone()

    def full_params(self, unit, prefix=""):
        """{canonical name: f32 CPU tensor} of a unit's parameters, gathered whole (every rank calls it)."""
        out = {}
        if self.mode == "fsdp1":
            FSDP = _fsdp1()
            with FSDP.summon_full_params(unit, writeback=False):
                for n, p in unit.named_parameters():
                    out[prefix + clean_name(n)] = p.detach().to("cpu", torch.float32).clone()
            return out
        for n, p in unit.named_parameters():
            out[prefix + n] = self.full(p)
        return out

    def full_moments(self, unit, opt, prefix=""):
        """({name: m}, {name: v}) of the parameters AdamW has state for, gathered whole."""
        m, v = {}, {}
        if self.mode == "fsdp1":
            from torch.distributed.fsdp import FullOptimStateDictConfig, FullStateDictConfig, StateDictType
            FSDP = _fsdp1()
            with FSDP.state_dict_type(unit, StateDictType.FULL_STATE_DICT, FullStateDictConfig(offload_to_cpu=True, rank0_only=False),
                                      FullOptimStateDictConfig(offload_to_cpu=True, rank0_only=False)):
                osd = FSDP.optim_state_dict(unit, opt)
            for n, st in osd["state"].items():
                if "exp_avg" in st:
                    m[prefix + clean_name(n)] = st["exp_avg"].detach().to("cpu", torch.float32).clone()
                    v[prefix + clean_name(n)] = st["exp_avg_sq"].detach().to("cpu", torch.float32).clone()
            return m, v
        for n, p in unit.named_parameters():
            st = opt.state.get(p)
            if st and "exp_avg" in st:
                m[prefix + n] = self.full(st["exp_avg"])
                v[prefix + n] = self.full(st["exp_avg_sq"])
        return m, v

    def set_moments(self, unit, opt, m, v, step, prefix=""):
        """AdamW's state from whole moments (a resumed stage): each rank takes its shard."""
        if self.mode == "fsdp1":
            from torch.distributed.fsdp import FullOptimStateDictConfig, FullStateDictConfig, StateDictType
            FSDP = _fsdp1()
            with FSDP.state_dict_type(unit, StateDictType.FULL_STATE_DICT, FullStateDictConfig(offload_to_cpu=True, rank0_only=False),
                                      FullOptimStateDictConfig(offload_to_cpu=True, rank0_only=False)):
                template = FSDP.optim_state_dict(unit, opt)
                state = {}
                for n, p in unit.named_parameters():
                    if p.requires_grad:
                        key = clean_name(n)
                        state[key] = {"step": torch.tensor(float(step)), "exp_avg": m[prefix + key].clone(), "exp_avg_sq": v[prefix + key].clone()}
                osd = {"state": state, "param_groups": template["param_groups"]}
                opt.load_state_dict(FSDP.optim_state_dict_to_load(model=unit, optim=opt, optim_state_dict=osd))
            return
        D = _dtensor_type()
        for n, p in unit.named_parameters():
            if not p.requires_grad:
                continue
            mm, vv = m[prefix + n].to(self.device), v[prefix + n].to(self.device)
            if D is not None and isinstance(p, D):
                from torch.distributed.tensor import distribute_tensor
                mm, vv = distribute_tensor(mm, p.device_mesh, p.placements), distribute_tensor(vv, p.device_mesh, p.placements)
            opt.state[p] = {"step": torch.tensor(float(step)), "exp_avg": mm.reshape(p.shape).clone(), "exp_avg_sq": vv.reshape(p.shape).clone()}
