import { describe, expect, it } from 'vitest';
import { progressText } from '../../src/ui/progress-text';

describe('the status line progress', () => {
  it('says bytes of files and values of weights in their units, with the share done', () => {
    expect(progressText({ label: 'reading big.jsonl.gz', done: 3 * 2 ** 20, total: 12 * 2 ** 20, unit: 'bytes' })).toBe('reading big.jsonl.gz: 3.0 MiB of 12.0 MiB (25%)');
    expect(progressText({ label: 'reading the weights', done: 120_000_000, total: 1_418_000_000, unit: 'values' })).toBe('reading the weights: 120M of 1.42B values (8%)');
    expect(progressText({ label: 'held-out documents', done: 3, total: 50 })).toBe('held-out documents: 3 / 50');
  });
});
