// The hybrid advisor's ranking (src/mohawk/hybrid-advisor.ts), held to scores worked by hand.
import { describe, expect, it } from 'vitest';
import { greedyLayers, probe3Plan, PROBE3_MAX_SHARE, PROBE3_MIN_STEPS, PROBE3_SHARE, probesAffordable, WARM_MIN_STEPS, WARM_SHARE, warmAffordable, warmPlan } from '../../src/mohawk/advisor-probe';
import { DEFAULT_PLAN, type DistillPlan } from '../../src/mohawk/plan';
import { adviceFromRecord, adviceRecord, adviseLayers, AdvisorError, candidateSets, CHOICE_RULE, choiceRule, EVEN_MARGIN, evenlySpaced, GREEDY_RULE, KL_WEIGHT, klGains, layerChoiceProblem, layerScores, probedChoice, rankLayers, relativeResiduals, SCORE_FORMULA, type AdvisorEvidence } from '../../src/mohawk/hybrid-advisor';

// Attention outputs of norm 1 unless given: the relative residual is then the raw one.
const evidence = (residual: number[], baseKl: number, looKl: number[], attentionNorm = residual.map(() => 1)): AdvisorEvidence => ({
  source: 'stage 2',
  residual,
  attentionNorm,
  baseKl,
  looKl,
  docs: 4,
  tokens: 100,
  probeTokens: 0,
});

describe('hybrid advisor ranking', () => {
  it('scores each layer by its shares of the KL gain and of the residual, weighted 1 : 3', () => {
    expect(KL_WEIGHT).toBe(0.25);
    // Gains 0.5, 0, 0.3, 0.2 (layer 1 restored makes the KL worse: no gain); residuals sum to 10.
    const e = evidence([1, 4, 2, 3], 1.0, [0.5, 1.2, 0.7, 0.8]);
    expect(klGains(e).map((g) => +g.toFixed(12))).toEqual([0.5, 0, 0.3, 0.2]);
    const s = layerScores(e);
    const want = [0.25 * 0.5 + 0.75 * 0.1, 0.75 * 0.4, 0.25 * 0.3 + 0.75 * 0.2, 0.25 * 0.2 + 0.75 * 0.3];
    s.forEach((v, l) => expect(v).toBeCloseTo(want[l]!, 12));
    expect(s.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(rankLayers(e)).toEqual([1, 3, 2, 0]);
    const a = adviseLayers(e, 2);
    expect(a.chosen).toEqual([1, 3]);
    expect(a.layers).toEqual([1, 3]);
    expect(adviseLayers(e, 3).chosen).toEqual([1, 2, 3]);
  });

  it('ranks by the residual relative to the attention output it fits, not the raw residual', () => {
    // The raw residual grows with depth as the attention outputs do (as on the H200's teachers): ranked
    // raw, the last layer would win. Relative: ρ = 1/1, 2/4, 4/16, 8/32 = 1, 0.5, 0.25, 0.25 (sum 2),
    // shares 0.5, 0.25, 0.125, 0.125; every layer restored gains the same 0.1 of KL (share 0.25 each).
    const looKl = [0.9, 0.9, 0.9, 0.9];
    const raw = evidence([1, 2, 4, 8], 1, looKl);
    expect(rankLayers(raw)).toEqual([3, 2, 1, 0]);
    expect(adviseLayers(raw, 1).chosen).toEqual([3]);
    const e = evidence([1, 2, 4, 8], 1, looKl, [1, 4, 16, 32]);
    expect(relativeResiduals(e)).toEqual([1, 0.5, 0.25, 0.25]);
    const want = [0.25 * 0.25 + 0.75 * 0.5, 0.25 * 0.25 + 0.75 * 0.25, 0.25 * 0.25 + 0.75 * 0.125, 0.25 * 0.25 + 0.75 * 0.125];
    layerScores(e).forEach((v, l) => expect(v).toBeCloseTo(want[l]!, 12));
    // Layers 2 and 3 tie on score and relative residual (the raw residual no longer decides): the lower first.
    expect(rankLayers(e)).toEqual([0, 1, 2, 3]);
    expect(adviseLayers(e, 1).chosen).toEqual([0]);
    expect(adviseLayers(e, 2).chosen).toEqual([0, 1]);
    // A layer whose attention output is 0 everywhere has nothing to fit: relative residual 0.
    const silent = evidence([1, 2, 3], 0, [0, 0, 0], [0, 2, 1]);
    expect(relativeResiduals(silent)).toEqual([0, 1, 3]);
    layerScores(silent).forEach((v, l) => expect(v).toBeCloseTo([0, 0.25, 0.75][l]!, 12));
  });

  it('lets the residual decide alone when no layer lowers the KL, and the KL alone when every residual is 0', () => {
    const noGain = evidence([1, 3, 2], 0.5, [0.5, 0.6, 0.9]);
    expect(layerScores(noGain)).toEqual([1 / 6, 3 / 6, 2 / 6]);
    expect(adviseLayers(noGain, 1).chosen).toEqual([1]);
    const perfect = evidence([0, 0, 0], 0.5, [0.4, 0.1, 0.5]);
    layerScores(perfect).forEach((v, l) => expect(v).toBeCloseTo([0.1 / 0.5, 0.4 / 0.5, 0][l]!, 12));
    expect(adviseLayers(perfect, 1).chosen).toEqual([1]);
  });

  it('breaks ties by the larger residual, then the lower layer', () => {
    const tie = evidence([1, 1, 1, 1], 1, [0.5, 0.5, 0.5, 0.5]);
    expect(rankLayers(tie)).toEqual([0, 1, 2, 3]);
    const byResidual = evidence([1, 3, 0, 0], 0, [0, 0, 0, 0]);
    expect(rankLayers(byResidual)).toEqual([1, 0, 2, 3]);
    const nothing = evidence([0, 0, 0], 0.2, [0.3, 0.3, 0.3]);
    expect(layerScores(nothing)).toEqual([0, 0, 0]);
    expect(adviseLayers(nothing, 2).chosen).toEqual([0, 1]);
  });

  it('keeps 1 to layers − 1 layers and refuses evidence it cannot rank, by name', () => {
    const e = evidence([1, 2, 3], 1, [0.9, 0.8, 0.7]);
    for (const k of [0, 3, 1.5, -1]) expect(() => adviseLayers(e, k)).toThrow(/keeps 1 to 2 of 3 layers/);
    expect(() => adviseLayers(e, 0)).toThrow(AdvisorError);
    expect(() => layerScores(evidence([1, NaN, 3], 1, [0.9, 0.8, 0.7]))).toThrow(/stage-2 residual of layer 1 is NaN/);
    expect(() => layerScores(evidence([1, 2, 3], 1, [0.9, Infinity, 0.7]))).toThrow(/leave-one-out KL of layer 1 is Infinity/);
    expect(() => layerScores(evidence([1, 2, 3], -1, [0.9, 0.8, 0.7]))).toThrow(/held-out KL of the student is -1/);
    expect(() => layerScores(evidence([1, 2], 1, [0.9, 0.8, 0.7]))).toThrow(/2 residuals but 3 leave-one-out KLs/);
    expect(() => layerScores(evidence([], 1, []))).toThrow(/no layers to rank/);
    expect(() => layerScores(evidence([1, 2, 3], 1, [0.9, 0.8, 0.7], [1, 1]))).toThrow(/3 residuals but 2 attention-output norms/);
    expect(() => layerScores(evidence([1, 2, 3], 1, [0.9, 0.8, 0.7], [1, -2, 1]))).toThrow(/attention-output norm of layer 1 is -2/);
    expect(() => layerScores(evidence([1, 2, 3], 1, [0.9, 0.8, 0.7], [1, 1, NaN]))).toThrow(/attention-output norm of layer 2 is NaN/);
  });

  it('records the choice and the evidence, edited or not, and reads the record back', () => {
    const a = adviseLayers(evidence([1, 4, 2, 3], 1.0, [0.5, 1.2, 0.7, 0.8], [2, 8, 1, 4]), 2);
    const r = adviceRecord(a);
    expect(r).toMatchObject({
      k: 2,
      // ρ = 0.5, 0.5, 2, 0.75: scores .225, .1, .475, .2.
      chosen: [0, 2],
      attention_layers: [0, 2],
      edited: false,
      evidence: { source: 'stage 2', stage2_residual: [1, 4, 2, 3], attention_norm: [2, 8, 1, 4], relative_residual: [0.5, 0.5, 2, 0.75], held_out_kl: 1, leave_one_out_kl: [0.5, 1.2, 0.7, 0.8], docs: 4, tokens: 100, probe_tokens: 0 },
    });
    expect((r.scores as number[]).length).toBe(4);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
    expect(adviceFromRecord(JSON.parse(JSON.stringify(r)))).toEqual(a);
    expect(adviceRecord({ ...a, layers: [0] }).edited).toBe(true);
    expect(adviceFromRecord({ k: 2 })).toBeNull();
    const e = r.evidence as Record<string, unknown>;
    expect(adviceFromRecord({ ...r, evidence: { ...e, attention_norm: undefined } })).toBeNull();
    expect(adviceFromRecord(null)).toBeNull();
  });

  it('places K of L layers evenly at ⌊(i + ½)·L/K⌋', () => {
    expect(evenlySpaced(5, 1)).toEqual([2]); // ⌊2.5⌋
    expect(evenlySpaced(5, 2)).toEqual([1, 3]); // ⌊1.25⌋, ⌊3.75⌋
    expect(evenlySpaced(8, 1)).toEqual([4]);
    expect(evenlySpaced(8, 2)).toEqual([2, 6]);
    expect(evenlySpaced(6, 2)).toEqual([1, 4]); // ⌊1.5⌋, ⌊4.5⌋: hybrid_gpu.sh's evenly spaced pair
    expect(evenlySpaced(6, 3)).toEqual([1, 3, 5]);
  });

  it("lists the candidate sets in order (score, evenly spaced, relative residual, last layers), each once", () => {
    // Five layers, ρ = .2, .3, .1, .25, .15 (sum 1); restoring layer 0 alone gains KL (share 1):
    // scores .25 + .15 = .4, .225, .075, .1875, .1125.
    const five = evidence([0.2, 0.3, 0.1, 0.25, 0.15], 1, [0.2, 1, 1, 1, 1]);
    expect(candidateSets(five, 1)).toEqual([
      { layers: [0], source: 'score' },
      { layers: [2], source: 'evenly spaced' },
      { layers: [1], source: 'relative residual' },
      { layers: [4], source: 'last layers' },
    ]);
    // K = 2: the score's top two 0, 1; evenly spaced 1, 3; by ρ 1, 3 (already listed); the last two 3, 4.
    expect(candidateSets(five, 2)).toEqual([
      { layers: [0, 1], source: 'score' },
      { layers: [1, 3], source: 'evenly spaced' },
      { layers: [3, 4], source: 'last layers' },
    ]);
    // Eight layers, ρ = 1 but layer 4's 2, no KL gain: the score is ρ's share. K = 1: 4 three times over, then 7.
    const eight = evidence([1, 1, 1, 1, 2, 1, 1, 1], 0.5, Array(8).fill(0.5));
    expect(candidateSets(eight, 1)).toEqual([
      { layers: [4], source: 'score' },
      { layers: [7], source: 'last layers' },
    ]);
    // K = 2: the score's 4 and, of the tied rest, the lower 0 (so does ρ's); evenly spaced 2, 6; the last 6, 7.
    expect(candidateSets(eight, 2)).toEqual([
      { layers: [0, 4], source: 'score' },
      { layers: [2, 6], source: 'evenly spaced' },
      { layers: [6, 7], source: 'last layers' },
    ]);
    expect(() => candidateSets(five, 5)).toThrow(/keeps 1 to 4 of 5 layers/);
  });

  it('chooses the probed candidate of the lowest KL, the earlier on a tie, the score without probe KLs', () => {
    const e = evidence([0.2, 0.3, 0.1, 0.25, 0.15], 1, [0.2, 1, 1, 1, 1]);
    const probed = (kls: (number | null)[]) => candidateSets(e, 1).map((c, i) => ({ ...c, probeKl: kls[i]! }));
    expect(adviseLayers({ ...e, candidates: probed([0.5, 0.4, 0.45, 0.3]) }, 1).chosen).toEqual([4]);
    expect(adviseLayers({ ...e, candidates: probed([0.5, 0.3, 0.3, 0.6]) }, 1).chosen).toEqual([2]);
    expect(adviseLayers({ ...e, candidates: probed([null, 0.7, null, 0.6]) }, 1).chosen).toEqual([4]);
    expect(probedChoice(probed([null, null, null, null]))).toBeNull();
    // Evenly spaced (2, probe KL 0.4) stands unless another set is 3% lower: 0.389 is not (> 0.388), 0.387 is.
    expect(EVEN_MARGIN).toBe(0.03);
    expect(adviseLayers({ ...e, candidates: probed([0.5, 0.4, 0.45, 0.389]) }, 1).chosen).toEqual([2]);
    expect(adviseLayers({ ...e, candidates: probed([0.5, 0.4, 0.45, 0.387]) }, 1).chosen).toEqual([4]);
    expect(adviseLayers({ ...e, candidates: probed([0.395, 0.4, 0.45, 0.5]) }, 1).chosen).toEqual([2]);
    // Without a probe KL of its own evenly spaced has no say: the lowest, however close.
    expect(adviseLayers({ ...e, candidates: probed([0.5, null, 0.45, 0.449]) }, 1).chosen).toEqual([4]);
    // No probe KL (or no candidates): the score's top K, as before the probe.
    expect(adviseLayers({ ...e, candidates: probed([null, null, null, null]) }, 1).chosen).toEqual([0]);
    expect(adviseLayers(e, 1).chosen).toEqual([0]);
    // The scores stay the ranking's.
    expect(adviseLayers({ ...e, candidates: probed([0.5, 0.4, 0.45, 0.3]) }, 1).scores).toEqual(layerScores(e));
    expect(() => adviseLayers({ ...e, candidates: [{ layers: [0, 1], source: 'score', probeKl: 0.1 }] }, 1)).toThrow(/score candidate 0, 1 is not 1 of the 5 layers/);
    expect(() => adviseLayers({ ...e, candidates: [{ layers: [5], source: 'last layers', probeKl: 0.1 }] }, 1)).toThrow(AdvisorError);
  });

  it('records the probed candidates and how the choice was made, and reads them back', () => {
    const e = evidence([0.2, 0.3, 0.1, 0.25, 0.15], 1, [0.2, 1, 1, 1, 1]);
    const candidates = candidateSets(e, 2).map((c, i) => ({ ...c, probeKl: [0.5, 0.25, null][i]! }));
    const a = adviseLayers({ ...e, source: 'probe', candidates, probe3Tokens: 3 * 128, probeTokens: 96 + 3 * 128 }, 2);
    expect(a.chosen).toEqual([1, 3]);
    const r = adviceRecord(a);
    expect(r.candidates).toEqual([
      { attention_layers: [0, 1], source: 'score', probe_kl: 0.5 },
      { attention_layers: [1, 3], source: 'evenly spaced', probe_kl: 0.25 },
      { attention_layers: [3, 4], source: 'last layers', probe_kl: null },
    ]);
    expect(r.score).toBe(`${SCORE_FORMULA}; ${CHOICE_RULE}`);
    expect(r.evidence).toMatchObject({ probe_tokens: 480, probe3_tokens: 384 });
    expect(adviceFromRecord(JSON.parse(JSON.stringify(r)))).toEqual(a);
    // A record from before the probe reads without candidates; one whose candidates are not such a list does not read.
    const old = adviceRecord(adviseLayers(e, 2));
    expect(old.candidates).toBeUndefined();
    expect(old.score).toBe(SCORE_FORMULA);
    const back = adviceFromRecord(JSON.parse(JSON.stringify(old)))!;
    expect(back.evidence.candidates).toBeUndefined();
    expect(back.chosen).toEqual([0, 1]);
    expect(adviceFromRecord({ ...r, candidates: [{ attention_layers: [1], source: 'middle', probe_kl: 0.1 }] })).toBeNull();
    expect(adviceFromRecord({ ...r, candidates: [{ attention_layers: [1], source: 'score', probe_kl: '0.1' }] })).toBeNull();
    expect(adviceFromRecord({ ...r, candidates: 'none' })).toBeNull();
  });

  it("sizes each candidate's stage-3 probe at 3% of stage 3's steps, a few at least, the plan's at most", () => {
    expect([PROBE3_SHARE, PROBE3_MIN_STEPS]).toEqual([0.03, 4]);
    // 32 tokens a step.
    const plan: DistillPlan = { ...DEFAULT_PLAN, stages: [1, 2, 3], tokens: { 1: 32, 2: 32, 3: 2000 }, seqLen: 16, batch: 2, attentionAuto: 2 };
    // 63 steps: 3% is 2, so 4.
    expect(probe3Plan(plan)).toMatchObject({ stages: [3], tokens: { 1: 0, 2: 0, 3: 4 * 32 }, attentionAuto: null, attentionLayers: [] });
    // 10 000 steps: 300.
    expect(probe3Plan({ ...plan, tokens: { 1: 32, 2: 32, 3: 320_000 } }).tokens[3]).toBe(300 * 32);
    // 2 steps: both.
    expect(probe3Plan({ ...plan, tokens: { 1: 32, 2: 32, 3: 64 } }).tokens[3]).toBe(64);
  });

  it('probes only when the probes together take at most a quarter of stage 3, and only between two or more sets', () => {
    expect(PROBE3_MAX_SHARE).toBe(0.25);
    const plan: DistillPlan = { ...DEFAULT_PLAN, stages: [1, 2, 3], tokens: { 1: 32, 2: 32, 3: 64 * 32 }, seqLen: 16, batch: 2, attentionAuto: 1 };
    // 64 steps: 4 candidates × 4 steps = 16, a quarter exactly; 63 steps: 16 > 15.75.
    expect(probesAffordable(plan, 4)).toEqual({ ok: true, steps: 16, of: 64 });
    expect(probesAffordable({ ...plan, tokens: { 1: 32, 2: 32, 3: 63 * 32 } }, 4)).toEqual({ ok: false, steps: 16, of: 63 });
    // 10 000 steps: 4 × 300 = 12%.
    expect(probesAffordable({ ...plan, tokens: { 1: 32, 2: 32, 3: 320_000 } }, 4)).toEqual({ ok: true, steps: 1200, of: 10_000 });
    // One set leaves nothing to choose; a plan of 2 steps would be probed whole by each set.
    expect(probesAffordable(plan, 1).ok).toBe(false);
    expect(probesAffordable({ ...plan, tokens: { 1: 32, 2: 32, 3: 64 } }, 2)).toEqual({ ok: false, steps: 4, of: 2 });
  });

  it('restores layers greedily: each round the lowest KL beside those chosen, ties to the lower layer', async () => {
    // KL of a student of 4 layers with a set restored, worked by hand: layer 2 alone is best (0.5), but
    // beside it layer 0 (0.30) beats layer 3, the second best alone (0.32).
    const kl: Record<string, number> = { '0': 0.8, '1': 0.9, '2': 0.5, '3': 0.6, '0,2': 0.3, '1,2': 0.45, '2,3': 0.32 };
    const rounds: number[][] = [];
    const round = async (chosen: readonly number[], rest: readonly number[]) => {
      rounds.push([...rest]);
      return rest.map((l) => kl[[...chosen, l].sort((a, b) => a - b).join()]!);
    };
    expect(await greedyLayers(4, 1, round)).toEqual({ layers: [2], kl: 0.5 });
    rounds.length = 0;
    expect(await greedyLayers(4, 2, round)).toEqual({ layers: [0, 2], kl: 0.3 });
    expect(rounds).toEqual([[0, 1, 2, 3], [0, 1, 3]]);
    // A tie goes to the lower layer; a KL that is not finite is never chosen; a round of none ends it with null.
    expect(await greedyLayers(3, 1, async () => [0.4, 0.2, 0.2])).toEqual({ layers: [1], kl: 0.2 });
    expect(await greedyLayers(3, 1, async () => [NaN, Infinity, 0.9])).toEqual({ layers: [2], kl: 0.9 });
    expect(await greedyLayers(3, 1, async () => [NaN, NaN, NaN])).toBeNull();
  });

  it("sizes the greedy method's one probe at 24% of stage 3, 8 steps at least, and runs it within a quarter of stage 3", () => {
    expect([WARM_SHARE, WARM_MIN_STEPS]).toEqual([0.24, 8]);
    const plan: DistillPlan = { ...DEFAULT_PLAN, stages: [1, 2, 3], tokens: { 1: 32, 2: 32, 3: 100 * 32 }, seqLen: 16, batch: 2, attentionAuto: 2, attentionLayers: [] };
    // 100 steps: 24; every layer a mixer, stage 3 alone.
    expect(warmPlan(plan)).toMatchObject({ stages: [3], tokens: { 1: 0, 2: 0, 3: 24 * 32 }, attentionAuto: null, attentionLayers: [] });
    expect(warmAffordable(plan)).toEqual({ ok: true, steps: 24, of: 100 });
    // 40 steps: 9.6 → 10, a quarter; 32 steps: 7.68 → 8, a quarter; 31 steps: 8 > 7.75.
    expect(warmAffordable({ ...plan, tokens: { 1: 32, 2: 32, 3: 40 * 32 } })).toEqual({ ok: true, steps: 10, of: 40 });
    expect(warmAffordable({ ...plan, tokens: { 1: 32, 2: 32, 3: 32 * 32 } })).toEqual({ ok: true, steps: 8, of: 32 });
    // Rounding never takes it past a quarter, at any length of stage 3.
    for (let n = 32; n <= 400; n++) expect(warmAffordable({ ...plan, tokens: { 1: 32, 2: 32, 3: n * 32 } }).ok, `${n} steps`).toBe(true);
    expect(warmAffordable({ ...plan, tokens: { 1: 32, 2: 32, 3: 31 * 32 } })).toEqual({ ok: false, steps: 8, of: 31 });
    // 2 steps: both, too many.
    expect(warmAffordable({ ...plan, tokens: { 1: 32, 2: 32, 3: 64 } })).toEqual({ ok: false, steps: 2, of: 2 });
  });

  it('records the greedy probe beside the candidates and reads it back', () => {
    const e = evidence([0.2, 0.3, 0.1, 0.25, 0.15], 1, [0.2, 1, 1, 1, 1]);
    const warm = { baseKl: 0.6, looKl: [0.55, 0.4, 0.5, 0.45, 0.58], tokens: 384 };
    const candidates = [
      { layers: [1, 3], source: 'greedy' as const, probeKl: 0.3 },
      { layers: [0, 1], source: 'score' as const, probeKl: 0.35 },
    ];
    const a = adviseLayers({ ...e, candidates, warm, probe3Tokens: 384, probeTokens: 384 }, 2);
    expect(a.chosen).toEqual([1, 3]);
    const r = adviceRecord(a);
    expect(r.method).toBe('greedy');
    expect(r.score).toBe(`${SCORE_FORMULA}; ${GREEDY_RULE}`);
    expect(choiceRule(a.evidence)).toBe(GREEDY_RULE);
    expect(r.evidence).toMatchObject({ warm_probe: { held_out_kl: 0.6, leave_one_out_kl: warm.looKl, tokens: 384 } });
    expect(adviceFromRecord(JSON.parse(JSON.stringify(r)))).toEqual(a);
    // A record without it reads as the candidate sets' probes; one whose warm probe is malformed does not read.
    expect(adviceRecord(adviseLayers({ ...e, candidates }, 2)).method).toBe('sets');
    expect(adviceRecord(adviseLayers(e, 2)).method).toBe('score');
    const bad = { ...r, evidence: { ...(r.evidence as object), warm_probe: { held_out_kl: 0.6, leave_one_out_kl: 'x', tokens: 384 } } };
    expect(adviceFromRecord(bad)).toBeNull();
  });

  it('checks an edited choice of layers', () => {
    expect(layerChoiceProblem([0, 2], 4)).toBeNull();
    expect(layerChoiceProblem([], 4)).toBeNull();
    expect(layerChoiceProblem([4], 4)).toMatch(/0 to 3/);
    expect(layerChoiceProblem([1, 1], 4)).toMatch(/twice/);
    expect(layerChoiceProblem([0, 1, 2, 3], 4)).toMatch(/nothing to distill/);
  });
});
