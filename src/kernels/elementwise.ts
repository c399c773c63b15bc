// Flat elementwise sums and scaling (shaders/elementwise.wgsl):
//   add:  out = a + b (+ c)       n floats each, n a multiple of 4 (activations always are here)
//   axpy: y = y + alpha·x         n floats (four at a time, the last n mod 4 one by one)
//   scale: y = alpha·y            n floats (likewise)
// Used for residual streams and for summing gradients; the float64 reference is src/ref/elementwise.ts.
import { Params, slice, type Bindable, type Gpu, type Op, linearGrid } from '../gpu/runtime';
import { bindings, shader } from '../gpu/wgsl';
import elementwiseWgsl from '../../shaders/elementwise.wgsl?raw';

const SHADER = shader('elementwise',
  elementwiseWgsl,
  bindings(['add_a: array<vec4f>', 'add_b: array<vec4f>', 'add_c: array<vec4f>'], ['add_out: array<vec4f>'], 'ap: AP'), // add
  bindings(['ax_x: array<f32>'], ['ax_y: array<f32>'], 'xp: XP'), // axpy
  bindings(['ax4_x: array<vec4f>'], ['ax4_y: array<vec4f>'], 'xp4: XP'), // axpy4
  bindings([], ['sc_y: array<f32>'], 'scp: XP'), // scale
  bindings([], ['sc4_y: array<vec4f>'], 'scp4: XP'), // scale4
);
const WG = 256;

/**
 * A flat op over n floats: its four-float entry over the first ⌊n/4⌋ quads (two per invocation),
 * then the scalar entry from E0 over the last n mod 4; n below 4 all scalar.
 */
function flatOps(gpu: Gpu, fn: string, o: { entry: string; reads: Bindable[]; writes: Bindable[]; n: number; alpha: number; label: string }): Op[] {
  const n4 = Math.floor(o.n / 4);
  const base = { ...SHADER, reads: o.reads, writes: o.writes, label: o.label };
  const ops: Op[] = [];
  if (n4 > 0) {
    ops.push(gpu.op({ ...base, entry: `${o.entry}4`, constants: { WG }, params: new Params().u32(n4).f32(o.alpha).build(), workgroups: linearGrid(gpu, fn, Math.ceil(n4 / (2 * WG))) }));
  }
  if (o.n > 4 * n4) {
    ops.push(gpu.op({ ...base, entry: o.entry, constants: { WG, E0: 4 * n4 }, params: new Params().u32(o.n).f32(o.alpha).build(), workgroups: [1], label: `${o.label} tail` }));
  }
  return ops;
}


function need(fn: string, what: string, b: Bindable, n: number): void {
  const bytes = slice(b).size;
  if (bytes < n * 4) throw new Error(`${fn} (n=${n}): ${what} holds ${bytes} bytes, needs ${n * 4}`);
}

export function add(gpu: Gpu, a: { a: Bindable; b: Bindable; c?: Bindable; out: Bindable; n: number }): Op[] {
  const fn = 'add';
  if (!Number.isInteger(a.n) || a.n < 4 || a.n % 4 !== 0) throw new Error(`${fn} (n=${a.n}): n must be a positive multiple of 4`);
  for (const [w, b] of [['a', a.a], ['b', a.b], ['c', a.c], ['out', a.out]] as const) if (b) need(fn, w, b, a.n);
  const out = slice(a.out).buffer;
  for (const [w, b] of [['a', a.a], ['b', a.b], ['c', a.c]] as const) {
    if (b && slice(b).buffer === out) throw new Error(`${fn} (n=${a.n}): out shares a buffer with ${w}`);
  }
  const n4 = a.n / 4;
  return [
    gpu.op({
      ...SHADER,
      entry: 'add',
      constants: { WG, THREE: a.c ? 1 : 0 },
      // Without c the third read is bound to a (never read): layouts are fixed per entry point.
      reads: [a.a, a.b, a.c ?? a.a],
      writes: [a.out],
      params: new Params().u32(n4).build(),
      workgroups: linearGrid(gpu, fn, Math.ceil(n4 / (2 * WG))),
      label: `add ${a.n}`,
    }),
  ];
}

export function axpy(gpu: Gpu, a: { x: Bindable; y: Bindable; n: number; alpha?: number }): Op[] {
  const fn = 'axpy';
  if (!Number.isInteger(a.n) || a.n < 1) throw new Error(`${fn} (n=${a.n}): n must be a positive integer`);
  need(fn, 'x', a.x, a.n);
  need(fn, 'y', a.y, a.n);
  if (slice(a.x).buffer === slice(a.y).buffer) throw new Error(`${fn} (n=${a.n}): x and y share a buffer`);
  return flatOps(gpu, fn, { entry: 'axpy', reads: [a.x], writes: [a.y], n: a.n, alpha: a.alpha ?? 1, label: `axpy ${a.n}` });
}

/** y = alpha·y in place. */
export function scale(gpu: Gpu, a: { y: Bindable; n: number; alpha: number }): Op[] {
  const fn = 'scale';
  if (!Number.isInteger(a.n) || a.n < 1) throw new Error(`${fn} (n=${a.n}): n must be a positive integer`);
  need(fn, 'y', a.y, a.n);
  return flatOps(gpu, fn, { entry: 'scale', reads: [], writes: [a.y], n: a.n, alpha: a.alpha, label: `scale ${a.n}` });
}
