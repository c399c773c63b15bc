// What a benchmark case is, and the GPU-side inputs every case draws from.
//
// A case names an operation and a shape; its setup allocates inputs (filled on the GPU, so a
// 100M-parameter case needs no gigabyte of host data) and returns the ops to time, with the
// floating-point operations or bytes one run performs, so that the runner can print GFLOP/s or GB/s.
// Names and shape strings are also the join key with scripts/bench/torch_side.py: keep them equal.
import { Params, type Gpu, type Op } from '../gpu/runtime';

export type BenchSize = 'small' | 'full';

/**
 * Workgroup memory of the devices a tile sweep (`mohawk bench --tiles`) is for: the H100 and H200
 * through Dawn at full size, SwiftShader at small. Candidates needing more are left out of the sweep.
 */
export const SWEEP_WORKGROUP_BYTES: Record<BenchSize, number> = { full: 49152, small: 32768 };

export interface BenchSetup {
  ops: Op[];
  /** Floating-point operations of one run (multiply-add = 2), when that is the natural measure. */
  flops?: number;
  /** Bytes one run must move at least (each input read once, each output written once). */
  bytes?: number;
}

export interface BenchCase {
  /** The kernel group, for --only. */
  group: string;
  /** Operation and variant, e.g. "matmul NT" or "attention fwd+bwd". */
  name: string;
  /** Sizes in a fixed notation shared with the PyTorch side, e.g. "4096x4096x4096". */
  shape: string;
  setup(gpu: Gpu, data: BenchData): BenchSetup;
}

export interface BenchResult {
  name: string;
  shape: string;
  ms: number;
  gflops?: number;
  gbps?: number;
}

// Uniform values from a hash of the element index: inputs for timing, not for checking numbers.
const FILL = `
struct P { n: u32, seed: u32, lo: f32, span: f32, modulo: u32, nx: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<uniform> p: P;
fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let i = g.y * p.nx * 256u + g.x;
  if (i >= p.n) { return; }
  let h = pcg(i ^ pcg(p.seed));
  if (p.modulo != 0u) { out[i] = h % p.modulo; return; }
  out[i] = bitcast<u32>(p.lo + p.span * f32(h >> 8u) * (1.0 / 16777216.0));
}`;

/** Buffers of a case, filled on the GPU; the runner frees them (and the kernels' scratch) after the case. */
export class BenchData {
  private seed = 1;
  constructor(private readonly gpu: Gpu) {}

  private fill(count: number, lo: number, hi: number, modulo: number, label: string): GPUBuffer {
    const buf = this.gpu.buffer(count * 4, label);
    const groups = Math.max(1, Math.ceil(count / 256));
    const nx = Math.min(groups, this.gpu.info.limits.maxComputeWorkgroupsPerDimension);
    const params = new Params().u32(count).u32(this.seed++).f32(lo).f32(hi - lo).u32(modulo).u32(nx).build();
    this.gpu.run(this.gpu.op({ shader: 'bench_fill', code: FILL, writes: [buf], params, workgroups: [nx, Math.ceil(groups / nx)] }));
    return buf;
  }

  /** `count` f32 uniform in [lo, hi). */
  uniform(count: number, lo = -1, hi = 1, label = 'bench input'): GPUBuffer {
    return this.fill(count, lo, hi, 0, label);
  }

  /** `count` u32 uniform in [0, modulo), e.g. token ids. */
  ids(count: number, modulo: number, label = 'bench ids'): GPUBuffer {
    if (!(modulo >= 1)) throw new Error(`bench ids: modulo ${modulo} must be ≥ 1`);
    return this.fill(count, 0, 0, modulo, label);
  }

  /** `count` f32 zeros, for outputs. */
  out(count: number, label = 'bench output'): GPUBuffer {
    return this.gpu.zeros(count, label);
  }
}
