// The GPU teacher forward of the Llama family's variants against the float64 reference on random
// weights: qwen2 (q/k/v biases without an o bias, tied head), qwen3 (per-head q/k RMSNorm, head_dim
// apart from hidden/heads, attention biases), mistral (a sliding window narrower than the sequence,
// in the logits and in the attention matrices stage 1 matches) and Llama 3 rope scaling; and the
// student built on each (its mixers in the attention's place, a kept attention layer with its norms).
import { describe, expect, it } from 'vitest';
import { parseConfig, type ArchConfig } from '../../src/io/config';
import type { Bindable } from '../../src/gpu/runtime';
import { Decoder } from '../../src/models/decoder';
import type { Weights } from '../../src/models/layers';
import { defaultMixer, initialStudent, studentMixers, studentShapes } from '../../src/models/student';
import { llamaDims, llamaForward, type LlamaLayerWeights, type LlamaModel } from '../../src/ref/llama';
import { studentForwardRef } from '../../src/ref/student';
import { randomStudent } from '../helpers/student';
import { relErr, relErrOfScale, testGpu } from '../helpers/gpu';

const BASE = { hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 48, vocab_size: 64, rms_norm_eps: 1e-5, max_position_embeddings: 64 };
const CONFIGS: Record<string, Record<string, unknown>> = {
  qwen2: { ...BASE, model_type: 'qwen2', rope_theta: 1e6, tie_word_embeddings: true, use_sliding_window: false, sliding_window: 4096 },
  qwen3: { ...BASE, model_type: 'qwen3', head_dim: 12, rope_theta: 1e6, attention_bias: true, tie_word_embeddings: false },
  mistral: { ...BASE, model_type: 'mistral', sliding_window: 6, rope_theta: 1e4 },
  'llama3-rope': { ...BASE, model_type: 'llama', rope_theta: 5e5, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 } },
};

/** Random canonical teacher tensors (every layer attention). */
function teacherTensors(c: ArchConfig, seed: number): Map<string, Float32Array> {
  return randomStudent(c, defaultMixer(c, 8), [...Array(c.layers).keys()], seed).tensors;
}

function weightsOf(gpu: Awaited<ReturnType<typeof testGpu>>, t: Map<string, Float32Array>): Weights & { release(): void } {
  const bufs = new Map([...t].map(([n, v]) => [n, gpu.upload(v, n)] as const));
  return { get: (n: string): Bindable => bufs.get(n)!, has: (n: string) => bufs.has(n), release: () => bufs.forEach((b) => gpu.release(b)) };
}

/** The reference model from canonical tensors. */
function refModel(c: ArchConfig, t: Map<string, Float32Array>): LlamaModel {
  const f = (n: string) => (t.has(n) ? Float64Array.from(t.get(n)!) : null);
  const g = (n: string) => f(n)!;
  const layers: LlamaLayerWeights[] = [];
  for (let i = 0; i < c.layers; i++) {
    const p = `layers.${i}.`;
    layers.push({
      inputNorm: g(p + 'norm1.weight'), postNorm: g(p + 'norm2.weight'),
      wq: g(p + 'attn.q.weight'), wk: g(p + 'attn.k.weight'), wv: g(p + 'attn.v.weight'), wo: g(p + 'attn.o.weight'),
      bq: f(p + 'attn.q.bias'), bk: f(p + 'attn.k.bias'), bv: f(p + 'attn.v.bias'), bo: f(p + 'attn.o.bias'),
      qNorm: f(p + 'attn.q_norm.weight'), kNorm: f(p + 'attn.k_norm.weight'),
      wGate: g(p + 'mlp.gate.weight'), wUp: g(p + 'mlp.up.weight'), wDown: g(p + 'mlp.down.weight'),
      bGate: null, bUp: null, bDown: null,
    });
  }
  const embed = g('embed');
  return { dims: llamaDims(c), embed, layers, finalNorm: g('final_norm.weight'), lmHead: c.tiedEmbeddings ? embed : g('head.weight') };
}

const batch = 2, L = 20;
const idsOf = (c: ArchConfig) => Array.from({ length: batch * L }, (_, i) => (i * 37 + 11) % c.vocab);

describe.each(Object.keys(CONFIGS))('%s', (name) => {
  const c = parseConfig(CONFIGS[name], `${name}/config.json`);

  it('the GPU teacher gives the float64 reference logits, attention outputs and attention matrices', async () => {
    const gpu = await testGpu();
    const t = teacherTensors(c, 5);
    const w = weightsOf(gpu, t);
    const ids = idsOf(c);
    const dec = new Decoder(gpu, c, w, { batch, L, ids: gpu.upload(Uint32Array.from(ids)) }, { keepLayers: true });
    gpu.run(dec.ops);
    const logits = await gpu.read(dec.logits!);
    const H = c.heads, d = c.dModel, V = c.vocab;
    const A = gpu.buffer(batch * H * L * L * 4);
    const ref = refModel(c, t);
    for (let b = 0; b < batch; b++) {
      const r = llamaForward(ref, ids.slice(b * L, (b + 1) * L), { trace: true });
      expect(relErrOfScale(logits.subarray(b * L * V, (b + 1) * L * V), r.logits)).toBeLessThan(1e-4);
      for (let l = 0; l < c.layers; l++) {
        expect(relErrOfScale((await gpu.read(dec.mixed[l]!)).subarray(b * L * d, (b + 1) * L * d), r.layers[l]!.attnOut)).toBeLessThan(1e-4);
        gpu.run(dec.attention(l).probabilities(A));
        const P = (await gpu.read(A)).subarray(b * H * L * L, (b + 1) * H * L * L);
        expect(relErr(P, r.layers[l]!.attnProbs)).toBeLessThan(1e-4);
        if (c.slidingWindow !== null) {
          // Keys left of the window get exactly 0: row 19 of head 0 sees keys 14..19 only.
          expect(Array.from(P.subarray(19 * L, 19 * L + 14)).every((x) => x === 0)).toBe(true);
          expect(P.subarray(19 * L + 14, 20 * L).reduce((a, x) => a + x, 0)).toBeCloseTo(1, 5);
        }
      }
    }
    await gpu.check();
    dec.release();
    w.release();
    gpu.release(A);
  });

  it('the student keeps q/k norms with the attention it keeps, and its GPU forward gives the reference', async () => {
    const shapes = studentShapes({ config: c, mixer: defaultMixer(c, 8), attentionLayers: [1] });
    expect(shapes.has('layers.1.attn.q_norm.weight')).toBe(c.qkNorm);
    expect(shapes.has('layers.0.attn.q_norm.weight')).toBe(false);
    expect(shapes.has('layers.1.attn.o.bias')).toBe(c.biases.attentionOut);
    expect(shapes.has('layers.0.mixer.out_proj.bias')).toBe(c.biases.attentionOut);
    const gpu = await testGpu();
    const spec = { config: c, mixer: defaultMixer(c, 8), attentionLayers: [1] };
    const params = await initialStudent(spec, teacherTensors(c, 9), 3);
    expect([...params.keys()].sort()).toEqual([...shapes.keys()].sort());
    const w = weightsOf(gpu, params);
    const ids = idsOf(c);
    const dec = new Decoder(gpu, c, w, { batch, L, ids: gpu.upload(Uint32Array.from(ids)) }, { mixer: studentMixers(gpu, spec, w) });
    gpu.run(dec.ops);
    const logits = await gpu.read(dec.logits!);
    for (let b = 0; b < batch; b++) {
      const want = studentForwardRef(spec, params, ids.slice(b * L, (b + 1) * L));
      expect(relErrOfScale(logits.subarray(b * L * c.vocab, (b + 1) * L * c.vocab), want)).toBeLessThan(1e-4);
    }
    await gpu.check();
    dec.release();
    w.release();
  });
});
