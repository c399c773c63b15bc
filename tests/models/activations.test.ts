// Which Activations buffers alias which: what the decoder's memory and correctness rest on. A layer's
// buffer is shared by every layer unless layers are kept; kept and scratch buffers never are; the
// three kinds never share a buffer, even under one name.
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/runtime';
import { Activations } from '../../src/models/layers';

/** Buffers are plain objects here: only their identity and size matter. */
function fakeGpu(): { gpu: Gpu; made: string[]; released: string[] } {
  const made: string[] = [];
  const released: string[] = [];
  const gpu = {
    buffer: (bytes: number, label: string) => (made.push(label), { size: bytes, label }),
    release: (b: { label: string }) => released.push(b.label),
  } as unknown as Gpu;
  return { gpu, made, released };
}

describe('Activations', () => {
  it('shares a layer buffer across layers unless layers are kept', () => {
    const shared = new Activations(fakeGpu().gpu, false);
    expect(shared.layer('attn.q', 0, 8)).toBe(shared.layer('attn.q', 3, 8));
    expect(shared.layer('attn.q', 0, 8)).not.toBe(shared.layer('attn.k', 0, 8));
    const kept = new Activations(fakeGpu().gpu, true);
    expect(kept.layer('attn.q', 0, 8)).not.toBe(kept.layer('attn.q', 3, 8));
    expect(kept.layer('attn.q', 3, 8)).toBe(kept.layer('attn.q', 3, 8));
  });

  it('keeps kept buffers apart per layer, and scratch one per name, whether layers are kept or not', () => {
    for (const perLayer of [false, true]) {
      const a = new Activations(fakeGpu().gpu, perLayer);
      expect(a.kept('residual', 0, 8)).not.toBe(a.kept('residual', 1, 8));
      expect(a.kept('residual', 1, 8)).toBe(a.kept('residual', 1, 8));
      expect(a.scratch('attn.dO', 8)).toBe(a.scratch('attn.dO', 8));
      expect(a.scratch('attn.dO', 8)).not.toBe(a.scratch('attn.dQ', 8));
    }
  });

  it('never aliases buffers of different kinds, even under one name', () => {
    for (const perLayer of [false, true]) {
      const a = new Activations(fakeGpu().gpu, perLayer);
      const bufs = [a.layer('x', 0, 8), a.kept('x', 0, 8), a.scratch('x', 8), a.scratch('x@0', 8), a.layer('x@0', 0, 8)];
      expect(new Set(bufs).size).toBe(bufs.length);
    }
  });

  it('refuses a larger second request and a layer that is not an index; releases in the order made', () => {
    const { gpu, made, released } = fakeGpu();
    const a = new Activations(gpu, false);
    a.scratch('logits', 8);
    expect(a.scratch('logits', 4)).toBe(a.scratch('logits', 8));
    expect(() => a.scratch('logits', 9)).toThrow(/logits requested with two sizes/);
    expect(() => a.layer('attn.q', -1, 8)).toThrow(/not a layer index/);
    expect(() => a.kept('residual', 0.5, 8)).toThrow(/not a layer index/);
    a.kept('residual', 0, 8);
    a.layer('norm1.out', 2, 8);
    a.release();
    expect(released).toEqual(made);
    expect(made).toEqual(['logits', 'residual@0', 'norm1.out']);
  });
});
