// float64 forward of a MOHAWK student of a Llama-family teacher, one sequence at a time: the Llama
// block of src/ref/llama.ts with its attention replaced by the discrete Mamba-2 mixer of
// src/ref/mamba-mixer.ts, except in the layers a hybrid keeps. Parameters by canonical name
// (src/models/DESIGN.md); the ground truth for a loaded or exported student. Gemma 3's extras (the
// scaled embedding, the norms of the mixer's and the MLP's outputs, GeGLU) stay around the mixer.
import { LLAMA_FAMILY, type ArchConfig } from '../io/config';
import type { MixerShape } from '../models/mamba-mixer-shape';
import { activationRef } from './activations';
import { applyRope, causalAttention, linear, llamaDims, nllOf, rmsNorm } from './llama';
import { mambaMixerRef } from './mamba-mixer';

export interface StudentRefSpec {
  config: ArchConfig;
  mixer: MixerShape;
  attentionLayers: number[];
}

export type StudentRefParams = Map<string, ArrayLike<number>>;

/** Logits [T, vocab] of one sequence. */
export function studentForwardRef(spec: StudentRefSpec, params: StudentRefParams, ids: readonly number[]): Float64Array {
  const c = spec.config;
  if (!LLAMA_FAMILY.includes(c.modelType)) throw new Error(`student reference: only Llama-family teachers (this is ${c.modelType})`);
  const dims = llamaDims(c);
  const P = (n: string): Float64Array => {
    const v = params.get(n);
    if (!v) throw new Error(`student reference: no parameter ${n}`);
    return Float64Array.from(v);
  };
  const opt = (n: string): Float64Array | null => (params.has(n) ? P(n) : null);
  const { dModel: d, heads, kvHeads, headDim: hd, intermediate: f, vocab, normEps: eps } = c;
  const T = ids.length;
  const embed = P('embed');
  let x = new Float64Array(T * d);
  ids.forEach((id, t) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new Error(`student reference: token id ${id} is outside the vocabulary (${vocab})`);
    for (let i = 0; i < d; i++) x[t * d + i] = embed[id * d + i] * dims.embedScale;
  });
  const postNorm = (v: Float64Array, name: string): Float64Array => (c.postNorms ? rmsNorm(v, T, d, P(name), eps) : v);
  for (let l = 0; l < c.layers; l++) {
    const p = `layers.${l}.`;
    const u = rmsNorm(x, T, d, P(p + 'norm1.weight'), eps);
    let mixed: Float64Array;
    if (spec.attentionLayers.includes(l)) {
      const q = linear(u, T, d, P(p + 'attn.q.weight'), heads * hd, opt(p + 'attn.q.bias'));
      const k = linear(u, T, d, P(p + 'attn.k.weight'), kvHeads * hd, opt(p + 'attn.k.bias'));
      const v = linear(u, T, d, P(p + 'attn.v.weight'), kvHeads * hd, opt(p + 'attn.v.bias'));
      if (c.qkNorm) {
        q.set(rmsNorm(q, T * heads, hd, P(p + 'attn.q_norm.weight'), eps));
        k.set(rmsNorm(k, T * kvHeads, hd, P(p + 'attn.k_norm.weight'), eps));
      }
      const { invFreq, window } = dims.attention[l]!;
      applyRope(q, T, heads, hd, c.rotaryDim, 0, invFreq);
      applyRope(k, T, kvHeads, hd, c.rotaryDim, 0, invFreq);
      const { out } = causalAttention(q, k, v, T, heads, kvHeads, hd, window, dims.attnScale);
      mixed = linear(out, T, heads * hd, P(p + 'attn.o.weight'), d, opt(p + 'attn.o.bias'));
    } else {
      const mp = new Map<string, Float64Array>();
      for (const [n, v] of params) if (n.startsWith(p + 'mixer.')) mp.set(n.slice(p.length + 'mixer.'.length), Float64Array.from(v));
      mixed = mambaMixerRef(spec.mixer, { batch: 1, L: T }, mp, u).out;
    }
    mixed = postNorm(mixed, p + 'mixer_out_norm.weight');
    const h = new Float64Array(T * d);
    for (let i = 0; i < T * d; i++) h[i] = x[i] + mixed[i];
    const m = rmsNorm(h, T, d, P(p + 'norm2.weight'), eps);
    const gate = linear(m, T, d, P(p + 'mlp.gate.weight'), f, opt(p + 'mlp.gate.bias'));
    const up = linear(m, T, d, P(p + 'mlp.up.weight'), f, opt(p + 'mlp.up.bias'));
    for (let i = 0; i < T * f; i++) gate[i] = activationRef(dims.activation, gate[i]) * up[i];
    const down = postNorm(linear(gate, T, f, P(p + 'mlp.down.weight'), d, opt(p + 'mlp.down.bias')), p + 'mlp_out_norm.weight');
    x = new Float64Array(T * d);
    for (let i = 0; i < T * d; i++) x[i] = h[i] + down[i];
  }
  const final = rmsNorm(x, T, d, P('final_norm.weight'), eps);
  return linear(final, T, d, params.has('head.weight') ? P('head.weight') : embed, vocab, null);
}

/** Mean next-token NLL (nats/token) over documents, as src/models/evaluate.ts counts it. */
export function studentMeanNllRef(spec: StudentRefSpec, params: StudentRefParams, docs: readonly (readonly number[])[]): number {
  let total = 0;
  let count = 0;
  for (const ids of docs) {
    if (ids.length < 2) continue;
    const logits = studentForwardRef(spec, params, ids);
    for (let t = 0; t + 1 < ids.length; t++) total += nllOf(logits, t, spec.config.vocab, ids[t + 1]);
    count += ids.length - 1;
  }
  if (count === 0) throw new Error('student reference: no document has two or more tokens');
  return total / count;
}
