// The mixer lab (issue 15; the MOHAWK paper's §3 and Table 3): how closely each structured mixer family
// can express a teacher's attention. For K held-out sequences of L tokens, the teacher's causal softmax
// attention matrix of every sampled layer and head is materialised on the GPU, and each family × state
// size N fits its own free factors to every (sequence, layer, head) matrix separately (mixer-fit.ts:
// Adam on the unsquared Frobenius distance, a fixed number of steps). The result is the mean distance
// after the last step per family × N, over all matrices and per layer.
//
// Matrices are fitted in batches that bound GPU memory: a batch is a run of sequences × a run of
// layers, all heads; the teacher runs forward once per batch. Toeplitz has no state size: it is fitted
// once and its row repeated at every N.
import type { Gpu } from '../gpu/runtime';
import type { ArchConfig } from '../io/config';
import { Decoder } from '../models/decoder';
import type { Weights } from '../models/layers';
import { fitMixer } from './mixer-fit';
import { addBatch, labBatches, LayerMeans, MIXER_FAMILIES, type LabBatch, type MixerFamily, type MixerLabOptions, type MixerLabProgress, type MixerLabRow } from './mixer-lab-table';
import type { TokenStream } from './token-stream';

export { DEFAULT_MIXER_LAB, MIXER_FAMILIES, type MixerFamily, type MixerLabOptions, type MixerLabProgress, type MixerLabRow } from './mixer-lab-table';

export interface MixerLabResult {
  rows: MixerLabRow[];
  /** The options as run (layers filled in). */
  options: MixerLabOptions & { layers: number[] };
  /** Matrices fitted per family × N: K × layers × heads. */
  matrices: number;
  /** Each matrix's ‖T‖_F, for scale (the distance of the zero matrix), mean over all and per layer. */
  targetNorm: { mean: number; layers: Record<string, number> };
  seconds: number;
}

/** The options checked against the teacher, layers filled in; a named error for each bad one. */
export function resolveMixerLab(o: MixerLabOptions, c: ArchConfig): MixerLabOptions & { layers: number[] } {
  const int = (v: number, name: string, min = 1) => {
    if (!Number.isInteger(v) || v < min) throw new Error(`mixer lab: ${name} must be an integer ≥ ${min}, not ${v}`);
  };
  int(o.seqLen, 'the sequence length', 2);
  int(o.samples, 'the number of sequences');
  int(o.steps, 'the number of steps');
  if (o.seqLen > c.maxPositions) throw new Error(`mixer lab: sequences of ${o.seqLen} tokens are longer than the teacher's ${c.maxPositions} positions`);
  if (o.states.length === 0) throw new Error('mixer lab: no state size given');
  for (const n of o.states) int(n, 'a state size');
  if (new Set(o.states).size !== o.states.length) throw new Error(`mixer lab: state sizes repeat (${o.states.join(', ')})`);
  if (!(o.lr > 0 && Number.isFinite(o.lr))) throw new Error(`mixer lab: the learning rate must be positive, not ${o.lr}`);
  const layers = o.layers ?? [...Array(c.layers).keys()];
  if (layers.length === 0) throw new Error('mixer lab: no layer given');
  for (const l of layers) {
    if (!Number.isInteger(l) || l < 0 || l >= c.layers) throw new Error(`mixer lab: layer ${l} is not one of the teacher's layers 0–${c.layers - 1}`);
  }
  if (new Set(layers).size !== layers.length) throw new Error(`mixer lab: layers repeat (${layers.join(', ')})`);
  return { ...o, states: [...o.states].sort((a, b) => a - b), layers: [...layers].sort((a, b) => a - b) };
}

/**
 * K sequences of L tokens from the held-out documents the runs evaluate on (the corpus's split), back
 * to back in their order, as training packs its windows across documents. A streaming corpus is
 * waited for until enough of them are in.
 */
export async function heldOutSample(corpus: TokenStream, K: number, L: number): Promise<Uint32Array> {
  const need = K * L;
  const out = new Uint32Array(need);
  let have = 0;
  for (let i = 0; have < need; i++) {
    await corpus.awaitHeldOut(i + 1);
    if (i >= corpus.heldOutCount) {
      throw new Error(`the corpus holds ${corpus.heldOutTokens} held-out tokens (${corpus.heldOutCount} documents), fewer than ${K} sequences of ${L} (${need}): take fewer or shorter sequences, or a larger corpus`);
    }
    const doc = corpus.heldOutDoc(i);
    const k = Math.min(doc.length, need - have);
    out.set(doc.slice(0, k), have);
    have += k;
  }
  return out;
}

export interface MixerLabTeacher {
  config: ArchConfig;
  weights: Weights;
}

export interface MixerLabHooks {
  onProgress?: (p: MixerLabProgress) => void;
  /** Checked between progress reads: true stops the lab with an error saying so. */
  stop?: () => boolean;
}

/** The teacher's attention matrices of a batch into `target` ((layer, seq, head, L, L), as addBatch reads them). */
async function batchTargets(gpu: Gpu, t: MixerLabTeacher, ids: Uint32Array, L: number, b: LabBatch, target: GPUBuffer): Promise<void> {
  const c = t.config;
  const held = gpu.collect();
  try {
    const idsBuf = gpu.upload(ids.subarray(b.seq0 * L, (b.seq0 + b.seqs) * L), 'mixer lab ids');
    const teach = new Decoder(gpu, c, t.weights, { batch: b.seqs, L, ids: idsBuf }, { keepLayers: true, logits: false });
    const unit = b.seqs * c.heads * L * L;
    const scratch = gpu.buffer(unit * 4, 'mixer lab attention');
    const step = gpu.begin('mixer lab teacher');
    step.run(teach.ops);
    b.layers.forEach((l, i) => {
      step.run(teach.attention(l).probabilities(scratch));
      step.copy(scratch, 0, target, i * unit * 4, unit * 4);
    });
    step.submit();
    await gpu.check();
    teach.release();
  } finally {
    held.free();
  }
}

/** ‖T_s‖_F of each matrix of a batch (on the CPU: once per batch, small next to the fits). */
async function targetNorms(gpu: Gpu, target: GPUBuffer, mats: number, L: number): Promise<Float64Array> {
  const v = await gpu.read(target, mats * L * L);
  const out = new Float64Array(mats);
  for (let m = 0; m < mats; m++) {
    let s = 0;
    for (let i = m * L * L; i < (m + 1) * L * L; i++) s += v[i]! * v[i]!;
    out[m] = Math.sqrt(s);
  }
  return out;
}

/** Runs the lab on `ids` (K·L held-out tokens, heldOutSample). */
export async function runMixerLab(gpu: Gpu, teacher: MixerLabTeacher, ids: Uint32Array, options: MixerLabOptions, hooks: MixerLabHooks = {}): Promise<MixerLabResult> {
  const t0 = performance.now();
  const c = teacher.config;
  const o = resolveMixerLab(options, c);
  const L = o.seqLen;
  const K = o.samples;
  if (ids.length < K * L) throw new Error(`mixer lab: ${ids.length} tokens given, ${K} sequences of ${L} need ${K * L}`);
  const floats = Math.min(o.batchFloats ?? 2 ** 25, Math.floor(gpu.info.limits.maxStorageBufferBindingSize / 4));
  const batches = labBatches(K, o.layers, c.heads, L, floats);
  const fits: { family: MixerFamily; N: number | null }[] = [];
  for (const family of MIXER_FAMILIES) {
    if (family === 'toeplitz') fits.push({ family, N: null });
    else for (const N of o.states) fits.push({ family, N });
  }
  const means = new Map<string, LayerMeans>(fits.map((f) => [`${f.family}/${f.N}`, new LayerMeans()]));
  const norms = new LayerMeans();
  let stopped = false;
  const stop = () => (stopped ||= hooks.stop?.() ?? false);

  for (let bi = 0; bi < batches.length; bi++) {
    const b = batches[bi]!;
    const S = b.seqs * b.layers.length * c.heads;
    const target = gpu.buffer(S * L * L * 4, 'mixer lab targets');
    try {
      await batchTargets(gpu, teacher, ids, L, b, target);
      addBatch(norms, await targetNorms(gpu, target, S, L), b, c.heads);
      for (const f of fits) {
        const shape = { S, L, N: f.N ?? 1 };
        const r = await fitMixer(gpu, f.family, shape, target, {
          steps: o.steps,
          lr: o.lr,
          seed: o.seed * 7919 + bi,
          stop,
          onStep: (step, distance) => hooks.onProgress?.({ family: f.family, states: f.N, step, steps: o.steps, batch: bi, batches: batches.length, distance }),
        });
        if (stopped) throw new Error(`the mixer lab was stopped (${f.family}${f.N === null ? '' : `, N=${f.N}`}, step ${r.steps} of ${o.steps})`);
        addBatch(means.get(`${f.family}/${f.N}`)!, r.distances, b, c.heads);
      }
    } finally {
      target.destroy();
    }
  }

  const rows: MixerLabRow[] = [];
  for (const family of MIXER_FAMILIES) {
    for (const N of o.states) {
      const m = means.get(`${family}/${family === 'toeplitz' ? null : N}`)!.means();
      rows.push({ family, states: N, distance: m.mean, layers: m.layers });
    }
  }
  const nm = norms.means();
  return { rows, options: o, matrices: K * o.layers.length * c.heads, targetNorm: { mean: nm.mean, layers: nm.layers }, seconds: (performance.now() - t0) / 1000 };
}
