// The four-float entries of the activations (shaders/activations.wgsl, *4) and the scalar tail that
// finishes a flat run whose length is not a multiple of 4: which entries an op runs, and that each
// form matches the float64 reference with the tolerances of activations.test.ts.
import { describe, expect, it } from 'vitest';
import { gatedSilu, gatedSiluBackward, swiglu, swigluBackward, unary, unaryBackward, type Unary } from '../../src/kernels/activations';
import type { Op } from '../../src/gpu/runtime';
import { gatedSiluBackwardRef, gatedSiluRef, swigluBackwardRef, swigluRef, unaryBackwardRef, unaryRef } from '../../src/ref/activations';
import { randn, relErr, testGpu } from '../helpers/gpu';

const f64 = (x: ArrayLike<number>) => Float64Array.from(x);
const entries = (ops: Op[]) => ops.map((o) => o.pipeline.label.split(':')[1]);

/** A (rows × cols) tensor placed at r·stride + offset + j in a buffer of garbage. */
function place(x: Float32Array, rows: number, cols: number, stride: number, offset: number, seed: number): Float32Array {
  const buf = randn((rows - 1) * stride + offset + cols, seed, 100);
  for (let r = 0; r < rows; r++) buf.set(x.subarray(r * cols, (r + 1) * cols), r * stride + offset);
  return buf;
}

function pick(buf: Float32Array, rows: number, cols: number, stride: number, offset: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) out.set(buf.subarray(r * stride + offset, r * stride + offset + cols), r * cols);
  return out;
}

/** Whether every float of `all` outside the view equals `orig`. */
function outsideKept(all: Float32Array, orig: Float32Array, rows: number, cols: number, stride: number, offset: number): boolean {
  return all.every((v, i) => {
    const r = Math.floor((i - offset) / stride);
    const j = i - offset - r * stride;
    return (i >= offset && r < rows && j < cols) || v === orig[i];
  });
}

describe('activations four floats at a time', () => {
  // n: how the flat run splits. 4 and 4096: quads only (one quad; 2048 invocations of two quads);
  // 5, 2051, 4099: quads and a tail of 1 to 3; 3: too short for a quad, scalar only.
  const cases: [number, string[]][] = [
    [3, ['unary_fwd']],
    [4, ['unary_fwd4']],
    [5, ['unary_fwd4', 'unary_fwd']],
    [2051, ['unary_fwd4', 'unary_fwd']],
    [4096, ['unary_fwd4']],
    [4099, ['unary_fwd4', 'unary_fwd']],
  ];
  for (const [n, want] of cases) {
    it(`runs a contiguous length ${n} as ${want.join(' + ')}, forward and accumulated backward`, async () => {
      const gpu = await testGpu();
      const kinds: Unary[] = ['silu', 'gelu', 'softplus', 'geluTanh'];
      for (const [q, kind] of kinds.entries()) {
        const x = randn(n, 10 + q, 6);
        const dy = randn(n, 20 + q);
        const dx0 = randn(n, 30 + q);
        const bx = gpu.upload(x);
        const bdy = gpu.upload(dy);
        // One float past the end of y and dx: the tail must not write it.
        const by = gpu.upload(randn(n + 1, 40 + q, 100));
        const bdx = gpu.upload(Float32Array.from([...dx0, 7]));
        const fwd = unary(gpu, { kind, x: bx, y: { buffer: by, size: 4 * n }, n });
        const bwd = unaryBackward(gpu, { kind, x: bx, dy: bdy, dx: { buffer: bdx, size: 4 * n }, n, accumulate: true });
        expect(entries(fwd)).toEqual(want);
        expect(entries(bwd)).toEqual(want.map((e) => e.replace('fwd', 'bwd')));
        const before = await gpu.read(by, n + 1);
        gpu.run([...fwd, ...bwd]);
        const y = await gpu.read(by, n + 1);
        const dx = await gpu.read(bdx, n + 1);
        await gpu.check();
        expect(relErr(y.subarray(0, n), unaryRef(kind, f64(x))), `${kind} forward`).toBeLessThan(1e-4);
        const wantDx = unaryBackwardRef(kind, f64(x), f64(dy)).map((g, i) => g + dx0[i]);
        expect(relErr(dx.subarray(0, n), wantDx), `${kind} backward`).toBeLessThan(1e-3);
        expect(y[n]).toBe(before[n]);
        expect(dx[n]).toBe(7);
        for (const b of [bx, bdy, by, bdx]) gpu.release(b);
      }
    });
  }

  it('reads and writes aligned strided views as quads, and misaligned ones float by float', async () => {
    const gpu = await testGpu();
    const rows = 23;
    const cols = 36;
    const n = rows * cols;
    const x = randn(n, 50, 5);
    const dy = randn(n, 51);
    for (const [xo, yo, dyo, dxo, entry] of [[8, 4, 12, 0, 'unary_fwd4'], [8, 5, 13, 0, 'unary_fwd']] as const) {
      const bx = gpu.upload(place(x, rows, cols, 44, xo, 52));
      const yBuf = place(new Float32Array(n), rows, cols, 40, yo, 53);
      const by = gpu.upload(yBuf);
      const bdy = gpu.upload(place(dy, rows, cols, 48, dyo, 54));
      const dxBuf = place(new Float32Array(n), rows, cols, 52, dxo, 55);
      const bdx = gpu.upload(dxBuf);
      const fwd = unary(gpu, { kind: 'silu', x: bx, y: by, n, cols, xStride: 44, xOffset: xo, yStride: 40, yOffset: yo });
      const bwd = unaryBackward(gpu, { kind: 'silu', x: bx, dy: bdy, dx: bdx, n, cols, xStride: 44, xOffset: xo, dyStride: 48, dyOffset: dyo, dxStride: 52, dxOffset: dxo });
      expect(entries(fwd)).toEqual([entry]);
      expect(entries(bwd)).toEqual([entry.replace('fwd', 'bwd')]);
      gpu.run([...fwd, ...bwd]);
      const yAll = await gpu.read(by, yBuf.length);
      const dxAll = await gpu.read(bdx, dxBuf.length);
      await gpu.check();
      expect(relErr(pick(yAll, rows, cols, 40, yo), unaryRef('silu', f64(x)))).toBeLessThan(1e-4);
      expect(relErr(pick(dxAll, rows, cols, 52, dxo), unaryBackwardRef('silu', f64(x), f64(dy)))).toBeLessThan(1e-3);
      expect(outsideKept(yAll, yBuf, rows, cols, 40, yo)).toBe(true);
      expect(outsideKept(dxAll, dxBuf, rows, cols, 52, dxo)).toBe(true);
      for (const b of [bx, by, bdy, bdx]) gpu.release(b);
    }
  });

  it('runs swiglu on [gate | up] halves of one row as quads, gradients into one buffer, and a contiguous odd length with a tail', async () => {
    const gpu = await testGpu();
    for (const [rows, cols, halves, want] of [[13, 68, true, ['swiglu_fwd4', 'swiglu_bwd4_one']], [7, 45, false, ['swiglu_fwd4', 'swiglu_fwd', 'swiglu_bwd4', 'swiglu_bwd']]] as const) {
      const n = rows * cols;
      const gate = randn(n, 60, 5);
      const up = randn(n, 61, 2);
      const dOut = randn(n, 62);
      const stride = halves ? 2 * cols : cols;
      const row = new Float32Array(rows * 2 * cols);
      for (let r = 0; r < rows; r++) {
        row.set(gate.subarray(r * cols, (r + 1) * cols), r * 2 * cols);
        row.set(up.subarray(r * cols, (r + 1) * cols), r * 2 * cols + cols);
      }
      const bg = gpu.upload(halves ? row : gate);
      const bu = halves ? bg : gpu.upload(up);
      const bdo = gpu.upload(dOut);
      const bo = gpu.upload(new Float32Array(n));
      const d0 = randn(rows * 2 * cols, 63);
      const bd = gpu.upload(d0);
      const bdu = gpu.upload(d0.subarray(0, n));
      const upOffset = halves ? cols : 0;
      const ops = [
        ...swiglu(gpu, { gate: bg, up: bu, out: bo, rows, cols, stride, upOffset }),
        ...(halves
          ? swigluBackward(gpu, { gate: bg, up: bu, dOut: bdo, dGate: bd, dUp: bd, rows, cols, stride, upOffset, dStride: 2 * cols, dUpOffset: cols, accumulate: true })
          : swigluBackward(gpu, { gate: bg, up: bu, dOut: bdo, dGate: bd, dUp: bdu, rows, cols, accumulate: true })),
      ];
      expect(entries(ops)).toEqual(want);
      gpu.run(ops);
      const wantD = swigluBackwardRef(f64(gate), f64(up), f64(dOut));
      expect(relErr(await gpu.read(bo, n), swigluRef(f64(gate), f64(up)))).toBeLessThan(1e-4);
      const d = await gpu.read(bd, rows * 2 * cols);
      if (halves) {
        const plus = (g: Float64Array, off: number) => g.map((v, i) => v + d0[Math.floor(i / cols) * 2 * cols + off + (i % cols)]);
        expect(relErr(pick(d, rows, cols, 2 * cols, 0), plus(wantD.dGate, 0))).toBeLessThan(1e-3);
        expect(relErr(pick(d, rows, cols, 2 * cols, cols), plus(wantD.dUp, cols))).toBeLessThan(1e-3);
      } else {
        expect(relErr(d.subarray(0, n), wantD.dGate.map((v, i) => v + d0[i]))).toBeLessThan(1e-3);
        expect(relErr(await gpu.read(bdu, n), wantD.dUp.map((v, i) => v + d0[i]))).toBeLessThan(1e-3);
        expect(d.subarray(n)).toEqual(d0.subarray(n));
      }
      await gpu.check();
      for (const b of new Set([bg, bu, bdo, bo, bd, bdu])) gpu.release(b);
    }
  });

  it('runs gated silu on aligned views of a fused row as quads, with and without a bias, dy and dz in one buffer or two', async () => {
    const gpu = await testGpu();
    for (const [rows, ch, withBias, one] of [[70, 72, true, true], [5, 8, false, false], [33, 12, true, false]] as const) {
      const n = rows * ch;
      const y = randn(n, rows, 3);
      const z = randn(n, rows + 1, 6);
      const bias = randn(ch, rows + 2, 2);
      const dOut = randn(n, rows + 3);
      const W = 3 * ch + 8;
      const zOffset = ch + 4;
      const bz = gpu.upload(place(z, rows, ch, W, zOffset, rows + 4));
      const by = gpu.upload(y);
      const bb = gpu.upload(bias);
      const bo = gpu.upload(randn(n, rows + 5));
      const bdo = gpu.upload(dOut);
      const g0 = randn(rows * 2 * ch, rows + 6);
      const bg = gpu.upload(g0);
      const bg2 = gpu.upload(g0);
      const db0 = randn(ch, rows + 7);
      const bdb = gpu.upload(db0);
      const zBias = withBias ? bb : undefined;
      const fwd = gatedSilu(gpu, { y: by, z: bz, zBias, out: bo, rows, channels: ch, zStride: W, zOffset });
      const bwd = gatedSiluBackward(gpu, {
        y: by, z: bz, zBias, dOut: bdo, dy: bg, dz: one ? bg : bg2, dzBias: withBias ? bdb : undefined, rows, channels: ch,
        zStride: W, zOffset, dyStride: 2 * ch, dzStride: 2 * ch, dzOffset: ch, accumulate: true, accumulateParams: true,
      });
      expect(entries(fwd)).toEqual(['gated_fwd4']);
      expect(entries(bwd)).toEqual([one ? 'gated_bwd4_one' : 'gated_bwd4', ...(withBias ? ['colsum'] : [])]);
      gpu.run([...fwd, ...bwd]);
      const out = await gpu.read(bo, n);
      const g = await gpu.read(bg, rows * 2 * ch);
      const gz = one ? g : await gpu.read(bg2, rows * 2 * ch);
      const db = await gpu.read(bdb, ch);
      await gpu.check();
      for (const b of [bz, by, bb, bo, bdo, bg, bg2, bdb]) gpu.release(b);
      const want = gatedSiluRef(f64(y), f64(z), withBias ? f64(bias) : null, ch);
      const wantD = gatedSiluBackwardRef(f64(y), f64(z), withBias ? f64(bias) : null, f64(dOut), ch);
      const plus = (v: Float64Array, off: number) => v.map((x, i) => x + g0[Math.floor(i / ch) * 2 * ch + off + (i % ch)]);
      expect(relErr(out, want)).toBeLessThan(1e-4);
      expect(relErr(pick(g, rows, ch, 2 * ch, 0), plus(wantD.dy, 0))).toBeLessThan(1e-3);
      expect(relErr(pick(gz, rows, ch, 2 * ch, ch), plus(wantD.dz, ch))).toBeLessThan(1e-3);
      const wantDb = withBias ? wantD.dzBias.map((v, c) => v + db0[c]) : f64(db0);
      expect(relErr(db, wantDb)).toBeLessThan(1e-3);
    }
  });
});
