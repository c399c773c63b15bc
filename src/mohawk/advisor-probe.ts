// The hybrid advisor's stage-3 probe: scores measured after stage 2 miss what stage 3's end-to-end
// training goes on to repair (hybrid-advisor.ts, top), so the advisor puts a few candidate sets of K
// attention layers (candidateSets) to a short stage 3 each and keeps the one whose student ends closest
// to the teacher on held-out documents. Each candidate trains a throwaway copy of the stage-2 student,
// re-laid out with its layers as the teacher's attention, on the same batches (a fresh sampler on the
// plan's seed), one copy on the GPU at a time while the run's own student waits on the host.
import type { Gpu } from '../gpu/runtime';
import { studentKl } from './advisor-evidence';
import { Distiller } from './distiller';
import { candidateSets, type AdvisorEvidence, type LayerCandidate, type ProbedCandidate } from './hybrid-advisor';
import { stepsPerStage, tokensPerStep, type DistillPlan } from './plan';

/**
 * Each candidate's probe trains this share of the plan's stage-3 steps: enough for stage 3 to start
 * repairing what the mixers got wrong around the kept layers, so that the candidates part ways, at a
 * cost of 4 × 3% of stage 3 with four candidates. The probe's tokens come on top of the plan's.
 */
export const PROBE3_SHARE = 0.03;

/** Each probe trains at least this many steps (never more than the plan's stage 3): a step or two says little past the warmup. */
export const PROBE3_MIN_STEPS = 4;

/** The plan of one candidate's probe of `plan`: stage 3 alone, PROBE3_SHARE of its steps (PROBE3_MIN_STEPS at least, the plan's at most). */
export function probe3Plan(plan: DistillPlan): DistillPlan {
  const per = tokensPerStep(plan);
  const steps3 = plan.stages.includes(3) ? stepsPerStage(plan)[3] : 0;
  const steps = Math.max(1, Math.min(steps3, Math.max(PROBE3_MIN_STEPS, Math.round(PROBE3_SHARE * steps3))));
  return { ...plan, stages: [3], tokens: { 1: 0, 2: 0, 3: steps * per }, attentionAuto: null };
}

/**
 * The probes may take at most this share of the plan's stage 3 in all: past it (a short stage 3, where
 * PROBE3_MIN_STEPS per candidate is most of it) the advisor chooses by its score alone and says so.
 */
export const PROBE3_MAX_SHARE = 0.25;

/** Whether probing `candidates` sets is worth it for `plan`: their steps together within PROBE3_MAX_SHARE of its stage 3. */
export function probesAffordable(plan: DistillPlan, candidates: number): { ok: boolean; steps: number; of: number } {
  const of = plan.stages.includes(3) ? stepsPerStage(plan)[3] : 0;
  const steps = candidates * stepsPerStage(probe3Plan(plan))[3];
  return { ok: candidates > 1 && steps <= PROBE3_MAX_SHARE * of, steps, of };
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
