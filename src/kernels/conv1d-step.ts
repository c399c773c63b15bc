// One token of the causal depthwise conv1d of src/kernels/conv1d.ts, for generation: the output for
// the newest input and the window of the last K−1 inputs moved on by one, in place
// (shaders/conv1d_step.wgsl). A window of zeros starts a sequence; a prefill leaves in it the last K−1
// inputs of the prompt (zeros before the first token).
//
// Layouts:
//   x, y     (batch, channels) views: row b starts at float b·stride + offset, channels contiguous
//            (defaults stride = channels, offset 0), e.g. the [x | B | C] columns of a fused row
//   window   (batch, K−1, channels) row-major, channel fastest, oldest input first
//   w        (channels, K) row-major, w[c, K−1] on the newest input;  bias (channels)
import { Params, slice, type Bindable, type Gpu, type Op } from '../gpu/runtime';
import { bindings, shader } from '../gpu/wgsl';
import conv1dStepWgsl from '../../shaders/conv1d_step.wgsl?raw';

const SHADER = shader('conv1d_step',
  conv1dStepWgsl,
  bindings([
    'x: array<f32>', // row b at b·x_stride + x_off
    'w: array<f32>', // (channels, K)
    'bias: array<f32>', // (channels)
  ], [
    'win: array<f32>', // (batch, K−1, channels)
    'y: array<f32>', // row b at b·y_stride + y_off
  ], 'u: U'), // main
);

const WG = 64;

export interface Conv1dStepArgs {
  x: Bindable;
  w: Bindable;
  bias: Bindable;
  window: Bindable;
  y: Bindable;
  batch: number;
  channels: number;
  /** Kernel width, 2..8; default 4. */
  K?: number;
  xStride?: number;
  xOffset?: number;
  yStride?: number;
  yOffset?: number;
}

export function conv1dStep(gpu: Gpu, a: Conv1dStepArgs): Op[] {
  const K = a.K ?? 4;
  const { batch, channels } = a;
  const xs = a.xStride ?? channels;
  const xo = a.xOffset ?? 0;
  const ys = a.yStride ?? channels;
  const yo = a.yOffset ?? 0;
  const shape = `(batch=${batch}, channels=${channels}, K=${K})`;
  for (const v of [batch, channels]) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`conv1dStep ${shape}: sizes must be positive integers`);
  }
  if (!Number.isInteger(K) || K < 2 || K > 8) throw new Error(`conv1dStep ${shape}: K must be 2..8`);
  for (const [name, stride, off] of [['x', xs, xo], ['y', ys, yo]] as const) {
    if (!Number.isInteger(stride) || !Number.isInteger(off) || stride < channels || off < 0) {
      throw new Error(`conv1dStep ${shape}: ${name} view (stride ${stride}, offset ${off}) needs integer stride ≥ channels and offset ≥ 0`);
    }
  }
  const need: [string, Bindable, number][] = [
    ['x', a.x, (batch - 1) * xs + xo + channels],
    ['y', a.y, (batch - 1) * ys + yo + channels],
    ['w', a.w, channels * K],
    ['bias', a.bias, channels],
    ['window', a.window, batch * (K - 1) * channels],
  ];
  for (const [name, b, floats] of need) {
    if (floats > 0xffffffff) throw new Error(`conv1dStep ${shape}: ${name} spans more than 2^32 floats`);
    if (slice(b).size < floats * 4) throw new Error(`conv1dStep ${shape}: ${name} holds ${slice(b).size} bytes, needs ${floats * 4}`);
  }
  const wb = slice(a.window).buffer;
  const yb = slice(a.y).buffer;
  if (wb === yb) throw new Error(`conv1dStep ${shape}: window and y share a buffer`);
  for (const [name, b] of [['x', a.x], ['w', a.w], ['bias', a.bias]] as const) {
    const buf = slice(b).buffer;
    if (buf === wb || buf === yb) throw new Error(`conv1dStep ${shape}: ${name} shares a buffer with an output`);
  }
  const max = gpu.info.limits.maxComputeWorkgroupsPerDimension;
  if (batch > max || Math.ceil(channels / WG) > max) throw new Error(`conv1dStep ${shape}: too many workgroups (limit ${max} per dimension)`);
  return [
    gpu.op({
      ...SHADER,
      constants: { K, WG },
      reads: [a.x, a.w, a.bias],
      writes: [a.window, a.y],
      params: new Params().u32(channels).u32(xs).u32(xo).u32(ys).u32(yo).build(),
      workgroups: [Math.ceil(channels / WG), batch],
      label: `conv1d step ${batch}x${channels} K=${K}`,
    }),
  ];
}
