// The Mixer lab panel's logic without a page: the state sizes as typed, each bad setting named by its
// field, and the share of the lab done from the engine's progress.
import { describe, expect, it } from 'vitest';
import { labErrors, labFits, labFraction, parseStates, PAGE_LAB_DEFAULTS } from '../../src/ui/mixer-lab';

describe('parseStates', () => {
  it('reads comma-separated sizes, ascending, and says what is wrong with the rest', () => {
    expect(parseStates(' 64, 16,32 ')).toEqual([16, 32, 64]);
    expect(parseStates('8,')).toEqual([8]);
    expect(parseStates('')).toBe('give one or more state sizes, e.g. 16,32,64');
    expect(parseStates('4,x')).toBe('"x" is not a state size from 1 to 1024');
    expect(parseStates('0')).toBe('"0" is not a state size from 1 to 1024');
    expect(parseStates('4,4')).toBe('4 is given twice');
  });
});

describe('labErrors', () => {
  it('names each bad field, the sequence against the teacher\'s positions', () => {
    expect(labErrors(PAGE_LAB_DEFAULTS, 512)).toEqual({});
    expect(labErrors({ states: '2,2', steps: 0, samples: 1.5, seqLen: 600 }, 512)).toEqual({
      states: '2 is given twice',
      steps: 'at least one step',
      samples: 'at least one sequence',
      seqLen: 'the teacher has 512 positions',
    });
    expect(labErrors({ ...PAGE_LAB_DEFAULTS, seqLen: 1 }, null)).toEqual({ seqLen: 'at least 2 tokens' });
  });
});

describe('labFraction', () => {
  it('counts the fits in the order the lab runs them, Toeplitz once, over every batch', () => {
    expect(labFits([4, 8]).map((f) => `${f.family}/${f.states}`)).toEqual(['toeplitz/null', 'low-rank/4', 'low-rank/8', 'ssd/4', 'ssd/8', 'ssm/4', 'ssm/8']);
    const p = { steps: 10, batches: 2, distance: 1 };
    expect(labFraction({ ...p, family: 'toeplitz', states: null, step: 0, batch: 0 }, [4, 8])).toBe(0);
    // 7 fits × 10 steps a batch, 140 in all; low-rank N=8 is batch 0's third fit.
    expect(labFraction({ ...p, family: 'low-rank', states: 8, step: 5, batch: 0 }, [4, 8])).toBeCloseTo(25 / 140, 12);
    expect(labFraction({ ...p, family: 'ssm', states: 8, step: 10, batch: 1 }, [4, 8])).toBe(1);
    // A fit the settings no longer list (they were edited while it ran) reads as nothing done.
    expect(labFraction({ ...p, family: 'ssd', states: 16, step: 3, batch: 0 }, [4, 8])).toBe(0);
  });
});
