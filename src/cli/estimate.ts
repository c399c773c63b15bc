// `mohawk distill --estimate`: what the plan costs on this adapter, measured (src/mohawk/calibrate.ts)
// and printed per stage; nothing is trained or written. With --json the last stdout line is
// {"stages":{"1":{"steps","seconds","peakBytes"},…},"totalSeconds","peakBytes","diskBytes":{"checkpoint","saving","export"}},
// and for an auto:K plan "advisor":{"probes","stepsEach","stages12","forwards","seconds"} (its work before stage 3, in totalSeconds),
// and with --profile also "profile":{"1":[{"label","ms","count","share"},…],…} (every op label; ms
// summed over PROFILE_STEPS steps).
import type { Gpu } from '../gpu/runtime';
import type { LoadedTeacher } from '../models/teacher';
import { calibrate, CalibrationCancelled, costStages, estimateCost } from '../mohawk/calibrate';
import { runDiskBytes } from '../mohawk/disk-room';
import { STAGE_NAMES, type DistillPlan } from '../mohawk/plan';
import type { TokenStream } from '../mohawk/token-stream';
import { bytes, count, roughDuration } from '../util/format';

export interface EstimateArgs {
  gpu: Gpu;
  teacher: LoadedTeacher;
  corpus: TokenStream;
  /** Checked by validatePlan already. */
  plan: DistillPlan;
  /** The final held-out evaluation the run makes. */
  evaluation: { docs: number; tokens: number };
  json: boolean;
  /** Time every GPU op of PROFILE_STEPS more steps per stage and print where the time goes. */
  profile?: boolean;
}

/** Steps per stage timed op by op with --profile. */
export const PROFILE_STEPS = 3;
/** Op labels printed per stage with --profile (the JSON has them all). */
const PROFILE_ROWS = 12;

/** Measures and prints; the exit status (130 when a signal cancelled it). */
export async function printEstimate(a: EstimateArgs): Promise<number> {
  const { gpu, plan, json } = a;
  const say = json ? (l: string) => console.error(l) : (l: string) => console.log(l);
  const tty = process.stderr.isTTY;
  const adapter = [gpu.info.vendor, gpu.info.architecture].filter(Boolean).join(' · ');
  if (gpu.info.software) console.error(`warning: ${adapter || 'this adapter'} is a CPU adapter (the GPU emulated on the processor): a GPU runs the same plan hundreds of times faster`);
  // A signal ends the measurement at the next step boundary, with its buffers released.
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let cal;
  try {
    cal = await calibrate(gpu, a.teacher, a.corpus, plan, {
      evaluation: a.evaluation,
      signal: abort.signal,
      ...(a.profile ? { profile: PROFILE_STEPS } : {}),
      onProgress: (label) => {
        if (tty) process.stderr.write(`\r${label}…\x1b[K`);
      },
    });
  } catch (e) {
    if (e instanceof CalibrationCancelled) {
      if (tty) process.stderr.write('\r\x1b[K');
      console.error(`mohawk distill: ${e.message}`);
      return 130;
    }
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (tty) process.stderr.write('\r\x1b[K');
  // A run of `mohawk distill` evaluates once, after the last stage, and builds its GPU programs anew.
  const e = estimateCost(cal, plan, cal.evalS === null ? 0 : 1, 'cold');
  say(`estimate for this plan on ${adapter || 'this adapter'}, from ${roughDuration(cal.tookS)} of measuring:`);
  for (const s of costStages(e)) {
    const st = e.stages[s]!;
    const c = cal.stages[s]!;
    const pace = c.windowS > 0 ? `${roughDuration(c.stepS)} a step and ${roughDuration(c.windowS)} a window of ${c.window}` : `${roughDuration(c.stepS)} a step`;
    say(`  stage ${s} (${STAGE_NAMES[s]}): ${count(st.steps)} steps, about ${roughDuration(st.seconds)} (first step ${roughDuration(c.coldSetupS)} with its setup, then ${pace}); GPU memory at most ${bytes(st.peakBytes)}`);
  }
  const adv = e.advisor;
  if (adv) {
    const probes = adv.probes === 0
      ? 'no stage-3 probe (it would take more than a quarter of stage 3: the score chooses)'
      : plan.advisorMethod === 'greedy'
        ? `one stage-3 probe of ${count(adv.stepsEach)} steps with every layer a mixer`
        : `up to ${adv.probes} stage-3 probes of ${count(adv.stepsEach)} steps, one per candidate set`;
    const p12 = adv.stages12[1] + adv.stages12[2] > 0 ? `, a probe of stages 1-2 (${count(adv.stages12[1])} + ${count(adv.stages12[2])} steps)` : '';
    const left = adv.unmeasured ? ' (the stages 1-2 probe not counted: the plan runs neither stage, so neither was timed)' : '';
    say(`  hybrid advisor before stage 3 (auto:${plan.attentionAuto}, ${plan.advisorMethod ?? 'sets'}): ${probes}${p12}, ${count(adv.forwards)} model passes over the held-out documents: about ${roughDuration(adv.seconds)}${left}`);
  }
  say(`  setup (teacher upload, student): ${roughDuration(e.setupSeconds)}`);
  if (cal.evaluation) say(`  held-out evaluation (${cal.evaluation.docs} documents of at most ${cal.evaluation.tokens} tokens): about ${roughDuration(e.evalSeconds)}; GPU memory at most ${bytes(cal.evalPeakBytes)}`);
  say(`  in all: about ${roughDuration(e.totalSeconds)}; GPU memory at most ${bytes(e.peakBytes)} (the plan's own upper estimate: ${bytes(e.planBytes)})`);
  const disk = runDiskBytes(a.teacher.config, plan);
  say(`  on the disk of --out: each checkpoint ${bytes(disk.checkpoint)} (${bytes(disk.saving)} while a save replaces the last), the exported student ${bytes(disk.export)}`);
  if (a.profile && !cal.profile) say(`  no profile: ${adapter || 'this adapter'} offers no timestamp-query`);
  for (const s of costStages(e)) {
    const ops = cal.profile?.[s];
    if (!ops) continue;
    const total = ops.reduce((x, o) => x + o.ms, 0);
    say(`  stage ${s}, GPU time by kernel over ${PROFILE_STEPS} steps (each op in a pass of its own: ${total.toFixed(1)} ms in all):`);
    for (const o of ops.slice(0, PROFILE_ROWS)) say(`    ${(o.share * 100).toFixed(1).padStart(5)}%  ${o.ms.toFixed(2).padStart(9)} ms  ${String(o.count).padStart(6)}×  ${o.label}`);
    if (ops.length > PROFILE_ROWS) say(`    ${(ops.slice(PROFILE_ROWS).reduce((x, o) => x + o.share, 0) * 100).toFixed(1).padStart(5)}%  in ${ops.length - PROFILE_ROWS} other kernels`);
  }
  if (json) {
    const stages = Object.fromEntries(costStages(e).map((s) => [s, { steps: e.stages[s]!.steps, seconds: e.stages[s]!.seconds, peakBytes: e.stages[s]!.peakBytes }]));
    const profile = cal.profile ? { profile: cal.profile } : {};
    const advisor = adv ? { advisor: { probes: adv.probes, stepsEach: adv.stepsEach, stages12: adv.stages12, forwards: adv.forwards, seconds: adv.seconds } } : {};
    console.log(JSON.stringify({ stages, ...advisor, totalSeconds: e.totalSeconds, peakBytes: e.peakBytes, diskBytes: disk, ...profile }));
  }
  return 0;
}
