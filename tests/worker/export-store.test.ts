// The student's export written to the OPFS (an in-memory fake here) piece by piece: a stored zip that
// opens with the files' exact bytes, or the files one by one where a zip without ZIP64 cannot hold
// them; one export's worth kept; a failed export leaves nothing behind.
import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import type { LazyBytes } from '../../src/io/bytes';
import { EXPORTS_DIR, fitsZip, storedZipLength, writeExport, ZIP32_MAX } from '../../src/worker/export-store';
import { fakeOpfs } from '../helpers/fake-opfs';

const ramp = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 255);

/** Lazy bytes of `pieces`, noting how many bytes had been made before each piece. */
function lazy(pieces: Uint8Array[], made: number[] = []): LazyBytes {
  return {
    byteLength: pieces.reduce((a, p) => a + p.length, 0),
    async *pieces() {
      let n = 0;
      for (const p of pieces) {
        made.push(n);
        n += p.length;
        yield p;
      }
    },
  };
}

const bytesOf = async (b: Blob) => new Uint8Array(await b.arrayBuffer());
const exportsIn = (fake: ReturnType<typeof fakeOpfs>) => [...(fake.dir(`mohawk-checkpoints/${EXPORTS_DIR}`)?.children.keys() ?? [])].sort();

describe('zip or files', () => {
  it('counts a stored zip as fflate writes it, names in UTF-8', () => {
    expect(storedZipLength([])).toBe(22);
    expect(storedZipLength([{ name: 'a', byteLength: 10 }])).toBe(22 + 30 + 16 + 46 + 2 + 10);
    expect(storedZipLength([{ name: 'é', byteLength: 0 }])).toBe(22 + 30 + 16 + 46 + 4);
  });

  it('zips up to 4 GiB in all and no further, nor any file of 4 GiB', () => {
    const small = { name: 'config.json', byteLength: 1000 };
    const room = ZIP32_MAX - storedZipLength([small, { name: 'model.safetensors', byteLength: 0 }]);
    expect(fitsZip([small, { name: 'model.safetensors', byteLength: room }])).toBe(true);
    expect(fitsZip([small, { name: 'model.safetensors', byteLength: room + 1 }])).toBe(false);
    expect(fitsZip([{ name: 'model.safetensors', byteLength: 2 ** 32 }])).toBe(false);
    // A 1B-class student as f32.
    expect(fitsZip([small, { name: 'model.safetensors', byteLength: 4.9e9 }])).toBe(false);
  });
});

describe('writeExport', () => {
  it('streams a stored zip into exports/ that opens with the files, each piece written before the next is made', async () => {
    const fake = fakeOpfs();
    const model = [ramp(1000, 1), ramp(777, 2), ramp(5, 3)];
    const config = new TextEncoder().encode('{"d_model":8}');
    const tok = [ramp(300, 4), ramp(1, 5)];
    // Bytes the OPFS has taken so far, seen as each piece is made.
    let written = 0;
    const proto = Object.getPrototypeOf(await fake.top.getFileHandle('probe', { create: true }));
    await fake.top.removeEntry('probe');
    const create = proto.createWritable;
    proto.createWritable = async function (this: unknown, ...a: unknown[]) {
      const w = await create.apply(this, a);
      return { ...w, write: async (d: Uint8Array) => ((written += d.length), w.write(d)) };
    };
    const seen: [number, number][] = [];
    const made: number[] = [];
    const watched: LazyBytes = {
      byteLength: 1782,
      async *pieces() {
        for await (const p of lazy(model, made).pieces()) {
          seen.push([made[made.length - 1]!, written]);
          yield p;
        }
      },
    };
    try {
      const r = await writeExport(
        [
          { name: 'model.safetensors', parts: watched },
          { name: 'config.json', parts: config },
          { name: 'tokenizer.json', parts: tok },
        ],
        { as: 'zip', zipName: 'run-1.zip', root: fake.root },
      );
      expect(r.zipTooLarge).toBe(false);
      expect(r.files.map((f) => f.name)).toEqual(['run-1.zip']);
      const zip = await bytesOf(r.files[0]!.file);
      expect(zip.length).toBe(storedZipLength([{ name: 'model.safetensors', byteLength: 1782 }, { name: 'config.json', byteLength: config.length }, { name: 'tokenizer.json', byteLength: 301 }]));
      const entries = unzipSync(zip);
      expect(Object.keys(entries)).toEqual(['model.safetensors', 'config.json', 'tokenizer.json']);
      expect(entries['model.safetensors']).toEqual(new Uint8Array([...model[0]!, ...model[1]!, ...model[2]!]));
      expect(entries['config.json']).toEqual(config);
      expect(entries['tokenizer.json']).toEqual(new Uint8Array([...tok[0]!, ...tok[1]!]));
      // Before each piece is made, every byte made before it is in the file, after the local header
      // (30 + 17 B, which fflate gives with the first piece).
      expect(seen.map(([before]) => before)).toEqual([0, 1000, 1777]);
      for (const [before, w] of seen) expect(w).toBe(before ? before + 47 : 0);
      expect(exportsIn(fake)).toEqual(['run-1.zip']);
    } finally {
      proto.createWritable = create;
    }
  });

  it('writes the files one by one when asked, and a new export replaces the one before', async () => {
    const fake = fakeOpfs();
    await writeExport([{ name: 'old.bin', parts: ramp(10, 0) }], { as: 'files', zipName: 'x.zip', root: fake.root });
    expect(exportsIn(fake)).toEqual(['old.bin']);
    const r = await writeExport(
      [
        { name: 'model.safetensors', parts: lazy([ramp(64, 1), ramp(64, 2)]) },
        { name: 'config.json', parts: [ramp(3, 3), ramp(4, 4)] },
      ],
      { as: 'files', zipName: 'x.zip', root: fake.root },
    );
    expect(r.zipTooLarge).toBe(false);
    expect(r.files.map((f) => f.name)).toEqual(['model.safetensors', 'config.json']);
    expect(await bytesOf(r.files[0]!.file)).toEqual(new Uint8Array([...ramp(64, 1), ...ramp(64, 2)]));
    expect(await bytesOf(r.files[1]!.file)).toEqual(new Uint8Array([...ramp(3, 3), ...ramp(4, 4)]));
    expect(exportsIn(fake)).toEqual(['config.json', 'model.safetensors']);
    // The runs beside it are not touched.
    await (await (await fake.top.getDirectoryHandle('mohawk-checkpoints')).getDirectoryHandle('runs', { create: true })).getFileHandle('keep', { create: true });
    await writeExport([{ name: 'a', parts: ramp(1, 0) }], { as: 'zip', zipName: 'y.zip', root: fake.root });
    expect(exportsIn(fake)).toEqual(['y.zip']);
    expect(fake.dir('mohawk-checkpoints/runs')?.children.has('keep')).toBe(true);
  });

  it('gives the files one by one, and says so, when the zip would reach 4 GiB', async () => {
    const fake = fakeOpfs();
    // A length as large as a 1B-class student's; only its byteLength is looked at before writing.
    const big: LazyBytes = { byteLength: 5e9, async *pieces() { yield ramp(16, 9); } };
    const r = await writeExport([{ name: 'model.safetensors', parts: big }, { name: 'config.json', parts: ramp(5, 1) }], { as: 'zip', zipName: 'run.zip', root: fake.root });
    expect(r.zipTooLarge).toBe(true);
    expect(r.files.map((f) => f.name)).toEqual(['model.safetensors', 'config.json']);
    expect(exportsIn(fake)).toEqual(['config.json', 'model.safetensors']);
  });

  it('removes what a failed export wrote, and passes its error on', async () => {
    const fake = fakeOpfs();
    const failing: LazyBytes = {
      byteLength: 20,
      async *pieces() {
        yield ramp(10, 0);
        throw new Error('the GPU read failed');
      },
    };
    for (const as of ['zip', 'files'] as const) {
      await expect(writeExport([{ name: 'config.json', parts: ramp(3, 0) }, { name: 'model.safetensors', parts: failing }], { as, zipName: 'r.zip', root: fake.root })).rejects.toThrow('the GPU read failed');
      expect(fake.dir(`mohawk-checkpoints/${EXPORTS_DIR}`)).toBeUndefined();
    }
  });

  it('writes to the sync access handle where there is no createWritable', async () => {
    const fake = fakeOpfs();
    const proto = Object.getPrototypeOf(await fake.top.getFileHandle('probe', { create: true }));
    await fake.top.removeEntry('probe');
    const create = proto.createWritable;
    proto.createWritable = undefined;
    try {
      const r = await writeExport([{ name: 'model.safetensors', parts: lazy([ramp(5, 0), ramp(6, 1)]) }], { as: 'zip', zipName: 'r.zip', root: fake.root });
      expect(unzipSync(await bytesOf(r.files[0]!.file))['model.safetensors']).toEqual(new Uint8Array([...ramp(5, 0), ...ramp(6, 1)]));
    } finally {
      proto.createWritable = create;
    }
  });

  it('builds Blobs piece by piece where there is no OPFS', async () => {
    const r = await writeExport([{ name: 'm', parts: lazy([ramp(5, 0), ramp(6, 1)]) }, { name: 'c', parts: ramp(2, 2) }], { as: 'zip', zipName: 'r.zip', root: null });
    const entries = unzipSync(await bytesOf(r.files[0]!.file));
    expect(entries['m']).toEqual(new Uint8Array([...ramp(5, 0), ...ramp(6, 1)]));
    expect(entries['c']).toEqual(ramp(2, 2));
  });
});
