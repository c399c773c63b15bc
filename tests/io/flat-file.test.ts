// The flat store of the student's parameters and moments while it is off the GPU (src/io/flat-file.ts):
// in memory, in a Node scratch file and in an OPFS file, ranges round-trip, the three regions lie one
// after another without overlapping, ranges past the end are refused by name, zero() clears one
// region, and a file is gone at close.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { clearOpfsScratch, FlatRangeError, memoryFlatStore, nodeFlatFile, OPFS_SCRATCH, opfsFlatFile, type FlatStore, type FlatStoreFactory } from '../../src/io/flat-file';
import { fakeOpfs } from '../helpers/fake-opfs';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const N = 1000;
const ramp = (n: number, base: number) => Float32Array.from({ length: n }, (_, i) => base + i * 0.5);

async function roundTrip(store: FlatStore): Promise<void> {
  expect(store.length).toBe(N);
  // A new store is zeros.
  expect([...(await store.read('v', 0, N))].every((x) => x === 0)).toBe(true);
  await store.write('params', 10, ramp(100, 1));
  await store.write('m', 10, ramp(100, 1000));
  await store.write('v', 10, ramp(100, -5000));
  // The last float of each region, and the first.
  await store.write('params', N - 1, new Float32Array([7]));
  await store.write('m', 0, new Float32Array([8]));
  expect(await store.read('params', 10, 100)).toEqual(ramp(100, 1));
  expect(await store.read('m', 10, 100)).toEqual(ramp(100, 1000));
  expect(await store.read('v', 10, 100)).toEqual(ramp(100, -5000));
  expect(await store.read('params', N - 2, 2)).toEqual(new Float32Array([0, 7]));
  expect(await store.read('v', 0, 1)).toEqual(new Float32Array([0]));
  expect(await store.read('m', 0, 1)).toEqual(new Float32Array([8]));
  // A read is a copy: changing it leaves the store as it was.
  const r = await store.read('params', 10, 5);
  r.fill(99);
  expect((await store.read('params', 10, 5))[0]).toBe(1);
  await expect(store.read('m', N - 5, 6)).rejects.toThrow(FlatRangeError);
  await expect(store.read('m', N - 5, 6)).rejects.toThrow(`floats ${N - 5}..${N + 1} of m run past its ${N} floats`);
  await expect(store.write('v', N, new Float32Array(1))).rejects.toThrow(`${store.where}: floats ${N}..${N + 1} of v run past`);
  await expect(store.read('params', -1, 2)).rejects.toThrow('are not a range');
  await store.zero('m');
  expect([...(await store.read('m', 0, N))].every((x) => x === 0)).toBe(true);
  expect(await store.read('params', 10, 100)).toEqual(ramp(100, 1));
  expect(await store.read('v', 10, 100)).toEqual(ramp(100, -5000));
  await store.write('m', 10, ramp(100, 1000));
}

/** Params, then m, then v, f32 little-endian, as the file holds them after roundTrip. */
function checkLayout(bytes: Uint8Array): void {
  expect(bytes.length).toBe(3 * N * 4);
  const f = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = (region: number, i: number) => f.getFloat32((region * N + i) * 4, true);
  expect(at(0, 10)).toBe(1);
  expect(at(0, N - 1)).toBe(7);
  expect(at(1, 10 + 3)).toBe(1001.5);
  expect(at(2, 10 + 99)).toBe(-5000 + 49.5);
  expect(at(2, 9)).toBe(0);
}

describe('flat store', () => {
  it('in memory: ranges round-trip and regions do not overlap', async () => {
    const store = await memoryFlatStore(N);
    await roundTrip(store);
    await store.close();
    await expect(store.read('params', 0, 1)).rejects.toThrow('closed');
  });

  it('a Node scratch file: regions one after another, f32 little-endian; gone at close', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mohawk-flat-'));
    dirs.push(dir);
    const store = await nodeFlatFile({ dir, name: 'scratch.f32' })(N);
    expect(store.where).toBe(`scratch file ${join(dir, 'scratch.f32')}`);
    await roundTrip(store);
    checkLayout(new Uint8Array(await readFile(join(dir, 'scratch.f32'))));
    await store.close();
    expect(await readdir(dir)).toEqual([]);
    await expect(store.read('params', 0, 1)).rejects.toThrow('closed');
    // Without a folder: a file of its own name in the system's temporary folder, gone at close too.
    const tmp = await nodeFlatFile()(4);
    const path = tmp.where.replace('scratch file ', '');
    expect(path.startsWith(tmpdir())).toBe(true);
    await tmp.write('v', 0, new Float32Array([1, 2, 3, 4]));
    expect((await readFile(path)).length).toBe(48);
    await tmp.close();
    await expect(readFile(path)).rejects.toThrow('ENOENT');
  });

  it('a Node scratch file takes the place of one a crashed run left', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mohawk-flat-'));
    dirs.push(dir);
    // The stale store is never closed (a crash); the next run's (a factory of its own) is made over it, zeros.
    const stale = await nodeFlatFile({ dir, name: 'scratch.f32' })(N);
    await stale.write('params', 0, ramp(N, 3));
    const store = await nodeFlatFile({ dir, name: 'scratch.f32' })(N);
    expect([...(await store.read('params', 0, N))].every((x) => x === 0)).toBe(true);
    await store.close();
    expect(await readdir(dir)).toEqual([]);
  });

  it('a second store of one named factory, made while the first is open, gets a file of its own', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mohawk-flat-'));
    dirs.push(dir);
    const make: FlatStoreFactory = nodeFlatFile({ dir, name: 'scratch.f32' });
    const first = await make(N);
    await first.write('params', 0, ramp(N, 3));
    const second = await make(N);
    expect(second.where).toBe(`scratch file ${join(dir, 'scratch-2.f32')}`);
    // The first's values are intact, and closing it leaves the second's file.
    expect([...(await first.read('params', 0, N))]).toEqual([...ramp(N, 3)]);
    await first.close();
    expect(await readdir(dir)).toEqual(['scratch-2.f32']);
    await second.write('m', 0, ramp(N, 5));
    expect([...(await second.read('m', 0, N))]).toEqual([...ramp(N, 5)]);
    // Its name is free again once closed.
    const third = await make(N);
    expect(third.where).toBe(`scratch file ${join(dir, 'scratch.f32')}`);
    await Promise.all([second.close(), third.close()]);
    expect(await readdir(dir)).toEqual([]);
  });

  it('an OPFS file through a sync access handle: the same layout, gone at close; stale files cleared', async () => {
    const opfs = fakeOpfs();
    const notes: string[] = [];
    const make = opfsFlatFile(opfs.root, (r) => notes.push(r));
    const store = await make(N);
    expect(store.where.startsWith(`OPFS scratch file ${OPFS_SCRATCH}/`)).toBe(true);
    await roundTrip(store);
    const files = [...opfs.dir(OPFS_SCRATCH)!.children.values()];
    expect(files).toHaveLength(1);
    checkLayout((files[0] as unknown as { bytes: Uint8Array }).bytes);
    // A crashed tab's file is cleared at a run's start; a live one (its handle open) stays.
    const stale = await opfs.dir(OPFS_SCRATCH)!.getFileHandle('mohawk-scratch-stale.f32', { create: true });
    await stale.createWritable().then(async (w) => {
      await w.write(new Uint8Array(8));
      await w.close();
    });
    expect(await clearOpfsScratch(opfs.root)).toBe(1);
    expect(opfs.dir(OPFS_SCRATCH)!.children.size).toBe(1);
    expect(await store.read('params', 10, 100)).toEqual(ramp(100, 1));
    await store.close();
    expect(opfs.dir(OPFS_SCRATCH)!.children.size).toBe(0);
    expect(notes).toEqual([]);
  });

  it('without a sync access handle, the OPFS store is kept in memory and says why', async () => {
    const opfs = fakeOpfs({ syncHandles: false });
    const notes: string[] = [];
    const store = await opfsFlatFile(opfs.root, (r) => notes.push(r))(N);
    expect(store.where).toBe('memory');
    expect(notes).toEqual(['this browser gives no sync access handle to OPFS files here, so the student\'s parameters and moments (0.00 GB) are kept in memory']);
    expect(opfs.dir(OPFS_SCRATCH)!.children.size).toBe(0);
    await roundTrip(store);
    await store.close();
  });
});
