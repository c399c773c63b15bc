// Frozen MLPs (--freeze-mlp): the student borrows the teacher's MLP buffers, in the checkpoint's
// bf16, instead of holding f32 copies with gradients and moments. What must hold: the exported
// student's MLPs are the teacher's exactly, everything else trains, the run holds less GPU memory
// in stage 3 than without freezing, and a streamed run's evaluation works with the MLPs borrowed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packedDtype } from '../../src/gpu/runtime';
import { memoryFileSet, nodeDirFileSet } from '../../src/io/files';
import { openCheckpoint } from '../../src/io/safetensors';
import { collectBytes } from '../../src/io/bytes';
import { loadTeacher } from '../../src/models/teacher';
import { DEFAULT_PLAN, heldShapes, studentSpec, type DistillPlan } from '../../src/mohawk/plan';
import { Run, type RunEvent } from '../../src/mohawk/run';
import { TokenStream } from '../../src/mohawk/token-stream';
import { CORPUS_FILE } from '../helpers/data';
import { FIXTURES_DIR } from '../helpers/fixtures';
import { testGpu } from '../helpers/gpu';

const text = readFileSync(CORPUS_FILE, 'utf8').slice(0, 20_000);
const DIR = join(FIXTURES_DIR, 'llama-bf16');
const plan: DistillPlan = {
  ...DEFAULT_PLAN,
  stages: [3],
  tokens: { 1: 0, 2: 0, 3: 64 },
  seqLen: 16,
  batch: 2,
  lr: { 1: 1e-3, 2: 3e-3, 3: 3e-3 },
};

async function distil(p: DistillPlan) {
  const gpu = await testGpu();
  const files = await nodeDirFileSet(DIR);
  const teacher = await loadTeacher(gpu, files, 'llama-bf16', undefined, { upload: false });
  const corpus = TokenStream.fromText(text, teacher.tokenizer, { maxDocs: 30 });
  const events: RunEvent[] = [];
  const run = await Run.prepare({
    gpu, teacher, teacherFiles: files, teacherName: 'llama-bf16', corpus, corpusName: 'tinystories', docs: 30, heldOut: 0.2,
    plan: p, store: null, resume: false, saveEveryS: 0, evaluation: { docs: 2, tokens: 16, atStageEnds: true }, tool: 'test', onEvent: (e) => events.push(e),
  });
  expect(await run.train()).toBe('finished');
  const parts = await run.studentFiles();
  const weights = parts.find((f) => f.name === 'model.safetensors')!;
  const student = await openCheckpoint(memoryFileSet({ 'model.safetensors': await collectBytes(weights.parts) }));
  const packed = teacher.resident ? packedDtype(teacher.weights.get('layers.0.mlp.up.weight')) : 'evicted';
  run.release();
  const peak3 = events.find((e) => e.type === 'stage' && e.stage === 3 && e.state === 'finished');
  const evals = events.filter((e) => e.type === 'eval');
  return { student, teacher, peak3: peak3?.type === 'stage' ? peak3.gpuPeakBytes! : NaN, evals, packed };
}

describe('frozen MLPs', () => {
  it('are the bf16 teacher\'s own buffers: exported unchanged, the rest trained, less held in stage 3', async () => {
    const spec = studentSpec((await loadTeacher(await testGpu(), await nodeDirFileSet(DIR), 't', undefined, { upload: false })).config, plan);
    expect([...heldShapes(spec, { freezeMlp: true }).keys()].some((n) => n.includes('.mlp.'))).toBe(false);

    const frozen = await distil({ ...plan, freezeMlp: true });
    const free = await distil({ ...plan, freezeMlp: false });
    expect(frozen.packed).toBe('bf16');
    for (const n of ['layers.0.mlp.up.weight', 'layers.1.mlp.down.weight', 'layers.1.mlp.gate.weight']) {
      const teacherValues = await frozen.teacher.source.read(n);
      expect(await frozen.student.readF32(n), n).toEqual(teacherValues);
      expect(await free.student.readF32(n), `${n} trains without freezing`).not.toEqual(teacherValues);
    }
    // What is not frozen trains either way.
    expect(await frozen.student.readF32('embed')).not.toEqual(await frozen.teacher.source.read('embed'));
    expect(frozen.peak3).toBeLessThan(free.peak3);
    console.log(`stage 3 GPU peak: ${free.peak3} bytes, ${frozen.peak3} with frozen MLPs`);
    for (const r of [frozen, free]) {
      expect(r.evals.length).toBe(2);
      for (const e of r.evals) if (e.type === 'eval') expect(Number.isFinite(e.studentNll)).toBe(true);
    }
  }, 600_000);

  it('evaluate a streamed run one model at a time, the MLPs still borrowed', async () => {
    const r = await distil({ ...plan, stages: [1, 2], tokens: { 1: 32, 2: 32, 3: 0 }, freezeMlp: true, streamLayers: true });
    expect(r.evals.length).toBe(3);
    for (const e of r.evals) if (e.type === 'eval') expect(Number.isFinite(e.studentNll) && Number.isFinite(e.teacherNll)).toBe(true);
    expect(await r.student.readF32('layers.0.mlp.up.weight')).toEqual(await r.teacher.source.read('layers.0.mlp.up.weight'));
  }, 300_000);
});
