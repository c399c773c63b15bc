// Activations, the Mamba-2 causal conv1d and the residual stream's sums: memory-bound kernels,
// measured in GB/s against the bytes they must move (each input read once, each output written
// once, f32).
import { gatedSilu, gatedSiluBackward, swiglu, swigluBackward, unary, unaryBackward, type Unary } from '../kernels/activations';
import { conv1d, conv1dBackward } from '../kernels/conv1d';
import { add, axpy } from '../kernels/elementwise';
import type { BenchCase, BenchSize } from './case';

function unaryCases(kind: Unary, n: number): BenchCase[] {
  const shape = `${n}`;
  return [
    { group: 'activation', name: `${kind} fwd`, shape, setup: (gpu, data) => ({ ops: unary(gpu, { kind, x: data.uniform(n, -4, 4), y: data.out(n), n }), bytes: 8 * n }) },
    {
      group: 'activation',
      name: `${kind} bwd`,
      shape,
      setup: (gpu, data) => ({ ops: unaryBackward(gpu, { kind, x: data.uniform(n, -4, 4), dy: data.uniform(n), dx: data.out(n), n }), bytes: 12 * n }),
    },
  ];
}

export function activationCases(size: BenchSize): BenchCase[] {
  // The MLP or in_proj width of a 2048-wide model over 8×2048 tokens.
  const [rows, cols] = size === 'full' ? [16384, 4096] : [19, 70];
  const n = rows * cols;
  const shape = `${rows}x${cols}`;
  return [
    ...(['silu', 'gelu', 'geluTanh', 'softplus'] as const).flatMap((k) => unaryCases(k, n)),
    {
      group: 'activation',
      name: 'swiglu fwd',
      shape,
      setup: (gpu, data) => ({ ops: swiglu(gpu, { gate: data.uniform(n), up: data.uniform(n), out: data.out(n), rows, cols }), bytes: 12 * n }),
    },
    {
      group: 'activation',
      name: 'swiglu bwd',
      shape,
      setup: (gpu, data) => ({
        ops: swigluBackward(gpu, { gate: data.uniform(n), up: data.uniform(n), dOut: data.uniform(n), dGate: data.out(n), dUp: data.out(n), rows, cols }),
        bytes: 20 * n,
      }),
    },
    {
      group: 'activation',
      name: 'gatedSilu fwd',
      shape,
      setup: (gpu, data) => ({ ops: gatedSilu(gpu, { y: data.uniform(n), z: data.uniform(n), zBias: data.uniform(cols), out: data.out(n), rows, channels: cols }), bytes: 12 * n }),
    },
    {
      group: 'activation',
      name: 'gatedSilu bwd',
      shape,
      setup: (gpu, data) => ({
        ops: gatedSiluBackward(gpu, {
          y: data.uniform(n),
          z: data.uniform(n),
          zBias: data.uniform(cols),
          dOut: data.uniform(n),
          dy: data.out(n),
          dz: data.out(n),
          dzBias: data.out(cols),
          rows,
          channels: cols,
        }),
        bytes: 20 * n,
      }),
    },
  ];
}

export function conv1dCases(size: BenchSize): BenchCase[] {
  // x, B and C of a Mamba-2 layer with d_inner 2048, n 128: 2304 channels.
  const s = size === 'full' ? { batch: 8, L: 2048, channels: 2304, K: 4 } : { batch: 2, L: 45, channels: 70, K: 4 };
  const m = s.batch * s.L * s.channels;
  const shape = `b${s.batch} L${s.L} c${s.channels} K${s.K}`;
  return [
    {
      group: 'conv1d',
      name: 'conv1d fwd',
      shape,
      setup: (gpu, data) => ({ ops: conv1d(gpu, { x: data.uniform(m), w: data.uniform(s.channels * s.K), bias: data.uniform(s.channels), y: data.out(m), ...s }), bytes: 8 * m }),
    },
    {
      group: 'conv1d',
      name: 'conv1d bwd',
      shape,
      setup: (gpu, data) => ({
        ops: conv1dBackward(gpu, {
          x: data.uniform(m),
          w: data.uniform(s.channels * s.K),
          dy: data.uniform(m),
          dx: data.out(m),
          dw: data.out(s.channels * s.K),
          dbias: data.out(s.channels),
          ...s,
        }),
        bytes: 12 * m,
      }),
    },
  ];
}

export function elementwiseCases(size: BenchSize): BenchCase[] {
  // The residual stream of a 2048-wide model over 8×2048 tokens (the norms' shape).
  const [rows, d] = size === 'full' ? [16384, 2048] : [37, 100];
  const n = rows * d;
  const shape = `${rows}x${d}`;
  return [
    { group: 'elementwise', name: 'residual add', shape, setup: (gpu, data) => ({ ops: add(gpu, { a: data.uniform(n), b: data.uniform(n), out: data.out(n), n }), bytes: 12 * n }) },
    {
      group: 'elementwise',
      name: 'residual add3',
      shape,
      setup: (gpu, data) => ({ ops: add(gpu, { a: data.uniform(n), b: data.uniform(n), c: data.uniform(n), out: data.out(n), n }), bytes: 16 * n }),
    },
    { group: 'elementwise', name: 'axpy', shape, setup: (gpu, data) => ({ ops: axpy(gpu, { x: data.uniform(n), y: data.uniform(n), n, alpha: 0.5 }), bytes: 12 * n }) },
  ];
}
