// The hybrid advisor's evidence, measured on the GPU (the ranking itself is hybrid-advisor.ts):
// each layer's stage-2 residual and the norm of the attention output it fits, from the plan's own
// stage 2 or, when the plan has none (or a resumed run's checkpoint kept no norms), from a short
// probe of stages 1–2 on a throwaway copy of the student; and the leave-one-out check, the held-out
// KL(teacher ‖ student) of the student with each layer alone restored to the teacher's attention.
import type { Gpu } from '../gpu/runtime';
import { meanKl, type EvalModel } from '../models/evaluate';
import type { Weights } from '../models/layers';
import { studentMixers, type StudentSpec } from '../models/student';
import { Distiller } from './distiller';
import type { AdvisorEvidence } from './hybrid-advisor';
import { PAPER_TOKENS, stepsPerStage, tokensPerStep, type DistillPlan, type Stage } from './plan';

/**
 * The probe's budget: this share of what the paper's proportions give stages 1 and 2 beside the plan's
 * stage 3 (80 : 160 : 2760), so a default plan (2.76M stage-3 tokens) probes 20K + 40K tokens, a
 * quarter of its own stages 1–2. Enough for each mixer to settle into its layer's rank order, a
 * small cost beside stage 3; the probe's tokens come on top of the plan's.
 */
export const PROBE_SHARE = 0.25;

/** The plan of the advisor's probe of `plan`: the stages 1–2 it does not train (stage 2 at least), on PROBE_SHARE of their paper budget. */
export function probePlan(plan: DistillPlan): DistillPlan {
  const per = tokensPerStep(plan);
  const stages: Stage[] = plan.stages.includes(1) ? [2] : [1, 2];
  const budget = (s: Stage) => Math.max(per, Math.round((PROBE_SHARE * plan.tokens[3] * PAPER_TOKENS[s]) / PAPER_TOKENS[3]));
  return { ...plan, stages, tokens: { 1: stages.includes(1) ? budget(1) : 0, 2: budget(2), 3: 0 }, attentionLayers: [], attentionAuto: null };
}

/** The student with `restore` layers back on the teacher's attention (its q, k, v, o and norms from the teacher), every other layer as `spec` has it. */
export function restoredModel(gpu: Gpu, teacher: { config: StudentSpec['config']; weights: Weights }, spec: StudentSpec, student: Weights, restore: readonly number[]): EvalModel {
  const fromTeacher = (n: string) => restore.some((l) => n.startsWith(`layers.${l}.attn.`));
  const weights: Weights = { get: (n) => (fromTeacher(n) ? teacher.weights.get(n) : student.get(n)), has: (n) => (fromTeacher(n) ? teacher.weights.has(n) : student.has(n)) };
  const hybrid: StudentSpec = { ...spec, attentionLayers: [...new Set([...spec.attentionLayers, ...restore])] };
  return { config: spec.config, weights, mixer: studentMixers(gpu, hybrid, weights) };
}

/**
 * Held-out KL per position of the student as it is (baseKl) and with each layer alone restored to
 * attention (looKl[l]; a layer that already is attention: baseKl). Puts the models on the GPU.
 */
export async function leaveOneOut(
  gpu: Gpu,
  d: Distiller,
  docs: readonly number[][],
  onProgress?: (done: number, total: number) => void,
): Promise<{ baseKl: number; looKl: number[]; tokens: number }> {
  await d.resident();
  const layers = d.spec.config.layers;
  const candidates = [...Array(layers).keys()].filter((l) => !d.spec.attentionLayers.includes(l));
  const student = d.student;
  const teacher = { config: d.teacher.config, weights: d.teacher.weights };
  const r = await meanKl(gpu, teacher, 1 + candidates.length, (i) => restoredModel(gpu, teacher, d.spec, student, i === 0 ? [] : [candidates[i - 1]!]), docs, onProgress);
  const baseKl = r.meanKl[0]!;
  const looKl = Array.from({ length: layers }, (_, l) => {
    const i = candidates.indexOf(l);
    return i < 0 ? baseKl : r.meanKl[i + 1]!;
  });
  return { baseKl, looKl, tokens: r.tokens };
}

/** Held-out KL(teacher ‖ student) per position of `d`'s student as it is laid out (puts the models on the GPU). */
export async function studentKl(gpu: Gpu, d: Distiller, docs: readonly number[][], onProgress?: (done: number, total: number) => void): Promise<{ kl: number; tokens: number }> {
  await d.resident();
  const teacher = { config: d.teacher.config, weights: d.teacher.weights };
  const r = await meanKl(gpu, teacher, 1, () => restoredModel(gpu, teacher, d.spec, d.student, []), docs, onProgress);
  return { kl: r.meanKl[0]!, tokens: r.tokens };
}

/** What stage 2 measured of each layer, over its last steps (Distiller.layerLossTail, attentionNormTail). */
export interface Stage2Evidence {
  residual: number[];
  attentionNorm: number[];
}

/** Stage 2's evidence as `d` measured it this session, or null when its stage 2 ran no step here. */
export function stage2Evidence(d: Distiller): Stage2Evidence | null {
  const residual = d.layerLossTail(2);
  const attentionNorm = d.attentionNormTail(2);
  return residual && attentionNorm ? { residual, attentionNorm } : null;
}

export interface EvidenceOptions {
  /** Held-out documents (token ids) the KLs are measured on. */
  docs: number[][];
  /**
   * The plan's stage-2 residual and teacher attention-output norm per layer, when its stage 2 ran (or
   * its checkpoint kept them); null: probe for them.
   */
  stage2: Stage2Evidence | null;
  stop?: () => boolean;
  onProgress?(label: string, done: number, total: number): void;
}

/**
 * The advisor's evidence on the run's distiller `d` (a pure-mixer student after its stages 1–2), or
 * null when `stop` ended the probe. Without the plan's residuals it probes: `d`'s student goes to the
 * host, a copy of it trains the probe's stages, and is measured and dropped; `d` is left as it was.
 */
export async function gatherEvidence(gpu: Gpu, d: Distiller, o: EvidenceOptions): Promise<AdvisorEvidence | null> {
  const progress = o.onProgress ?? (() => {});
  const loo = async (on: Distiller) => leaveOneOut(gpu, on, o.docs, (done, total) => progress('hybrid advisor: leave-one-out KL of each layer', done, total));
  if (o.stage2) {
    const k = await loo(d);
    return { source: 'stage 2', residual: [...o.stage2.residual], attentionNorm: [...o.stage2.attentionNorm], baseKl: k.baseKl, looKl: k.looKl, docs: o.docs.length, tokens: k.tokens, probeTokens: 0 };
  }
  const plan = probePlan(d.plan);
  await d.park();
  const probe = await Distiller.create(gpu, d.teacher, plan, d.corpus.fresh());
  try {
    await probe.restore(d.snapshot());
    const label = (s: Stage) => `hybrid advisor: probing stage ${s} for the layers' residuals`;
    await probe.run(
      {
        step: (r) => progress(label(r.stage), r.step, r.steps),
        waiting: (s, have, need) => progress(`${label(s)} (waiting for its tokens)`, have, need),
      },
      { stop: o.stop },
    );
    const measured = stage2Evidence(probe);
    if (!measured) {
      if (o.stop?.()) return null;
      throw new Error("the hybrid advisor's probe ended without a stage-2 step");
    }
    const k = await loo(probe);
    const steps = stepsPerStage(plan);
    const probeTokens = plan.stages.reduce((a, s) => a + steps[s] * tokensPerStep(plan), 0);
    return { source: 'probe', ...measured, baseKl: k.baseKl, looKl: k.looKl, docs: o.docs.length, tokens: k.tokens, probeTokens };
  } finally {
    await probe.release();
  }
}
