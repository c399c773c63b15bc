// The mixer lab's bookkeeping: batches that bound memory, per-layer means, and the check of the
// paper's finding (SSM < SSD < low-rank ≪ Toeplitz at every N, falling with N).
import { describe, expect, it } from 'vitest';
import { addBatch, checkFinding, familyOrder, labBatches, labCaveats, LayerMeans, rowStates, type MixerLabRow } from '../../src/mohawk/mixer-lab-table';

/** The paper's Table 3 (Llama-2-7B, C4, 512 tokens) where it gives figures; Toeplitz ≈ 12 throughout. */
const PAPER: MixerLabRow[] = [
  { family: 'toeplitz', states: 16, distance: 12, layers: {} },
  { family: 'toeplitz', states: 64, distance: 12, layers: {} },
  { family: 'low-rank', states: 16, distance: 0.6, layers: {} },
  { family: 'low-rank', states: 64, distance: 0.13, layers: {} },
  { family: 'ssd', states: 16, distance: 0.46, layers: {} },
  { family: 'ssd', states: 64, distance: 0.095, layers: {} },
  { family: 'ssm', states: 16, distance: 0.25, layers: {} },
  { family: 'ssm', states: 64, distance: 0.045, layers: {} },
];

describe('labBatches', () => {
  it('takes every layer with as many sequences as fit, the last batch shorter', () => {
    // 2 heads × 4×4 = 32 floats per (sequence, layer); 3 layers: 96 per sequence.
    expect(labBatches(5, [0, 1, 2], 2, 4, 200)).toEqual([
      { seq0: 0, seqs: 2, layers: [0, 1, 2] },
      { seq0: 2, seqs: 2, layers: [0, 1, 2] },
      { seq0: 4, seqs: 1, layers: [0, 1, 2] },
    ]);
  });

  it('splits the layers of one sequence when a sequence of every layer does not fit, one layer at least', () => {
    expect(labBatches(2, [0, 3, 5], 2, 4, 70)).toEqual([
      { seq0: 0, seqs: 1, layers: [0, 3] },
      { seq0: 0, seqs: 1, layers: [5] },
      { seq0: 1, seqs: 1, layers: [0, 3] },
      { seq0: 1, seqs: 1, layers: [5] },
    ]);
    expect(labBatches(1, [0, 1], 2, 4, 10)).toEqual([
      { seq0: 0, seqs: 1, layers: [0] },
      { seq0: 0, seqs: 1, layers: [1] },
    ]);
  });
});

describe('addBatch and LayerMeans', () => {
  it('reads a batch as (layer, sequence, head) and averages every matrix alike', () => {
    const m = new LayerMeans();
    // 2 sequences × 2 heads of layers 3 and 1.
    addBatch(m, [1, 2, 3, 4, 10, 20, 30, 40], { seq0: 0, seqs: 2, layers: [3, 1] }, 2);
    addBatch(m, [5, 6, 50, 60], { seq0: 2, seqs: 1, layers: [3, 1] }, 2);
    const r = m.means();
    expect(r.layers).toEqual({ '1': 35, '3': 3.5 });
    expect(Object.keys(r.layers)).toEqual(['1', '3']);
    expect(r.mean).toBeCloseTo((21 + 210) / 12, 12);
  });

  it('refuses distances that are not the batch\'s matrices', () => {
    expect(() => addBatch(new LayerMeans(), [1, 2, 3], { seq0: 0, seqs: 2, layers: [0] }, 2)).toThrow(/2 sequences × 1 layers × 2 heads has 4 matrices, not 3/);
  });
});

describe('checkFinding', () => {
  it('holds for the paper\'s own figures', () => {
    const c = checkFinding(PAPER);
    expect(c).toEqual({ ordered: true, falling: true, toeplitzOverLowRank: 20, problems: [] });
    expect(rowStates(PAPER)).toEqual([16, 64]);
    expect(familyOrder(PAPER, 16)).toEqual(['ssm', 'ssd', 'low-rank', 'toeplitz']);
  });

  it('names every place the rows depart from it', () => {
    const rows = PAPER.map((r) => (r.family === 'ssd' && r.states === 64 ? { ...r, distance: 0.2 } : r));
    const c = checkFinding(rows);
    expect(c.ordered).toBe(false);
    expect(c.falling).toBe(true);
    expect(c.problems).toEqual(['N=64: SSD (0.200) is not below low-rank (0.130)']);
    expect(familyOrder(rows, 64)).toEqual(['ssm', 'low-rank', 'ssd', 'toeplitz']);
    const flat = checkFinding(PAPER.map((r) => (r.family === 'low-rank' ? { ...r, distance: 0.6 } : r)));
    expect(flat.ordered).toBe(true);
    expect(flat.falling).toBe(false);
    expect(flat.problems).toEqual(['low-rank: N=64 (0.600) is not below N=16 (0.600)']);
    // A missing family is never taken as in order.
    expect(checkFinding(PAPER.filter((r) => r.family !== 'ssd')).ordered).toBe(false);
  });
});

describe('labCaveats', () => {
  it('says when a state size reaches the sequence length, where every family but Toeplitz fits exactly', () => {
    expect(labCaveats([16, 32, 64], 128)).toEqual([]);
    expect(labCaveats([16, 32, 64], 32)).toEqual(['N=32, 64 ≥ L=32 tokens: rank N expresses any causal L×L matrix, so low-rank, SSD and SSM can all fit it exactly there (take longer sequences)']);
  });
});
