"""The SSD of the discrete Mamba-2 mixer: per head, S_t = exp(a_t)·S_{t-1} + x_t ⊗ B_t, y_t = S_t·C_t.

`chunked` is the chunked algorithm of the Mamba-2 paper written out in PyTorch (after its minimal
reference, written anew): within a chunk of l tokens a masked attention-like product with decays
exp(segment sums of a), across chunks the states carried by the chunk totals. `triton` is mamba_ssm's
fused kernel when it is installed (CUDA only); the mixer then feeds it x/dt with dt = softplus(A_log)
and A = -1, as Phi-Mamba does, which is the same recurrence. `matrix` is the whole L×L mixing matrix
L∘(C·Bᵀ), what stage 1 matches against the teacher's attention.
"""
import torch
import torch.nn.functional as F


def segment_sums(a):
    """out[..., i, j] = a[..., j+1] + ... + a[..., i] for j <= i, -inf above the diagonal.

    A cumulative sum over a masked copy, not a difference of two cumulative sums: small decays stay
    exact beside large ones, as the studio's token-by-token sums keep them."""
    T = a.shape[-1]
    rep = a.unsqueeze(-1).expand(*a.shape, T)
    below = torch.ones(T, T, dtype=torch.bool, device=a.device).tril(-1)
    sums = rep.masked_fill(~below, 0).cumsum(dim=-2)
    return sums.masked_fill(~torch.ones(T, T, dtype=torch.bool, device=a.device).tril(), float("-inf"))


def chunked(X, A, B, C, l):
    """X (b, L, h, p), A (b, L, h) log-decays, B and C (b, L, h, n); any L (padded to a multiple of l)."""
    b, L0, h, p = X.shape
    pad = (-L0) % l
    if pad:
        # Padding after the end: zero inputs and zero log-decays change no earlier output.
        X, A = F.pad(X, (0, 0, 0, 0, 0, pad)), F.pad(A, (0, 0, 0, pad))
        B, C = F.pad(B, (0, 0, 0, 0, 0, pad)), F.pad(C, (0, 0, 0, 0, 0, pad))
    L = L0 + pad
    c = L // l
    Xc = X.reshape(b, c, l, h, p)
    Bc = B.reshape(b, c, l, h, -1)
    Cc = C.reshape(b, c, l, h, -1)
    Ac = A.reshape(b, c, l, h).permute(0, 3, 1, 2)  # (b, h, c, l)
    cum = Ac.cumsum(dim=-1)
    # Within each chunk: y_i = sum_{j<=i} exp(cum_i - cum_j) (C_i . B_j) x_j.
    scores = torch.einsum("bcihn,bcjhn->bhcij", Cc, Bc) * segment_sums(Ac).exp()
    y_in = torch.einsum("bhcij,bcjhp->bcihp", scores, Xc)
    # The state each chunk adds, then the states entering each chunk (zero before the first).
    to_end = (cum[..., -1:] - cum).exp()
    added = torch.einsum("bcjhn,bhcj,bcjhp->bchpn", Bc, to_end, Xc)
    added = torch.cat([torch.zeros_like(added[:, :1]), added], dim=1)
    across = segment_sums(F.pad(cum[..., -1], (1, 0))).exp()
    entering = torch.einsum("bhzc,bchpn->bzhpn", across, added)[:, :-1]
    y_state = torch.einsum("bcihn,bchpn,bhci->bcihp", Cc, entering, cum.exp())
    return (y_in + y_state).reshape(b, L, h, p)[:, :L0]


def matrix(A, B, C):
    """(b, h, L, L): M[i, j] = (C_i · B_j)·exp(a_{j+1} + ... + a_i) for j <= i, 0 above; A (b, L, h)."""
    decay = segment_sums(A.permute(0, 2, 1)).exp()
    return torch.einsum("bihn,bjhn->bhij", C, B) * decay


def triton_available(device):
    if device.type != "cuda":
        return False
    try:
        from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined  # noqa: F401
        return True
    except ImportError:
        return False


def triton(X, A_log, Bg, Cg, l):
    """mamba_ssm's chunk scan: X (b, L, h, p), A_log (b, L, h), B and C per group (b, L, g, n)."""
    from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined
    dt = F.softplus(A_log)
    A = -torch.ones(X.shape[2], device=X.device, dtype=torch.float32)
    return mamba_chunk_scan_combined(X / dt[..., None], dt, A, Bg, Cg, chunk_size=l)
