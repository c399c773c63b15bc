// The GPU teacher forward of the Llama family's variants against the float64 reference on random
// weights: qwen2 (q/k/v biases without an o bias, tied head), qwen3 (per-head q/k RMSNorm, head_dim
// apart from hidden/heads, attention biases), mistral (a sliding window narrower than the sequence,
// in the logits and in the attention matrices stage 1 matches), Llama 3 rope scaling, and gemma3 (a
// sliding layer with its local RoPE and a full one with linear scaling, scores scaled by
// query_pre_attn_scalar, the √d embedding, the norms of the attention's and the MLP's outputs,
// GeGLU, here with attention biases too); and the student built on each (its mixers in the attention's
// place, a kept attention layer with its norms). gemma3 carries nearly every option of the family at
// once, so its student's backward, held to finite differences of the float64 loss, stands for theirs.
import { describe, expect, it } from 'vitest';
import { layerAttention, parseConfig, type ArchConfig } from '../../src/io/config';
import type { Bindable } from '../../src/gpu/runtime';
import { crossEntropy } from '../../src/kernels/losses';
import { Decoder } from '../../src/models/decoder';
import type { Weights } from '../../src/models/layers';
import { defaultMixer, initialStudent, ParamSet, studentMixers, studentShapes } from '../../src/models/student';
import { llamaDims, llamaForward, nllOf, type LlamaLayerWeights, type LlamaModel } from '../../src/ref/llama';
import { studentForwardRef } from '../../src/ref/student';
import { randomStudent } from '../helpers/student';
import { randn, relErr, relErrOfScale, testGpu } from '../helpers/gpu';

const BASE = { hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 48, vocab_size: 64, rms_norm_eps: 1e-5, max_position_embeddings: 64 };
const CONFIGS: Record<string, Record<string, unknown>> = {
  qwen2: { ...BASE, model_type: 'qwen2', rope_theta: 1e6, tie_word_embeddings: true, use_sliding_window: false, sliding_window: 4096 },
  qwen3: { ...BASE, model_type: 'qwen3', head_dim: 12, rope_theta: 1e6, attention_bias: true, tie_word_embeddings: false },
  mistral: { ...BASE, model_type: 'mistral', sliding_window: 6, rope_theta: 1e4 },
  'llama3-rope': { ...BASE, model_type: 'llama', rope_theta: 5e5, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 } },
  gemma3: {
    ...BASE, model_type: 'gemma3_text', head_dim: 12, query_pre_attn_scalar: 20, sliding_window: 6, layer_types: ['sliding_attention', 'full_attention'], attention_bias: true,
    rope_parameters: { sliding_attention: { rope_type: 'default', rope_theta: 1e4 }, full_attention: { rope_type: 'linear', factor: 2, rope_theta: 1e6 } },
  },
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
      inputNorm: g(p + 'norm1.weight'), postNorm: g(p + 'norm2.weight'), attnOutNorm: f(p + 'mixer_out_norm.weight'), mlpOutNorm: f(p + 'mlp_out_norm.weight'),
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
        const window = layerAttention(c, l).window;
        if (window !== null) {
          // Keys left of the window get exactly 0: with a window of 6, row 19 of head 0 sees keys 14..19 only.
          const first = 19 - window + 1;
          expect(Array.from(P.subarray(19 * L, 19 * L + first)).every((x) => x === 0)).toBe(true);
          expect(P.subarray(19 * L + first, 20 * L).reduce((a, x) => a + x, 0)).toBeCloseTo(1, 5);
        } else expect(P[19 * L]).toBeGreaterThan(0);
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
    expect(shapes.has('layers.0.mixer_out_norm.weight') && shapes.has('layers.1.mlp_out_norm.weight')).toBe(c.postNorms);
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

  it.runIf(name === 'gemma3')("the student's backward (attention kept in sliding layer 0) is the gradient of the float64 loss, tensor by tensor", async () => {
    const gpu = await testGpu();
    const spec = { config: c, mixer: defaultMixer(c, 8), attentionLayers: [0] };
    const params = randomStudent(c, spec.mixer, spec.attentionLayers, 13).tensors;
    const ps = new ParamSet(gpu, studentShapes(spec), params, 'student');
    const ids = idsOf(c);
    const targets = ids.map((_, i) => (i * 53 + 7) % c.vocab);
    const rows = batch * L, V = c.vocab;
    const dec = new Decoder(gpu, c, ps, { batch, L, ids: gpu.upload(Uint32Array.from(ids)) }, { keepLayers: true, mixer: studentMixers(gpu, spec, ps) });
    const dLogits = gpu.zeros(rows * V);
    const ce = crossEntropy(gpu, { logits: dec.logits!, targets: gpu.upload(Uint32Array.from(targets)), rows, vocab: V, rowLoss: gpu.zeros(rows), loss: gpu.zeros(1), dLogits });
    gpu.run([...dec.ops, ...ce, ...dec.backward(dLogits)]);
    const grads = ps.layout.unpack(await ps.readFlat(ps.grads));
    await gpu.check();
    // The mean cross-entropy the GPU differentiates, in float64.
    const loss = (p: Map<string, ArrayLike<number>>) => {
      let total = 0;
      for (let b = 0; b < batch; b++) {
        const logits = studentForwardRef(spec, p, ids.slice(b * L, (b + 1) * L));
        for (let t = 0; t < L; t++) total += nllOf(logits, t, V, targets[b * L + t]!);
      }
      return total / rows;
    };
    const bad: string[] = [];
    let seed = 40;
    for (const [n, v] of params) {
      const g = grads.get(n)!;
      const dir = randn(v.length, seed++);
      let analytic = 0, norm = 0;
      for (let i = 0; i < v.length; i++) {
        analytic += g[i]! * dir[i]!;
        norm += dir[i]! ** 2;
      }
      const eps = 1e-5 / Math.sqrt(norm);
      const at = (sign: number) => new Map<string, ArrayLike<number>>(params).set(n, Float64Array.from(v, (x, i) => x + sign * eps * dir[i]!));
      const numeric = (loss(at(1)) - loss(at(-1))) / (2 * eps);
      // f32 gradients against float64 differences (exact to ~1e-9 here).
      if (!(Math.abs(numeric - analytic) <= 2e-3 * Math.abs(numeric) + 1e-6)) bad.push(`${n}: GPU ${analytic.toExponential(5)}, float64 ${numeric.toExponential(5)}`);
    }
    expect(bad).toEqual([]);
    dec.release();
    ps.release();
  }, 240_000);
});
