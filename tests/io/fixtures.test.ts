// The trained transformers checkpoints in tests/fixtures/ load through the studio's own I/O: config,
// safetensors (F32 and BF16), tokenizer; their reference logits are what expected.json says; and the
// project's float64 Llama reference reproduces transformers on the Llama-family fixtures (gemma3's too).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { layerAttention, LLAMA_FAMILY, parseConfig, type ArchConfig } from '../../src/io/config';
import { nodeDirFileSet, nodeFileSource } from '../../src/io/files';
import { openCheckpoint, SafetensorsFile } from '../../src/io/safetensors';
import { checkVocab, TeacherTokenizer } from '../../src/io/tokenizer';
import { llamaForward, llamaTensorShapes, loadLlama, meanNll, nllOf } from '../../src/ref/llama';
import { FIXTURE_LOGITS_SHAPE, FIXTURE_NAMES, FIXTURES_DIR, loadFixture } from '../helpers/fixtures';
import { relErr } from '../helpers/gpu';

const SHARED = {
  layers: 2, dModel: 64, heads: 4, headDim: 16, vocab: 512, maxPositions: 128, normEps: 1e-5, bosId: 1, eosId: 2, ropeScaling: null, qkNorm: false, slidingWindow: null,
  slidingLayers: null, localRope: null, attnScale: null, embedScale: 1, postNorms: false, normWeightOffset: 0,
};
const LLAMA: ArchConfig = {
  ...SHARED,
  modelType: 'llama',
  kvHeads: 2,
  intermediate: 96,
  norm: 'rmsnorm',
  positions: 'rope',
  ropeTheta: 10000,
  rotaryDim: 16,
  activation: 'silu',
  gatedMlp: true,
  tiedEmbeddings: false,
  biases: { attention: true, attentionOut: true, mlp: false, lmHead: false },
  parallelResidual: false,
};

const LLAMA_LIKE = { ...LLAMA, kvHeads: 2, intermediate: 96, biases: { attention: false, attentionOut: false, mlp: false, lmHead: false } };

const ARCH: Record<SupportedFixture, ArchConfig> = {
  qwen2: { ...LLAMA_LIKE, modelType: 'qwen2', normEps: 1e-6, ropeTheta: 1e6, tiedEmbeddings: true, biases: { attention: true, attentionOut: false, mlp: false, lmHead: false } },
  qwen3: { ...LLAMA_LIKE, modelType: 'qwen3', normEps: 1e-6, headDim: 24, rotaryDim: 24, ropeTheta: 1e6, qkNorm: true, biases: { attention: true, attentionOut: true, mlp: false, lmHead: false } },
  'mistral-swa': { ...LLAMA_LIKE, modelType: 'mistral', slidingWindow: 8 },
  'llama3-rope': { ...LLAMA_LIKE, ropeTheta: 500000, ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64 } },
  gemma3: {
    ...LLAMA_LIKE, modelType: 'gemma3_text', normEps: 1e-6, ropeTheta: 1e6, activation: 'gelu_tanh', tiedEmbeddings: true, qkNorm: true,
    slidingWindow: 8, slidingLayers: [true, false], localRope: { theta: 1e4, scaling: null }, attnScale: 24 ** -0.5, embedScale: 8, postNorms: true, normWeightOffset: 1,
  },
  gpt2: {
    ...SHARED,
    modelType: 'gpt2',
    kvHeads: 4,
    intermediate: 256,
    norm: 'layernorm',
    positions: 'learned',
    ropeTheta: null,
    rotaryDim: 0,
    activation: 'gelu_tanh',
    gatedMlp: false,
    tiedEmbeddings: true,
    biases: { attention: true, attentionOut: true, mlp: true, lmHead: false },
    parallelResidual: false,
  },
  'llama-gqa': LLAMA,
  'llama-bf16': LLAMA,
  gpt_neox: {
    ...SHARED,
    modelType: 'gpt_neox',
    kvHeads: 4,
    intermediate: 256,
    norm: 'layernorm',
    positions: 'rope',
    ropeTheta: 10000,
    rotaryDim: 8,
    activation: 'gelu',
    gatedMlp: false,
    tiedEmbeddings: false,
    biases: { attention: true, attentionOut: true, mlp: true, lmHead: false },
    parallelResidual: true,
  },
  phi: {
    ...SHARED,
    modelType: 'phi',
    kvHeads: 4,
    intermediate: 256,
    norm: 'layernorm',
    positions: 'rope',
    ropeTheta: 10000,
    rotaryDim: 8,
    activation: 'gelu_tanh',
    gatedMlp: false,
    tiedEmbeddings: false,
    biases: { attention: true, attentionOut: true, mlp: true, lmHead: true },
    parallelResidual: true,
  },
};

/** Every tensor transformers saves for the fixture's architecture, by HF name (d = 64, ff = 256). */
function hfTensorShapes(name: SupportedFixture, c: ArchConfig): Map<string, number[]> {
  if (LLAMA_FAMILY.includes(c.modelType)) return llamaTensorShapes(c);
  const { dModel: d, intermediate: ff, vocab: V } = c;
  const s = new Map<string, number[]>();
  const layerNorm = (p: string) => (s.set(p + '.weight', [d]), s.set(p + '.bias', [d]));
  const linear = (p: string, out: number, inp: number) => (s.set(p + '.weight', [out, inp]), s.set(p + '.bias', [out]));
  for (let i = 0; i < c.layers; i++) {
    if (name === 'gpt2') {
      const p = `transformer.h.${i}.`;
      layerNorm(p + 'ln_1');
      layerNorm(p + 'ln_2');
      // Conv1D stores (in, out).
      s.set(p + 'attn.c_attn.weight', [d, 3 * d]).set(p + 'attn.c_attn.bias', [3 * d]);
      s.set(p + 'attn.c_proj.weight', [d, d]).set(p + 'attn.c_proj.bias', [d]);
      s.set(p + 'mlp.c_fc.weight', [d, ff]).set(p + 'mlp.c_fc.bias', [ff]);
      s.set(p + 'mlp.c_proj.weight', [ff, d]).set(p + 'mlp.c_proj.bias', [d]);
    } else if (name === 'gpt_neox') {
      const p = `gpt_neox.layers.${i}.`;
      layerNorm(p + 'input_layernorm');
      layerNorm(p + 'post_attention_layernorm');
      linear(p + 'attention.query_key_value', 3 * d, d);
      linear(p + 'attention.dense', d, d);
      linear(p + 'mlp.dense_h_to_4h', ff, d);
      linear(p + 'mlp.dense_4h_to_h', d, ff);
    } else {
      const p = `model.layers.${i}.`;
      layerNorm(p + 'input_layernorm');
      for (const x of ['q', 'k', 'v']) linear(`${p}self_attn.${x}_proj`, d, d);
      linear(p + 'self_attn.dense', d, d);
      linear(p + 'mlp.fc1', ff, d);
      linear(p + 'mlp.fc2', d, ff);
    }
  }
  if (name === 'gpt2') {
    s.set('transformer.wte.weight', [V, d]).set('transformer.wpe.weight', [c.maxPositions, d]);
    layerNorm('transformer.ln_f');
  } else if (name === 'gpt_neox') {
    s.set('gpt_neox.embed_in.weight', [V, d]).set('embed_out.weight', [V, d]);
    layerNorm('gpt_neox.final_layer_norm');
  } else {
    s.set('model.embed_tokens.weight', [V, d]);
    layerNorm('model.final_layernorm');
    linear('lm_head', V, d);
  }
  return s;
}

/** Round-to-nearest-even to bfloat16, as torch's .to(torch.bfloat16) does (no NaNs here). */
function bf16(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  const src = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const dst = new Uint32Array(out.buffer);
  for (let i = 0; i < x.length; i++) dst[i] = (src[i] + 0x7fff + ((src[i] >>> 16) & 1)) & 0xffff0000;
  return out;
}

type SupportedFixture = (typeof FIXTURE_NAMES)[number];
const configOf = (name: SupportedFixture) => parseConfig(readFileSync(`${FIXTURES_DIR}/${name}/config.json`, 'utf8'), `${name}/config.json`);

describe.each(FIXTURE_NAMES)('fixture %s', (name) => {
  const dir = `${FIXTURES_DIR}/${name}`;

  it('config.json parses to the architecture it was made with', () => {
    expect(configOf(name)).toEqual(ARCH[name]);
  });

  it('model.safetensors holds exactly the tensors transformers writes for it, trained', async () => {
    const store = await openCheckpoint(await nodeDirFileSet(dir));
    const want = hfTensorShapes(name, ARCH[name]);
    const got = new Map([...store.tensors].map(([n, t]) => [n, t.shape]));
    expect(Object.fromEntries([...got].sort())).toEqual(Object.fromEntries([...want].sort()));
    const dtype = name === 'llama-bf16' ? 'BF16' : 'F32';
    for (const t of store.tensors.values()) expect(t.dtype, t.name).toBe(dtype);
    // Biases start at 0 and norm weights at 1: after training no tensor is constant.
    for (const n of got.keys()) {
      const w = await store.readF32(n);
      let lo = Infinity;
      let hi = -Infinity;
      let bad = 0;
      for (const v of w) {
        if (!Number.isFinite(v)) bad++;
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      expect(bad, n).toBe(0);
      expect(hi - lo, n).toBeGreaterThan(1e-3);
    }
  });

  it('the tokenizer loads and encodes the reference texts to the reference ids', async () => {
    const c = configOf(name);
    const tok = await TeacherTokenizer.fromFiles(await nodeDirFileSet(dir), { bosId: c.bosId, eosId: c.eosId });
    expect([tok.bosId, tok.eosId, tok.addsBos]).toEqual([1, 2, true]);
    expect(checkVocab(tok, c.vocab)).toEqual([]);
    const f = await loadFixture(name);
    expect(f.texts).toHaveLength(2);
    expect(f.texts.map((t) => tok.encode(t).slice(0, 24))).toEqual(f.inputIds);
  });

  it('expected_logits is F32 (2, 24, 512) and gives expected.json mean_nll', async () => {
    const file = await SafetensorsFile.open(await nodeFileSource(`${dir}/expected_logits.safetensors`));
    expect([...file.tensors.keys()]).toEqual(['logits']);
    expect(file.info('logits')).toMatchObject({ dtype: 'F32', shape: [...FIXTURE_LOGITS_SHAPE] });
    const f = await loadFixture(name);
    const [B, T, V] = FIXTURE_LOGITS_SHAPE;
    expect(f.logits.length).toBe(B * T * V);
    expect(f.inputIds.map((r) => r.length)).toEqual([T, T]);
    let total = 0;
    for (let b = 0; b < B; b++) {
      const rows = Float64Array.from(f.logits.subarray(b * T * V, (b + 1) * T * V));
      for (let t = 0; t + 1 < T; t++) total += nllOf(rows, t, V, f.inputIds[b][t + 1]);
    }
    // f32 storage of the logits moves the mean by ~1e-7; a different model or input moves it by > 1e-2.
    expect(Math.abs(total / (B * (T - 1)) - f.meanNll)).toBeLessThan(1e-5);
    // Trained, not random: uniform guessing would be ln 512 = 6.24 nats.
    expect(f.meanNll).toBeGreaterThan(1.5);
    expect(f.meanNll).toBeLessThan(3.5);
  });
});

describe('llama fixtures against the float64 reference in src/ref/llama.ts', () => {
  it.each(['llama-gqa', 'llama-bf16', 'qwen2', 'qwen3', 'mistral-swa', 'llama3-rope', 'gemma3'] as const)('%s: logits and mean NLL agree with transformers', async (name) => {
    const f = await loadFixture(name);
    const c = configOf(name);
    const { model, unused } = await loadLlama(await openCheckpoint(await nodeDirFileSet(f.dir)), c);
    expect(unused).toEqual([]);
    const [, T, V] = FIXTURE_LOGITS_SHAPE;
    const logitsErr = () => Math.max(...[0, 1].map((b) => relErr(llamaForward(model, f.inputIds[b]).logits, f.logits.subarray(b * T * V, (b + 1) * T * V))));
    if (name === 'gemma3') {
      // transformers computed gemma3's inverse frequencies in float32 and the fixture kept them
      // (expected.json check.rotary_modules): ours, in float64, move the logits by ~3e-6. Given
      // transformers' own, 1/θ^(2i/d) in f32 steps, the reference is exact.
      expect(logitsErr()).toBeLessThan(1e-5);
      for (const [l, a] of model.dims.attention.entries()) {
        const theta = layerAttention(c, l).ropeTheta!;
        a.invFreq = a.invFreq.map((_, i) => Math.fround(1 / Math.fround(theta ** Math.fround((2 * i) / c.headDim))));
      }
    }
    // The reference logits were rounded to f32 (relative 6e-8); both sides are float64 otherwise.
    expect(logitsErr()).toBeLessThan(1e-6);
    expect(Math.abs(meanNll(model, f.inputIds) - f.meanNll)).toBeLessThan(1e-9);
  });

  it('llama-bf16 holds llama-gqa rounded to bfloat16, and the rounding changes the logits', async () => {
    const f32 = await openCheckpoint(await nodeDirFileSet(`${FIXTURES_DIR}/llama-gqa`));
    const b16 = await openCheckpoint(await nodeDirFileSet(`${FIXTURES_DIR}/llama-bf16`));
    let changed = 0;
    for (const n of f32.tensors.keys()) {
      const w = await f32.readF32(n);
      const r = await b16.readF32(n);
      expect(r, n).toEqual(bf16(w));
      for (let i = 0; i < w.length; i++) if (r[i] !== w[i]) changed++;
    }
    expect(changed).toBeGreaterThan(1000);
    const [a, b] = await Promise.all([loadFixture('llama-gqa'), loadFixture('llama-bf16')]);
    expect(relErr(b.logits, a.logits)).toBeGreaterThan(1e-4);
  });
});
