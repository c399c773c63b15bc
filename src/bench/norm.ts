// RMSNorm and LayerNorm over the model width, forward and backward with weight gradients, at the
// activations of a training batch (8×2048 tokens of width 2048). Bytes: x and y (or x, dy, dx)
// once each; the weights and per-row statistics are too small to count.
import { layerNorm, layerNormBackward, rmsNorm, rmsNormBackward } from '../kernels/norm';
import type { BenchCase, BenchSize } from './case';

export function normCases(size: BenchSize): BenchCase[] {
  const [rows, d] = size === 'full' ? [16384, 2048] : [37, 100];
  const shape = `${rows}x${d}`;
  const n = rows * d;
  const eps = 1e-5;
  return [
    {
      group: 'norm',
      name: 'rmsnorm fwd',
      shape,
      setup: (gpu, data) => ({ ops: rmsNorm(gpu, { x: data.uniform(n), w: data.uniform(d), y: data.out(n), rstd: data.out(rows), rows, d, eps }), bytes: 8 * n }),
    },
    {
      group: 'norm',
      name: 'rmsnorm bwd',
      shape,
      setup: (gpu, data) => ({
        ops: rmsNormBackward(gpu, { x: data.uniform(n), w: data.uniform(d), rstd: data.uniform(rows, 0.5, 2), dy: data.uniform(n), dx: data.out(n), dw: data.out(d), rows, d }),
        bytes: 12 * n,
      }),
    },
    {
      group: 'norm',
      // The residual add folded into the norm (a sequential block's h = x + mixer out, then norm2):
      // x and a read, h and y written.
      name: 'rmsnorm add fwd',
      shape,
      setup: (gpu, data) => ({
        ops: rmsNorm(gpu, { x: data.uniform(n), w: data.uniform(d), y: data.out(n), rstd: data.out(rows), rows, d, eps, residual: { add: data.uniform(n), sum: data.out(n) } }),
        bytes: 16 * n,
      }),
    },
    {
      group: 'norm',
      name: 'layernorm fwd',
      shape,
      setup: (gpu, data) => ({
        ops: layerNorm(gpu, { x: data.uniform(n), w: data.uniform(d), b: data.uniform(d), y: data.out(n), mean: data.out(rows), rstd: data.out(rows), rows, d, eps }),
        bytes: 8 * n,
      }),
    },
    {
      group: 'norm',
      name: 'layernorm bwd',
      shape,
      setup: (gpu, data) => ({
        ops: layerNormBackward(gpu, {
          x: data.uniform(n),
          w: data.uniform(d),
          mean: data.uniform(rows, -0.1, 0.1),
          rstd: data.uniform(rows, 0.5, 2),
          dy: data.uniform(n),
          dx: data.out(n),
          dw: data.out(d),
          db: data.out(d),
          rows,
          d,
        }),
        bytes: 12 * n,
      }),
    },
  ];
}
