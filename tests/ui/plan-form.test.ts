// The page's distillation plan: defaults, the paper's proportions, validation messages.
import { describe, expect, it } from 'vitest';
import { DEFAULT_PLAN, splitTokens, stepsPerStage, toggleStage, tokensPerStep, totalTokens, withTotal, type DistillPlan } from '../../src/mohawk/plan';
import { distillPlanErrors, formatLayerList, parseLayerList, planErrorText, teacherPositions } from '../../src/ui/plan-form';

const plan = (patch: Partial<DistillPlan> = {}): DistillPlan => ({ ...structuredClone(DEFAULT_PLAN), ...patch });

describe('defaults', () => {
  it('are valid for the built-in teacher and follow the paper 80 : 160 : 2760', () => {
    expect(distillPlanErrors(plan(), 5)).toEqual({});
    const t = DEFAULT_PLAN.tokens;
    expect(t[2] / t[1]).toBe(2);
    expect(t[3] / t[1]).toBe(34.5);
    expect(totalTokens(DEFAULT_PLAN)).toBe(3_000_000);
  });

  it('count steps as the engine does: a partial last step is a step', () => {
    expect(tokensPerStep(DEFAULT_PLAN)).toBe(1024);
    expect(stepsPerStage(plan())).toEqual({ 1: 79, 2: 157, 3: 2696 });
    expect(stepsPerStage(plan({ stages: [3], accumulate: 2 }))).toEqual({ 1: 0, 2: 0, 3: 1348 });
  });
});

describe('token budgets', () => {
  it('split a total in the paper proportions into integers that add up exactly', () => {
    expect(splitTokens(3_000_000, [1, 2, 3])).toEqual({ 1: 80_000, 2: 160_000, 3: 2_760_000 });
    const odd = splitTokens(1_000_001, [1, 2, 3]);
    expect(odd[1] + odd[2] + odd[3]).toBe(1_000_001);
    for (const s of [1, 2, 3] as const) expect(Number.isInteger(odd[s])).toBe(true);
    // 1,000,001 × 80/3000 = 26,666.69, × 160/3000 = 53,333.39, × 2760/3000 = 920,000.92: the floors leave
    // two units, which go to the largest fractions (stage 3, then stage 1).
    expect(odd).toEqual({ 1: 26_667, 2: 53_333, 3: 920_001 });
    // Among the stages that run only: stage 3 alone gets everything, 2 and 3 share 160 : 2760.
    expect(splitTokens(12_345, [3])).toEqual({ 1: 0, 2: 0, 3: 12_345 });
    expect(splitTokens(2920, [2, 3])).toEqual({ 1: 0, 2: 160, 3: 2760 });
    expect(splitTokens(0, [1, 2, 3])).toEqual({ 1: 0, 2: 0, 3: 0 });
  });

  it('rescale only the enabled stages and keep the others for when they come back', () => {
    const p = withTotal(toggleStage(plan(), 1, false), 2920);
    expect(p.stages).toEqual([2, 3]);
    expect(p.tokens).toEqual({ 1: 80_000, 2: 160, 3: 2760 });
    expect(totalTokens(p)).toBe(2920);
    const back = toggleStage(p, 1, true);
    expect(back.stages).toEqual([1, 2, 3]);
    expect(totalTokens(back)).toBe(82_920);
    // The default is not mutated through the copies.
    expect(DEFAULT_PLAN.tokens[2]).toBe(160_000);
  });
});

describe('validation', () => {
  it('names each bad field with a message', () => {
    const e = distillPlanErrors(plan({ seqLen: 4, batch: 1.5, temperature: 0, seed: -1, stages: [] }), 5);
    expect(e).toEqual({
      seqLen: 'must be between 8 and 8192',
      batch: 'must be a whole number',
      temperature: 'must be between 0.1 and 10',
      seed: 'must be between 0 and 2147483647',
      stages: 'choose at least one stage',
    });
  });

  it('checks budgets and rates of the enabled stages only', () => {
    const p = plan({ stages: [2, 3], tokens: { 1: -5, 2: 1000, 3: 5000 }, lr: { 1: NaN, 2: 1e-3, 3: 0.9 } });
    expect(distillPlanErrors(p, 5)).toEqual({ 'tokens.2': 'less than one optimizer step (1,024 tokens)', 'lr.3': 'must be between 1e-7 and 0.5' });
    expect(distillPlanErrors(plan({ tokens: { 1: 2.5, 2: 160_000, 3: 2_760_000 } }), 5)).toEqual({ 'tokens.1': 'must be a whole number' });
  });

  it('refuses a schedule longer than the stage', () => {
    expect(distillPlanErrors(plan({ warmup: 0.6, decay: 0.5 }), 5)).toEqual({ schedule: 'warmup and decay together exceed the whole stage' });
  });

  it('checks attention layers against the teacher', () => {
    expect(distillPlanErrors(plan({ attentionLayers: [1, 3] }), 5)).toEqual({});
    expect(distillPlanErrors(plan({ attentionLayers: [5] }), 5)).toEqual({ attentionLayers: 'this teacher has layers 0 to 4' });
    expect(distillPlanErrors(plan({ attentionLayers: [5] }), null)).toEqual({});
    expect(distillPlanErrors(plan({ attentionLayers: [0, 1] }), 2)).toEqual({ attentionLayers: 'every layer kept as attention leaves nothing to distill' });
    expect(distillPlanErrors(plan({ attentionLayers: [1, 1] }), 5)).toEqual({ attentionLayers: 'a layer is named twice' });
  });

  it('checks auto:K against the teacher and the stages', () => {
    expect(distillPlanErrors(plan({ attentionAuto: 2 }), 5)).toEqual({});
    expect(distillPlanErrors(plan({ attentionAuto: 4 }), null)).toEqual({});
    expect(distillPlanErrors(plan({ attentionAuto: 5 }), 5).attentionAuto).toBe('this teacher has 5 layers: K is 1 to 4');
    expect(distillPlanErrors(plan({ attentionAuto: 0 }), 5).attentionAuto).toBe('K is a whole number of layers from 1');
    expect(distillPlanErrors(plan({ attentionAuto: 1, stages: [1, 2] }), 5).attentionAuto).toMatch(/turn stage 3 on/);
    expect(distillPlanErrors(plan({ attentionAuto: null }), 5)).toEqual({});
  });

  it("checks the sequence length against the loaded teacher's positions, naming the config field", () => {
    const gpt2 = teacherPositions({ maxPositions: 128, positionsField: 'n_positions' });
    expect(distillPlanErrors(plan({ seqLen: 128 }), 2, gpt2)).toEqual({});
    expect(distillPlanErrors(plan({ seqLen: 256 }), 2, gpt2)).toEqual({ seqLen: 'this teacher has 128 positions (n_positions in its config.json)' });
    expect(distillPlanErrors(plan({ seqLen: 256 }), null, teacherPositions(null))).toEqual({});
    // The field's own bounds speak first.
    expect(distillPlanErrors(plan({ seqLen: 4 }), 2, gpt2)).toEqual({ seqLen: 'must be between 8 and 8192' });
  });

  it('joins errors into one status line', () => {
    expect(planErrorText({ 'tokens.1': 'x', seqLen: 'y' })).toBe('tokens 1: x; seqLen: y');
  });
});

describe('attention layer lists', () => {
  it('parse commas or spaces, sorted, without repeats', () => {
    expect(parseLayerList('')).toEqual([]);
    expect(parseLayerList(' 3, 1 ,1  0')).toEqual([0, 1, 3]);
    expect(formatLayerList([0, 1, 3])).toBe('0, 1, 3');
    expect(() => parseLayerList('1, x')).toThrow('"x" is not a layer number');
    expect(() => parseLayerList('-1')).toThrow('"-1" is not a layer number');
  });
});
