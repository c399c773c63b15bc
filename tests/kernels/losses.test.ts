import { describe, expect, it } from 'vitest';
import { crossEntropy, IGNORE_INDEX, l2Distance, softCrossEntropy } from '../../src/kernels/losses';
import { crossEntropyRef, l2DistanceRef, softCrossEntropyRef } from '../../src/ref/losses';
import { randn, relErr, testGpu } from '../helpers/gpu';
import { fdGrad } from '../helpers/fd';

const f64 = (x: ArrayLike<number>) => Float64Array.from(x);
const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

const maxDiff = (a: Float64Array, b: Float64Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);


function targetsFor(rows: number, vocab: number, seed: number, ignoreEvery = 3): Uint32Array {
  const u = randn(rows, seed);
  return Uint32Array.from(u, (v, r) => (r % ignoreEvery === 1 ? IGNORE_INDEX : Math.floor(((v + 1) / 2) * vocab) % vocab));
}

describe('loss references', () => {
  it('computes hand-worked values', () => {
    // softmax([0, ln 3]) = [1/4, 3/4]; the second row is padding.
    const ce = crossEntropyRef(f64([0, Math.log(3), 5, 5]), Uint32Array.from([1, IGNORE_INDEX]), 2, 2);
    expect(ce.rowLoss[0]).toBeCloseTo(-Math.log(3 / 4), 15);
    expect(ce.rowLoss[1]).toBe(0);
    expect(ce.loss).toBeCloseTo(-Math.log(3 / 4), 15);
    expect([...ce.dLogits]).toEqual([0.25, 0.75 - 1, 0, 0].map((v, i) => (i < 2 ? expect.closeTo(v, 15) : 0)));
    expect(l2DistanceRef(f64([3, 4, 1, 1]), f64([0, 0, 1, 1]), 2, 2).loss).toBe(2.5);
  });

  it('makes KL zero and soft CE the teacher entropy when student equals teacher', () => {
    const x = f64(randn(2 * 7, 1, 3));
    expect(Math.abs(softCrossEntropyRef(x, x, 2, 7, 2, 'kl').loss)).toBeLessThan(1e-15);
    const ce = softCrossEntropyRef(x, x, 2, 7, 2, 'ce');
    for (let r = 0; r < 2; r++) {
      let m = -Infinity;
      for (let j = 0; j < 7; j++) m = Math.max(m, x[r * 7 + j] / 2);
      let z = 0;
      for (let j = 0; j < 7; j++) z += Math.exp(x[r * 7 + j] / 2 - m);
      let h = 0;
      for (let j = 0; j < 7; j++) {
        const p = Math.exp(x[r * 7 + j] / 2 - m) / z;
        h -= p * Math.log(p);
      }
      expect(ce.rowLoss[r]).toBeCloseTo(h, 13);
    }
  });

  it('has gradients that match central finite differences (float64)', () => {
    const rows = 4;
    const vocab = 6;
    const x = f64(randn(rows * vocab, 2, 4));
    const y = f64(randn(rows * vocab, 3, 4));
    const tg = targetsFor(rows, vocab, 4);
    const ceG = fdGrad(x, () => crossEntropyRef(x, tg, rows, vocab).loss);
    expect(maxDiff(ceG, crossEntropyRef(x, tg, rows, vocab).dLogits)).toBeLessThan(1e-8);
    for (const kind of ['kl', 'ce'] as const) {
      for (const [tau, sq] of [[1, false], [2.5, false], [2.5, true]] as const) {
        const g = fdGrad(x, () => softCrossEntropyRef(x, y, rows, vocab, tau, kind, sq).loss);
        expect(maxDiff(g, softCrossEntropyRef(x, y, rows, vocab, tau, kind, sq).dStudent), `${kind} τ=${tau} ${sq}`).toBeLessThan(1e-8);
      }
    }
    const l2G = fdGrad(x, () => l2DistanceRef(x, y, rows, vocab).loss);
    expect(maxDiff(l2G, l2DistanceRef(x, y, rows, vocab).dS)).toBeLessThan(1e-8);
  });
});

describe('cross-entropy kernel', () => {
  async function runCE(logits: Float32Array, targets: Uint32Array, rows: number, vocab: number) {
    const gpu = await testGpu();
    const bl = gpu.upload(logits);
    const bt = gpu.upload(targets);
    // Outputs start as garbage so that a skipped element is caught.
    const rowLoss = gpu.upload(randn(rows, 91));
    const loss = gpu.upload(randn(1, 92));
    const dLogits = gpu.upload(randn(rows * vocab, 93));
    gpu.run(crossEntropy(gpu, { logits: bl, targets: bt, rows, vocab, rowLoss, loss, dLogits }));
    const out = { rowLoss: await gpu.read(rowLoss, rows), loss: (await gpu.read(loss, 1))[0], dLogits: await gpu.read(dLogits, rows * vocab) };
    await gpu.check();
    for (const b of [bl, bt, rowLoss, loss, dLogits]) gpu.release(b);
    return out;
  }

  it('matches the reference with ignored rows, extreme logits and vocabularies off the chunk size', async () => {
    for (const [rows, vocab, scale, seed] of [[7, 1000, 80, 1], [3, 5003, 80, 2], [5, 4096, 4, 3], [4, 8193, 10, 4], [1, 1, 3, 5]]) {
      const logits = randn(rows * vocab, seed, scale);
      const targets = targetsFor(rows, vocab, seed + 100);
      const got = await runCE(logits, targets, rows, vocab);
      const want = crossEntropyRef(f64(logits), targets, rows, vocab);
      const tag = `rows=${rows} vocab=${vocab}`;
      expect(relErr(got.rowLoss, want.rowLoss), tag).toBeLessThan(1e-4);
      expect(rel(got.loss, want.loss), tag).toBeLessThan(1e-4);
      expect(relErr(got.dLogits, want.dLogits), tag).toBeLessThan(1e-3);
    }
  });

  it('handles a 256k vocabulary', async () => {
    const rows = 2;
    const vocab = 262144;
    const logits = randn(rows * vocab, 7, 20);
    const targets = Uint32Array.from([123457, 262143]);
    const got = await runCE(logits, targets, rows, vocab);
    const want = crossEntropyRef(f64(logits), targets, rows, vocab);
    expect(relErr(got.rowLoss, want.rowLoss)).toBeLessThan(1e-4);
    expect(rel(got.loss, want.loss)).toBeLessThan(1e-4);
    expect(relErr(got.dLogits, want.dLogits)).toBeLessThan(1e-3);
  });

  it('gives loss 0 and gradient 0 when every row is ignored, and NaN for a target past the vocabulary', async () => {
    const rows = 3;
    const vocab = 50;
    const logits = randn(rows * vocab, 8, 5);
    const none = await runCE(logits, new Uint32Array(rows).fill(IGNORE_INDEX), rows, vocab);
    expect(none.loss).toBe(0);
    expect([...none.rowLoss]).toEqual([0, 0, 0]);
    expect(none.dLogits.every((g) => g === 0)).toBe(true);
    const bad = await runCE(logits, Uint32Array.from([3, vocab, 7]), rows, vocab);
    expect(Number.isNaN(bad.rowLoss[1])).toBe(true);
    expect(Number.isNaN(bad.loss)).toBe(true);
    expect(Number.isFinite(bad.rowLoss[0]) && Number.isFinite(bad.rowLoss[2])).toBe(true);
  });

  it('gives bit-identical results on repeated runs', async () => {
    const rows = 40;
    const vocab = 9000;
    const logits = randn(rows * vocab, 9, 30);
    const targets = targetsFor(rows, vocab, 10);
    const a = await runCE(logits, targets, rows, vocab);
    const b = await runCE(logits, targets, rows, vocab);
    expect(b.loss).toBe(a.loss);
    expect([...b.rowLoss]).toEqual([...a.rowLoss]);
  });
});

describe('soft cross-entropy kernel', () => {
  async function runSoft(s: Float32Array, t: Float32Array, rows: number, vocab: number, opts: { temperature?: number; kind?: 'kl' | 'ce'; scaleByTauSquared?: boolean }) {
    const gpu = await testGpu();
    const bs = gpu.upload(s);
    const bt = gpu.upload(t);
    const rowLoss = gpu.upload(randn(rows, 94));
    const loss = gpu.upload(randn(1, 95));
    const dStudent = gpu.upload(randn(rows * vocab, 96));
    gpu.run(softCrossEntropy(gpu, { student: bs, teacher: bt, rows, vocab, rowLoss, loss, dStudent, ...opts }));
    const out = { rowLoss: await gpu.read(rowLoss, rows), loss: (await gpu.read(loss, 1))[0], dStudent: await gpu.read(dStudent, rows * vocab) };
    await gpu.check();
    for (const b of [bs, bt, rowLoss, loss, dStudent]) gpu.release(b);
    return out;
  }

  const cases: [number, number, number, number][] = [
    [6, 1000, 80, 1],
    [3, 5003, 80, 2],
    [2, 8193, 6, 3],
    [3, 7, 2, 4],
  ];
  for (const kind of ['kl', 'ce'] as const) {
    it(`matches the reference (${kind}) over temperatures and vocabularies off the chunk size`, async () => {
      for (const [rows, vocab, scale, seed] of cases) {
        for (const [temperature, scaleByTauSquared] of [[1, false], [2.5, true], [0.7, false]] as const) {
          const s = randn(rows * vocab, seed, scale);
          const t = randn(rows * vocab, seed + 50, scale);
          const got = await runSoft(s, t, rows, vocab, { temperature, kind, scaleByTauSquared });
          const want = softCrossEntropyRef(f64(s), f64(t), rows, vocab, temperature, kind, scaleByTauSquared);
          const tag = `rows=${rows} vocab=${vocab} τ=${temperature}${scaleByTauSquared ? '·τ²' : ''}`;
          expect(relErr(got.rowLoss, want.rowLoss), tag).toBeLessThan(1e-4);
          expect(rel(got.loss, want.loss), tag).toBeLessThan(1e-4);
          expect(relErr(got.dStudent, want.dStudent), tag).toBeLessThan(1e-3);
        }
      }
    });
  }

  it('gives KL 0 and gradient 0 for a student equal to its teacher, and small KL for a close one', async () => {
    const rows = 3;
    const vocab = 5003;
    const t = randn(rows * vocab, 11, 10);
    const same = await runSoft(t, t, rows, vocab, { temperature: 2 });
    expect([...same.rowLoss]).toEqual([0, 0, 0]);
    expect(same.dStudent.every((g) => g === 0)).toBe(true);
    // s = t + 0.01·noise: KL ≈ 4e-6. Its f32 error is about an ulp of the rows' log-sum-exp (~13
    // here, ulp 1e-6), so the check is absolute; the gradient keeps its relative precision.
    const noise = randn(rows * vocab, 12, 0.01);
    const s = t.map((v, i) => v + noise[i]);
    const close = await runSoft(s, t, rows, vocab, { temperature: 2 });
    const want = softCrossEntropyRef(f64(s), f64(t), rows, vocab, 2);
    for (let r = 0; r < rows; r++) expect(Math.abs(close.rowLoss[r] - want.rowLoss[r])).toBeLessThan(5e-7);
    // q − p cancels here too; the kernel forms it as p·expm1(log q − log p), which leaves the error
    // of the lse difference, ~1e-7 of p: measured against the largest p·coef, not the small gradient.
    const coef = 1 / (2 * rows);
    let pmax = 0;
    for (let r = 0; r < rows; r++) {
      const row = f64(t.subarray(r * vocab, (r + 1) * vocab)).map((v) => v / 2);
      const m = Math.max(...row);
      const z = row.reduce((acc, v) => acc + Math.exp(v - m), 0);
      pmax = Math.max(pmax, 1 / z);
    }
    const gErr = close.dStudent.reduce((m, g, i) => Math.max(m, Math.abs(g - want.dStudent[i])), 0) / (coef * pmax);
    expect(gErr).toBeLessThan(5e-7);
  });
});

describe('l2 distance kernel', () => {
  async function runL2(s: Float32Array, t: Float32Array, rows: number, d: number) {
    const gpu = await testGpu();
    const bs = gpu.upload(s);
    const bt = gpu.upload(t);
    const rowLoss = gpu.upload(randn(rows, 97));
    const loss = gpu.upload(randn(1, 98));
    const dS = gpu.upload(randn(rows * d, 99));
    gpu.run(l2Distance(gpu, { s: bs, t: bt, rows, d, rowLoss, loss, dS }));
    const out = { rowLoss: await gpu.read(rowLoss, rows), loss: (await gpu.read(loss, 1))[0], dS: await gpu.read(dS, rows * d) };
    await gpu.check();
    for (const b of [bs, bt, rowLoss, loss, dS]) gpu.release(b);
    return out;
  }

  it('matches the reference on narrow and wide rows, with a zero-distance row', async () => {
    for (const [rows, d, seed] of [[9, 37, 1], [4, 2000, 2], [300, 5, 3], [1, 1, 4]]) {
      const s = randn(rows * d, seed, 3);
      const t = randn(rows * d, seed + 10, 3);
      if (rows > 1) t.set(s.subarray(d, 2 * d), d); // row 1 matches exactly
      const got = await runL2(s, t, rows, d);
      const want = l2DistanceRef(f64(s), f64(t), rows, d);
      const tag = `rows=${rows} d=${d}`;
      expect(relErr(got.rowLoss, want.rowLoss), tag).toBeLessThan(1e-4);
      expect(rel(got.loss, want.loss), tag).toBeLessThan(1e-4);
      expect(relErr(got.dS, want.dS), tag).toBeLessThan(1e-3);
      if (rows > 1) {
        expect(got.rowLoss[1]).toBe(0);
        expect(got.dS.subarray(d, 2 * d).every((g) => g === 0)).toBe(true);
      }
    }
  });
});

describe('loss shape checks', () => {
  it('rejects bad shapes, temperatures and shared output buffers', async () => {
    const gpu = await testGpu();
    const big = gpu.zeros(1000);
    const other = gpu.zeros(1000);
    const one = gpu.zeros(4);
    const rl = gpu.zeros(16);
    expect(() => crossEntropy(gpu, { logits: big, targets: other, rows: 10, vocab: 101, rowLoss: rl, loss: one })).toThrow(/rows=10, vocab=101.*logits holds/);
    expect(() => crossEntropy(gpu, { logits: big, targets: other, rows: 0, vocab: 10, rowLoss: rl, loss: one })).toThrow(/positive/);
    expect(() => softCrossEntropy(gpu, { student: big, teacher: other, rows: 2, vocab: 10, temperature: 0, rowLoss: rl, loss: one })).toThrow(/temperature/);
    expect(() => softCrossEntropy(gpu, { student: big, teacher: other, rows: 2, vocab: 10, rowLoss: rl, loss: rl })).toThrow(/shares a buffer/);
    expect(() => l2Distance(gpu, { s: big, t: other, rows: 2, d: 10, rowLoss: rl, loss: one, dS: big })).toThrow(/shares a buffer/);
  });
});
