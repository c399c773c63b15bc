import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type ArchConfig } from '../../src/io/config';
import { encodeDocuments, splitDocuments } from '../../src/io/corpus';
import { nodeDirFileSet, readJson } from '../../src/io/files';
import { openCheckpoint, type TensorInfo, type TensorStore } from '../../src/io/safetensors';
import { TeacherTokenizer } from '../../src/io/tokenizer';
import { applyRope, greedyGenerate, llamaForward, loadLlama, meanNll, type LlamaModel } from '../../src/ref/llama';

import { CORPUS_FILE, TEACHER_DIR } from '../helpers/data';

let config: ArchConfig;
let store: TensorStore;
let model: LlamaModel;
let tok: TeacherTokenizer;

beforeAll(async () => {
  const files = await nodeDirFileSet(TEACHER_DIR);
  config = parseConfig(await readJson(files, 'config.json'));
  store = await openCheckpoint(files);
  const loaded = await loadLlama(store, config);
  expect(loaded.unused).toEqual([]);
  model = loaded.model;
  tok = await TeacherTokenizer.fromFiles(files, config);
});

// Reference values from transformers 5.17.0 (PyTorch 2.11, CPU): LlamaForCausalLM.from_pretrained on
// these files with dtype=float64 and eager attention. transformers computes the softmax and the RoPE
// angles in float32 even then, so agreement is to about 1e-7 relative, not to float64 precision.
const HF = {
  nll: 1.2464855536058175,
  nllTokens: 7367,
  seq: [1, 385, 328, 432, 261, 376, 298, 315, 421, 395, 317, 272, 277, 264, 261, 404, 266, 305, 322, 311],
  /** logits[t][j] for t in 0, 7, 19 and j in 1, 42, 261, 511. */
  logits: [
    [8.404341059138755, -6.222662443812442, 9.54127394025092, -4.4055190493913665],
    [-1.8193493778263206, -12.26945841535832, 3.877888017209277, -11.024749043446182],
    [0.6228290547087465, -12.852446070317882, 9.003476992563673, -11.337722715329912],
  ],
  /** Layer 2, head 5, query 10: probabilities over keys 0..10. */
  probs: [0.03984452784061432, 0.10580357909202576, 0.06016422063112259, 0.26802074909210205, 0.19509842991828918, 0.010742681100964546, 0.01497829332947731, 0.001356514752842486, 0.004715460352599621, 0.28420040011405945, 0.015075081028044224],
  /** Layer 4 attention output after o_proj, position 19, dims 0..3. */
  attnOut: [-0.5591970931228959, -0.538457442701562, 0.09204673331893004, -0.08823316433063641],
  /** Layer 3 input_layernorm output, position 6, dims 0..3. */
  attnInput: [-0.31152525850818336, 0.7796892457809719, -2.431463207033289, -2.712599764064862],
  /** Residual stream entering layer 4 (hidden_states[4]), position 12, dims 0..3. */
  residualIn: [-1.2500512595511948, 0.6056011745736873, -0.6732626029407719, -2.1357345382257655],
  greedy: [403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352],
};

function expectClose(got: ArrayLike<number>, want: readonly number[], tol: number): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) if (!(Math.abs(got[i] - want[i]) <= tol)) throw new Error(`[${i}] ${got[i]} vs ${want[i]} (tol ${tol})`);
}

describe('stories260K float64 reference', () => {
  it('reads the committed data directory', () => {
    expect(existsSync(`${TEACHER_DIR}/model.safetensors`)).toBe(true);
    expect(existsSync(CORPUS_FILE)).toBe(true);
  });

  it('mean NLL of the first 30 stories (BOS + first 255 tokens) is 1.2465 nats/token', () => {
    const docs = splitDocuments(readFileSync(CORPUS_FILE, 'utf8')).slice(0, 30);
    const ids = encodeDocuments(tok, docs, { addBos: true, maxTokens: 256 });
    expect(ids.every((d) => d[0] === 1 && d.length <= 256)).toBe(true);
    expect(ids.reduce((s, d) => s + d.length - 1, 0)).toBe(HF.nllTokens);
    const nll = meanNll(model, ids);
    expect(Math.abs(nll - 1.2465)).toBeLessThanOrEqual(0.0005);
    expect(Math.abs(nll - HF.nll)).toBeLessThan(1e-6);
  });

  it('greedy generation from BOS tells the documented story', () => {
    const out = greedyGenerate(model, [1], 40, 2);
    expect(out).toEqual(HF.greedy);
    expect(tok.decode(out)).toMatch(/^Once upon a time, there was a little girl named Lily\. She loved to play outside in the park\./);
  });

  it('logits and per-layer traces match transformers', () => {
    const { logits, layers } = llamaForward(model, HF.seq, { trace: true });
    const V = 512;
    const T = HF.seq.length;
    [0, 7, 19].forEach((t, r) => expectClose([1, 42, 261, 511].map((j) => logits[t * V + j]), HF.logits[r], 2e-5));
    expect(layers.length).toBe(5);
    expectClose(layers[2].attnProbs.subarray((5 * T + 10) * T, (5 * T + 10) * T + 11), HF.probs, 5e-6);
    expectClose(layers[4].attnOut.subarray(19 * 64, 19 * 64 + 4), HF.attnOut, 5e-6);
    expectClose(layers[3].attnInput.subarray(6 * 64, 6 * 64 + 4), HF.attnInput, 5e-6);
    expectClose(layers[4].residualIn.subarray(12 * 64, 12 * 64 + 4), HF.residualIn, 5e-6);
  });

  it('traces are causal probability rows; the first residual is the embedding', () => {
    const { layers } = llamaForward(model, HF.seq, { trace: true });
    const T = HF.seq.length;
    for (const L of layers) {
      expect(L.attnProbs.length).toBe(8 * T * T);
      expect(L.residualIn.length).toBe(T * 64);
      for (let h = 0; h < 8; h++) {
        for (let i = 0; i < T; i++) {
          let sum = 0;
          for (let j = 0; j < T; j++) {
            const p = L.attnProbs[(h * T + i) * T + j];
            if (j > i) expect(p).toBe(0);
            else expect(p).toBeGreaterThan(0);
            sum += p;
          }
          expect(Math.abs(sum - 1)).toBeLessThan(1e-12);
        }
      }
    }
    for (let t = 0; t < T; t++) expect(layers[0].residualIn.subarray(t * 64, t * 64 + 64)).toEqual(model.embed.subarray(HF.seq[t] * 64, HF.seq[t] * 64 + 64));
    expect(llamaForward(model, HF.seq).layers).toEqual([]);
  });

  it('a later token never changes earlier logits', () => {
    const a = llamaForward(model, HF.seq).logits;
    const b = llamaForward(model, [...HF.seq.slice(0, 12), 100, 7, 300]).logits;
    expect(b.subarray(0, 12 * 512)).toEqual(a.subarray(0, 12 * 512));
    expect(b.subarray(12 * 512, 13 * 512)).not.toEqual(a.subarray(12 * 512, 13 * 512));
  });

  it('refuses token ids outside the vocabulary and empty input', () => {
    expect(() => llamaForward(model, [1, 512])).toThrow(/token id 512 at 1 is outside the vocabulary \(512\)/);
    expect(() => llamaForward(model, [])).toThrow(/empty sequence/);
  });
});

describe('loadLlama', () => {
  const without = (name: string): TensorStore => {
    const tensors = new Map(store.tensors);
    tensors.delete(name);
    return { tensors, readF32: (n) => store.readF32(n) };
  };

  it('names a missing or misshapen tensor', async () => {
    await expect(loadLlama(without('model.layers.2.mlp.up_proj.weight'), config)).rejects.toThrow(/missing tensor model\.layers\.2\.mlp\.up_proj\.weight/);
    const tensors = new Map(store.tensors);
    const k = tensors.get('model.layers.1.self_attn.k_proj.weight')!;
    tensors.set(k.name, { ...k, shape: [64, 32] });
    await expect(loadLlama({ tensors, readF32: (n) => store.readF32(n) }, config)).rejects.toThrow(
      /tensor model\.layers\.1\.self_attn\.k_proj\.weight has shape \[64,32\], expected \[32,64\]/,
    );
    await expect(loadLlama(store, { ...config, tiedEmbeddings: false })).rejects.toThrow(/missing tensor lm_head\.weight/);
  });

  it('uses lm_head.weight when embeddings are untied, and reports tensors it did not use', async () => {
    const head = new Float32Array(512 * 64).map((_, i) => Math.sin(i));
    const extra: TensorInfo = { name: 'lm_head.weight', dtype: 'F32', shape: [512, 64], begin: 0, end: 0 };
    const inv: TensorInfo = { name: 'model.layers.0.self_attn.rotary_emb.inv_freq', dtype: 'F32', shape: [4], begin: 0, end: 0 };
    const tensors = new Map([...store.tensors, [extra.name, extra], [inv.name, inv]]);
    const withHead: TensorStore = { tensors, readF32: (n) => (n === extra.name ? Promise.resolve(head) : store.readF32(n)) };
    const untied = await loadLlama(withHead, { ...config, tiedEmbeddings: false });
    expect(untied.model.lmHead).toEqual(Float64Array.from(head));
    expect(untied.model.lmHead).not.toBe(untied.model.embed);
    expect(untied.unused).toEqual(['model.layers.0.self_attn.rotary_emb.inv_freq']);
    const tied = await loadLlama(withHead, config);
    expect(tied.model.lmHead).toBe(tied.model.embed);
    expect(tied.unused).toEqual(['lm_head.weight', 'model.layers.0.self_attn.rotary_emb.inv_freq']);
  });

  it('refuses a config that is not of the Llama family', async () => {
    await expect(loadLlama(store, { ...config, modelType: 'gpt2' })).rejects.toThrow(/model_type gpt2 is not of the Llama family \(llama, qwen2, qwen3, mistral, gemma3_text\)/);
  });
});

describe('applyRope', () => {
  const rand = (n: number, seed: number) => Float64Array.from({ length: n }, (_, i) => Math.sin(seed * 1000 + i * 1.37));
  const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, v, i) => s + v * b[i], 0);
  // One head of dim 8 placed at position t of a [t+1, 8] buffer.
  const at = (v: Float64Array, t: number, rotaryDim = 8, theta = 1e4) => {
    const x = new Float64Array((t + 1) * 8);
    x.set(v, t * 8);
    applyRope(x, t + 1, 1, 8, rotaryDim, theta);
    return x.subarray(t * 8);
  };

  it('is the identity at position 0 and preserves norms', () => {
    const q = rand(8, 1);
    expect(at(q, 0)).toEqual(q);
    expect(Math.abs(dot(at(q, 13), at(q, 13)) - dot(q, q))).toBeLessThan(1e-12);
  });

  it('makes q·k depend only on the distance between positions', () => {
    const q = rand(8, 2);
    const k = rand(8, 3);
    const d1 = dot(at(q, 9), at(k, 4));
    const d2 = dot(at(q, 25), at(k, 20));
    expect(Math.abs(d1 - d2)).toBeLessThan(1e-12);
    expect(Math.abs(d1 - dot(at(q, 9), at(k, 5)))).toBeGreaterThan(1e-6);
  });

  it('rotates pairs (i, i + half) by t·theta^(−2i/d), leaving dims past rotaryDim alone', () => {
    const e = new Float64Array(8);
    e[1] = 1;
    // rotaryDim 4: half 2, pair (1, 3), frequency theta^(−2/4).
    const y = at(e, 3, 4, 100);
    const a = 3 * 100 ** -0.5;
    expectClose(y, [0, Math.cos(a), 0, Math.sin(a), 0, 0, 0, 0], 1e-15);
    const tail = rand(8, 4);
    expect(at(tail, 5, 4).subarray(4)).toEqual(tail.subarray(4));
  });
});
