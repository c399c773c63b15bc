// Token embedding of a training batch (8×2048 tokens, width 2048, GPT-2's 50257 ids), forward and
// backward (sorted, deterministic sums). Bytes: forward a table row read and an output row written
// per token; backward dOut read once and the whole dTable written (rows no token uses are zeroed).
import { embedding, embeddingBackward } from '../kernels/embedding';
import type { BenchCase, BenchSize } from './case';

export function embeddingCases(size: BenchSize): BenchCase[] {
  const [tokens, d, vocab] = size === 'full' ? [16384, 2048, 50257] : [300, 24, 500];
  const shape = `t${tokens} d${d} v${vocab}`;
  return [
    {
      group: 'embedding',
      name: 'embedding fwd',
      shape,
      setup: (gpu, data) => ({ ops: embedding(gpu, { ids: data.ids(tokens, vocab), table: data.uniform(vocab * d), out: data.out(tokens * d), tokens, d, vocab }), bytes: 8 * tokens * d }),
    },
    {
      group: 'embedding',
      name: 'embedding bwd',
      shape,
      setup: (gpu, data) => ({
        ops: embeddingBackward(gpu, { ids: data.ids(tokens, vocab), dOut: data.uniform(tokens * d), dTable: data.out(vocab * d), tokens, d, vocab }),
        bytes: 4 * (tokens + vocab) * d,
      }),
    },
  ];
}
