// The hybrid advisor's ranking: which K layers of the student keep the teacher's attention (a plan's
// `attentionAuto`), from two kinds of evidence measured after stage 2 (advisor-evidence.ts):
//
//   relative residual ρ_l = r_l / n_l, where r_l is layer l's stage-2 loss, the mean L2 distance per
//                  token between its fitted mixer's output and the teacher's attention output, and n_l
//                  the mean L2 norm per token of that attention output, both averaged over the stage's
//                  last steps on the same tokens (ρ_l = 0 where n_l = 0): what the mixer could not
//                  learn of that layer's attention, as a share of what there was to learn. The raw r_l
//                  grows with depth on every teacher measured on the H200, because the attention
//                  outputs themselves do, so ranking by it always kept the last layers;
//   KL gain  g_l   max(0, KL₀ − KL_l), where KL₀ is the held-out KL(teacher ‖ student) per token of the
//                  student as stage 2 left it and KL_l that of the same student with layer l alone
//                  restored to the teacher's attention (leave-one-out): what keeping l buys end to end.
//
// Each layer's score is its share of each kind, weighted:
//
//   score_l = KL_WEIGHT · g_l / Σ g + (1 − KL_WEIGHT) · ρ_l / Σ ρ
//
// so scores are in [0, 1] and add up to 1. The residual weighs most. On the H200 (BENCHMARKS.md, "Hybrid
// advisor") the layer whose restoration lowered the stage-2 student's KL most was the worst single layer
// to keep once stage 3 had run, on two teachers: the KL gain counts errors of the student's mixers that
// stage 3's end-to-end training goes on to repair, mostly early layers' whose errors every later layer
// compounds, while the residual is what a layer's mixer could not learn of its attention, which stage 3
// does not change. The KL gain, a quarter, separates layers whose residuals are close. A kind whose sum is
// 0 (no layer lowers the KL; a perfect fit everywhere) says nothing and drops out, the other then
// weighing 1. The K highest scores are kept; ties go to the larger relative residual, then the lower
// layer. Nothing here touches the GPU: it is the part the unit tests hold to numbers worked by hand.

/** The weight of the leave-one-out KL gain in a layer's score (the residual's is 1 − KL_WEIGHT). */
export const KL_WEIGHT = 0.25;

/** The score in words, for records and the page. */
export const SCORE_FORMULA = `score_l = ${KL_WEIGHT} · g_l / Σg + ${1 - KL_WEIGHT} · ρ_l / Σρ, g_l = max(0, KL₀ − KL_l) (KL with layer l alone restored to attention), ρ_l = r_l / n_l (layer l's stage-2 residual over the mean norm of the teacher's attention output it fits; 0 where n_l = 0)`;

/** What the ranking is computed from, per layer of the teacher. */
export interface AdvisorEvidence {
  /** Where the stage-2 residuals came from: the plan's own stage 2, or a short probe of stages 1–2 (the plan has no stage 2). */
  source: 'stage 2' | 'probe';
  /** Each layer's stage-2 residual (mean L2 distance per token over the stage's last steps). */
  residual: number[];
  /** Each layer's mean L2 norm per token of the teacher's attention output, over the same steps and tokens as `residual`. */
  attentionNorm: number[];
  /** Held-out KL(teacher ‖ student) per token, every layer a mixer. */
  baseKl: number;
  /** Held-out KL per token with layer l alone restored to the teacher's attention. */
  looKl: number[];
  /** Held-out documents and predicted tokens the KLs were measured over. */
  docs: number;
  tokens: number;
  /** Training tokens the probe took (0 when the plan's stage 2 gave the residuals). */
  probeTokens: number;
}

/** The advisor's answer: the K layers kept, each layer's score, and the evidence behind them. */
export interface HybridAdvice {
  k: number;
  /** The layers the scores chose (ascending). */
  chosen: number[];
  /** The layers stage 3 trains with attention: `chosen`, or the user's edit of it in the page. */
  layers: number[];
  scores: number[];
  evidence: AdvisorEvidence;
}

export class AdvisorError extends Error {
  override name = 'AdvisorError';
}

type Ranked = Pick<AdvisorEvidence, 'residual' | 'attentionNorm' | 'baseKl' | 'looKl'>;

/** Each layer's relative residual ρ_l = r_l / n_l (0 where the attention output's norm n_l is 0). */
export function relativeResiduals(e: Pick<AdvisorEvidence, 'residual' | 'attentionNorm'>): number[] {
  return e.residual.map((r, l) => (e.attentionNorm[l]! > 0 ? r / e.attentionNorm[l]! : 0));
}

/** Each layer's KL gain, max(0, KL₀ − KL_l). */
export function klGains(e: Pick<AdvisorEvidence, 'baseKl' | 'looKl'>): number[] {
  return e.looKl.map((kl) => Math.max(0, e.baseKl - kl));
}

function check(e: Ranked): void {
  const n = e.residual.length;
  if (n === 0) throw new AdvisorError('the hybrid advisor has no layers to rank');
  if (e.looKl.length !== n) throw new AdvisorError(`the hybrid advisor has ${n} residuals but ${e.looKl.length} leave-one-out KLs`);
  if (e.attentionNorm.length !== n) throw new AdvisorError(`the hybrid advisor has ${n} residuals but ${e.attentionNorm.length} attention-output norms`);
  const bad = (what: string, v: number, l?: number) => {
    throw new AdvisorError(`the hybrid advisor's ${what}${l === undefined ? '' : ` of layer ${l}`} is ${v}: it cannot rank the layers`);
  };
  if (!(Number.isFinite(e.baseKl) && e.baseKl >= 0)) bad('held-out KL of the student', e.baseKl);
  e.residual.forEach((r, l) => (Number.isFinite(r) && r >= 0 ? 0 : bad('stage-2 residual', r, l)));
  e.attentionNorm.forEach((v, l) => (Number.isFinite(v) && v >= 0 ? 0 : bad('attention-output norm', v, l)));
  e.looKl.forEach((kl, l) => (Number.isFinite(kl) && kl >= 0 ? 0 : bad('leave-one-out KL', kl, l)));
}

/** Each layer's score (see the top of this file); they add up to 1, or are all 0 when neither kind of evidence tells layers apart. */
export function layerScores(e: Ranked): number[] {
  check(e);
  const g = klGains(e);
  const rho = relativeResiduals(e);
  const G = g.reduce((a, b) => a + b, 0);
  const R = rho.reduce((a, b) => a + b, 0);
  const wKl = G > 0 ? (R > 0 ? KL_WEIGHT : 1) : 0;
  const wR = R > 0 ? 1 - wKl : 0;
  return rho.map((r, l) => (G > 0 ? (wKl * g[l]!) / G : 0) + (R > 0 ? (wR * r) / R : 0));
}

/** Layers from most to least deserving of attention: by score, then the larger relative residual, then the lower index. */
export function rankLayers(e: Ranked): number[] {
  const s = layerScores(e);
  const rho = relativeResiduals(e);
  return s.map((_, l) => l).sort((a, b) => s[b]! - s[a]! || rho[b]! - rho[a]! || a - b);
}

/** The K layers the evidence ranks highest; K must leave at least one mixer (1 ≤ K < layers). */
export function adviseLayers(evidence: AdvisorEvidence, k: number): HybridAdvice {
  const n = evidence.residual.length;
  if (!Number.isInteger(k) || k < 1 || k >= n) throw new AdvisorError(`the hybrid advisor keeps 1 to ${n - 1} of ${n} layers, not ${k}`);
  const scores = layerScores(evidence);
  const chosen = rankLayers(evidence).slice(0, k).sort((a, b) => a - b);
  return { k, chosen, layers: [...chosen], scores, evidence };
}

/**
 * The advice as config.json and `mohawk distill --json` record it (snake_case, as a Python reader
 * expects): the layers kept, whether they are the advisor's own choice, each layer's score and the
 * evidence per layer (the raw stage-2 residual, the attention output's norm, and their ratio the score uses).
 */
export function adviceRecord(a: HybridAdvice): Record<string, unknown> {
  const e = a.evidence;
  return {
    k: a.k,
    chosen: [...a.chosen],
    attention_layers: [...a.layers],
    edited: a.layers.join() !== a.chosen.join(),
    scores: [...a.scores],
    score: SCORE_FORMULA,
    evidence: {
      source: e.source,
      stage2_residual: [...e.residual],
      attention_norm: [...e.attentionNorm],
      relative_residual: relativeResiduals(e),
      held_out_kl: e.baseKl,
      leave_one_out_kl: [...e.looKl],
      kl_gain: klGains(e),
      docs: e.docs,
      tokens: e.tokens,
      probe_tokens: e.probeTokens,
    },
  };
}

/** A record made by adviceRecord read back (a checkpoint's), or null when it is not one. */
export function adviceFromRecord(r: unknown): HybridAdvice | null {
  if (typeof r !== 'object' || r === null) return null;
  const o = r as Record<string, unknown>;
  const e = o.evidence as Record<string, unknown> | undefined;
  const nums = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number');
  if (!e || typeof o.k !== 'number' || !nums(o.chosen) || !nums(o.attention_layers) || !nums(o.scores) || !nums(e.stage2_residual) || !nums(e.attention_norm) || !nums(e.leave_one_out_kl)) return null;
  if (typeof e.held_out_kl !== 'number' || (e.source !== 'stage 2' && e.source !== 'probe')) return null;
  return {
    k: o.k,
    chosen: o.chosen,
    layers: o.attention_layers,
    scores: o.scores,
    evidence: {
      source: e.source,
      residual: e.stage2_residual,
      attentionNorm: e.attention_norm,
      baseKl: e.held_out_kl,
      looKl: e.leave_one_out_kl,
      docs: Number(e.docs),
      tokens: Number(e.tokens),
      probeTokens: Number(e.probe_tokens),
    },
  };
}

/**
 * Why `layers` cannot be the attention layers of a `total`-layer student (an edit of the advice in the
 * page), or null: distinct whole layers of the teacher, leaving at least one mixer.
 */
export function layerChoiceProblem(layers: readonly number[], total: number): string | null {
  if (layers.some((l) => !Number.isInteger(l) || l < 0 || l >= total)) return `layers are whole numbers from 0 to ${total - 1}`;
  if (new Set(layers).size !== layers.length) return 'a layer is named twice';
  if (layers.length >= total) return 'every layer kept as attention leaves nothing to distill';
  return null;
}
