// Causal flash attention, forward and forward+backward, at a 2048-wide model: 32 heads of 64 (the
// target shape), 16 heads of 128, and grouped-query attention with 8 kv heads.
// FLOPs count the algorithm, not this implementation: the forward is two matmuls over the causal
// half of the scores, 4·b·hq·d·L(L+1)/2; the backward five (S recomputed, dV, dP, dQ, dK), 2.5× the
// forward, as FlashAttention-2 reports them. PyTorch is credited with the same counts.
//
// With --tiles, group "attention tiles": each kernel (fwd; dQ alone; dK/dV alone) once per candidate
// tile that fits the H200's 48 KiB, at d 64 and d 128, to rank the candidates (CANDIDATES in
// src/kernels/flash-attention.ts). Those kernels are credited with their own matmuls: dQ three (S,
// dP, dQ), dK/dV four (S, dP, dV, dK).
import {
  CANDIDATES,
  flashAttention,
  flashAttentionBackward,
  flashTileBytes,
  type AttentionShape,
  type FlashKernel,
  type FlashTile,
} from '../kernels/flash-attention';
import { SWEEP_WORKGROUP_BYTES, type BenchCase, type BenchData, type BenchSize } from './case';
import type { Gpu } from '../gpu/runtime';

const shapeOf = ({ batch, L, hq, hkv, d }: AttentionShape) => `b${batch} L${L} hq${hq} hkv${hkv} d${d}`;
const causalFlops = ({ batch, L, hq, d }: AttentionShape) => 4 * batch * hq * d * ((L * (L + 1)) / 2);

/** q, k, v, o, lse, dO, dQ, dK, dV of one shape, filled for timing. */
function tensors(s: AttentionShape, data: BenchData) {
  const { batch, L, hq, hkv, d } = s;
  const nq = batch * L * hq * d;
  const nk = batch * L * hkv * d;
  return {
    fwd: { q: data.uniform(nq), k: data.uniform(nk), v: data.uniform(nk), o: data.out(nq), lse: data.out(batch * hq * L) },
    grad: { dO: data.uniform(nq), dQ: data.out(nq), dK: data.out(nk), dV: data.out(nk) },
  };
}

function attention(s: AttentionShape, backward: boolean): BenchCase {
  const fwdFlops = causalFlops(s);
  return {
    group: 'attention',
    name: backward ? 'attention fwd+bwd' : 'attention fwd',
    shape: shapeOf(s),
    setup(gpu, data) {
      const t = tensors(s, data);
      const ops = flashAttention(gpu, s, t.fwd);
      if (!backward) return { ops, flops: fwdFlops };
      ops.push(...flashAttentionBackward(gpu, s, { ...t.fwd, ...t.grad }));
      return { ops, flops: 3.5 * fwdFlops };
    },
  };
}

/** "16x16x2 rr1 dk8": every field of the tile, the head dim's chunk as "all" when it is whole. */
export function tileName(t: FlashTile): string {
  return `${t.RG}x${t.CG}x${t.TC} rr${t.RR ?? 1} dk${t.DK ?? 'all'}`;
}

/**
 * One kernel with one tile; the backward kernels read o, lse (and dK/dV D) of a run before timing,
 * made with the tiles `others` (default: the picked ones).
 */
function tileCase(s: AttentionShape, kind: FlashKernel, tile: FlashTile, others?: FlashTile): BenchCase {
  const fwdFlops = causalFlops(s);
  return {
    group: 'attention tiles',
    name: `attention ${kind} tile ${tileName(tile)}`,
    shape: shapeOf(s),
    setup(gpu: Gpu, data: BenchData) {
      const t = tensors(s, data);
      if (kind === 'fwd') return { ops: flashAttention(gpu, s, t.fwd, { tile }), flops: fwdFlops };
      const fwd = flashAttention(gpu, s, t.fwd, { tile: others });
      const [dq, dkv] = flashAttentionBackward(gpu, s, { ...t.fwd, ...t.grad }, { tiles: { dq: others, dkv: others, [kind]: tile } });
      gpu.run([...fwd, dq!, dkv!]);
      return kind === 'dq' ? { ops: [dq!], flops: 1.5 * fwdFlops } : { ops: [dkv!], flops: 2 * fwdFlops };
    },
  };
}

function tileCases(shapes: AttentionShape[], size: BenchSize): BenchCase[] {
  const out: BenchCase[] = [];
  for (const s of shapes) {
    for (const kind of ['fwd', 'dq', 'dkv'] as const) {
      // Small (SwiftShader, the bench test): the smallest candidate whole and with the head dim in
      // chunks of 4 vec4s, which SwiftShader compiles in a moment (so too the kernels run before the
      // backward ones); full: every candidate that fits (on a device with less workgroup memory than
      // the sweep is for, a tile's setup throws and its case is reported as failed).
      const smallest = CANDIDATES[kind].at(-1)!;
      if (size === 'full') {
        for (const t of CANDIDATES[kind]) if (flashTileBytes(kind, s.d, t) <= SWEEP_WORKGROUP_BYTES.full) out.push(tileCase(s, kind, t));
      } else for (const t of [smallest, { ...smallest, DK: 4 }]) out.push(tileCase(s, kind, t, smallest));
    }
  }
  return out;
}

export function attentionCases(size: BenchSize, opts: { tiles?: boolean } = {}): BenchCase[] {
  const [batch, L] = size === 'full' ? [8, 2048] : [1, 80];
  const shapes: AttentionShape[] = size === 'full'
    ? [{ batch, L, hq: 32, hkv: 32, d: 64 }, { batch, L, hq: 16, hkv: 16, d: 128 }]
    : [{ batch, L, hq: 2, hkv: 2, d: 64 }, { batch, L, hq: 1, hkv: 1, d: 128 }];
  const gqa: AttentionShape = size === 'full' ? { batch, L, hq: 32, hkv: 8, d: 64 } : { batch, L, hq: 4, hkv: 2, d: 64 };
  const cases = [...shapes.flatMap((s) => [attention(s, false), attention(s, true)]), attention(gqa, true)];
  return opts.tiles ? [...cases, ...tileCases(shapes, size)] : cases;
}
