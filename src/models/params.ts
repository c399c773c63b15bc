// A flat parameter buffer made of named slices, so that AdamW runs once over all of them.
// Slices start on 256-byte boundaries: storage bindings at an offset must be aligned that way.
import type { Bindable, Gpu } from '../gpu/runtime';

const ALIGN = 64; // floats = 256 bytes

export interface Slice {
  name: string;
  shape: number[];
  offset: number; // in floats
  count: number;
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
    this.total += Math.ceil(count / ALIGN) * ALIGN;
    return s;
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
  let s = seed >>> 0 || 0x9e3779b9;
  const u = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u()));
    const t = 2 * Math.PI * u();
    out[i] = r * Math.cos(t) * std;
    if (i + 1 < n) out[i + 1] = r * Math.sin(t) * std;
  }
  return out;
}
