import { describe, expect, it } from 'vitest';
import {
  MAX_HEADER_BYTES,
  SafetensorsError,
  SafetensorsFile,
  ShardedCheckpoint,
  openCheckpoint,
  writeSafetensors,
} from '../../src/io/safetensors';
import { bytesSource, memoryFileSet, type ByteSource } from '../../src/io/files';

/** A file with a given header (object or raw text) and data section; `len` overrides the length field. */
function raw(header: unknown, data: Uint8Array | number = 0, len?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, len ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

const open = (bytes: Uint8Array, name = 'bad.safetensors') => SafetensorsFile.open(bytesSource(name, bytes));

async function rejects(bytes: Uint8Array, pattern: RegExp): Promise<void> {
  const err = await open(bytes).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SafetensorsError);
  expect((err as Error).message).toMatch(/^bad\.safetensors(: | is not a safetensors file: | is truncated \(the download or copy was cut short\): re-download it: )/);
  expect((err as Error).message).toMatch(pattern);
}

const w = (dtype: unknown, shape: unknown, offsets: unknown) => ({ w: { dtype, shape, data_offsets: offsets } });

describe('safetensors round trip', () => {
  it('reads back what writeSafetensors wrote, with metadata, empty and scalar tensors', async () => {
    const a = new Float32Array([1, -2, 3.5, 1e-30, -0, 65504, NaN, Infinity]);
    const bytes = writeSafetensors(
      [
        { name: 'model.a', shape: [2, 4], data: a },
        { name: 'empty', shape: [0, 4], data: new Float32Array(0) },
        { name: 'scalar', shape: [], data: new Float32Array([7]) },
      ],
      { format: 'pt', note: 'ü' },
    );
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const f = await open(bytes, 'rt.safetensors');
    expect([...f.tensors.keys()]).toEqual(['model.a', 'empty', 'scalar']);
    expect(f.metadata).toEqual({ format: 'pt', note: 'ü' });
    expect(f.tensors.get('model.a')).toEqual({ name: 'model.a', dtype: 'F32', shape: [2, 4], begin: 8 + n, end: 8 + n + 32 });
    expect(Object.is((await f.readF32('model.a'))[4], -0)).toBe(true);
    expect(await f.readF32('model.a')).toEqual(a);
    expect(await f.readF32('empty')).toEqual(new Float32Array(0));
    expect(await f.readF32('scalar')).toEqual(new Float32Array([7]));
    await expect(f.readF32('missing')).rejects.toThrow(/^rt\.safetensors: no tensor "missing"$/);
  });

  it('reads a float32 view that is not 4-byte aligned in its source', async () => {
    const bytes = writeSafetensors([{ name: 'x', shape: [3], data: new Float32Array([1.25, 2.5, -3]) }]);
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const f = await open(shifted.subarray(1));
    expect(await f.readF32('x')).toEqual(new Float32Array([1.25, 2.5, -3]));
  });

  it('writeSafetensors refuses mismatched data and duplicate names', () => {
    expect(() => writeSafetensors([{ name: 'x', shape: [2, 2], data: new Float32Array(3) }])).toThrow(SafetensorsError);
    const t = { name: 'x', shape: [1], data: new Float32Array(1) };
    expect(() => writeSafetensors([t, t])).toThrow(/duplicate/);
    expect(() => writeSafetensors([{ ...t, name: '__metadata__' }])).toThrow(/reserved/);
  });
});

/** Decodes a sign/exponent/mantissa float by arithmetic, independently of the bit tricks under test. */
function decodeMinifloat(bits: number, expBits: number, manBits: number): number {
  const sign = bits >> (expBits + manBits) ? -1 : 1;
  const exp = (bits >> manBits) & ((1 << expBits) - 1);
  const man = bits & ((1 << manBits) - 1);
  const bias = (1 << (expBits - 1)) - 1;
  if (exp === (1 << expBits) - 1) return man ? NaN : sign * Infinity;
  if (exp === 0) return sign * man * 2 ** (1 - bias - manBits);
  return sign * (1 + man / 2 ** manBits) * 2 ** (exp - bias);
}

function halfFile(dtype: 'F16' | 'BF16'): Uint8Array {
  const data = new Uint8Array(2 * 65536);
  for (let h = 0; h < 65536; h++) {
    data[2 * h] = h & 0xff;
    data[2 * h + 1] = h >> 8;
  }
  return raw({ all: { dtype, shape: [256, 256], data_offsets: [0, data.length] } }, data);
}

describe('F16 and BF16', () => {
  for (const [dtype, expBits, manBits] of [['F16', 5, 10], ['BF16', 8, 7]] as const) {
    it(`${dtype}: all 65536 values convert exactly`, async () => {
      const f = await open(halfFile(dtype));
      const got = await f.readF32('all');
      for (let h = 0; h < 65536; h++) {
        const want = decodeMinifloat(h, expBits, manBits);
        if (Number.isNaN(want)) expect(Number.isNaN(got[h])).toBe(true);
        else if (!Object.is(got[h], want)) throw new Error(`${dtype} 0x${h.toString(16)}: got ${got[h]}, want ${want}`);
      }
    });
  }

  // Written by Python safetensors 0.8.0 (save_file) from torch tensors; the bit patterns are
  // torch's own .float() of the same tensors (torch writes NaN as 0x7fffffff, so NaN is checked by kind).
  const TORCH_FILE =
    '0AAAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJmb3JtYXQiOiJwdCJ9LCJmIjp7ImR0eXBlIjoiRjMyIiwic2hhcGUiOlsyLDJdLCJkYXRhX29mZnNldHMiOlswLDE2XX0sImIiOnsiZHR5cGUiOiJCRjE2Iiwic2hhcGUiOls5XSwiZGF0YV9vZmZzZXRzIjpbMTYsMzRdfSwiaCI6eyJkdHlwZSI6IkYxNiIsInNoYXBlIjpbMyw0XSwiZGF0YV9vZmZzZXRzIjpbMzQsNThdfX0gICAgICAgAADAPwAAAMDu42wAnsl/f4A/IMBifwEAC4CAf8B/zT0AgAAAAIAAPAC8/3sABAEAAIIAfAD8AH5VNQ==';
  const TORCH_BITS: Record<string, number[]> = {
    h: [0, 2147483648, 1065353216, 3212836864, 1199562752, 947912704, 864026624, 3087007744, 2139095040, 4286578688, 2147483647, 1051369472],
    b: [1065353216, 3223322624, 2137128960, 65536, 2148204544, 2139095040, 2143289344, 1036845056, 2147483648],
    f: [1069547520, 3221225472, 7136238, 2139081118],
  };

  it('reads a file written by Python safetensors bit for bit as torch converts it', async () => {
    const f = await open(Uint8Array.from(atob(TORCH_FILE), (c) => c.charCodeAt(0)), 'torch.safetensors');
    expect(f.metadata).toEqual({ format: 'pt' });
    expect(f.tensors.get('h')).toMatchObject({ dtype: 'F16', shape: [3, 4] });
    expect(f.tensors.get('b')).toMatchObject({ dtype: 'BF16', shape: [9] });
    for (const [name, bits] of Object.entries(TORCH_BITS)) {
      const got = new Uint32Array((await f.readF32(name)).buffer);
      expect(got.length).toBe(bits.length);
      for (let i = 0; i < bits.length; i++) {
        const want = new Float32Array(new Uint32Array([bits[i]]).buffer)[0];
        if (Number.isNaN(want)) expect(Number.isNaN(new Float32Array(got.buffer)[i])).toBe(true);
        else expect(got[i]).toBe(bits[i]);
      }
    }
  });
});

describe('header validation', () => {
  it('rejects a file too short for the length field', async () => {
    await rejects(new Uint8Array(5), /^bad\.safetensors is not a safetensors file: 5 bytes, too short/);
  });
  it('rejects a header length beyond the file', async () => {
    await rejects(raw({}, 0, 1000n), /is not a safetensors file: header length 1000 runs past the end of the file \(10 bytes\)/);
  });
  it('rejects a header over 100 MB without reading it', async () => {
    await rejects(raw({}, 0, BigInt(MAX_HEADER_BYTES) + 1n), /is not a safetensors file: its first 8 bytes give a header length of 100000001, over the 100000000-byte limit/);
    await rejects(raw({}, 0, 2n ** 64n - 1n), /over the 100000000-byte limit/);
  });
  it('rejects invalid UTF-8 and invalid JSON', async () => {
    const bad = raw('{"a":1}');
    bad[10] = 0xff;
    await rejects(bad, /is not a safetensors file: its header is not valid UTF-8/);
    await rejects(raw('{"w": {"dtype": "F32",'), /is not a safetensors file: its header is not valid JSON/);
  });
  it('rejects a header that is not an object', async () => {
    await rejects(raw('[1, 2]'), /is not a safetensors file: its header is not a JSON object/);
    await rejects(raw('null'), /its header is not a JSON object/);
  });
  it('rejects non-object entries', async () => {
    await rejects(raw({ w: 3 }), /tensor "w": entry is not an object/);
    await rejects(raw({ w: [1] }), /tensor "w": entry is not an object/);
  });
  it('rejects unknown and unsupported dtypes', async () => {
    await rejects(raw(w('F33', [1], [0, 4]), 4), /tensor "w": unknown dtype "F33"/);
    await rejects(raw(w('toString', [1], [0, 4]), 4), /tensor "w": unknown dtype "toString"/);
    await rejects(raw(w('I64', [1], [0, 8]), 8), /tensor "w": dtype I64 is not supported \(only F32, F16, BF16\)/);
    await rejects(raw({ w: { shape: [1], data_offsets: [0, 4] } }, 4), /tensor "w": dtype missing/);
  });
  it('rejects shapes that are not arrays of non-negative integers', async () => {
    for (const shape of ['3', [2, -1], [1.5], [null], { 0: 1 }, undefined]) {
      await rejects(raw(w('F32', shape, [0, 4]), 4), /tensor "w": shape .* is not an array of non-negative integers/);
    }
  });
  it('rejects data_offsets that are not [begin, end] integers', async () => {
    for (const off of [[0], [0, '4'], [-1, 3], [0, 1.5], [0, 4, 8], 'x', undefined]) {
      await rejects(raw(w('F32', [1], off), 4), /tensor "w": data_offsets .* is not \[begin, end\] of non-negative integers/);
    }
    await rejects(raw(w('F32', [0], [4, 0]), 4), /tensor "w": data_offsets \[4, 0\] end before begin/);
  });
  it('rejects a byte count that does not match the shape', async () => {
    await rejects(raw(w('F32', [2, 2], [0, 12]), 16), /tensor "w": data_offsets \[0, 12\] hold 12 bytes but F32 \[2,2\] needs 16/);
    await rejects(raw(w('BF16', [3], [0, 4]), 8), /hold 4 bytes but BF16 \[3\] needs 6/);
    await rejects(raw(w('F32', [2 ** 30, 2 ** 30, 2 ** 30], [0, 4]), 4), /tensor "w": shape .* is too large/);
  });
  it('rejects offsets outside the data section', async () => {
    await rejects(raw(w('F32', [4], [0, 16]), 8), /is truncated \(the download or copy was cut short\): re-download it: tensor "w"'s data_offsets \[0, 16\] run past the data section \(8 bytes\)/);
  });
  it('rejects overlapping tensors', async () => {
    const h = {
      a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
      b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] },
    };
    await rejects(raw(h, 24), /tensor "b" overlaps tensor "a"/);
    // Zero-length tensors overlap nothing.
    const ok = { ...h, b: { dtype: 'F32', shape: [0], data_offsets: [8, 8] } };
    expect((await open(raw(ok, 16))).tensors.size).toBe(2);
  });
  it('allows __metadata__ of strings only', async () => {
    const f = await open(raw({ __metadata__: { a: 'b', __proto__x: 'y' } }));
    expect(f.metadata).toEqual({ a: 'b', __proto__x: 'y' });
    expect(f.tensors.size).toBe(0);
    await rejects(raw({ __metadata__: { a: 1 } }), /__metadata__ entry "a" is not a string/);
    await rejects(raw({ __metadata__: 'x' }), /__metadata__ is not an object of strings/);
  });
  it('reports a source that returns fewer bytes than asked', async () => {
    const bytes = writeSafetensors([{ name: 'x', shape: [4], data: new Float32Array(4) }]);
    const dataStart = bytes.length - 16;
    const short = (from: number): ByteSource => ({
      name: 'short.safetensors',
      size: bytes.length,
      read: async (o, l) => bytes.slice(o, o + (o >= from ? Math.min(l, 4) : l)),
    });
    await expect(SafetensorsFile.open(short(0))).rejects.toThrow(/^short\.safetensors is truncated \(the download or copy was cut short\): re-download it: header: read 4 of 8 bytes at offset 0$/);
    const f = await SafetensorsFile.open(short(dataStart));
    await expect(f.readF32('x')).rejects.toThrow(new RegExp(`^short\\.safetensors is truncated .*: tensor "x": read 4 of 16 bytes at offset ${dataStart}$`));
  });
});

/** xorshift32 */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

describe('fuzz', () => {
  it('mutated headers give SafetensorsError or a consistent file, nothing else', async () => {
    const base = writeSafetensors(
      [
        { name: 'model.embed_tokens.weight', shape: [4, 3], data: new Float32Array(12).fill(0.5) },
        { name: 'b', shape: [2], data: new Float32Array([1, 2]) },
        { name: 'c', shape: [1, 1, 1], data: new Float32Array([3]) },
      ],
      { format: 'pt' },
    );
    const n = Number(new DataView(base.buffer).getBigUint64(0, true));
    const rand = rng(1234);
    const pick = (k: number) => Math.floor(rand() * k);
    const special = new TextEncoder().encode('{}[]",:-0123456789eE.\\ u');
    let accepted = 0;
    for (let iter = 0; iter < 4000; iter++) {
      let bytes = base.slice();
      const kind = iter % 5;
      if (kind === 0) {
        for (let k = 1 + pick(4); k > 0; k--) bytes[pick(8 + n)] ^= 1 << pick(8);
      } else if (kind === 1) {
        for (let k = 1 + pick(3); k > 0; k--) bytes[8 + pick(n)] = special[pick(special.length)];
      } else if (kind === 2) {
        bytes = bytes.slice(0, pick(bytes.length));
      } else if (kind === 3) {
        const choices = [0n, 1n, BigInt(n - 1), BigInt(n + 1), BigInt(n + pick(64)), BigInt(bytes.length), 2n ** 63n, BigInt(pick(2 ** 31))];
        new DataView(bytes.buffer).setBigUint64(0, choices[pick(choices.length)], true);
      } else {
        // Insert or delete a byte inside the header, keeping the length field as it was.
        const at = 8 + pick(n);
        bytes = rand() < 0.5
          ? Uint8Array.from([...bytes.subarray(0, at), special[pick(special.length)], ...bytes.subarray(at)])
          : Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + 1)]);
      }
      let f: SafetensorsFile;
      try {
        f = await open(bytes, 'fuzz.safetensors');
      } catch (e) {
        if (!(e instanceof SafetensorsError)) throw new Error(`iteration ${iter}: ${String(e)}`);
        expect(e.message).toMatch(/^fuzz\.safetensors(: | is not a safetensors file: | is truncated )/);
        continue;
      }
      accepted++;
      const spans = [...f.tensors.values()].sort((x, y) => x.begin - y.begin);
      for (const t of spans) {
        expect(t.begin).toBeGreaterThanOrEqual(8);
        expect(t.end).toBeLessThanOrEqual(bytes.length);
        const data = await f.readF32(t.name);
        expect(data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
      }
      for (let i = 1; i < spans.length; i++) if (spans[i].end > spans[i].begin) expect(spans[i].begin).toBeGreaterThanOrEqual(spans[i - 1].end);
    }
    // Some mutations (e.g. a flipped bit inside a name) leave a valid file; most must not.
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(4000);
  });
});

describe('sharded checkpoints', () => {
  const shard1 = writeSafetensors([
    { name: 'x', shape: [2], data: new Float32Array([1, 2]) },
    { name: 'y', shape: [1], data: new Float32Array([3]) },
  ]);
  const shard2 = writeSafetensors([{ name: 'z', shape: [3], data: new Float32Array([4, 5, 6]) }]);
  const index = {
    metadata: { total_size: 24 },
    weight_map: { x: 'model-00001-of-00002.safetensors', y: 'model-00001-of-00002.safetensors', z: 'model-00002-of-00002.safetensors' },
  };

  it('finds each tensor in its shard', async () => {
    const files = memoryFileSet({
      'model.safetensors.index.json': JSON.stringify(index),
      'model-00001-of-00002.safetensors': shard1,
      'model-00002-of-00002.safetensors': shard2,
      'config.json': '{}',
    });
    const ck = await openCheckpoint(files);
    expect(ck).toBeInstanceOf(ShardedCheckpoint);
    expect([...ck.tensors.keys()].sort()).toEqual(['x', 'y', 'z']);
    expect((ck as ShardedCheckpoint).fileOf('z')).toBe('model-00002-of-00002.safetensors');
    expect(await ck.readF32('z')).toEqual(new Float32Array([4, 5, 6]));
    expect(await ck.readF32('x')).toEqual(new Float32Array([1, 2]));
    await expect(ck.readF32('w')).rejects.toThrow(/no tensor "w"/);
  });

  it('rejects a weight map that points at the wrong shard, a missing shard, or no map', async () => {
    const src = (f: string) => Promise.resolve(bytesSource(f, f.includes('00001') ? shard1 : shard2));
    const wrong = { weight_map: { ...index.weight_map, z: 'model-00001-of-00002.safetensors' } };
    await expect(ShardedCheckpoint.open(wrong, src)).rejects.toThrow(
      /^model\.safetensors\.index\.json: tensor "z" is mapped to model-00001-of-00002\.safetensors but that file does not hold it$/,
    );
    const files = memoryFileSet({ 'model-00001-of-00002.safetensors': shard1 });
    await expect(ShardedCheckpoint.open(index, (f) => files.source(f))).rejects.toThrow(
      /cannot open shard model-00002-of-00002\.safetensors \(for tensor "z"\): missing file/,
    );
    await expect(ShardedCheckpoint.open({ metadata: {} }, src)).rejects.toThrow(/weight_map missing/);
    await expect(ShardedCheckpoint.open('{oops', src)).rejects.toThrow(SafetensorsError);
    await expect(ShardedCheckpoint.open({ weight_map: { x: 7 } }, src)).rejects.toThrow(/entry for tensor "x" is not a file name/);
  });

  it('openCheckpoint picks model.safetensors, else the only file, and explains what it cannot read', async () => {
    expect((await openCheckpoint(memoryFileSet({ 'weights.safetensors': shard2 }))).tensors.has('z')).toBe(true);
    expect((await openCheckpoint(memoryFileSet({ 'model.safetensors': shard2, 'other.safetensors': shard1 }))).tensors.has('z')).toBe(true);
    await expect(openCheckpoint(memoryFileSet({ 'a.safetensors': shard1, 'b.safetensors': shard2 }))).rejects.toThrow(/several checkpoints/);
    await expect(openCheckpoint(memoryFileSet({ 'pytorch_model.bin': new Uint8Array(4) }))).rejects.toThrow(/safe_serialization=True/);
    await expect(openCheckpoint(memoryFileSet({ 'config.json': '{}' }))).rejects.toThrow(/no \.safetensors file/);
  });
});
