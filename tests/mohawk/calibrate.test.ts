// The cost of a plan before its run (src/mohawk/calibrate.ts): the arithmetic that extrapolates a
// measurement to a plan's steps, the whole run's remaining time, and a measurement on the built-in
// teacher that leaves nothing behind and stops when cancelled.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nodeDirFileSet } from '../../src/io/files';
import { loadTeacher } from '../../src/models/teacher';
import { advisorWork, calibrate, CalibrationCancelled, covers, estimateCost, planShape, remainingSeconds, stageSeconds, type Calibration } from '../../src/mohawk/calibrate';
import { DEFAULT_PLAN, type DistillPlan } from '../../src/mohawk/plan';
import { TokenStream } from '../../src/mohawk/token-stream';
import { CORPUS_FILE, TEACHER_DIR } from '../helpers/data';
import { testGpu } from '../helpers/gpu';
import { Gpu } from '../../src/gpu/runtime';

// 32 tokens a step: 4, 2 and 3 steps.
const plan: DistillPlan = { ...DEFAULT_PLAN, seqLen: 16, batch: 2, tokens: { 1: 128, 2: 64, 3: 96 } };
// 4, 3 and 3 steps: every stage times two steps or more after its first.
const measured: DistillPlan = { ...plan, tokens: { 1: 128, 2: 96, 3: 96 } };

function synthetic(p: DistillPlan): Calibration {
  const st = (setupS: number, stepS: number, peakBytes: number, windowS = 0, window = 1) => ({ setupS, coldSetupS: setupS + 10, stepS, windowS, window, peakBytes, timedSteps: 3 });
  return {
    shape: planShape(p),
    stages: { 1: st(2, 0.5, 100), 2: st(3, 1, 300, 4, 2), 3: st(1, 2, 200) },
    prepareS: 0.5,
    evalS: 1.5,
    evaluation: { docs: 10, tokens: 256 },
    evalPeakBytes: 250,
    planBytes: 400,
    software: true,
    tookS: 9,
  };
}

describe('the cost estimate', () => {
  it('extrapolates each stage from its setup, its pace and its windows, and adds setup and evaluations', () => {
    const cal = synthetic(plan);
    // Stage 2 streams in windows of 2: its second window pays the window's cost again.
    expect(stageSeconds(cal.stages[2]!, 2)).toBe(3 + 1);
    expect(stageSeconds(cal.stages[2]!, 3)).toBe(3 + 2 * 1 + 4);
    expect(stageSeconds(cal.stages[1]!, 0)).toBe(0);
    // A new process builds the GPU programs again.
    expect(stageSeconds(cal.stages[1]!, 1, 'cold')).toBe(12);
    expect(estimateCost(cal, plan, 4, 'cold').totalSeconds - estimateCost(cal, plan, 4).totalSeconds).toBeCloseTo(30, 12);
    const e = estimateCost(cal, plan, 4);
    expect(e.stages).toEqual({ 1: { steps: 4, seconds: 2 + 3 * 0.5, peakBytes: 100 }, 2: { steps: 2, seconds: 4, peakBytes: 300 }, 3: { steps: 3, seconds: 1 + 2 * 2, peakBytes: 200 } });
    expect(e.evalSeconds).toBe(6);
    expect(e.totalSeconds).toBeCloseTo(0.5 + 3.5 + 4 + 5 + 6, 12);
    expect(e.peakBytes).toBe(300);
    // Budgets need no new measurement; shapes and unmeasured stages do.
    const more = { ...plan, tokens: { 1: 1280, 2: 64, 3: 96 } };
    expect(covers(cal, more)).toBe(true);
    expect(estimateCost(cal, more, 0).stages[1]!.seconds).toBe(2 + 39 * 0.5);
    expect(covers(cal, { ...plan, stages: [1, 3] })).toBe(true);
    expect(covers(cal, { ...plan, seqLen: 32 })).toBe(false);
    expect(covers(cal, { ...plan, attentionLayers: [1] })).toBe(false);
    expect(covers({ ...cal, stages: { 1: cal.stages[1] } }, plan)).toBe(false);
    expect(() => estimateCost(cal, { ...plan, batch: 4 }, 0)).toThrow(/another plan shape/);
  });

  it('counts the whole run that is left, scaling later stages by the pace this stage really runs at', () => {
    const cal = synthetic(plan);
    // Stage 1 at step 1 of 4, at half its measured pace (1 s a step, not 0.5): stages 2 and 3 are
    // expected to take twice their measured time too; an evaluation is left after each stage.
    expect(remainingSeconds(plan, { stage: 1, step: 1, stepS: 1 }, cal, 3, null)).toBeCloseTo(3 * 1 + 2 * (4 + 5) + 3 * 1.5, 12);
    // The run's own last evaluation time wins over the measured one.
    expect(remainingSeconds(plan, { stage: 3, step: 3, stepS: 2 }, cal, 1, 7)).toBe(7);
    // Without a measurement, only the last stage's remainder is known.
    expect(remainingSeconds(plan, { stage: 1, step: 1, stepS: 1 }, null, 0, null)).toBeNull();
    expect(remainingSeconds(plan, { stage: 3, step: 1, stepS: 2 }, null, 0, null)).toBe(4);
    expect(remainingSeconds(plan, { stage: 3, step: 1, stepS: 2 }, null, 1, null)).toBeNull();
    // A measurement of other shapes says nothing about the stages to come.
    expect(remainingSeconds(plan, { stage: 1, step: 1, stepS: 1 }, synthetic({ ...plan, seqLen: 8 }), 0, null)).toBeNull();
  });

  it("counts an auto:K plan's hybrid advisor before stage 3: its probes at stage 3's pace and its KL passes", () => {
    // 100 steps of stage 3 (32 tokens each), a teacher of 5 layers.
    const auto: DistillPlan = { ...plan, tokens: { 1: 128, 2: 64, 3: 100 * 32 }, attentionAuto: 2, advisorMethod: 'sets' };
    const cal = { ...synthetic(auto), layers: 5 };
    // sets: C(5, 2) = 10 sets, four probed, 3 steps each (4 at least); leave-one-out 2 + 5 passes, and 2 per candidate.
    expect(advisorWork(auto, 5)).toEqual({ probes: 4, stepsEach: 4, stages12: { 1: 0, 2: 0 }, forwards: 7 + 8 });
    // greedy: one probe of 24 steps; leave-one-out 7, round 1 (teacher, student, 5 layers) 7, round 2 (teacher, 4 layers) 5, candidates 5.
    expect(advisorWork({ ...auto, advisorMethod: 'greedy' }, 5)).toEqual({ probes: 1, stepsEach: 24, stages12: { 1: 0, 2: 0 }, forwards: 7 + 7 + 5 + 5 });
    // A teacher of 2 layers has 2 sets of 1; a stage 3 too short for probes: the score alone, the leave-one-out still.
    expect(advisorWork({ ...auto, attentionAuto: 1 }, 2)!.probes).toBe(2);
    expect(advisorWork({ ...auto, tokens: { 1: 128, 2: 64, 3: 63 * 32 } }, 5)).toEqual({ probes: 0, stepsEach: 0, stages12: { 1: 0, 2: 0 }, forwards: 7 });
    // Without stage 2 the residuals come from a probe of stages 1–2; without auto:K or stage 3, no advisor.
    expect(advisorWork({ ...auto, attentionAuto: null }, 5)).toBeNull();
    expect(advisorWork({ ...auto, stages: [1, 2] }, 5)).toBeNull();
    const e = estimateCost(cal, auto, 0);
    // Four probes of 4 steps, each from its setup (1 + 3 × 2), and 15 passes at half an evaluation (1.5 s) each.
    expect(e.advisor).toMatchObject({ probes: 4, seconds: 4 * 7 + 15 * 0.75, unmeasured: false });
    expect(e.totalSeconds - estimateCost({ ...cal, layers: undefined }, auto, 0).totalSeconds).toBeCloseTo(4 * 7 + 15 * 0.75, 12);
    // A plan of stage 3 alone probes stages 1–2, which the calibration (of stage 3) did not time.
    const only3: DistillPlan = { ...auto, stages: [3] };
    const c3 = { ...cal, shape: planShape(only3), stages: { 3: cal.stages[3] } };
    expect(estimateCost(c3, only3, 0).advisor).toMatchObject({ unmeasured: true, seconds: 4 * 7 + 15 * 0.75 });
    expect(estimateCost(c3, only3, 0).advisor!.stages12[2]).toBeGreaterThan(0);
    // The whole run's remaining time counts the advisor while it is to come, at the pace stage 1 runs (twice the measured).
    const at = { stage: 1 as const, step: 1, stepS: 1 };
    expect(remainingSeconds(auto, at, cal, 0, null, true)! - remainingSeconds(auto, at, cal, 0, null)!).toBeCloseTo(2 * (4 * 7 + 15 * 0.75), 12);
  });
});

/**
 * Labels of the buffers `gpu` makes from now on and has not destroyed. (Gpu.memory cannot tell: the
 * kernels' scratch buffers and the ops' uniforms are left to the garbage collector, never destroyed,
 * so they stay in its count.)
 */
function liveLabels(gpu: Awaited<ReturnType<typeof testGpu>>): () => string[] {
  const live = new Map<GPUBuffer, string>();
  const make = gpu.createBuffer.bind(gpu);
  gpu.createBuffer = (desc: GPUBufferDescriptor) => {
    const b = make(desc);
    live.set(b, desc.label ?? '');
    const destroy = b.destroy.bind(b);
    b.destroy = () => {
      live.delete(b);
      destroy();
    };
    return b;
  };
  return () => [...live.values()];
}

/** What a run owns (the student, its moments, a stage's own buffers, the teacher's weights): none may outlive a measurement. */
const OWNED = /^(student |adam |stage|streamed |teacher attention|student matrix|embed$|layers\.\d+\.[\w.]+\.(weight|bias)$|eval )/;

describe('measuring on the built-in teacher', () => {
  // A device of its own: the test files share one process and one device (vitest.config.ts), whose
  // programs earlier files have built, and a first setup here must build its own to be timed cold.
  let own: Promise<Gpu> | null = null;
  const setup = async () => {
    const gpu = await (own ??= Gpu.create());
    const teacher = await loadTeacher(gpu, await nodeDirFileSet(TEACHER_DIR), 'stories260K', undefined, { upload: false });
    const corpus = TokenStream.fromText(readFileSync(CORPUS_FILE, 'utf8').slice(0, 40_000), teacher.tokenizer, { maxDocs: 40 });
    return { gpu, teacher, corpus };
  };

  it('times a stage and an evaluation, and leaves no buffer, teacher upload or sampler step behind', async () => {
    const { gpu, teacher, corpus } = await setup();
    const twin = corpus.fresh();
    const made = liveLabels(gpu);
    const labels: string[] = [];
    // Stage 1 alone: the other stages are measured by the same code (and by tests/cli/estimate.test.ts).
    const cal = await calibrate(gpu, teacher, corpus, { ...measured, stages: [1] }, { evaluation: { docs: 2, tokens: 16 }, profile: 1, onProgress: (l) => labels.push(l) });
    expect(made().filter((l) => OWNED.test(l))).toEqual([]);
    expect(teacher.resident).toBe(false);
    expect(corpus.sample(2, 16)).toEqual(twin.sample(2, 16));
    expect(Object.keys(cal.stages)).toEqual(['1']);
    {
      const c = cal.stages[1]!;
      expect(c.setupS).toBeGreaterThan(0);
      // Building the stage's GPU programs is most of a first setup (SwiftShader compiles them on the CPU).
      expect(c.coldSetupS).toBeGreaterThan(c.setupS);
      expect(c.stepS).toBeGreaterThan(0);
      expect(c.timedSteps).toBeGreaterThanOrEqual(2);
      // The teacher, the student, its moments and the stage's buffers: more than the teacher alone.
      expect(c.peakBytes).toBeGreaterThan(teacher.summary.parameters * 4);
    }
    expect(cal.evalS).toBeGreaterThan(0);
    expect(cal.evalPeakBytes).toBeGreaterThan(teacher.summary.parameters * 4);
    expect(cal.software).toBe(gpu.info.software);
    // The teacher's layers, which an auto:K plan's advisor cost counts by.
    expect(cal.layers).toBe(5);
    expect(labels).toContain('measuring stage 1: step 2 of 4');
    // One more step with every op timed: where stage 1's GPU time goes (SwiftShader has timestamp-query).
    expect(gpu.info.timestamps).toBe(true);
    const ops = cal.profile?.[1] ?? [];
    expect(ops.length).toBeGreaterThan(5);
    // SwiftShader's stamps may all read 0 (passes shorter than its resolution): shares then are 0 too.
    expect(ops.reduce((a, o) => a + o.share, 0)).toBeCloseTo(ops.some((o) => o.ms > 0) ? 1 : 0, 6);
    expect(ops.every((o, i) => o.count >= 1 && o.ms >= 0 && (i === 0 || ops[i - 1]!.ms >= o.ms))).toBe(true);
    expect(ops.map((o) => o.label).join(' ')).toMatch(/matmul/);
    expect(labels).toContain('profiling stage 1');
    expect(labels.at(-1)).toBe('measured');
    const e = estimateCost(cal, { ...measured, stages: [1] }, 2);
    expect(e.totalSeconds).toBeGreaterThan(e.stages[1]!.seconds);
  }, 600_000);

  it('measures a streamed stage window by window', async () => {
    const { gpu, teacher, corpus } = await setup();
    // Stage 1's kernels are built by now: streaming it adds few.
    const streamed = { ...measured, stages: [1], streamLayers: true, tokens: { ...measured.tokens, 1: 320 } } satisfies DistillPlan;
    const cal = await calibrate(gpu, teacher, corpus, streamed, { evaluation: null });
    const c = cal.stages[1]!;
    // Windows of 32 steps here (tiny residual streams): the lone step 2 and the group of 2..8 tell the window's cost apart.
    expect(c.window).toBe(32);
    expect(c.timedSteps).toBeGreaterThanOrEqual(3);
    expect(c.stepS + c.windowS).toBeGreaterThan(0);
    expect(cal.evalS).toBeNull();
    expect(teacher.resident).toBe(false);
  }, 600_000);

  it('stops at a step boundary when cancelled, releasing what it made', async () => {
    const { gpu, teacher, corpus } = await setup();
    await teacher.upload();
    const made = liveLabels(gpu);
    const abort = new AbortController();
    const labels: string[] = [];
    const measuring = calibrate(gpu, teacher, corpus, { ...measured, stages: [1, 2] }, {
      evaluation: { docs: 2, tokens: 16 },
      signal: abort.signal,
      onProgress: (l) => {
        labels.push(l);
        if (l.startsWith('measuring stage 1: step 2')) abort.abort();
      },
    });
    await expect(measuring).rejects.toBeInstanceOf(CalibrationCancelled);
    expect(labels.some((l) => l.startsWith('measuring stage 2'))).toBe(false);
    expect(made().filter((l) => OWNED.test(l))).toEqual([]);
    // It was on the GPU before, so it still is.
    expect(teacher.resident).toBe(true);
    teacher.evict();
  }, 600_000);
});
