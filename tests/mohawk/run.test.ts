// The run driver (src/mohawk/run.ts) that the page's worker and `mohawk distill` both wrap: a run
// stopped mid-stage keeps a checkpoint, and resuming it the page's way (the checkpoint's own plan) and
// the command line's way (the same plan given again) both reach the student of an uninterrupted run.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { memoryFileSet, nodeDirFileSet, type FileSet } from '../../src/io/files';
import { loadTeacher } from '../../src/models/teacher';
import { memoryStore, readFloats, type CheckpointStore } from '../../src/mohawk/checkpoint';
import { DEFAULT_PLAN, type DistillPlan } from '../../src/mohawk/plan';
import { Run, peekRunState, type RunEvent } from '../../src/mohawk/run';
import { planShape, type Calibration } from '../../src/mohawk/calibrate';
import { TokenStream } from '../../src/mohawk/token-stream';
import { wsd } from '../../src/mohawk/stages';
import { CORPUS_FILE, TEACHER_DIR } from '../helpers/data';
import { relErr, testGpu } from '../helpers/gpu';

const text = readFileSync(CORPUS_FILE, 'utf8').slice(0, 40_000);
const plan: DistillPlan = { ...DEFAULT_PLAN, stages: [1, 2], tokens: { 1: 16 * 2, 2: 16 * 2 * 3, 3: 0 }, seqLen: 16, batch: 2, lr: { 1: 1e-3, 2: 3e-3, 3: 1e-3 } };

async function setup(store: CheckpointStore, p: DistillPlan | null, resume: boolean, onEvent: (e: RunEvent) => void = () => {}, files?: FileSet, saveEveryS = 0) {
  const gpu = await testGpu();
  const teacherFiles = files ?? (await nodeDirFileSet(TEACHER_DIR));
  const teacher = await loadTeacher(gpu, teacherFiles, 'stories260K', undefined, { upload: false });
  const corpus = TokenStream.fromText(text, teacher.tokenizer, { maxDocs: 40 });
  return Run.prepare({
    gpu, teacher, teacherFiles, teacherName: 'stories260K', corpus, corpusName: 'tinystories', docs: 40, heldOut: 0.1,
    plan: p, store, resume, saveEveryS, evaluation: { docs: 2, tokens: 32, atStageEnds: false }, tool: 'test', onEvent,
  });
}

/** A store holding the checkpoint of a run stopped at step 1 of `stage` (the step in flight then may finish too). */
async function stoppedIn(stage: 1 | 2): Promise<CheckpointStore> {
  const store = memoryStore();
  let run: Run | null = null;
  run = await setup(store, plan, false, (e) => {
    if (e.type === 'step' && e.stage === stage && e.step === 1) run!.stop();
  });
  expect(await run.train()).toBe('stopped');
  run.release();
  return store;
}

const paramsOf = async (run: Run) => readFloats(run.distiller.snapshot().params);

describe('one run driver', () => {
  it('stops with a checkpoint, and resumes with the checkpoint\'s plan (page) or the same plan (CLI) to the uninterrupted student', async () => {
    const whole = await setup(memoryStore(), plan, false);
    expect(await whole.train()).toBe('finished');
    const expected = await paramsOf(whole);
    whole.release();

    for (const p of [null, plan]) {
      const store = await stoppedIn(2);
      const saved = (await peekRunState(store))!;
      expect(saved).toMatchObject({ stage: 2, stageDone: false, done: false, tokensDone: { 1: 32, 2: saved.step! * 32 } });
      expect(saved.step).toBeGreaterThanOrEqual(1);
      expect(saved.step).toBeLessThan(3);
      const events: RunEvent[] = [];
      const again = await setup(store, p, true, (e) => events.push(e));
      expect(again.plan).toEqual(plan);
      // The resumed run keeps the name (and start) its files carry.
      expect(saved.name).toMatch(/^stories260K-mohawk-student-\d{8}-\d{4}$/);
      expect(again.name).toBe(saved.name);
      expect(again.from).toEqual({ stage: 2, step: saved.step });
      expect([...again.completed]).toEqual([1]);
      expect(await again.train()).toBe('finished');
      const stepEvents = events.filter((e) => e.type === 'step') as Extract<RunEvent, { type: 'step' }>[];
      expect(stepEvents.map((e) => e.step)).toEqual([2, 3].slice(saved.step! - 1));
      // Each step reports the learning rate it trained with: the stage's on the warmup-stable-decay schedule.
      for (const e of stepEvents) expect(e.lr).toBeCloseTo(plan.lr[2] * wsd(e.step, 3, plan.warmup, plan.decay), 12);
      // The stage's clock goes on from the earlier session's.
      expect(saved.stageElapsedS).toBeGreaterThan(0);
      if (stepEvents.length) expect(stepEvents[0]!.elapsedS).toBeGreaterThan(saved.stageElapsedS!);
      expect(relErr(await paramsOf(again), expected)).toBeLessThan(1e-5);
      again.release();
    }
  }, 600_000);

  it('pauses at a step boundary: no step reports while it is paused', async () => {
    const log: string[] = [];
    let run: Run | null = null;
    run = await setup(memoryStore(), { ...plan, stages: [2] }, false, (e) => {
      if (e.type === 'step') {
        log.push(`step ${e.step}`);
        if (e.step === 1) run!.pause();
      } else if (e.type === 'paused') {
        log.push(e.paused ? 'paused' : 'resumed');
        if (e.paused) setTimeout(() => run!.resume(), 50);
      }
    }, undefined, 1e6);
    expect(await run.train()).toBe('finished');
    run.release();
    // Step 2 was in flight when Pause came (at step 1's report): it reports before "paused", and
    // nothing lands between "paused" and "resumed".
    expect(log).toEqual(['step 1', 'step 2', 'paused', 'resumed', 'step 3']);
  }, 300_000);

  it('does not take up again a stage that was skipped before the checkpoint', async () => {
    const store = memoryStore();
    const twoStages: DistillPlan = { ...plan, tokens: { 1: 16 * 2 * 3, 2: 16 * 2, 3: 0 } };
    let run: Run | null = null;
    run = await setup(store, twoStages, false, (e) => {
      if (e.type === 'step' && e.stage === 1 && e.step === 1) run!.skip();
      if (e.type === 'stage' && e.state === 'skipped') run!.stop();
    });
    expect(await run.train()).toBe('stopped');
    run.release();
    expect(await peekRunState(store)).toMatchObject({ stage: 1, stageDone: true });
    const steps: string[] = [];
    const again = await setup(store, null, true, (e) => {
      if (e.type === 'step') steps.push(`${e.stage}:${e.step}`);
    });
    expect([...again.completed]).toEqual([1]);
    expect(await again.train()).toBe('finished');
    again.release();
    expect(steps).toEqual(['2:1']);
  }, 300_000);

  it('refuses to resume another plan or another teacher, naming what differs', async () => {
    const store = await stoppedIn(1);
    await expect(setup(store, { ...plan, seqLen: 32 }, true)).rejects.toThrow(/sequence length \(seqLen\): the checkpoint has 16, this run asks for 32/);
    const other = await nodeDirFileSet(TEACHER_DIR);
    const files: Record<string, Uint8Array> = {};
    for (const n of other.names) {
      const src = await other.source(n);
      files[n] = await src.read(0, src.size);
    }
    const cfg = JSON.parse(new TextDecoder().decode(files['config.json']));
    files['config.json'] = new TextEncoder().encode(JSON.stringify({ ...cfg, rms_norm_eps: 1e-6 }));
    await expect(setup(store, null, true, undefined, memoryFileSet(files))).rejects.toThrow(/the checkpoint was made with another teacher/);
  }, 300_000);

  it('skips at the next step boundary, reporting the end of the stage before its checkpoint and evaluation, with the time the whole run has left', async () => {
    const gpu = await testGpu();
    const teacherFiles = await nodeDirFileSet(TEACHER_DIR);
    const teacher = await loadTeacher(gpu, teacherFiles, 'stories260K', undefined, { upload: false });
    const corpus = TokenStream.fromText(text, teacher.tokenizer, { maxDocs: 40 });
    const p: DistillPlan = { ...plan, tokens: { 1: 32 * 3, 2: 32 * 4, 3: 0 } };
    const evaluation = { docs: 2, tokens: 32, atStageEnds: true };
    // A measurement of these shapes (its numbers made up: only how the run counts them matters here).
    const stage = { setupS: 5, coldSetupS: 9, stepS: 1, windowS: 0, window: 1, peakBytes: 1, timedSteps: 2 };
    const calibration: Calibration = {
      shape: planShape(p), stages: { 1: stage, 2: stage }, prepareS: 0, evalS: 3, evaluation, evalPeakBytes: 1, planBytes: 1, software: true, tookS: 1,
    };
    const log: string[] = [];
    const eta: { stage: number; etaS: number | null; runEtaS: number | null }[] = [];
    let run: Run | null = null;
    run = await Run.prepare({
      gpu, teacher, teacherFiles, teacherName: 'stories260K', corpus, corpusName: 'tinystories', docs: 40, heldOut: 0.1,
      plan: p, store: memoryStore(), resume: false, saveEveryS: 1e6, evaluation, tool: 'test', calibration,
      onEvent: (e) => {
        if (e.type === 'step') {
          log.push(`step ${e.stage}.${e.step}`);
          eta.push({ stage: e.stage, etaS: e.etaS, runEtaS: e.runEtaS });
          if (e.stage === 2 && e.step === 1) run!.skip();
        } else if (e.type === 'stage' || e.type === 'checkpoint' || e.type === 'eval') log.push(`${e.type} ${e.stage}${e.type === 'stage' ? ` ${e.state}` : ''}`);
      },
    });
    expect(await run.train()).toBe('finished');
    run.release();
    // Step 2 was in flight when Skip came (at step 1's report): it reports, and the stage ends there.
    expect(log.slice(log.indexOf('stage 2 started'))).toEqual(['stage 2 started', 'step 2.1', 'step 2.2', 'stage 2 skipped', 'checkpoint 2', 'eval 2']);
    // In stage 1, what is left of the run holds stage 2 and the evaluations after both stages.
    const s1 = eta.filter((x) => x.stage === 1);
    expect(s1.length).toBe(3);
    for (const x of s1) expect(x.runEtaS!).toBeGreaterThan(x.etaS!);
    expect(eta.at(-1)!.runEtaS).toBeGreaterThan(0);
  }, 600_000);
});
