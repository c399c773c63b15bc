// A GPU device lost in the middle of a stage: the run stops with an error that says so (it does not
// hang), the last checkpoint is intact, and a new device resumes from it to the student an
// uninterrupted run reaches.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Gpu } from '../../src/gpu/runtime';
import { nodeDirFileSet } from '../../src/io/files';
import { loadTeacher } from '../../src/models/teacher';
import { loadCheckpoint, memoryStore, readFloats, saveCheckpoint } from '../../src/mohawk/checkpoint';
import { Distiller, type ResumePoint } from '../../src/mohawk/distiller';
import { DEFAULT_PLAN } from '../../src/mohawk/plan';
import { TokenStream } from '../../src/mohawk/token-stream';
import type { DistillPlan } from '../../src/mohawk/plan';
import { CORPUS_FILE, TEACHER_DIR } from '../helpers/data';
import { relErr, testGpu } from '../helpers/gpu';

const text = readFileSync(CORPUS_FILE, 'utf8').slice(0, 100_000);
const plan: DistillPlan = { ...DEFAULT_PLAN, stages: [2], tokens: { 1: 0, 2: 16 * 2 * 6, 3: 0 }, seqLen: 16, batch: 2, lr: { 1: 1e-3, 2: 3e-3, 3: 1e-3 } };

async function distiller(gpu: Gpu, streamLayers: boolean) {
  const teacher = await loadTeacher(gpu, await nodeDirFileSet(TEACHER_DIR), 'stories260K');
  const corpus = TokenStream.fromText(text, teacher.tokenizer, { maxDocs: 100 });
  return Distiller.create(gpu, teacher, { ...plan, streamLayers }, corpus);
}

describe('device lost mid-stage', () => {
  it.each([false, true])('stops with a message, keeps the checkpoint, and a new device resumes from it (layers streamed: %s)', async (streamed) => {
    const whole = await distiller(await testGpu(), streamed);
    await whole.run();
    const expected = await readFloats(whole.snapshot().params);
    whole.release();

    const gpu = await Gpu.create();
    const d = await distiller(gpu, streamed);
    const store = memoryStore();
    let saved: ResumePoint | null = null;
    const run = d.run(
      {
        save: async (stage, step) => {
          // Read whole before the save starts, so that the device lost mid-read leaves the last checkpoint whole.
          const s = d.snapshot();
          const [params, m, v] = [await readFloats(s.params), await readFloats(s.m), await readFloats(s.v)];
          await saveCheckpoint(store, { params, m, v, paramShapes: s.paramShapes, state: { stage, step } });
          saved = { stage, step };
        },
        step: (r) => {
          if (r.step === 3) gpu.device.destroy();
        },
      },
      { saveEveryS: 0 },
    );
    await expect(run).rejects.toThrow(/GPU device was lost|released|destroyed/);
    expect(gpu.deviceLost).toBe(true);
    expect(saved).not.toBeNull();
    expect(saved!.step).toBeGreaterThanOrEqual(2);
    expect(saved!.step).toBeLessThan(6);

    const ck = await loadCheckpoint(store);
    const again = await distiller(await testGpu(), streamed);
    await again.restore(ck!);
    const at = ck!.state.step as number;
    // As `mohawk distill --resume` does: the sampler goes on where the lost run's checkpoint was.
    for (let i = 0; i < at; i++) again.corpus.sample(plan.batch * plan.accumulate, plan.seqLen);
    await again.run({}, {}, { stage: 2, step: at });
    const got = await readFloats(again.snapshot().params);
    expect(relErr(got, expected)).toBeLessThan(1e-5);
    expect(relErr(ck!.params, expected)).toBeGreaterThan(1e-4);
    again.release();
  }, 300_000);
});
