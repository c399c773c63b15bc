// Sizes of the discrete Mamba-2 mixer (goombalab/phi-mamba DiscreteMamba2) shared by the float64
// reference and the GPU module: where each part sits in a row of in_proj's output, and the shapes of
// the parameters under their local names (see src/models/DESIGN.md, `layers.{i}.mixer.*`).

export interface MixerShape {
  /** Model width (input and output features). */
  d: number;
  dInner: number;
  /** Value heads: x is (nV, p) per token, p = dInner / nV. */
  nV: number;
  /** Groups of B and C; nV is a multiple of nQK. */
  nQK: number;
  /** State size per head. */
  N: number;
  /** SSD chunk length; default 128, capped at the sequence length. */
  chunk?: number;
  /** Whether out_proj has a bias. */
  outBias: boolean;
}

/** Sequences a mixer runs on: batch rows of L tokens, activations (batch·L, features). */
export interface MixerIo {
  batch: number;
  L: number;
}

export const MIXER_CONV_K = 4;
export const MIXER_DEFAULT_CHUNK = 128;

export interface MixerDims {
  p: number;
  /** n_qk·N: the width of B and of C. */
  gN: number;
  /** Channels of the conv: [x | B | C]. */
  convCh: number;
  /** Width of in_proj's output: [x | B | C | z | A_log]. */
  proj: number;
  /** Column where each part starts in a row of in_proj's output (x starts at 0). */
  bOff: number;
  cOff: number;
  zOff: number;
  aOff: number;
}

export function mixerDims(s: MixerShape): MixerDims {
  const desc = `(d=${s.d}, dInner=${s.dInner}, nV=${s.nV}, nQK=${s.nQK}, N=${s.N})`;
  for (const v of [s.d, s.dInner, s.nV, s.nQK, s.N]) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`mamba mixer ${desc}: sizes must be positive integers`);
  }
  if (s.dInner % s.nV !== 0) throw new Error(`mamba mixer ${desc}: dInner must be a multiple of nV`);
  if (s.nV % s.nQK !== 0) throw new Error(`mamba mixer ${desc}: nV must be a multiple of nQK`);
  if (s.chunk !== undefined && (!Number.isInteger(s.chunk) || s.chunk < 1)) throw new Error(`mamba mixer ${desc}: chunk ${s.chunk} must be a positive integer`);
  const gN = s.nQK * s.N;
  const convCh = s.dInner + 2 * gN;
  return { p: s.dInner / s.nV, gN, convCh, proj: convCh + s.dInner + s.nV, bOff: s.dInner, cOff: s.dInner + gN, zOff: convCh, aOff: convCh + s.dInner };
}

/**
 * Whether stage 1's rows of in_proj and channels of the conv (B, C, A_log) start on storage-binding
 * boundaries (`align` bytes) relative to their tensors and buffers, so that MambaMixer.matrixForward
 * `only` computes those alone; `rows` tokens (batch·L) of B, C then A_log share one buffer. The
 * mixer checks the real offsets again (its tensors' own placement); plans estimate with this.
 */
export function stage1Narrow(s: MixerShape, rows: number, align = 256): boolean {
  const m = mixerDims(s);
  const floatOffsets = [s.dInner * s.d, m.aOff * s.d, s.dInner * MIXER_CONV_K, s.dInner, rows * 2 * m.gN];
  return floatOffsets.every((f) => (f * 4) % align === 0);
}

/** The SSD chunk for sequences of L tokens: the configured one, no longer than L. */
export function mixerChunk(s: MixerShape, L: number): number {
  return Math.min(s.chunk ?? MIXER_DEFAULT_CHUNK, L);
}

/** Parameter shapes by local name, in the canonical layouts. */
export function mixerParamShapes(s: MixerShape): Map<string, number[]> {
  const m = mixerDims(s);
  const shapes = new Map<string, number[]>([
    ['in_proj.weight', [m.proj, s.d]],
    ['conv1d.weight', [m.convCh, MIXER_CONV_K]],
    ['conv1d.bias', [m.convCh]],
    ['z_bias', [s.dInner]],
    ['D', [s.nV]],
    ['out_proj.weight', [s.d, s.dInner]],
  ]);
  if (s.outBias) shapes.set('out_proj.bias', [s.d]);
  return shapes;
}
