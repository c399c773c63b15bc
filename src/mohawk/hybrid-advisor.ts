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
// so scores are in [0, 1] and add up to 1. A kind whose sum is 0 (no layer lowers the KL; a perfect fit
// everywhere) says nothing and drops out, the other then weighing 1. Ties go to the larger relative
// residual, then the lower layer.
//
// The scores do not choose alone (below; advisorMethod 'greedy' is GREEDY_RULE). Both kinds are measured on the student as stage 2 left it, and stage 3,
// trained end to end, repairs much of what they measure: on the H200 (BENCHMARKS.md, "Hybrid advisor" and
// after) ρ was nearly flat across layers, the KL gain was always largest at layer 0, whose error every
// later layer compounds and which stage 3 then repaired (layer 0 was among the worst singles to keep after
// stage 3), and the score's top K ended behind evenly spaced placement in most runs. So the scores only
// propose: candidateSets makes a few distinct sets of K layers (the score's top K, evenly spaced
// placement, the top K by ρ alone, the last K layers, which were the best singles measured), and
// advisor-probe.ts trains a copy of the stage-2 student with each set as attention through a short stage 3
// on the same batches and measures its held-out KL: direct evidence of what stage 3 makes of each set. The
// set of the lowest probe KL is kept (ties: the earlier in that order), except that evenly spaced
// placement stands unless that KL is EVEN_MARGIN below its own. Without probe KLs (a record from
// before the probe) the score's top K is the choice. Nothing here touches the GPU: it is the part the
// unit tests hold to numbers worked by hand.

/** The weight of the leave-one-out KL gain in a layer's score (the residual's is 1 − KL_WEIGHT). */
export const KL_WEIGHT = 0.25;

/**
 * How much lower than evenly spaced placement's probe KL another set's must be to replace it, as a share
 * of evenly spaced's. The probes measure stage 3's start, not its end: on the GPU machine (BENCHMARKS.md,
 * "the greedy method") every set whose probe KL was within 2.3% of evenly spaced's ended stage 3 behind
 * it (by 0.004-0.011 nats), and every set 3% or more below it ended level or ahead. Evenly spaced is the
 * prior; a probe must beat it clearly to move the choice.
 */
export const EVEN_MARGIN = 0.03;

/** EVEN_MARGIN's part of both choice rules, in words. */
const EVEN_CLAUSE = `evenly spaced unless that KL is ${EVEN_MARGIN * 100}% or more below its own`;

/** The score in words, for records and the page. */
export const SCORE_FORMULA = `score_l = ${KL_WEIGHT} · g_l / Σg + ${1 - KL_WEIGHT} · ρ_l / Σρ, g_l = max(0, KL₀ − KL_l) (KL with layer l alone restored to attention), ρ_l = r_l / n_l (layer l's stage-2 residual over the mean norm of the teacher's attention output it fits; 0 where n_l = 0)`;

/** How the kept layers are chosen once the candidate sets have been probed, for records and the page. */
export const CHOICE_RULE =
  `the layers kept are, of the candidate sets (the score's top K, evenly spaced ⌊(i + ½)·L/K⌋, the top K by ρ_l, the last K layers), the one whose copy of the stage-2 student reached the lowest held-out KL(teacher ‖ student) per token after a short stage 3 on the same batches (probe_kl), ${EVEN_CLAUSE}`;

/**
 * The same with advisorMethod 'greedy' (advisor-probe.ts, warmProbeCandidates): one copy of the
 * stage-2 student, every layer a mixer, trains through a short stage 3; the greedy set restores to
 * attention, one layer at a time, the layer that lowers that copy's held-out KL the most; the
 * candidate sets are measured on the same copy with their layers restored, and the lowest KL is kept.
 */
export const GREEDY_RULE =
  `the layers kept are, of the greedy set (from none, add the layer whose restoration to attention most lowers the held-out KL(teacher ‖ student) of a copy of the stage-2 student trained, every layer a mixer, through a short stage 3; K times) and the candidate sets (the score's top K, evenly spaced ⌊(i + ½)·L/K⌋, the top K by ρ_l, the last K layers), the one whose restoration leaves that copy the lowest held-out KL (probe_kl), ${EVEN_CLAUSE}`;

/** The rule that chose among `e`'s candidates, by the probe that measured them. */
export function choiceRule(e: Pick<AdvisorEvidence, 'warm'>): string {
  return e.warm ? GREEDY_RULE : CHOICE_RULE;
}

/**
 * Each candidate's probe ('sets') trains this share of the plan's stage-3 steps: enough for stage 3 to
 * start repairing what the mixers got wrong around the kept layers, so that the candidates part ways,
 * at a cost of 4 × 3% of stage 3 with four candidates. The probe's tokens come on top of the plan's.
 */
export const PROBE3_SHARE = 0.03;

/**
 * The greedy method's one probe trains this share of the plan's stage-3 steps with every layer a mixer,
 * its tokens on top of the plan's. At 12% layer 0 still looked the most worth restoring on every teacher
 * measured on the GPU machine, as it does after stage 2, and it was among the worst to keep after the
 * whole stage 3; at 24% that lead was gone and the single layer restored first ended level with evenly
 * spaced placement or ahead (BENCHMARKS.md, "the greedy method"). Within PROBE3_MAX_SHARE, 25%.
 */
export const WARM_SHARE = 0.24;

/** Where a candidate set of layers came from, in candidateSets' order. */
export type CandidateSource = 'greedy' | 'score' | 'evenly spaced' | 'relative residual' | 'last layers';

export const CANDIDATE_SOURCES: readonly CandidateSource[] = ['greedy', 'score', 'evenly spaced', 'relative residual', 'last layers'];

/** A set of K layers the advisor considers keeping as attention (ascending). */
export interface LayerCandidate {
  layers: number[];
  source: CandidateSource;
}

/** A candidate with its probe's result: held-out KL per token after a short stage 3 with its layers as attention; null when it was not finite. */
export interface ProbedCandidate extends LayerCandidate {
  probeKl: number | null;
}

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
  /** Training tokens the advisor's probes took: its stages 1–2 (0 when the plan's stage 2 gave the residuals) and its stage-3 probes (`probe3Tokens`). */
  probeTokens: number;
  /** The candidate sets, each with its probe's KL (advisor-probe.ts); absent in records made before the probe. */
  candidates?: ProbedCandidate[];
  /** Training tokens of the stage-3 probes, every candidate's together (counted in `probeTokens` too). */
  probe3Tokens?: number;
  /**
   * The warm probe's (advisor-probe.ts), the greedy method's: where present, the candidates' probe KLs
   * were measured on its student with their layers restored, not by training each.
   */
  warm?: WarmMeasure;
}

/** What the greedy method's warm probe measured on its student (a short stage 3, every layer a mixer). */
export interface WarmMeasure {
  /** Held-out KL(teacher ‖ student) per position of that student as it is. */
  baseKl: number;
  /** The same with each layer alone restored to the teacher's attention. */
  looKl: number[];
  /** Training tokens of the warm probe. */
  tokens: number;
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

function checkK(n: number, k: number): void {
  if (!Number.isInteger(k) || k < 1 || k >= n) throw new AdvisorError(`the hybrid advisor keeps 1 to ${n - 1} of ${n} layers, not ${k}`);
}

/** Evenly spaced placement of K of L layers: ⌊(i + ½)·L/K⌋ for i < K (scripts/bench/hybrid_summary.py's `even`); K = 1 is the middle layer. */
export function evenlySpaced(layers: number, k: number): number[] {
  return Array.from({ length: k }, (_, i) => Math.floor(((2 * i + 1) * layers) / (2 * k)));
}

/**
 * The sets of K layers the advisor probes, distinct, in this order: the score's top K, evenly spaced
 * placement, the top K by relative residual alone (ties to the lower layer), the last K layers. A set
 * already listed is not listed again under a later source.
 */
export function candidateSets(e: Ranked, k: number): LayerCandidate[] {
  const n = e.residual.length;
  checkK(n, k);
  const rho = relativeResiduals(e);
  const byRho = [...Array(n).keys()].sort((a, b) => rho[b]! - rho[a]! || a - b);
  const sets: [CandidateSource, number[]][] = [
    ['score', rankLayers(e).slice(0, k)],
    ['evenly spaced', evenlySpaced(n, k)],
    ['relative residual', byRho.slice(0, k)],
    ['last layers', Array.from({ length: k }, (_, i) => n - k + i)],
  ];
  const out: LayerCandidate[] = [];
  for (const [source, layers] of sets) {
    const sorted = [...layers].sort((a, b) => a - b);
    if (!out.some((c) => c.layers.join() === sorted.join())) out.push({ layers: sorted, source });
  }
  return out;
}

/**
 * The probed candidate of the lowest finite probe KL (ties: the earlier listed), except that evenly
 * spaced placement, where probed, stands unless that candidate's KL is EVEN_MARGIN below its own; null
 * when no candidate has a probe KL.
 */
export function probedChoice(candidates: readonly ProbedCandidate[]): ProbedCandidate | null {
  const finite = (c: ProbedCandidate) => c.probeKl !== null && Number.isFinite(c.probeKl);
  let best: ProbedCandidate | null = null;
  for (const c of candidates) if (finite(c) && (best === null || c.probeKl! < best.probeKl!)) best = c;
  const even = candidates.find((c) => c.source === 'evenly spaced' && finite(c));
  if (best && even && best !== even && best.probeKl! > (1 - EVEN_MARGIN) * even.probeKl!) return even;
  return best;
}

/**
 * The advisor's choice of K layers (1 ≤ K < layers, leaving a mixer at least): the probed candidate of
 * the lowest KL, or without probe KLs the K layers the scores rank highest.
 */
export function adviseLayers(evidence: AdvisorEvidence, k: number): HybridAdvice {
  const n = evidence.residual.length;
  checkK(n, k);
  const scores = layerScores(evidence);
  for (const c of evidence.candidates ?? []) {
    const problem = layerChoiceProblem(c.layers, n);
    if (problem || c.layers.length !== k) throw new AdvisorError(`the hybrid advisor's ${c.source} candidate ${c.layers.join(', ')} is not ${k} of the ${n} layers${problem ? ` (${problem})` : ''}`);
  }
  const probed = probedChoice(evidence.candidates ?? []);
  const chosen = probed ? [...probed.layers].sort((a, b) => a - b) : rankLayers(evidence).slice(0, k).sort((a, b) => a - b);
  return { k, chosen, layers: [...chosen], scores, evidence };
}

/**
 * The advice as config.json and `mohawk distill --json` record it (snake_case, as a Python reader
 * expects): the layers kept, whether they are the advisor's own choice, each layer's score and the
 * evidence per layer (the raw stage-2 residual, the attention output's norm, and their ratio the score uses).
 */
export function adviceRecord(a: HybridAdvice): Record<string, unknown> {
  const e = a.evidence;
  const probed = e.candidates && e.candidates.length > 0;
  return {
    k: a.k,
    chosen: [...a.chosen],
    attention_layers: [...a.layers],
    edited: a.layers.join() !== a.chosen.join(),
    scores: [...a.scores],
    score: probed ? `${SCORE_FORMULA}; ${choiceRule(e)}` : SCORE_FORMULA,
    method: e.warm ? 'greedy' : probed ? 'sets' : 'score',
    ...(e.candidates ? { candidates: e.candidates.map((c) => ({ attention_layers: [...c.layers], source: c.source, probe_kl: c.probeKl })) } : {}),
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
      ...(e.probe3Tokens !== undefined ? { probe3_tokens: e.probe3Tokens } : {}),
      ...(e.warm ? { warm_probe: { held_out_kl: e.warm.baseKl, leave_one_out_kl: [...e.warm.looKl], tokens: e.warm.tokens } } : {}),
    },
  };
}

/** A record's candidates (adviceRecord's `candidates`) read back; undefined when it has none, null when they are not such a list. */
function candidatesFromRecord(v: unknown): ProbedCandidate[] | undefined | null {
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) return null;
  const out: ProbedCandidate[] = [];
  for (const c of v as unknown[]) {
    const o = (typeof c === 'object' && c !== null ? c : {}) as Record<string, unknown>;
    const layers = o.attention_layers;
    if (!Array.isArray(layers) || !layers.every((x) => typeof x === 'number')) return null;
    if (!CANDIDATE_SOURCES.includes(o.source as CandidateSource)) return null;
    if (o.probe_kl !== null && typeof o.probe_kl !== 'number') return null;
    out.push({ layers: [...(layers as number[])], source: o.source as CandidateSource, probeKl: o.probe_kl as number | null });
  }
  return out;
}

/** A record made by adviceRecord read back (a checkpoint's), or null when it is not one. */
export function adviceFromRecord(r: unknown): HybridAdvice | null {
  if (typeof r !== 'object' || r === null) return null;
  const o = r as Record<string, unknown>;
  const e = o.evidence as Record<string, unknown> | undefined;
  const nums = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number');
  if (!e || typeof o.k !== 'number' || !nums(o.chosen) || !nums(o.attention_layers) || !nums(o.scores) || !nums(e.stage2_residual) || !nums(e.attention_norm) || !nums(e.leave_one_out_kl)) return null;
  if (typeof e.held_out_kl !== 'number' || (e.source !== 'stage 2' && e.source !== 'probe')) return null;
  const candidates = candidatesFromRecord(o.candidates);
  if (candidates === null) return null;
  const w = e.warm_probe as Record<string, unknown> | undefined;
  if (w !== undefined && (typeof w !== 'object' || w === null || typeof w.held_out_kl !== 'number' || !nums(w.leave_one_out_kl) || typeof w.tokens !== 'number')) return null;
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
      ...(candidates ? { candidates } : {}),
      ...(e.probe3_tokens !== undefined ? { probe3Tokens: Number(e.probe3_tokens) } : {}),
      ...(w ? { warm: { baseKl: w.held_out_kl as number, looKl: [...(w.leave_one_out_kl as number[])], tokens: w.tokens as number } } : {}),
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
