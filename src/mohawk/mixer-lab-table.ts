// The mixer lab's options and bookkeeping (no GPU here: the page's main thread reads it): which matrices go into a GPU batch, the per-layer means of the
// distances they come back with, and how the families rank against the paper's finding
// (MOHAWK Table 3: SSM < SSD < low-rank ≪ Toeplitz at every N, each falling as N grows).

export type MixerFamily = 'toeplitz' | 'low-rank' | 'ssd' | 'ssm';
export const MIXER_FAMILIES: readonly MixerFamily[] = ['toeplitz', 'low-rank', 'ssd', 'ssm'];

export interface MixerLabOptions {
  /** State sizes N (default 16, 32, 64). */
  states: number[];
  /** Teacher layers sampled; null: every layer. */
  layers: number[] | null;
  /** Tokens per sequence, L. */
  seqLen: number;
  /** Held-out sequences, K. */
  samples: number;
  /** Adam steps per fit. */
  steps: number;
  /** Adam's peak learning rate. */
  lr: number;
  seed: number;
  /** Most floats one batch of L×L matrices holds (GPU memory: the fit keeps four such buffers); default 2^25, or what one binding takes. */
  batchFloats?: number;
}

export const DEFAULT_MIXER_LAB: MixerLabOptions = { states: [16, 32, 64], layers: null, seqLen: 128, samples: 4, steps: 300, lr: 0.03, seed: 1 };

export interface MixerLabProgress {
  family: MixerFamily;
  /** State size of the fit (null for Toeplitz, which has none). */
  states: number | null;
  step: number;
  steps: number;
  /** Batch of matrices (0-based) and how many there are. */
  batch: number;
  batches: number;
  /** The mean distance over the batch at this step. */
  distance: number;
}

/** One row of the result, as `mohawk mixers --json` prints it. */
export interface MixerLabRow {
  family: MixerFamily;
  states: number;
  /** Mean over every (sequence, layer, head) matrix of the distance after the last step. */
  distance: number;
  /** The same mean per layer (keys: layer indices). */
  layers: Record<string, number>;
}

/**
 * What the settings make of the comparison, in words: a state size of at least L lets low-rank, SSD
 * and SSM express any causal L×L matrix (C = I, B = Mᵀ), so they all fit it to zero and the table
 * says nothing about them there.
 */
export function labCaveats(states: readonly number[], seqLen: number): string[] {
  const full = states.filter((N) => N >= seqLen);
  if (full.length === 0) return [];
  return [`N=${full.join(', ')} ≥ L=${seqLen} tokens: rank N expresses any causal L×L matrix, so low-rank, SSD and SSM can all fit it exactly there (take longer sequences)`];
}

/** A batch: sequences [seq0, seq0 + seqs) × the layers listed, every head. */
export interface LabBatch {
  seq0: number;
  seqs: number;
  layers: number[];
}

/**
 * Batches of at most `floats` floats of L×L matrices: as many sequences as fit with every layer, or
 * when one sequence of every layer does not fit, one sequence and as many layers as fit (at least one).
 */
export function labBatches(K: number, layers: number[], heads: number, L: number, floats: number): LabBatch[] {
  const perSeqLayer = heads * L * L;
  const out: LabBatch[] = [];
  const seqs = Math.floor(floats / (perSeqLayer * layers.length));
  if (seqs >= 1) {
    for (let s = 0; s < K; s += seqs) out.push({ seq0: s, seqs: Math.min(seqs, K - s), layers });
    return out;
  }
  const per = Math.max(1, Math.floor(floats / perSeqLayer));
  for (let s = 0; s < K; s++) for (let i = 0; i < layers.length; i += per) out.push({ seq0: s, seqs: 1, layers: layers.slice(i, i + per) });
  return out;
}

/** Sums and counts of distances per layer, for one family × N. */
export class LayerMeans {
  private readonly sum = new Map<number, number>();
  private readonly count = new Map<number, number>();

  add(layer: number, v: number): void {
    this.sum.set(layer, (this.sum.get(layer) ?? 0) + v);
    this.count.set(layer, (this.count.get(layer) ?? 0) + 1);
  }

  /** The mean over every value (each matrix weighs the same), and per layer (keys in layer order). */
  means(): { mean: number; layers: Record<string, number> } {
    const layers: Record<string, number> = {};
    let s = 0;
    let n = 0;
    for (const l of [...this.sum.keys()].sort((a, b) => a - b)) {
      layers[String(l)] = this.sum.get(l)! / this.count.get(l)!;
      s += this.sum.get(l)!;
      n += this.count.get(l)!;
    }
    return { mean: n ? s / n : NaN, layers };
  }
}

/**
 * A batch's per-matrix distances added to their layers. The batch's matrices are laid out (layer,
 * sequence, head), so matrix (li·seqs + k)·heads + h belongs to layer layers[li].
 */
export function addBatch(into: LayerMeans, distances: ArrayLike<number>, b: LabBatch, heads: number): void {
  const per = b.seqs * heads;
  if (distances.length !== per * b.layers.length) {
    throw new Error(`a batch of ${b.seqs} sequences × ${b.layers.length} layers × ${heads} heads has ${per * b.layers.length} matrices, not ${distances.length}`);
  }
  for (let i = 0; i < distances.length; i++) into.add(b.layers[Math.floor(i / per)]!, distances[i]!);
}

const NAMES: Record<MixerFamily, string> = { toeplitz: 'Toeplitz', 'low-rank': 'low-rank', ssd: 'SSD', ssm: 'SSM' };

export function familyName(f: MixerFamily): string {
  return NAMES[f];
}

/** The state sizes the rows hold, ascending. */
export function rowStates(rows: readonly MixerLabRow[]): number[] {
  return [...new Set(rows.map((r) => r.states))].sort((a, b) => a - b);
}

/** The families at state size N, closest fit first. */
export function familyOrder(rows: readonly MixerLabRow[], N: number): MixerFamily[] {
  return rows
    .filter((r) => r.states === N)
    .sort((a, b) => a.distance - b.distance)
    .map((r) => r.family);
}

export interface FindingCheck {
  /** SSM < SSD < low-rank < Toeplitz at every N. */
  ordered: boolean;
  /** Low-rank, SSD and SSM each strictly closer at every larger N. */
  falling: boolean;
  /** The smallest Toeplitz / low-rank ratio over N (how far "≪" goes). */
  toeplitzOverLowRank: number;
  /** Each way the rows depart from the finding, in words; empty when it holds. */
  problems: string[];
}

/** Holds the rows to the paper's finding in kind (its figures are Llama-2-7B's, not comparable). */
export function checkFinding(rows: readonly MixerLabRow[]): FindingCheck {
  const at = (f: MixerFamily, N: number) => rows.find((r) => r.family === f && r.states === N)?.distance ?? NaN;
  const states = rowStates(rows);
  const problems: string[] = [];
  const fmt = (x: number) => x.toPrecision(3);
  // Closest first: the paper's order.
  const paper: MixerFamily[] = ['ssm', 'ssd', 'low-rank', 'toeplitz'];
  let ordered = true;
  let ratio = Infinity;
  for (const N of states) {
    for (let i = 0; i + 1 < paper.length; i++) {
      const a = at(paper[i]!, N);
      const b = at(paper[i + 1]!, N);
      if (!(a < b)) {
        ordered = false;
        problems.push(`N=${N}: ${NAMES[paper[i]!]} (${fmt(a)}) is not below ${NAMES[paper[i + 1]!]} (${fmt(b)})`);
      }
    }
    ratio = Math.min(ratio, at('toeplitz', N) / at('low-rank', N));
  }
  let falling = true;
  for (const f of MIXER_FAMILIES) {
    if (f === 'toeplitz') continue;
    for (let i = 0; i + 1 < states.length; i++) {
      const a = at(f, states[i]!);
      const b = at(f, states[i + 1]!);
      if (!(b < a)) {
        falling = false;
        problems.push(`${NAMES[f]}: N=${states[i + 1]} (${fmt(b)}) is not below N=${states[i]} (${fmt(a)})`);
      }
    }
  }
  return { ordered, falling, toeplitzOverLowRank: states.length ? ratio : NaN, problems };
}
