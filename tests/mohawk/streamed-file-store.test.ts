// A streamed plan of stages 1–2 alone keeps the student off the GPU in a flat store (src/io/flat-file.ts):
// with a scratch file the run trains the same student as with the store in memory, bit for bit (the
// same kernels on the same floats), evaluates and exports it the same, checkpoints and resumes from it,
// and the file is there while the run holds the student and gone once it is released.
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { collectBytes } from '../../src/io/bytes';
import { nodeDirFileSet } from '../../src/io/files';
import { nodeFlatFile, type FlatStoreFactory } from '../../src/io/flat-file';
import { loadTeacher } from '../../src/models/teacher';
import { memoryStore, peekCheckpoint, readFloats, type CheckpointStore } from '../../src/mohawk/checkpoint';
import { DEFAULT_PLAN, type DistillPlan } from '../../src/mohawk/plan';
import { Run, type RunEvent } from '../../src/mohawk/run';
import { TokenStream } from '../../src/mohawk/token-stream';
import { CORPUS_FILE, TEACHER_DIR } from '../helpers/data';
import { testGpu } from '../helpers/gpu';

const text = readFileSync(CORPUS_FILE, 'utf8').slice(0, 40_000);
// Each stage runs in one window (one pass over the layers): a step in stage 1, two in stage 2.
const plan: DistillPlan = { ...DEFAULT_PLAN, stages: [1, 2], streamLayers: true, tokens: { 1: 16 * 2, 2: 16 * 2 * 2, 3: 0 }, seqLen: 16, batch: 2, lr: { 1: 1e-2, 2: 3e-3, 3: 1e-3 } };
const SCRATCH = 'student-scratch.f32';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function scratchDir(): Promise<{ dir: string; hostStore: FlatStoreFactory }> {
  const dir = await mkdtemp(join(tmpdir(), 'mohawk-scratch-run-'));
  dirs.push(dir);
  return { dir, hostStore: nodeFlatFile({ dir, name: SCRATCH }) };
}

async function setup(store: CheckpointStore, resume: boolean, hostStore: FlatStoreFactory | undefined, onEvent: (e: RunEvent) => void = () => {}) {
  const gpu = await testGpu();
  const teacherFiles = await nodeDirFileSet(TEACHER_DIR);
  const teacher = await loadTeacher(gpu, teacherFiles, 'stories260K', undefined, { upload: false });
  const corpus = TokenStream.fromText(text, teacher.tokenizer, { maxDocs: 40 });
  return Run.prepare({
    gpu, teacher, teacherFiles, teacherName: 'stories260K', corpus, corpusName: 'tinystories', docs: 40, heldOut: 0.1,
    plan: resume ? null : plan, store, resume, saveEveryS: 0, evaluation: { docs: 2, tokens: 32, atStageEnds: false }, tool: 'test', hostStore, onEvent,
  });
}

/** Bit for bit (vitest's deep equality takes seconds over arrays this long). */
const same = (a: ArrayBufferView, b: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** The exported model.safetensors, whole. */
async function exported(run: Run): Promise<Uint8Array> {
  const files = await run.studentFiles();
  return collectBytes(files.find((f) => f.name === 'model.safetensors')!.parts);
}

describe('a streamed stages-1–2 student in a scratch file', () => {
  it('trains, evaluates and exports as in memory; checkpoints and resumes; the file goes with the run', async () => {
    const inMemory = await setup(memoryStore(), false, undefined);
    expect(await inMemory.train()).toBe('finished');
    const expected = await readFloats(inMemory.distiller.snapshot().params);
    const expectedExport = await exported(inMemory);
    const expectedEval = await inMemory.evaluate();
    await inMemory.release();

    const { dir, hostStore } = await scratchDir();
    const seen: string[][] = [];
    const onFile = await setup(memoryStore(), false, hostStore, (e) => {
      if (e.type === 'step') void readdir(dir).then((f) => seen.push(f));
    });
    // The student is in the file from the start: three regions of the layout's floats.
    expect(await readdir(dir)).toEqual([SCRATCH]);
    expect(await onFile.train()).toBe('finished');
    expect(seen.length).toBeGreaterThan(0);
    for (const f of seen) expect(f).toEqual([SCRATCH]);
    const got = await readFloats(onFile.distiller.snapshot().params);
    expect(got.length).toBe(expected.length);
    expect(same(got, expected)).toBe(true);
    expect(expected.some((x, i) => x !== 0 && i > 0)).toBe(true);
    expect(same(await exported(onFile), expectedExport)).toBe(true);
    expect(await onFile.evaluate()).toEqual(expectedEval);
    await onFile.release();
    expect(await readdir(dir)).toEqual([]);

    // Stopped after stage 1 with its checkpoint (saved from the file), then resumed into a file:
    // stage 2 from the restored student and moments gives the uninterrupted run's student.
    const store = memoryStore();
    let run: Run | null = null;
    run = await setup(store, false, hostStore, (e) => {
      if (e.type === 'step' && e.stage === 1) run!.stop();
    });
    expect(await run.train()).toBe('stopped');
    await run.release();
    expect(await readdir(dir)).toEqual([]);
    expect((await peekCheckpoint(store))!.state).toMatchObject({ stage: 1, step: 1, stageDone: true });
    const again = await setup(store, true, hostStore);
    expect(again.from).toEqual({ stage: 1, step: 1 });
    expect(await readdir(dir)).toEqual([SCRATCH]);
    expect(await again.train()).toBe('finished');
    expect(same(await readFloats(again.distiller.snapshot().params), expected)).toBe(true);
    await again.release();
    expect(await readdir(dir)).toEqual([]);
  }, 300_000);
});
