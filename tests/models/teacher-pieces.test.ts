// Large teacher tensors never whole on the host: a tensor stored unchanged (the embedding, the head,
// a llama MLP matrix) is read a range at a time (rawPieces/tensorPieces), uploaded a piece at a time,
// and copied into the student a piece at a time, with the same values as whole reads. Shown on the
// bf16 llama fixture with pieces of 64 values instead of FLAT_PIECE's 2^24.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeDirFileSet, type FileSet } from '../../src/io/files';
import { loadTeacher, tensorPieces, uploadTensor } from '../../src/models/teacher';
import { initialStudent, ParamSet, studentShapes } from '../../src/models/student';
import { studentSpec } from '../../src/mohawk/plan';
import { DEFAULT_PLAN } from '../../src/mohawk/plan';
import { testGpu } from '../helpers/gpu';

const DIR = join(__dirname, '../fixtures/llama-bf16');
const PIECE = 64;

/** The fixture's files, recording the length of every read of model.safetensors. */
async function counted(): Promise<{ files: FileSet; reads: number[] }> {
  const inner = await nodeDirFileSet(DIR);
  const reads: number[] = [];
  const files: FileSet = {
    ...inner,
    async source(name) {
      const s = await inner.source(name);
      if (name !== 'model.safetensors') return s;
      return { name: s.name, size: s.size, read: (offset, length) => (reads.push(length), s.read(offset, length)) };
    },
  };
  return { files, reads };
}

describe('a large teacher tensor a piece at a time', () => {
  it('reads, uploads and copies into the student only pieces of it, with the values of whole reads', async () => {
    const gpu = await testGpu();
    const { files, reads } = await counted();
    const t = await loadTeacher(gpu, files, 'llama-bf16', undefined, { upload: false, readAll: false });
    const embed = t.source.tensors.find((x) => x.name === 'embed')!;
    const n = embed.shape[0]! * embed.shape[1]!;
    expect(embed.dtype).toBe('BF16');
    expect(n).toBeGreaterThan(4 * PIECE);
    const whole = await t.source.read('embed');

    reads.length = 0;
    const parts: Float32Array[] = [];
    for await (const { at, values } of tensorPieces(embed, PIECE)) {
      expect(at).toBe(parts.reduce((a, p) => a + p.length, 0));
      parts.push(values);
    }
    expect(Float32Array.from(parts.flatMap((p) => [...p]))).toEqual(whole);
    expect(Math.max(...reads)).toBe(2 * PIECE);

    // On the GPU: bf16 kept packed, and widened to f32, each equal to the whole upload.
    for (const precision of ['checkpoint', 'f32'] as const) {
      const [a, b] = [await uploadTensor(gpu, embed, precision, undefined, PIECE), await uploadTensor(gpu, embed, precision)];
      expect(new Uint8Array((await gpu.read(a)).buffer)).toEqual(new Uint8Array((await gpu.read(b)).buffer));
      a.destroy();
      b.destroy();
    }

    // The student's copy of the embedding through `put`, a piece at a time, is the whole-read student's.
    const spec = studentSpec(t.config, DEFAULT_PLAN);
    const want = await initialStudent(spec, t.source, 5);
    // Straight to the GPU, as Distiller.create makes it.
    const student = new ParamSet(gpu, studentShapes(spec), undefined, 'student', undefined, true);
    const src = { has: t.source.has, read: t.source.read, pieces: (name: string) => t.source.pieces(name, PIECE) };
    reads.length = 0;
    await initialStudent(spec, src, 5, () => true, undefined, (name, values, at) => student.writeTensor(name, values, at));
    expect(reads).not.toContain(2 * n); // the embedding was never read whole
    const got = await student.read();
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [name, v] of want) expect(got.get(name), name).toEqual(v);
    expect(() => student.writeTensor('embed', new Float32Array(8), n - 4)).toThrow(/embed takes \d+ values, given 8 from value/);
    student.release();
  });
});
