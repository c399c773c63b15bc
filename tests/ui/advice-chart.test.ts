// The hybrid advisor's chart columns (src/ui/advice-chart.ts): scores split by the layers kept, and
// each layer's shares of the two kinds of evidence.
import { describe, expect, it } from 'vitest';
import { adviceBars, adviceData } from '../../src/ui/advice-chart';
import { adviseLayers } from '../../src/mohawk/hybrid-advisor';

// Attention-output norms 2, 2, 1, 1: relative residuals 0.5, 2, 2, 3 (sum 7.5), the shares the chart draws.
const advice = adviseLayers({ source: 'probe', residual: [1, 4, 2, 3], attentionNorm: [2, 2, 1, 1], baseKl: 1, looKl: [0.5, 1.2, 0.7, 0.8], docs: 2, tokens: 40, probeTokens: 64 }, 2);

describe('advice chart', () => {
  it('puts each score in the kept or the Mamba column, and the evidence as shares', () => {
    const b = adviceBars(advice, advice.layers);
    expect(b.layers).toEqual([0, 1, 2, 3]);
    // Scores .25·(.5, 0, .3, .2) + .75·(.5, 2, 2, 3)/7.5 = .175, .2, .275, .35.
    expect(advice.layers).toEqual([2, 3]);
    expect(b.kept).toEqual([null, null, advice.scores[2], advice.scores[3]]);
    expect(b.mixer).toEqual([advice.scores[0], advice.scores[1], null, null]);
    [0.5, 0, 0.3, 0.2].forEach((v, l) => expect(b.klShare[l]).toBeCloseTo(v, 12));
    [0.5 / 7.5, 2 / 7.5, 2 / 7.5, 3 / 7.5].forEach((v, l) => expect(b.residualShare[l]).toBeCloseTo(v, 12));
    [0.175, 0.2, 0.275, 0.35].forEach((v, l) => expect(advice.scores[l]).toBeCloseTo(v, 12));
    // The score is the weighted sum of the shares.
    b.layers.forEach((l) => expect(0.25 * b.klShare[l]! + 0.75 * b.residualShare[l]!).toBeCloseTo(advice.scores[l]!, 12));
    // An edit moves bars between the columns.
    const edited = adviceBars(advice, [0]);
    expect(edited.kept).toEqual([advice.scores[0], null, null, null]);
    expect(adviceData(edited)).toHaveLength(5);
  });

  it("adds the greedy method's KL gain on its stage-3 probe as a sixth column, only where it ran", () => {
    expect(adviceBars(advice, advice.layers).warmShare).toBeNull();
    // Gains on the probe: 0.6 − (0.5, 0.7, 0.3, 0.4) → 0.1, 0, 0.3, 0.2 of 0.6.
    const greedy = adviseLayers({ ...advice.evidence, warm: { baseKl: 0.6, looKl: [0.5, 0.7, 0.3, 0.4], tokens: 64 } }, 2);
    const b = adviceBars(greedy, greedy.layers);
    [1 / 6, 0, 0.5, 1 / 3].forEach((v, l) => expect(b.warmShare![l]).toBeCloseTo(v, 12));
    expect(adviceData(b)).toHaveLength(6);
  });

  it('draws no share for a kind of evidence that is 0 everywhere', () => {
    const flat = adviseLayers({ ...advice.evidence, baseKl: 0.1, looKl: [0.2, 0.3, 0.4, 0.5] }, 1);
    expect(adviceBars(flat, flat.layers).klShare).toEqual([0, 0, 0, 0]);
  });
});
