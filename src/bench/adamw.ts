// One AdamW step with global-norm clipping over a flat buffer of ~100M parameters. Bytes: the
// gradient read twice (its norm, then the update), parameters and both moments read and written:
// 32 bytes per parameter.
import { adamw } from '../kernels/adamw';
import type { BenchCase, BenchSize } from './case';

export function adamwCases(size: BenchSize): BenchCase[] {
  const count = size === 'full' ? 100_000_000 : 10_007;
  return [
    {
      group: 'adamw',
      name: 'adamw step',
      shape: `${count}`,
      setup(gpu, data) {
        const opt = adamw(gpu, {
          params: data.uniform(count),
          grads: data.uniform(count, -1e-3, 1e-3),
          m: data.out(count),
          v: data.out(count),
          count,
          config: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 },
        });
        opt.setStep(1, 1e-4);
        return { ops: opt.ops, bytes: 32 * count };
      },
    },
  ];
}
