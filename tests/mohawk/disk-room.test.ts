// The room check before a run trains (src/mohawk/disk-room.ts): what a plan's checkpoints and export
// take, the refusal that names them, and the run driver refusing before its first step.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nodeDirFileSet } from '../../src/io/files';
import { loadTeacher } from '../../src/models/teacher';
import { studentShapes } from '../../src/models/student';
import { folderStore, memoryStore } from '../../src/mohawk/checkpoint';
import { checkDiskRoom, DiskRoomError, runDiskBytes } from '../../src/mohawk/disk-room';
import { DEFAULT_PLAN, heldShapes, studentSpec, type DistillPlan } from '../../src/mohawk/plan';
import { Run } from '../../src/mohawk/run';
import { TokenStream } from '../../src/mohawk/token-stream';
import { CORPUS_FILE, TEACHER_DIR } from '../helpers/data';
import { testGpu } from '../helpers/gpu';

const plan: DistillPlan = { ...DEFAULT_PLAN, stages: [1], tokens: { 1: 32, 2: 0, 3: 0 }, seqLen: 16, batch: 2 };
const floats = (m: Map<string, number[]>) => [...m.values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);

describe('room on disk for a run', () => {
  it('counts the trained floats three times (parameters, m, v), twice that while a save replaces a checkpoint, and the export whole', async () => {
    const gpu = await testGpu();
    const teacher = await loadTeacher(gpu, await nodeDirFileSet(TEACHER_DIR), 'stories260K', undefined, { upload: false });
    for (const freezeMlp of [false, true]) {
      const p = { ...plan, freezeMlp };
      const spec = studentSpec(teacher.config, p);
      const trained = floats(heldShapes(spec, p));
      const b = runDiskBytes(teacher.config, p);
      expect(b).toEqual({ checkpoint: 12 * trained, saving: 24 * trained, export: 4 * floats(studentShapes(spec)) });
    }
    // Frozen MLPs are not trained, so not saved; the export holds them all the same.
    const [thawed, frozen] = [runDiskBytes(teacher.config, plan), runDiskBytes(teacher.config, { ...plan, freezeMlp: true })];
    expect(frozen.checkpoint).toBeLessThan(thawed.checkpoint);
    expect(frozen.export).toBe(thawed.export);
  });

  it('counts the scratch file of a streamed plan of stages 1–2 alone (12 bytes per trained float) where the host keeps one, and says so', async () => {
    const gpu = await testGpu();
    const teacher = await loadTeacher(gpu, await nodeDirFileSet(TEACHER_DIR), 'stories260K', undefined, { upload: false });
    const p: DistillPlan = { ...plan, stages: [1, 2], streamLayers: true };
    const trained = floats(heldShapes(studentSpec(teacher.config, p), p));
    const b = runDiskBytes(teacher.config, p, true);
    expect(b.scratch).toBe(12 * trained);
    // Not in memory, not with stage 3 (the student stays on the GPU), not resident.
    expect(runDiskBytes(teacher.config, p).scratch).toBeUndefined();
    expect(runDiskBytes(teacher.config, { ...p, stages: [1, 2, 3] }, true).scratch).toBeUndefined();
    expect(runDiskBytes(teacher.config, { ...p, streamLayers: false }, true).scratch).toBeUndefined();
    const bytes = { checkpoint: 35.4e9, saving: 70.8e9, export: 34.4e9, scratch: 35.4e9 };
    const hint = { freezeMlp: null, remedy: 'x' };
    checkDiskRoom(bytes, { free: 106.2e9, held: 0, where: 'd', withExport: false }, hint);
    expect(() => checkDiskRoom(bytes, { free: 100e9, held: 0, where: 'd', withExport: false }, hint)).toThrow(
      /\(106\.2 GB needed, 100\.0 GB there\): .*; while stages 1–2 stream, the student's parameters and moments take 35\.4 GB in a scratch file beside them; d has/,
    );
  });

  it('refuses a run its disk cannot hold, naming the sizes and what to change; a resumed checkpoint counts as room', () => {
    // A 7.2 B-parameter student's figures: 2.95 B trained floats.
    const bytes = { checkpoint: 35.4e9, saving: 70.8e9, export: 34.4e9 };
    const room = { free: 45e9, held: 0, where: 'the disk of /runs/m7', withExport: true };
    const hint = { freezeMlp: '--freeze-mlp', remedy: '--out on a disk with room' };
    expect(() => checkDiskRoom(bytes, room, hint)).toThrow(DiskRoomError);
    expect(() => checkDiskRoom(bytes, room, hint)).toThrow(
      /not enough disk for this run \(70\.8 GB needed, 45\.0 GB there\): .*f32, 35\.4 GB.*\(70\.8 GB at most\); the exported student takes 34\.4 GB .*; the disk of \/runs\/m7 has 45\.0 GB free\. Before anything trains: free disk space, or --freeze-mlp .*, or --out on a disk with room/,
    );
    // The export counts beside the last checkpoint when it is larger than a save's second copy.
    expect(() => checkDiskRoom({ ...bytes, export: 40e9 }, { ...room, free: 75e9 }, hint)).toThrow(/75\.4 GB needed/);
    checkDiskRoom(bytes, { ...room, withExport: false, free: 70.8e9 }, hint);
    // A resumed run's own checkpoint is replaced by its saves.
    checkDiskRoom(bytes, { ...room, free: 35.4e9, held: 35.4e9 }, { freezeMlp: null, remedy: 'x' });
    expect(() => checkDiskRoom(bytes, { ...room, free: 20e9, held: 35.4e9 }, { freezeMlp: null, remedy: 'x' })).toThrow(/besides the 35\.4 GB of the checkpoint there\. Before anything trains: free disk space, or x$/);
  });

  it('reads a folder\'s free space, through its nearest existing ancestor while it does not exist', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mohawk-room-'));
    try {
      const free = await folderStore(join(dir, 'not', 'yet', 'checkpoint')).free!();
      expect(free).toBeGreaterThan(0);
      expect(await folderStore(dir).free!()).toBeGreaterThan(0);
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it('the run driver refuses before anything trains or is held on the GPU, and counts a resumed checkpoint\'s files', async () => {
    const gpu = await testGpu();
    const teacherFiles = await nodeDirFileSet(TEACHER_DIR);
    const teacher = await loadTeacher(gpu, teacherFiles, 'stories260K', undefined, { upload: false });
    const corpus = TokenStream.fromText(readFileSync(CORPUS_FILE, 'utf8').slice(0, 20_000), teacher.tokenizer, { maxDocs: 20 });
    const need = runDiskBytes(teacher.config, plan).saving;
    const setup = (free: number, resume = false, store = memoryStore()) =>
      Run.prepare({
        gpu, teacher, teacherFiles, teacherName: 'stories260K', corpus, corpusName: 'tinystories', docs: 20, heldOut: 0.1,
        plan, store: Object.assign(store, { free: async () => free }), resume, saveEveryS: 0,
        evaluation: { docs: 2, tokens: 32, atStageEnds: false }, tool: 'test', onEvent: () => {},
        disk: { where: 'the test disk', withExport: false, remedy: 'another disk' },
      });
    const before = gpu.memory.liveBytes;
    await expect(setup(need - 1)).rejects.toThrow(/not enough disk for this run.*the test disk has/);
    expect(gpu.memory.liveBytes).toBe(before);
    const run = await setup(need);
    run.release();
    // A checkpoint of this plan's size already in the store is room for a resumed run.
    const store = memoryStore();
    const ok = await setup(need, false, store);
    expect(await ok.train()).toBe('finished');
    ok.release();
    const held = (await store.size('student.safetensors'))! + (await store.size('optimizer.safetensors'))!;
    expect(held).toBeGreaterThan(0);
    await expect(setup(need - held - 1, true, store)).rejects.toThrow(/besides the .* of the checkpoint there/);
  }, 300_000);
});
