// Float64 CPU forward of a Hugging Face Llama causal LM: the ground truth the GPU teacher is held to.
// Written to be read, not to be fast. All matrices are row-major; a Linear weight is [out, in] as in
// PyTorch, so y = W·x (+ b). Activations are [T, width] row-major (position-major).
//
// Per layer (HF LlamaDecoderLayer):
//   h  = x + o_proj(Attn(RMSNorm(x)))                          (pre-norm residual)
//   x' = h + down(silu(gate(RMSNorm(h))) * up(RMSNorm(h)))     (SwiGLU)
// Attn: q, k, v projections; RoPE (rotate_half) on q and k; GQA (query head h reads key/value head
// floor(h / (heads/kvHeads)), as HF's repeat_kv); causal softmax(q·k / sqrt(headDim)).
// The family's variants: Qwen2 (q/k/v biases, no o bias), Qwen3 (RMSNorm of each q and k head over
// headDim, weights q_norm / k_norm, before RoPE), Mistral (query i sees keys i − window < j ≤ i),
// scaled RoPE (Llama 3, linear: the inverse frequencies of ropeInverseFrequencies), and Gemma 3
// (HF Gemma3DecoderLayer):
//   x_0 = embed · embedScale;  h = x + RMSNorm_post_attn(o_proj(Attn(RMSNorm(x))));
//   x'  = h + RMSNorm_post_ff(down(gelu_tanh(gate(m)) * up(m))),  m = RMSNorm_pre_ff(h)
// with q/k norms, scores scaled by query_pre_attn_scalar^−½, each layer's own window and RoPE
// (layerAttention), and every RMSNorm multiplying by 1 + w (the offset added to the weights at load).
import { layerAttention, LLAMA_FAMILY, ropeInverseFrequencies, type ArchConfig } from '../io/config';
import type { TensorStore } from '../io/safetensors';
import type { Unary } from '../kernels/activations';
import { activationRef } from './activations';

export interface LlamaDims {
  layers: number;
  dModel: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  vocab: number;
  normEps: number;
  /** Per layer: its RoPE inverse frequencies (headDim/2: theta's, or scaled) and window (null: none). */
  attention: { invFreq: Float64Array; window: number | null }[];
  /** Scale of the attention scores (1/√headDim but for gemma3). */
  attnScale: number;
  /** Multiplies the token embeddings (gemma3's √d). */
  embedScale: number;
  /** The gate's activation. */
  activation: Unary;
  qkNorm: boolean;
}

/** Biases are null when the checkpoint has none (attention_bias / mlp_bias false). */
export interface LlamaLayerWeights {
  inputNorm: Float64Array; // [d]
  wq: Float64Array; // [heads·headDim, d]
  wk: Float64Array; // [kvHeads·headDim, d]
  wv: Float64Array; // [kvHeads·headDim, d]
  wo: Float64Array; // [d, heads·headDim]
  bq: Float64Array | null;
  bk: Float64Array | null;
  bv: Float64Array | null;
  bo: Float64Array | null;
  /** [headDim] each, qwen3 and gemma3 only. */
  qNorm: Float64Array | null;
  kNorm: Float64Array | null;
  /** The MLP's input norm, [d]. */
  postNorm: Float64Array;
  /** Norms of the attention's and the MLP's outputs, [d] each, gemma3 only. */
  attnOutNorm: Float64Array | null;
  mlpOutNorm: Float64Array | null;
  wGate: Float64Array; // [intermediate, d]
  wUp: Float64Array; // [intermediate, d]
  wDown: Float64Array; // [d, intermediate]
  bGate: Float64Array | null;
  bUp: Float64Array | null;
  bDown: Float64Array | null;
}

export interface LlamaModel {
  dims: LlamaDims;
  embed: Float64Array; // [vocab, d]
  layers: LlamaLayerWeights[];
  finalNorm: Float64Array; // [d]
  /** [vocab, d]; the same array as `embed` when embeddings are tied. */
  lmHead: Float64Array;
}

/** What MOHAWK reads from one teacher layer, for one sequence of T tokens. */
export interface LayerTrace {
  /** Residual stream entering the layer, [T, d]. */
  residualIn: Float64Array;
  /** RMSNorm(residualIn) · input_layernorm weight: the attention's input, [T, d]. */
  attnInput: Float64Array;
  /** Causal softmax attention probabilities, [heads, T, T] (query row, key column; 0 above the diagonal). */
  attnProbs: Float64Array;
  /** Attention output after o_proj (before any post norm and the residual add), [T, d]. */
  attnOut: Float64Array;
}

export interface LlamaOutput {
  /** [T, vocab] */
  logits: Float64Array;
  /** One per layer when traced, else empty. */
  layers: LayerTrace[];
}

type LayerKey = keyof LlamaLayerWeights;
const NORMS: readonly LayerKey[] = ['inputNorm', 'postNorm', 'qNorm', 'kNorm', 'attnOutNorm', 'mlpOutNorm'];

/** HF tensor names of layer i's tensors (without the "model.layers.{i}." prefix) that the config has. */
function layerTensorNames(c: ArchConfig): Partial<Record<LayerKey, string>> {
  const n: Partial<Record<LayerKey, string>> = {
    inputNorm: 'input_layernorm.weight',
    wq: 'self_attn.q_proj.weight',
    wk: 'self_attn.k_proj.weight',
    wv: 'self_attn.v_proj.weight',
    wo: 'self_attn.o_proj.weight',
    wGate: 'mlp.gate_proj.weight',
    wUp: 'mlp.up_proj.weight',
    wDown: 'mlp.down_proj.weight',
  };
  // Gemma 3's post_attention_layernorm is on the attention's output; its MLP norm is pre_feedforward.
  if (c.postNorms) Object.assign(n, { attnOutNorm: 'post_attention_layernorm.weight', postNorm: 'pre_feedforward_layernorm.weight', mlpOutNorm: 'post_feedforward_layernorm.weight' });
  else n.postNorm = 'post_attention_layernorm.weight';
  if (c.biases.attention) Object.assign(n, { bq: 'self_attn.q_proj.bias', bk: 'self_attn.k_proj.bias', bv: 'self_attn.v_proj.bias' });
  if (c.biases.attentionOut) n.bo = 'self_attn.o_proj.bias';
  if (c.qkNorm) Object.assign(n, { qNorm: 'self_attn.q_norm.weight', kNorm: 'self_attn.k_norm.weight' });
  if (c.biases.mlp) Object.assign(n, { bGate: 'mlp.gate_proj.bias', bUp: 'mlp.up_proj.bias', bDown: 'mlp.down_proj.bias' });
  return n;
}

/** The shape of every field of LlamaLayerWeights, those the config lacks included. */
function layerTensorShapes(c: ArchConfig): Record<LayerKey, number[]> {
  const { dModel: d, heads, kvHeads, headDim: hd, intermediate: f } = c;
  return {
    inputNorm: [d], postNorm: [d], attnOutNorm: [d], mlpOutNorm: [d], qNorm: [hd], kNorm: [hd],
    wq: [heads * hd, d], wk: [kvHeads * hd, d], wv: [kvHeads * hd, d], wo: [d, heads * hd],
    bq: [heads * hd], bk: [kvHeads * hd], bv: [kvHeads * hd], bo: [d],
    wGate: [f, d], wUp: [f, d], wDown: [d, f], bGate: [f], bUp: [f], bDown: [d],
  };
}

const ACTIVATION: Partial<Record<ArchConfig['activation'], Unary>> = { silu: 'silu', gelu_tanh: 'geluTanh', gelu: 'gelu' };

export function llamaDims(config: ArchConfig): LlamaDims {
  if (!LLAMA_FAMILY.includes(config.modelType)) throw new Error(`llama reference: model_type ${config.modelType} is not of the Llama family (${LLAMA_FAMILY.join(', ')})`);
  const activation = ACTIVATION[config.activation];
  if (!activation) throw new Error(`llama reference: no gated MLP with ${config.activation}`);
  const { layers, dModel, heads, kvHeads, headDim, intermediate, vocab, normEps, qkNorm, embedScale } = config;
  const attention = Array.from({ length: layers }, (_, l) => {
    const la = layerAttention(config, l);
    return { invFreq: ropeInverseFrequencies({ ropeTheta: la.ropeTheta, rotaryDim: config.rotaryDim, ropeScaling: la.ropeScaling }), window: la.window };
  });
  return { layers, dModel, heads, kvHeads, headDim, intermediate, vocab, normEps, attention, attnScale: layerAttention(config, 0).scale, embedScale, activation, qkNorm };
}

/** Expected shape of every tensor of the checkpoint, by HF name. */
export function llamaTensorShapes(config: ArchConfig): Map<string, number[]> {
  const { layers, dModel: d, vocab } = llamaDims(config);
  const s = new Map<string, number[]>();
  s.set('model.embed_tokens.weight', [vocab, d]);
  s.set('model.norm.weight', [d]);
  if (!config.tiedEmbeddings) s.set('lm_head.weight', [vocab, d]);
  const names = Object.entries(layerTensorNames(config)) as [LayerKey, string][];
  const shape = layerTensorShapes(config);
  for (let i = 0; i < layers; i++) for (const [key, name] of names) s.set(`model.layers.${i}.${name}`, shape[key]);
  return s;
}

/**
 * Reads a Llama checkpoint into float64, checking every tensor's presence and shape. Returns the
 * model and the names of tensors it did not use (e.g. rotary_emb.inv_freq buffers, a tied lm_head).
 */
export async function loadLlama(store: TensorStore, config: ArchConfig): Promise<{ model: LlamaModel; unused: string[] }> {
  const dims = llamaDims(config);
  const shapes = llamaTensorShapes(config);
  for (const [name, shape] of shapes) {
    const info = store.tensors.get(name);
    if (!info) throw new Error(`llama checkpoint: missing tensor ${name}`);
    if (info.shape.length !== shape.length || info.shape.some((v, i) => v !== shape[i])) {
      throw new Error(`llama checkpoint: tensor ${name} has shape [${info.shape}], expected [${shape}]`);
    }
  }
  const read = async (name: string): Promise<Float64Array> => Float64Array.from(await store.readF32(name));
  // The norm's multiplier (offset + w), formed in float64 as transformers' float64 run forms it.
  const readNorm = async (name: string): Promise<Float64Array> => (await read(name)).map((v) => v + config.normWeightOffset);
  const names = layerTensorNames(config);
  const layers: LlamaLayerWeights[] = [];
  for (let i = 0; i < dims.layers; i++) {
    const p = `model.layers.${i}.`;
    const w = {} as Record<LayerKey, Float64Array | null>;
    for (const key of Object.keys(layerTensorShapes(config)) as LayerKey[]) {
      const name = names[key];
      w[key] = name === undefined ? null : NORMS.includes(key) ? await readNorm(p + name) : await read(p + name);
    }
    layers.push(w as LlamaLayerWeights);
  }
  const embed = await read('model.embed_tokens.weight');
  const model: LlamaModel = {
    dims,
    embed,
    layers,
    finalNorm: await readNorm('model.norm.weight'),
    lmHead: config.tiedEmbeddings ? embed : await read('lm_head.weight'),
  };
  const unused = [...store.tensors.keys()].filter((n) => !shapes.has(n)).sort();
  return { model, unused };
}

// ---------------------------------------------------------------------------------------------
// Building blocks, each over [T, width] row-major activations.

/** y[t] = W·x[t] + b, W [out, in]. */
export function linear(x: Float64Array, T: number, inDim: number, w: Float64Array, outDim: number, b: Float64Array | null): Float64Array {
  const y = new Float64Array(T * outDim);
  for (let t = 0; t < T; t++) {
    for (let o = 0; o < outDim; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < inDim; i++) s += w[o * inDim + i] * x[t * inDim + i];
      y[t * outDim + o] = s;
    }
  }
  return y;
}

/** y = x / sqrt(mean(x²) + eps) · w, per row. */
export function rmsNorm(x: Float64Array, T: number, d: number, w: Float64Array, eps: number): Float64Array {
  const y = new Float64Array(T * d);
  for (let t = 0; t < T; t++) {
    let ss = 0;
    for (let i = 0; i < d; i++) ss += x[t * d + i] ** 2;
    const r = 1 / Math.sqrt(ss / d + eps);
    for (let i = 0; i < d; i++) y[t * d + i] = x[t * d + i] * r * w[i];
  }
  return y;
}

/**
 * RoPE in HF's rotate_half convention, in place, on x [T, nHeads·headDim], position t = row index.
 * Over the first `rotaryDim` dims of each head (the rest pass through), with half = rotaryDim/2 and
 * inv_freq[i] = theta^(−2i/rotaryDim), angle a = t·inv_freq[i]:
 *   x'[i]        = x[i]·cos a − x[i+half]·sin a
 *   x'[i+half]   = x[i+half]·cos a + x[i]·sin a
 * which is x·cos + rotate_half(x)·sin with cos/sin duplicated over the two halves.
 */
export function applyRope(x: Float64Array, T: number, nHeads: number, headDim: number, rotaryDim: number, theta: number, invFreq?: Float64Array): void {
  const half = rotaryDim / 2;
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < nHeads; h++) {
      const base = t * nHeads * headDim + h * headDim;
      for (let i = 0; i < half; i++) {
        const a = t * (invFreq ? invFreq[i] : theta ** ((-2 * i) / rotaryDim));
        const c = Math.cos(a);
        const s = Math.sin(a);
        const x1 = x[base + i];
        const x2 = x[base + i + half];
        x[base + i] = x1 * c - x2 * s;
        x[base + i + half] = x2 * c + x1 * s;
      }
    }
  }
}

/**
 * Causal multi-head attention with GQA. q [T, heads·hd], k and v [T, kvHeads·hd] (RoPE applied).
 * Returns the concatenated head outputs [T, heads·hd] and the probabilities [heads, T, T] of the
 * scores scale·q·k (1/√hd by default). With a sliding window, query i sees keys i − window < j ≤ i
 * (transformers' sliding_window_overlay: kv_idx > q_idx − sliding_window, mistral's and gemma3's alike).
 */
export function causalAttention(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  T: number,
  heads: number,
  kvHeads: number,
  hd: number,
  window: number | null = null,
  scale = 1 / Math.sqrt(hd),
): { out: Float64Array; probs: Float64Array } {
  const group = heads / kvHeads;
  const out = new Float64Array(T * heads * hd);
  const probs = new Float64Array(heads * T * T);
  for (let h = 0; h < heads; h++) {
    const kvh = Math.floor(h / group);
    for (let i = 0; i < T; i++) {
      const row = probs.subarray((h * T + i) * T, (h * T + i + 1) * T);
      const j0 = window === null ? 0 : Math.max(0, i - window + 1);
      let max = -Infinity;
      for (let j = j0; j <= i; j++) {
        let s = 0;
        for (let c = 0; c < hd; c++) s += q[(i * heads + h) * hd + c] * k[(j * kvHeads + kvh) * hd + c];
        row[j] = s * scale;
        max = Math.max(max, row[j]);
      }
      let sum = 0;
      for (let j = j0; j <= i; j++) {
        row[j] = Math.exp(row[j] - max);
        sum += row[j];
      }
      for (let j = j0; j <= i; j++) row[j] /= sum;
      for (let c = 0; c < hd; c++) {
        let s = 0;
        for (let j = j0; j <= i; j++) s += row[j] * v[(j * kvHeads + kvh) * hd + c];
        out[(i * heads + h) * hd + c] = s;
      }
    }
  }
  return { out, probs };
}

// ---------------------------------------------------------------------------------------------

/** Runs the model on one sequence of token ids; `trace` keeps the per-layer tensors MOHAWK needs. */
export function llamaForward(model: LlamaModel, ids: readonly number[], opts: { trace?: boolean } = {}): LlamaOutput {
  const { dModel: d, heads, kvHeads, headDim: hd, intermediate: f, vocab, normEps: eps, attention, attnScale, embedScale, activation } = model.dims;
  const T = ids.length;
  if (T === 0) throw new Error('llamaForward: empty sequence');
  let x = new Float64Array(T * d);
  for (let t = 0; t < T; t++) {
    const id = ids[t];
    if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new Error(`llamaForward: token id ${id} at ${t} is outside the vocabulary (${vocab})`);
    for (let i = 0; i < d; i++) x[t * d + i] = model.embed[id * d + i] * embedScale;
  }
  const traces: LayerTrace[] = [];
  for (const [l, L] of model.layers.entries()) {
    const residualIn = x;
    const attnInput = rmsNorm(x, T, d, L.inputNorm, eps);
    const q = linear(attnInput, T, d, L.wq, heads * hd, L.bq);
    const k = linear(attnInput, T, d, L.wk, kvHeads * hd, L.bk);
    const v = linear(attnInput, T, d, L.wv, kvHeads * hd, L.bv);
    if (L.qNorm && L.kNorm) {
      // Each head's hd values are one row of the [T·heads, hd] view.
      q.set(rmsNorm(q, T * heads, hd, L.qNorm, eps));
      k.set(rmsNorm(k, T * kvHeads, hd, L.kNorm, eps));
    }
    const { invFreq, window } = attention[l]!;
    // The layer's frequencies are given, so applyRope's theta goes unused.
    applyRope(q, T, heads, hd, hd, 0, invFreq);
    applyRope(k, T, kvHeads, hd, hd, 0, invFreq);
    const { out, probs } = causalAttention(q, k, v, T, heads, kvHeads, hd, window, attnScale);
    const attnOut = linear(out, T, heads * hd, L.wo, d, L.bo);
    const added = L.attnOutNorm ? rmsNorm(attnOut, T, d, L.attnOutNorm, eps) : attnOut;
    const h = new Float64Array(T * d);
    for (let i = 0; i < T * d; i++) h[i] = x[i] + added[i];

    const m = rmsNorm(h, T, d, L.postNorm, eps);
    const gate = linear(m, T, d, L.wGate, f, L.bGate);
    const up = linear(m, T, d, L.wUp, f, L.bUp);
    for (let i = 0; i < T * f; i++) gate[i] = activationRef(activation, gate[i]) * up[i];
    let mlpOut = linear(gate, T, f, L.wDown, d, L.bDown);
    if (L.mlpOutNorm) mlpOut = rmsNorm(mlpOut, T, d, L.mlpOutNorm, eps);
    x = new Float64Array(T * d);
    for (let i = 0; i < T * d; i++) x[i] = h[i] + mlpOut[i];

    if (opts.trace) traces.push({ residualIn, attnInput, attnProbs: probs, attnOut });
  }
  const final = rmsNorm(x, T, d, model.finalNorm, eps);
  return { logits: linear(final, T, d, model.lmHead, vocab, null), layers: traces };
}

/** −log softmax(logits)[target] for one row. */
export function nllOf(logits: Float64Array, row: number, vocab: number, target: number): number {
  let max = -Infinity;
  for (let j = 0; j < vocab; j++) max = Math.max(max, logits[row * vocab + j]);
  let sum = 0;
  for (let j = 0; j < vocab; j++) sum += Math.exp(logits[row * vocab + j] - max);
  return Math.log(sum) + max - logits[row * vocab + target];
}

/**
 * Mean next-token NLL (nats/token) over all predicted positions of all documents: token t+1 is
 * predicted from tokens 0..t, so a document of n tokens contributes n − 1 terms.
 */
export function meanNll(model: LlamaModel, docsTokenIds: readonly (readonly number[])[]): number {
  let total = 0;
  let count = 0;
  for (const ids of docsTokenIds) {
    if (ids.length < 2) continue;
    const { logits } = llamaForward(model, ids);
    for (let t = 0; t + 1 < ids.length; t++) total += nllOf(logits, t, model.dims.vocab, ids[t + 1]);
    count += ids.length - 1;
  }
  if (count === 0) throw new Error('meanNll: no document has two or more tokens');
  return total / count;
}

/** Greedy continuation of `prompt` by `steps` tokens (stops early at `stopId`); returns the new ids. */
export function greedyGenerate(model: LlamaModel, prompt: readonly number[], steps: number, stopId?: number): number[] {
  const ids = [...prompt];
  const out: number[] = [];
  const V = model.dims.vocab;
  for (let s = 0; s < steps; s++) {
    // Recomputes the whole prefix each step: no KV cache, to keep the reference one code path.
    const { logits } = llamaForward(model, ids);
    const row = (ids.length - 1) * V;
    let best = 0;
    for (let j = 1; j < V; j++) if (logits[row + j] > logits[row + best]) best = j;
    if (best === stopId) break;
    ids.push(best);
    out.push(best);
  }
  return out;
}
