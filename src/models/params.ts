// A flat parameter layout made of named slices: the logical layout checkpoints and host copies keep.
// Slices start on 256-byte boundaries: storage bindings at an offset must be aligned that way.
// On the GPU the layout is cut into chunks (contiguous runs of whole slices), each small enough for
// one storage binding, so that a student larger than the adapter's binding limit still trains.
import type { Bindable, Gpu } from '../gpu/runtime';

const ALIGN = 64; // floats = 256 bytes

export interface Slice {
  name: string;
  shape: number[];
  offset: number; // in floats
  count: number;
}

/** A contiguous run of whole slices of the flat layout, one GPU buffer's worth (floats). */
export interface Chunk {
  start: number;
  size: number;
}

/**
 * Where flat floats [from, from + count) of a chunked layout lie, chunk by chunk (a range may span
 * chunks): `offset` bytes into chunk `chunk`, `at` bytes into a buffer that holds the range alone.
 */
export function chunkPieces(chunks: readonly Chunk[], from: number, count: number): { chunk: number; offset: number; at: number; bytes: number }[] {
  const out: { chunk: number; offset: number; at: number; bytes: number }[] = [];
  chunks.forEach((c, k) => {
    const lo = Math.max(from, c.start);
    const hi = Math.min(from + count, c.start + c.size);
    if (hi > lo) out.push({ chunk: k, offset: (lo - c.start) * 4, at: (lo - from) * 4, bytes: (hi - lo) * 4 });
  });
  return out;
}

/** Floats a slice of `count` takes in the layout, alignment gap included. */
const aligned = (count: number) => Math.ceil(count / ALIGN) * ALIGN;

/**
 * The first tensor of `shapes` that one binding of `capBytes` cannot hold (with its alignment gap,
 * as a chunk holds it), or null: the one rule the chunking and the plan's check share.
 */
export function oversized(shapes: Map<string, number[]>, capBytes: number): { name: string; bytes: number } | null {
  const cap = Math.floor(capBytes / (ALIGN * 4)) * ALIGN;
  for (const [name, shape] of shapes) {
    const count = shape.reduce((a, b) => a * b, 1);
    if (aligned(count) > cap) return { name, bytes: count * 4 };
  }
  return null;
}

export class FlatParams {
  readonly slices = new Map<string, Slice>();
  private total = 0;

  /** The layout of `shapes`, in their order. */
  static of(shapes: Map<string, number[]>): FlatParams {
    const p = new FlatParams();
    for (const [n, shape] of shapes) p.add(n, shape);
    return p;
  }

  add(name: string, shape: number[]): Slice {
    if (this.slices.has(name)) throw new Error(`parameter ${name} declared twice`);
    const count = shape.reduce((a, b) => a * b, 1);
    const s: Slice = { name, shape, offset: this.total, count };
    this.slices.set(name, s);
    this.total += aligned(count);
    return s;
  }

  /**
   * Whole slices, in layout order, grouped greedily into chunks of at most `capBytes`; a slice that
   * no chunk can hold is refused by name. Chunks start on slice boundaries, so every slice keeps its
   * 256-byte alignment inside its chunk.
   */
  chunks(capBytes: number): Chunk[] {
    const big = oversized(new Map([...this.slices].map(([n, s]) => [n, s.shape])), capBytes);
    if (big) {
      const mib = (b: number) => (b / 2 ** 20).toFixed(2);
      throw new Error(`parameter ${big.name} takes ${mib(big.bytes)} MiB as f32, over the ${mib(capBytes)} MiB one storage binding may hold`);
    }
    const cap = Math.floor(capBytes / (ALIGN * 4)) * ALIGN;
    const out: Chunk[] = [];
    let start = 0;
    for (const s of this.slices.values()) {
      if (s.offset + aligned(s.count) - start > cap) {
        out.push({ start, size: s.offset - start });
        start = s.offset;
      }
    }
    if (this.total > start || out.length === 0) out.push({ start, size: this.total - start });
    return out;
  }

  get size(): number {
    return this.total;
  }

  get(name: string): Slice {
    const s = this.slices.get(name);
    if (!s) throw new Error(`no parameter named ${name}`);
    return s;
  }

  /** A binding of one slice inside `buf`, a buffer laid out like these parameters. */
  view(buf: GPUBuffer, name: string): Bindable {
    const s = this.get(name);
    return { buffer: buf, offset: s.offset * 4, size: s.count * 4 };
  }

  /** Host-side values, zero in the alignment gaps. */
  pack(values: Map<string, Float32Array>): Float32Array {
    const out = new Float32Array(this.total);
    for (const [name, s] of this.slices) {
      const v = values.get(name);
      if (!v) throw new Error(`no initial value for ${name}`);
      if (v.length !== s.count) throw new Error(`${name}: ${v.length} values for shape [${s.shape}]`);
      out.set(v, s.offset);
    }
    return out;
  }

  unpack(flat: Float32Array): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const [name, s] of this.slices) out.set(name, flat.slice(s.offset, s.offset + s.count));
    return out;
  }

  upload(gpu: Gpu, values: Map<string, Float32Array>, label: string): GPUBuffer {
    return gpu.upload(this.pack(values), label);
  }
}

/** Deterministic normal samples (Box–Muller over xorshift), for reproducible initialisation. */
export function normal(n: number, std: number, seed: number): Float32Array {
  return normalRange(n, std, seed, 0, n);
}

/** One xorshift32 step (13, 17, 5), the generator `normal` draws from. */
function xorshift(s: number): number {
  s ^= s << 13;
  s >>>= 0;
  s ^= s >>> 17;
  s ^= s << 5;
  return s >>> 0;
}

/** A 32×32 matrix over GF(2), by columns: the image of each bit. */
const apply = (cols: Uint32Array, x: number): number => {
  let y = 0;
  for (let b = 0; x !== 0; b++, x >>>= 1) if (x & 1) y ^= cols[b]!;
  return y >>> 0;
};

/**
 * The xorshift32 state `k` steps after `s`. The step is linear over GF(2), so k steps are the matrix
 * of one step raised to k, by squaring: a student's random rows far into a 67M-value draw (a 7B
 * teacher's in_proj) are reached in microseconds instead of stepping through every value before them.
 */
export function xorshiftJump(s: number, k: number): number {
  let m = new Uint32Array(32);
  for (let b = 0; b < 32; b++) m[b] = xorshift((1 << b) >>> 0);
  let x = s >>> 0;
  while (k > 0) {
    if (k % 2 === 1) x = apply(m, x);
    k = Math.floor(k / 2);
    if (k > 0) {
      const sq = new Uint32Array(32);
      for (let b = 0; b < 32; b++) sq[b] = apply(m, m[b]!);
      m = sq;
    }
  }
  return x;
}

/**
 * normal(n, std, seed).subarray(from, to), drawn without the values before `from`: the generator
 * jumps to the first pair the range needs, so only the used part of a large draw costs anything.
 */
export function normalRange(n: number, std: number, seed: number, from: number, to: number): Float32Array {
  if (!(0 <= from && from <= to && to <= n)) throw new Error(`normalRange: [${from}, ${to}) is not inside [0, ${n})`);
  const first = from - (from % 2);
  // Each pair of values draws two numbers from the generator.
  let s = xorshiftJump(seed >>> 0 || 0x9e3779b9, first);
  const u = () => {
    s = xorshift(s);
    return (s + 0.5) / 4294967296;
  };
  const out = new Float32Array(to - from);
  for (let i = first; i < to; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u()));
    const t = 2 * Math.PI * u();
    if (i >= from) out[i - from] = r * Math.cos(t) * std;
    if (i + 1 < to) out[i + 1 - from] = r * Math.sin(t) * std;
  }
  return out;
}
