import { describe, expect, it } from 'vitest';
import { embedding, embeddingBackward } from '../../src/kernels/embedding';
import { embeddingBackwardRef, embeddingRef, type EmbeddingShape } from '../../src/ref/embedding';
import { randn, relErr, testGpu } from '../helpers/gpu';
import { fdGrad } from '../helpers/fd';
import { f32ToBf16, f32ToF16, halfToF32 } from '../../src/io/half';

const f64 = (x: ArrayLike<number>) => Float64Array.from(x);

/** Ids in [0, range), deterministic, with repeats whenever range < tokens. */
function randIds(tokens: number, range: number, seed: number): Uint32Array {
  return Uint32Array.from(randn(tokens, seed), (u) => Math.min(range - 1, Math.floor(((u + 1) / 2) * range)));
}

/**
 * dTable as the kernel promises it, in f32: tokens stably sorted by id, the sorted list cut into
 * pieces of 64; a run's sum is its part of its first piece plus, in order, its part of each later
 * piece, every part summed in token order.
 */
function f32RowSums(ids: Uint32Array, dOut: Float32Array, s: EmbeddingShape, init?: Float32Array): Float32Array {
  const PIECE = 64;
  const key = (t: number) => Math.min(ids[t], s.vocab - 1);
  const order = Array.from({ length: s.tokens }, (_, t) => t).sort((a, b) => key(a) - key(b) || a - b);
  const out = init ? Float32Array.from(init) : new Float32Array(s.vocab * s.d);
  for (let k = 0; k < s.tokens; ) {
    const v = key(order[k]);
    let end = k;
    while (end < s.tokens && key(order[end]) === v) end++;
    for (let j = 0; j < s.d; j++) {
      let sum = 0;
      for (let q = k; q < end; ) {
        const stop = Math.min(end, (Math.floor(q / PIECE) + 1) * PIECE);
        let part = 0;
        for (; q < stop; q++) part = Math.fround(part + dOut[order[q] * s.d + j]);
        sum = Math.fround(sum + part);
      }
      out[v * s.d + j] = init ? Math.fround(out[v * s.d + j] + sum) : sum;
    }
    k = end;
  }
  return out;
}

describe('embedding reference', () => {
  it('gathers rows, clamps ids and adds positions', () => {
    const table = f64([1, 2, 3, 4, 5, 6]); // vocab 3, d 2
    const pos = f64([10, 20, 30, 40, 99, 99]); // 3 rows, L = 2 uses two
    const out = embeddingRef([2, 0, 7, 1], table, { tokens: 4, d: 2, vocab: 3 }, { table: pos, L: 2 });
    expect([...out]).toEqual([15, 26, 31, 42, 15, 26, 33, 44]);
  });

  it('has gradients that match central finite differences (float64)', () => {
    const s = { tokens: 6, d: 3, vocab: 4 };
    const L = 3;
    const ids = [1, 3, 1, 9, 0, 1]; // repeats and an out-of-range id
    const table = f64(randn(s.vocab * s.d, 1));
    const pos = f64(randn(L * s.d, 2));
    const r = f64(randn(s.tokens * s.d, 3)); // loss = Σ r·out
    const loss = () => embeddingRef(ids, table, s, { table: pos, L }).reduce((acc, v, i) => acc + v * r[i], 0);
    const g = embeddingBackwardRef(ids, r, s, L);
    for (const [arr, grad] of [[table, g.dTable], [pos, g.dPos!]] as const) {
      const fd = fdGrad(arr, loss);
      for (let i = 0; i < arr.length; i++) expect(Math.abs(fd[i] - grad[i])).toBeLessThan(1e-8);
    }
    expect([...g.dTable.subarray(2 * s.d, 3 * s.d)]).toEqual([0, 0, 0]); // id 2 never occurs
  });
});

describe('embedding kernel', () => {
  async function roundTrip(s: EmbeddingShape, ids: Uint32Array, seed: number, opts: { L?: number; posRows?: number; accumulate?: boolean } = {}) {
    const gpu = await testGpu();
    const { tokens, d, vocab } = s;
    const L = opts.L;
    const table = randn(vocab * d, seed);
    const posTable = L ? randn((opts.posRows ?? L) * d, seed + 1) : null;
    const dOut = randn(tokens * d, seed + 2);
    const dTable0 = randn(vocab * d, seed + 3);
    const dPos0 = L ? randn(L * d, seed + 4) : null;
    const bIds = gpu.upload(ids);
    const bTable = gpu.upload(table);
    const bPos = posTable ? gpu.upload(posTable) : null;
    const bOut = gpu.upload(randn(tokens * d, seed + 5));
    const bdOut = gpu.upload(dOut);
    const bdTable = gpu.upload(dTable0);
    const bdPos = dPos0 ? gpu.upload(dPos0) : null;
    const acc = opts.accumulate ?? false;
    gpu.run([
      ...embedding(gpu, { ids: bIds, table: bTable, out: bOut, tokens, d, vocab, pos: bPos && L ? { table: bPos, L } : undefined }),
      ...embeddingBackward(gpu, { ids: bIds, dOut: bdOut, dTable: bdTable, tokens, d, vocab, accumulate: acc, pos: bdPos && L ? { dTable: bdPos, L } : undefined }),
    ]);
    const out = await gpu.read(bOut, tokens * d);
    const dTable = await gpu.read(bdTable, vocab * d);
    const dPos = bdPos && L ? await gpu.read(bdPos, L * d) : null;
    await gpu.check();
    for (const b of [bIds, bTable, bPos, bOut, bdOut, bdTable, bdPos]) if (b) gpu.release(b);

    const tag = JSON.stringify({ ...s, L, acc });
    const want = embeddingRef(ids, f64(table), s, posTable && L ? { table: f64(posTable), L } : undefined);
    expect(relErr(out, want), `out ${tag}`).toBeLessThan(1e-4);
    const g = embeddingBackwardRef(ids, f64(dOut), s, L);
    const wantT = acc ? g.dTable.map((v, i) => v + dTable0[i]) : g.dTable;
    expect(relErr(dTable, wantT), `dTable ${tag}`).toBeLessThan(1e-3);
    // The documented summation order makes the result exact to the bit.
    const exact = f32RowSums(ids, dOut, s, acc ? dTable0 : undefined);
    expect(dTable.every((v, i) => Object.is(v, exact[i])), `dTable order ${tag}`).toBe(true);
    if (dPos && g.dPos && dPos0) {
      const wantP = acc ? g.dPos.map((v, i) => v + dPos0[i]) : g.dPos;
      expect(relErr(dPos, wantP), `dPos ${tag}`).toBeLessThan(1e-3);
    }
    return { dTable };
  }

  it('gathers and scatters for d = 8, 64, 100, 1000 with repeated ids', async () => {
    await roundTrip({ tokens: 37, d: 8, vocab: 50 }, randIds(37, 10, 11), 10);
    await roundTrip({ tokens: 45, d: 64, vocab: 300 }, randIds(45, 300, 21), 20); // two radix passes
    await roundTrip({ tokens: 19, d: 100, vocab: 13 }, randIds(19, 5, 31), 30);
    await roundTrip({ tokens: 11, d: 1000, vocab: 7 }, randIds(11, 3, 41), 40);
  });

  it('sorts stably across blocks: long runs, many blocks, three radix passes', async () => {
    // 700 tokens over 3 sort blocks; half of them one id, so its run crosses sort blocks and pieces.
    const ids = randIds(700, 70_000, 51);
    for (let t = 0; t < 700; t += 2) ids[t] = 65_537;
    await roundTrip({ tokens: 700, d: 5, vocab: 70_000 }, ids, 50);
    await roundTrip({ tokens: 700, d: 12, vocab: 70_000 }, ids, 52); // the same, a quad of columns per invocation
    // Runs that start and end exactly on piece boundaries (sorted: 128 of id 1, then 64 of id 3).
    await roundTrip({ tokens: 192, d: 4, vocab: 5 }, Uint32Array.from({ length: 192 }, (_, t) => (t < 64 ? 3 : 1)), 55);
    // A single id everywhere and a vocabulary of one row (no radix pass).
    await roundTrip({ tokens: 300, d: 3, vocab: 1 }, new Uint32Array(300), 60);
  });

  it('clamps out-of-range ids to the last row', async () => {
    const ids = Uint32Array.from([0, 40, 41, 1000, 0xffffffff, 5, 39, 40]);
    await roundTrip({ tokens: 8, d: 9, vocab: 41 }, ids, 70);
  });

  it('adds learned positions and accumulates gradients', async () => {
    // batch 3 of L = 13 tokens; the position table has more rows than L.
    await roundTrip({ tokens: 39, d: 100, vocab: 20 }, randIds(39, 20, 81), 80, { L: 13, posRows: 17 });
    await roundTrip({ tokens: 39, d: 64, vocab: 20 }, randIds(39, 20, 91), 90, { L: 13, accumulate: true });
    await roundTrip({ tokens: 26, d: 8, vocab: 300 }, randIds(26, 300, 101), 100, { L: 26, accumulate: true });
  });

  it('gathers from a packed bf16 or f16 table (an odd number of values), with positions', async () => {
    const gpu = await testGpu();
    const s = { tokens: 12, d: 7, vocab: 9 };
    const ids = Uint32Array.from([0, 8, 3, 3, 20, 1, 5, 7, 2, 0, 6, 4]);
    const pos = randn(6 * s.d, 121);
    for (const [dtype, enc, tag] of [['bf16', f32ToBf16, 'BF16'], ['f16', f32ToF16, 'F16']] as const) {
      const bits = enc(randn(s.vocab * s.d, 120));
      const table = halfToF32(tag, bits);
      const out = gpu.zeros(s.tokens * s.d);
      gpu.run(embedding(gpu, { ids: gpu.upload(ids), table: gpu.uploadPacked(bits, dtype), out, ...s, pos: { table: gpu.upload(pos), L: 6 } }));
      const want = embeddingRef(ids, f64(table), s, { table: f64(pos), L: 6 });
      expect(relErr(await gpu.read(out, s.tokens * s.d), want), dtype).toBeLessThan(1e-6);
    }
    await gpu.check();
  });

  it('gathers four floats at a time where d is a multiple of 4, from f32 and packed tables, with positions', async () => {
    const gpu = await testGpu();
    const s = { tokens: 15, d: 12, vocab: 9 };
    const ids = Uint32Array.from([0, 8, 3, 3, 20, 1, 5, 7, 2, 0, 6, 4, 8, 8, 1]);
    const pos = randn(5 * s.d, 131);
    const f32 = randn(s.vocab * s.d, 130);
    for (const [dtype, enc, tag] of [['f32', null, ''], ['bf16', f32ToBf16, 'BF16'], ['f16', f32ToF16, 'F16']] as const) {
      const bits = enc ? enc(f32) : null;
      const table = bits ? halfToF32(tag as 'BF16' | 'F16', bits) : f32;
      const bTable = bits && dtype !== 'f32' ? gpu.uploadPacked(bits, dtype) : gpu.upload(f32);
      for (const L of [undefined, 5]) {
        const out = gpu.zeros(s.tokens * s.d);
        const ops = embedding(gpu, { ids: gpu.upload(ids), table: bTable, out, ...s, pos: L ? { table: gpu.upload(pos), L } : undefined });
        expect(ops.map((o) => o.pipeline.label)).toEqual([`embedding:gather4${L ? '_pos' : ''}${dtype === 'f32' ? '' : `_${dtype}`}`]);
        gpu.run(ops);
        const want = embeddingRef(ids, f64(table), s, L ? { table: f64(pos), L } : undefined);
        expect(relErr(await gpu.read(out, s.tokens * s.d), want), `${dtype} L=${L}`).toBeLessThan(dtype === 'f32' ? 1e-4 : 1e-6);
      }
    }
    await gpu.check();
  });

  it('is deterministic', async () => {
    const ids = randIds(600, 4, 111);
    const a = await roundTrip({ tokens: 600, d: 33, vocab: 4 }, ids, 110);
    const b = await roundTrip({ tokens: 600, d: 33, vocab: 4 }, ids, 110);
    expect(Array.from(a.dTable)).toEqual(Array.from(b.dTable));
  });

  it('rejects bad shapes with the shape in the message', async () => {
    const gpu = await testGpu();
    const ids = gpu.upload(new Uint32Array(10));
    const table = gpu.zeros(40);
    const out = gpu.zeros(40);
    expect(() => embedding(gpu, { ids, table, out, tokens: 10, d: 4, vocab: 20 })).toThrow(/tokens=10, d=4, vocab=20.*table holds/);
    expect(() => embedding(gpu, { ids, table, out: table, tokens: 10, d: 4, vocab: 10 })).toThrow(/out shares a buffer with table/);
    expect(() => embedding(gpu, { ids, table, out, tokens: 10, d: 4, vocab: 10, pos: { table, L: 3 } })).toThrow(/L must be a positive integer dividing tokens/);
    expect(() => embeddingBackward(gpu, { ids, dOut: out, dTable: table, tokens: 10, d: 4, vocab: 0 })).toThrow(/vocab must be a positive integer/);
    // Both gradients as slices of one buffer: disjoint is fine, overlapping is refused.
    const grads = gpu.zeros(64 + 4 * 5);
    const dTable = { buffer: grads, offset: 0, size: 40 * 4 };
    expect(() => embeddingBackward(gpu, { ids, dOut: out, dTable, tokens: 10, d: 4, vocab: 10, pos: { dTable: { buffer: grads, offset: 256 }, L: 5 } })).not.toThrow();
    expect(() => embeddingBackward(gpu, { ids, dOut: out, dTable: { buffer: grads }, tokens: 10, d: 4, vocab: 10, pos: { dTable: { buffer: grads, offset: 0 }, L: 5 } })).toThrow(/pos.dTable overlaps dTable/);
    await gpu.check();
  });
});
