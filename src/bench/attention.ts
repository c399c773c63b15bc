// Causal flash attention, forward and forward+backward, at a 2048-wide model: 32 heads of 64 (the
// target shape), 16 heads of 128, and grouped-query attention with 8 kv heads.
// FLOPs count the algorithm, not this implementation: the forward is two matmuls over the causal
// half of the scores, 4·b·hq·d·L(L+1)/2; the backward five (S recomputed, dV, dP, dQ, dK), 2.5× the
// forward, as FlashAttention-2 reports them. PyTorch is credited with the same counts.
import { flashAttention, flashAttentionBackward, type AttentionShape } from '../kernels/flash-attention';
import type { BenchCase, BenchSize } from './case';

function attention(s: AttentionShape, backward: boolean): BenchCase {
  const { batch, L, hq, hkv, d } = s;
  const fwdFlops = 4 * batch * hq * d * ((L * (L + 1)) / 2);
  return {
    group: 'attention',
    name: backward ? 'attention fwd+bwd' : 'attention fwd',
    shape: `b${batch} L${L} hq${hq} hkv${hkv} d${d}`,
    setup(gpu, data) {
      const nq = batch * L * hq * d;
      const nk = batch * L * hkv * d;
      const t = { q: data.uniform(nq), k: data.uniform(nk), v: data.uniform(nk), o: data.out(nq), lse: data.out(batch * hq * L) };
      const ops = flashAttention(gpu, s, t);
      if (!backward) return { ops, flops: fwdFlops };
      const g = { dO: data.uniform(nq), dQ: data.out(nq), dK: data.out(nk), dV: data.out(nk) };
      ops.push(...flashAttentionBackward(gpu, s, { ...t, ...g }));
      return { ops, flops: 3.5 * fwdFlops };
    },
  };
}

export function attentionCases(size: BenchSize, _opts: { tiles?: boolean } = {}): BenchCase[] {
  const [batch, L] = size === 'full' ? [8, 2048] : [1, 80];
  const shapes: AttentionShape[] = size === 'full'
    ? [{ batch, L, hq: 32, hkv: 32, d: 64 }, { batch, L, hq: 16, hkv: 16, d: 128 }]
    : [{ batch, L, hq: 2, hkv: 2, d: 64 }, { batch, L, hq: 1, hkv: 1, d: 128 }];
  const gqa: AttentionShape = size === 'full' ? { batch, L, hq: 32, hkv: 8, d: 64 } : { batch, L, hq: 4, hkv: 2, d: 64 };
  return [...shapes.flatMap((s) => [attention(s, false), attention(s, true)]), attention(gqa, true)];
}
