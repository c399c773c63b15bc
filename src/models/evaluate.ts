// Mean next-token negative log-likelihood of a model over tokenized documents, on the GPU.
// Documents are batched and padded at the end; padded positions are never predicted (their targets are
// ignored) and, attention being causal, never seen by the real ones, so padding changes nothing.
import type { Gpu } from '../gpu/runtime';
import type { ArchConfig } from '../io/config';
import { crossEntropy, IGNORE_INDEX, softCrossEntropy } from '../kernels/losses';
import { Decoder, type DecoderOptions } from './decoder';
import type { Weights } from './layers';

export interface NllResult {
  /** Mean NLL in nats per predicted token. */
  meanNll: number;
  /** Predicted tokens (each document contributes its length − 1). */
  tokens: number;
}

export interface EvalModel {
  config: ArchConfig;
  weights: Weights;
  mixer?: DecoderOptions['mixer'];
}

/** Logits budget per batch: batches stay well inside binding limits and memory. */
const MAX_LOGIT_FLOATS = 32 * 2 ** 20;
const MAX_ROWS = 4096;

export async function meanNll(
  gpu: Gpu,
  model: EvalModel,
  docs: readonly number[][],
  onProgress?: (doneDocs: number, totalDocs: number) => void,
): Promise<NllResult> {
  const c = model.config;
  const usable = docs.filter((d) => d.length >= 2);
  const maxLen = Math.max(0, ...usable.map((d) => d.length));
  if (usable.length === 0) throw new Error('no document has two or more tokens to predict from');
  if (c.positions === 'learned' && maxLen > c.maxPositions) {
    throw new Error(`documents of ${maxLen} tokens are longer than the model's ${c.maxPositions} positions: lower --max-tokens`);
  }
  const perDoc = Math.max(1, Math.min(Math.floor(MAX_ROWS / maxLen), Math.floor(MAX_LOGIT_FLOATS / (maxLen * c.vocab))));
  let sum = 0;
  let tokens = 0;
  for (let start = 0; start < usable.length; start += perDoc) {
    const batchDocs = usable.slice(start, start + perDoc);
    const L = Math.max(...batchDocs.map((d) => d.length));
    const batch = batchDocs.length;
    const rows = batch * L;
    const ids = new Uint32Array(rows);
    const targets = new Uint32Array(rows).fill(IGNORE_INDEX);
    batchDocs.forEach((d, b) => {
      for (let t = 0; t < L; t++) ids[b * L + t] = t < d.length ? d[t]! : 0;
      for (let t = 0; t + 1 < d.length; t++) targets[b * L + t] = d[t + 1]!;
    });
    for (const id of ids) if (id >= c.vocab) throw new Error(`token id ${id} is outside the model's vocabulary of ${c.vocab}`);
    // Everything the batch makes is freed after it, the scratch its kernels make for themselves included.
    const held = gpu.collect();
    let dec: Decoder | null = null;
    try {
      const idBuf = gpu.upload(ids, 'eval ids');
      const tgtBuf = gpu.upload(targets, 'eval targets');
      const rowLoss = gpu.buffer(rows * 4, 'eval row loss');
      const loss = gpu.buffer(4, 'eval loss');
      dec = new Decoder(gpu, c, model.weights, { batch, L, ids: idBuf }, { mixer: model.mixer });
      const ops = [...dec.ops, ...crossEntropy(gpu, { logits: dec.logits!, targets: tgtBuf, rows, vocab: c.vocab, rowLoss, loss })];
      held.stop();
      gpu.run(ops);
      const r = await gpu.read(rowLoss, rows);
      await gpu.check();
      for (let i = 0; i < rows; i++) {
        if (targets[i] === IGNORE_INDEX) continue;
        const v = r[i]!;
        if (!Number.isFinite(v)) throw new Error(`the model's loss is not finite (${v}) on document ${start + Math.floor(i / L) + 1}`);
        sum += v;
        tokens++;
      }
    } finally {
      // Activations go back to the pool (the next batch may take them); the rest is destroyed.
      dec?.release();
      held.free();
    }
    onProgress?.(Math.min(start + perDoc, usable.length), usable.length);
  }
  return { meanNll: sum / tokens, tokens };
}

export interface KlResult {
  /** Mean KL(teacher ‖ model) in nats per position, one per model, over every position of every document. */
  meanKl: number[];
  /** Positions counted (each document contributes its length). */
  tokens: number;
}

/**
 * Mean KL divergence of each model's next-token distribution from the teacher's, over tokenized
 * documents: how far a student is from its teacher, position by position, with no reference text
 * needed. The teacher runs once per batch and each model after it, so comparing many variants of a
 * student (the hybrid advisor's leave-one-out) costs one teacher forward. `model(i)` is built when its
 * turn comes and may hold GPU memory only while it runs. Padding is handled as in meanNll: padded
 * positions are never counted, and causal attention keeps them from the real ones.
 */
export async function meanKl(
  gpu: Gpu,
  teacher: EvalModel,
  models: number,
  model: (i: number) => EvalModel,
  docs: readonly number[][],
  onProgress?: (done: number, total: number) => void,
): Promise<KlResult> {
  const c = teacher.config;
  const usable = docs.filter((d) => d.length >= 1);
  if (usable.length === 0) throw new Error('no document has a token to compare the models on');
  const maxLen = Math.max(...usable.map((d) => d.length));
  if (c.positions === 'learned' && maxLen > c.maxPositions) {
    throw new Error(`documents of ${maxLen} tokens are longer than the model's ${c.maxPositions} positions: lower the evaluation's tokens`);
  }
  // Two models' logits are held at once.
  const perDoc = Math.max(1, Math.min(Math.floor(MAX_ROWS / maxLen), Math.floor(MAX_LOGIT_FLOATS / (2 * maxLen * c.vocab))));
  const sums = new Float64Array(models);
  let tokens = 0;
  const batches = Math.ceil(usable.length / perDoc);
  for (let start = 0, b = 0; start < usable.length; start += perDoc, b++) {
    const batchDocs = usable.slice(start, start + perDoc);
    const L = Math.max(...batchDocs.map((d) => d.length));
    const batch = batchDocs.length;
    const rows = batch * L;
    const ids = new Uint32Array(rows);
    const real = new Uint8Array(rows);
    batchDocs.forEach((d, k) => {
      for (let t = 0; t < d.length; t++) {
        ids[k * L + t] = d[t]!;
        real[k * L + t] = 1;
      }
    });
    for (const id of ids) if (id >= c.vocab) throw new Error(`token id ${id} is outside the model's vocabulary of ${c.vocab}`);
    const held = gpu.collect();
    let teach: Decoder | null = null;
    try {
      const idBuf = gpu.upload(ids, 'kl ids');
      const rowLoss = gpu.buffer(rows * 4, 'kl row loss');
      const loss = gpu.buffer(4, 'kl loss');
      teach = new Decoder(gpu, c, teacher.weights, { batch, L, ids: idBuf }, { mixer: teacher.mixer });
      held.stop();
      gpu.run(teach.ops);
      for (let i = 0; i < models; i++) {
        const m = model(i);
        const own = gpu.collect();
        let dec: Decoder | null = null;
        try {
          dec = new Decoder(gpu, m.config, m.weights, { batch, L, ids: idBuf }, { mixer: m.mixer });
          const ops = [...dec.ops, ...softCrossEntropy(gpu, { student: dec.logits!, teacher: teach.logits!, rows, vocab: c.vocab, kind: 'kl', rowLoss, loss })];
          own.stop();
          gpu.run(ops);
          const r = await gpu.read(rowLoss, rows);
          await gpu.check();
          for (let k = 0; k < rows; k++) {
            if (!real[k]) continue;
            const v = r[k]!;
            if (!Number.isFinite(v)) throw new Error(`the KL of model ${i + 1} to the teacher is not finite (${v}) on document ${start + Math.floor(k / L) + 1}`);
            sums[i] += v;
          }
        } finally {
          dec?.release();
          own.free();
        }
        onProgress?.(b * models + i + 1, batches * models);
      }
      for (let k = 0; k < rows; k++) tokens += real[k]!;
    } finally {
      teach?.release();
      held.free();
    }
  }
  return { meanKl: Array.from(sums, (s) => s / tokens), tokens };
}
