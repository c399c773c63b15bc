// One token of the Mamba-2 recurrence for generation, in place on the state:
//   S ← exp(a)·S + x ⊗ B,   y = S·C + D·x     (per batch and head h, reading group h / (h_count / g_count))
// Layouts (row-major, last index fastest), the scan's with L = 1:
//   state (batch, h, p, n)   x, y (batch, h, p)   a (batch, h)   B, C (batch, g, n)   D (h)
import { Params, slice, type Bindable, type Gpu, type Op } from '../gpu/runtime';
import { bindings, shader } from '../gpu/wgsl';
import ssdStepWgsl from '../../shaders/ssd_step.wgsl?raw';

const SHADER = shader('ssd_step',
  ssdStepWgsl,
  bindings([
    'sx: array<f32>', // (batch, H, P)
    'sa: array<f32>', // (batch, H)
    'sB: array<f32>', // (batch, G, N)
    'sC: array<f32>', // (batch, G, N)
    'sD: array<f32>', // (H), read when hasD
  ], [
    'state: array<f32>', // (batch, H, P, N)
    'sy: array<f32>', // (batch, H, P)
  ], 'u: SU'), // main
);

export interface SsdStepShape {
  batch: number;
  h: number;
  p: number;
  g: number;
  n: number;
}

const ROWS = 8; // rows p per workgroup, keep in step with shaders/ssd_step.wgsl

export function ssdStep(
  gpu: Gpu,
  s: SsdStepShape,
  t: { state: Bindable; x: Bindable; a: Bindable; B: Bindable; C: Bindable; D?: Bindable; y: Bindable },
): Op[] {
  const shape = `(batch=${s.batch}, h=${s.h}, p=${s.p}, g=${s.g}, n=${s.n})`;
  for (const v of [s.batch, s.h, s.p, s.g, s.n]) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`ssdStep ${shape}: sizes must be positive integers`);
  }
  if (s.h % s.g !== 0) throw new Error(`ssdStep ${shape}: h must be a multiple of g`);
  const maxWg = gpu.info.limits.maxComputeWorkgroupsPerDimension;
  if (s.batch * s.h > maxWg) throw new Error(`ssdStep ${shape}: batch·h exceeds ${maxWg} workgroups`);
  const bhp = s.batch * s.h * s.p;
  const need: Record<string, [Bindable | undefined, number]> = {
    state: [t.state, bhp * s.n],
    x: [t.x, bhp],
    a: [t.a, s.batch * s.h],
    B: [t.B, s.batch * s.g * s.n],
    C: [t.C, s.batch * s.g * s.n],
    D: [t.D, s.h],
    y: [t.y, bhp],
  };
  for (const [name, [b, floats]] of Object.entries(need)) {
    if (b && slice(b).size < floats * 4) throw new Error(`ssdStep ${shape}: ${name} holds ${slice(b).size} bytes, needs ${floats * 4}`);
  }
  const params = new Params().u32(s.batch).u32(s.h).u32(s.p).u32(s.g).u32(s.n).u32(s.h / s.g).u32(t.D ? 1 : 0).build();
  return [
    gpu.op({
      ...SHADER,
      reads: [t.x, t.a, t.B, t.C, t.D ?? gpu.buffer(16, 'ssd step absent D')],
      writes: [t.state, t.y],
      params,
      workgroups: [Math.ceil(s.p / ROWS), s.batch * s.h],
    }),
  ];
}
