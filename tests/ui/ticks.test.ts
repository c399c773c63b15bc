// Axis ticks: whole steps, 1-2-5 log ticks, and labels that read like a training log.
import { describe, expect, it } from 'vitest';
import { clockLabel, compactNumber, linearSplits, logSplits, niceStep, stepLabel, ticks, timeSplits, tokenLabel, valueLabel } from '../../src/ui/ticks';

describe('linear ticks', () => {
  it('step on 1-2-5 multiples without float noise', () => {
    expect([0.7, 1, 1.5, 3, 7, 12, 0.03].map((r) => niceStep(r))).toEqual([1, 1, 2, 5, 10, 20, 0.05]);
    expect(linearSplits(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(linearSplits(0.1, 0.35, 5)).toEqual([0.1, 0.15, 0.2, 0.25, 0.3, 0.35]);
  });

  it('are whole numbers on an integer axis however few steps it spans', () => {
    expect(linearSplits(1, 3, 10, true)).toEqual([1, 2, 3]);
    expect(linearSplits(0.5, 2.5, 8, true)).toEqual([1, 2]);
    expect(linearSplits(1, 35, 5, true)).toEqual([10, 20, 30]);
    for (const [lo, hi, n] of [[1, 7, 9], [3.2, 11.7, 6], [1, 1000, 7]] as const) {
      const s = linearSplits(lo, hi, n, true);
      expect(s.length).toBeGreaterThan(0);
      expect(s.every(Number.isInteger)).toBe(true);
    }
  });

  it('keep two ticks on a short axis where the span allows', () => {
    expect(linearSplits(0.2, 4.4, 2)).toEqual([1, 2, 3, 4]);
    expect(linearSplits(1.2, 1.9, 1, true)).toEqual([]);
    expect(linearSplits(1, 2, 1, true)).toEqual([1, 2]);
  });

  it('handle a single value and an empty range', () => {
    expect(linearSplits(4, 4, 5, true)).toEqual([4]);
    expect(linearSplits(2.5, 2.5, 5, true)).toEqual([]);
    expect(linearSplits(5, 4, 5)).toEqual([]);
    expect(linearSplits(NaN, 4, 5)).toEqual([]);
  });
});

describe('log ticks', () => {
  it('are 1, 2 and 5 of each decade the axis spans', () => {
    expect(logSplits(0.15, 12, 10)).toEqual([0.2, 0.5, 1, 2, 5, 10]);
    expect(logSplits(1.8, 60, 10)).toEqual([2, 5, 10, 20, 50]);
  });

  it('keep only decades on a wide span, every n-th when even those crowd', () => {
    expect(logSplits(1e-4, 10, 6)).toEqual([1e-4, 1e-3, 0.01, 0.1, 1, 10]);
    expect(logSplits(1e-8, 1e4, 4)).toEqual([1e-8, 1e-4, 1, 1e4]);
  });

  it('fall back to evenly spaced ticks on a span too narrow for three 1-2-5 values', () => {
    expect(logSplits(2.1, 2.4, 4)).toEqual([2.1, 2.2, 2.3, 2.4]);
    expect(logSplits(0.9, 2.1, 5)).toEqual([1, 1.5, 2]);
  });
});

describe('labels', () => {
  it('write numbers compactly, tiny and huge ones with an exponent', () => {
    expect([0.2, 0.5, 1, 2, 5, 22.5, 1500, 0.001, 0].map(compactNumber)).toEqual(['0.2', '0.5', '1', '2', '5', '22.5', '1500', '0.001', '0']);
    expect([1e-4, 2.5e-5, 3e-4 + 1e-20, 9.999e-5, 2.5e6, -3e-4].map(compactNumber)).toEqual(['1e-4', '2.5e-5', '3e-4', '1e-4', '2.5e6', '-3e-4']);
  });

  it('write tokens as 10k and 1.5M, steps as whole numbers', () => {
    expect([0, 512, 1000, 10_000, 15_360, 1_500_000, 2e9].map(tokenLabel)).toEqual(['0', '512', '1k', '10k', '15.36k', '1.5M', '2B']);
    expect([3, 2000, 150_000].map(stepLabel)).toEqual(['3', '2000', '150k']);
  });

  it('write wall time as m:ss, and h:mm from an hour (with seconds when ticks are seconds apart)', () => {
    expect(clockLabel(0)).toBe('0:00');
    expect(clockLabel(75)).toBe('1:15');
    expect(clockLabel(3599)).toBe('59:59');
    expect(clockLabel(3600 + 25 * 60)).toBe('1:25');
    expect(clockLabel(3600 + 25 * 60 + 7, 10)).toBe('1:25:07');
    expect(valueLabel('time', 3725)).toBe('1:02:05');
    expect(valueLabel('tokens', null)).toBe('–');
  });
});

describe('time ticks', () => {
  it('fall on whole seconds, minutes and hours', () => {
    expect(timeSplits(0, 50, 5)).toEqual([0, 10, 20, 30, 40, 50]);
    expect(timeSplits(3, 400, 4)).toEqual([120, 240, 360]);
    expect(ticks('time', 0, 7200, 4)).toEqual({ splits: [0, 1800, 3600, 5400, 7200], labels: ['0:00', '30:00', '1:00', '1:30', '2:00'] });
  });

  it('label each kind of axis', () => {
    expect(ticks('tokens', 0, 40_000, 4).labels).toEqual(['0', '10k', '20k', '30k', '40k']);
    expect(ticks('int', 1, 9, 4).labels).toEqual(['2', '4', '6', '8']);
    expect(ticks('log', 0.15, 12, 10).labels).toEqual(['0.2', '0.5', '1', '2', '5', '10']);
  });
});
