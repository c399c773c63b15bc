// The hybrid advisor's stage-3 probe: scores measured after stage 2 miss what stage 3's end-to-end
// training goes on to repair (hybrid-advisor.ts, top), so the advisor puts a few candidate sets of K
// attention layers (candidateSets) to a short stage 3 each and keeps the one whose student ends closest
// to the teacher on held-out documents. Each candidate trains a throwaway copy of the stage-2 student,
// re-laid out with its layers as the teacher's attention, on the same batches (a fresh sampler on the
// plan's seed), one copy on the GPU at a time while the run's own student waits on the host.
import type { Gpu } from '../gpu/runtime';
import { meanKl } from '../models/evaluate';
import { restoredModel, studentKl } from './advisor-evidence';
import { Distiller } from './distiller';
import { candidateSets, PROBE3_SHARE, WARM_SHARE, type AdvisorEvidence, type LayerCandidate, type ProbedCandidate, type WarmMeasure } from './hybrid-advisor';
import { stepsPerStage, tokensPerStep, type DistillPlan } from './plan';

export { PROBE3_SHARE, WARM_SHARE };

/** Each probe trains at least this many steps (never more than the plan's stage 3): a step or two says little past the warmup. */
export const PROBE3_MIN_STEPS = 4;

/** The plan's stage-3 steps (0 without stage 3). */
const stage3Steps = (plan: DistillPlan) => (plan.stages.includes(3) ? stepsPerStage(plan)[3] : 0);

/** A short stage 3 of `plan` alone: `share` of its steps, `min` at least, the plan's at most (one at least). */
function shortStage3(plan: DistillPlan, share: number, min: number): DistillPlan {
  const steps3 = stage3Steps(plan);
  const steps = Math.max(1, Math.min(steps3, Math.max(min, Math.round(share * steps3))));
  return { ...plan, stages: [3], tokens: { 1: 0, 2: 0, 3: steps * tokensPerStep(plan) }, attentionAuto: null };
}

/** Whether `steps` of probing are within PROBE3_MAX_SHARE of `plan`'s stage 3. */
function withinShare(plan: DistillPlan, steps: number): { ok: boolean; steps: number; of: number } {
  const of = stage3Steps(plan);
  return { ok: steps <= PROBE3_MAX_SHARE * of, steps, of };
}

/** The plan of one candidate's probe of `plan`: stage 3 alone, PROBE3_SHARE of its steps (PROBE3_MIN_STEPS at least, the plan's at most). */
export function probe3Plan(plan: DistillPlan): DistillPlan {
  return shortStage3(plan, PROBE3_SHARE, PROBE3_MIN_STEPS);
}

/**
 * The probes may take at most this share of the plan's stage 3 in all: past it (a short stage 3, where
 * PROBE3_MIN_STEPS per candidate is most of it) the advisor chooses by its score alone and says so.
 */
export const PROBE3_MAX_SHARE = 0.25;

/** Whether probing `candidates` sets is worth it for `plan`: their steps together within PROBE3_MAX_SHARE of its stage 3. */
export function probesAffordable(plan: DistillPlan, candidates: number): { ok: boolean; steps: number; of: number } {
  const w = withinShare(plan, candidates * stepsPerStage(probe3Plan(plan))[3]);
  return { ...w, ok: candidates > 1 && w.ok };
}

export interface CandidateProbeOptions {
  /** Held-out documents (token ids) the probes' KLs are measured on: the advisor's own. */
  docs: number[][];
  stop?: () => boolean;
  onProgress?(label: string, done: number, total: number): void;
}

/**
 * `evidence` with the candidate sets of `k` layers probed (its `candidates`, `probe3Tokens`, and
 * `probeTokens` counting them), or null when `stop` ended the probes. `d`'s student (a pure-mixer
 * student after stages 1–2) goes to the host and comes out of the probes as it went in.
 */
export async function probeCandidates(gpu: Gpu, d: Distiller, evidence: AdvisorEvidence, k: number, o: CandidateProbeOptions): Promise<AdvisorEvidence | null> {
  const sets = candidateSets(evidence, k);
  const probed = await probeSets(gpu, d, sets, o);
  if (!probed) return null;
  const plan = probe3Plan(d.plan);
  const probe3Tokens = sets.length * stepsPerStage(plan)[3] * tokensPerStep(plan);
  return { ...evidence, candidates: probed, probe3Tokens, probeTokens: evidence.probeTokens + probe3Tokens };
}

/** Each set's probe KL (null where not finite) in the order given, or null when `stop` ended the probes; `d` as probeCandidates leaves it. */
export async function probeSets(gpu: Gpu, d: Distiller, sets: readonly LayerCandidate[], o: CandidateProbeOptions): Promise<ProbedCandidate[] | null> {
  const progress = o.onProgress ?? (() => {});
  const plan = probe3Plan(d.plan);
  await d.park();
  // Readers of the parked student (host memory or scratch file): each probe copies it onto its GPU student.
  const start = d.snapshot();
  const probed: ProbedCandidate[] = [];
  for (const [i, c] of sets.entries()) {
    if (o.stop?.()) return null;
    const label = `hybrid advisor: probing candidate ${i + 1} of ${sets.length} with stage 3 (layers ${c.layers.join(', ')})`;
    // A fresh sampler on the plan's seed: every candidate trains on the same batches.
    const probe = await Distiller.create(gpu, d.teacher, plan, d.corpus.fresh());
    try {
      await probe.restore(start);
      await probe.adoptAttentionLayers(c.layers);
      await probe.run(
        {
          step: (r) => progress(label, r.step, r.steps),
          waiting: (_s, have, need) => progress(`${label}: waiting for its tokens`, have, need),
        },
        { stop: o.stop },
      );
      if (o.stop?.()) return null;
      const kl = await studentKl(gpu, probe, o.docs, (done, total) => progress(`hybrid advisor: held-out KL of candidate ${i + 1} of ${sets.length}`, done, total));
      probed.push({ layers: [...c.layers], source: c.source, probeKl: Number.isFinite(kl.kl) ? kl.kl : null });
    } finally {
      await probe.release();
    }
  }
  return probed;
}

// The warm probe, after Li et al., "Distilling to Hybrid Attention Models via KL-Guided Layer
// Selection" (ICLR 2026): a layer's worth is measured on a student that end-to-end training has
// already worked on, not on the stage-2 student, whose early layers' errors compound through every
// later one (so restoring layer 0 always looked best there) and which stage 3 then repairs. A copy of
// the stage-2 student, every layer still a mixer, trains WARM_SHARE of the plan's stage 3; then layers
// are restored to the teacher's attention greedily, each round the one whose restoration lowers that
// student's held-out KL the most. Restoring costs evaluations only, so the candidate sets the scores
// propose are measured on the same student too, and the lowest KL of them all is kept.

/** The warm probe trains at least this many steps (never more than the plan's stage 3). */
export const WARM_MIN_STEPS = 8;

/** The plan of the warm probe of `plan`: stage 3 alone, every layer a mixer, WARM_SHARE of its steps (WARM_MIN_STEPS at least, the plan's at most). */
export function warmPlan(plan: DistillPlan): DistillPlan {
  return { ...shortStage3(plan, WARM_SHARE, WARM_MIN_STEPS), attentionLayers: [] };
}

/** Whether the warm probe is worth it for `plan`: its steps within PROBE3_MAX_SHARE of its stage 3. */
export function warmAffordable(plan: DistillPlan): { ok: boolean; steps: number; of: number } {
  return withinShare(plan, stepsPerStage(warmPlan(plan))[3]);
}

/**
 * The greedy choice of `k` layers from rounds of KLs: each round the layer of the lowest KL when it is
 * restored beside those chosen before (ties to the lower layer). `round(chosen)` gives, per layer not in
 * `chosen`, the KL with `chosen` and that layer restored. Pure: the unit tests hold it to hand-worked rounds.
 */
export async function greedyLayers(layers: number, k: number, round: (chosen: readonly number[], rest: readonly number[]) => Promise<number[]>): Promise<{ layers: number[]; kl: number } | null> {
  const chosen: number[] = [];
  let kl = Infinity;
  for (let i = 0; i < k; i++) {
    const rest = [...Array(layers).keys()].filter((l) => !chosen.includes(l));
    const kls = await round(chosen, rest);
    let best = -1;
    rest.forEach((l, j) => {
      if (Number.isFinite(kls[j]!) && (best < 0 || kls[j]! < kls[best]!)) best = j;
    });
    if (best < 0) return null;
    chosen.push(rest[best]!);
    kl = kls[best]!;
  }
  return { layers: chosen.sort((a, b) => a - b), kl };
}

/**
 * `evidence` with its candidates measured by the warm probe: the greedy set first, then the score's
 * sets (candidateSets) not already listed, each with the held-out KL of the warm student with that set
 * restored (its `probeKl`); `warm` holds the probe's leave-one-out KLs. Null when `stop` ended it. `d`'s
 * student goes to the host and comes out as it went in.
 */
export async function warmProbeCandidates(gpu: Gpu, d: Distiller, evidence: AdvisorEvidence, k: number, o: CandidateProbeOptions): Promise<AdvisorEvidence | null> {
  const progress = o.onProgress ?? (() => {});
  const plan = warmPlan(d.plan);
  await d.park();
  const probe = await Distiller.create(gpu, d.teacher, plan, d.corpus.fresh());
  try {
    await probe.restore(d.snapshot());
    const label = 'hybrid advisor: a short stage 3 with every layer a mixer';
    await probe.run(
      {
        step: (r) => progress(label, r.step, r.steps),
        waiting: (_s, have, need) => progress(`${label}: waiting for its tokens`, have, need),
      },
      { stop: o.stop },
    );
    if (o.stop?.()) return null;
    await probe.resident();
    const teacher = { config: d.teacher.config, weights: d.teacher.weights };
    const n = d.teacher.config.layers;
    // KL of the warm student with each set restored (the first set: none).
    const kls = async (sets: readonly (readonly number[])[], what: string) =>
      (await meanKl(gpu, teacher, sets.length, (i) => restoredModel(gpu, teacher, probe.spec, probe.student, sets[i]!), o.docs, (done, total) => progress(`hybrid advisor: held-out KL ${what}`, done, total))).meanKl;
    // The first round is the leave-one-out of the warm student, kept for the record.
    const first: { warm?: WarmMeasure } = {};
    const greedy = await greedyLayers(n, k, async (chosen, rest) => {
      if (o.stop?.()) return rest.map(() => NaN);
      const sets = rest.map((l) => [...chosen, l]);
      if (chosen.length > 0) return kls(sets, `with each layer restored beside ${chosen.join(', ')}`);
      // The first round measures the warm student as it is too.
      const r = await kls([[], ...sets], 'with each layer restored');
      const looKl = Array.from({ length: n }, () => r[0]!);
      rest.forEach((l, j) => (looKl[l] = r[j + 1]!));
      first.warm = { baseKl: r[0]!, looKl, tokens: stepsPerStage(plan)[3] * tokensPerStep(plan) };
      return r.slice(1);
    });
    const w = first.warm;
    if (o.stop?.() || !greedy || !w) return null;
    const others = candidateSets(evidence, k).filter((c) => c.layers.join() !== greedy.layers.join());
    const otherKl = others.length > 0 ? await kls(others.map((c) => c.layers), 'of the proposed layer sets') : [];
    const candidates: ProbedCandidate[] = [
      { layers: greedy.layers, source: 'greedy', probeKl: greedy.kl },
      ...others.map((c, i) => ({ ...c, probeKl: Number.isFinite(otherKl[i]!) ? otherKl[i]! : null })),
    ];
    return { ...evidence, candidates, warm: w, probe3Tokens: w.tokens, probeTokens: evidence.probeTokens + w.tokens };
  } finally {
    await probe.release();
  }
}
