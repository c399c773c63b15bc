// Split-K for matmul.ts: when C has too few tiles to fill the GPU but K is long (a weight
// gradient dW = dYᵀ·X sums over every token), K is cut into S slices, one layer of workgroups per
// slice, each writing its raw partial sum to its own M×N block of a scratch buffer; a second
// dispatch adds the S blocks in a fixed order (s = 0, 1, …), then applies alpha, the bias and
// accumulate exactly as the one-pass epilogue does. WGSL has no f32 atomics, and a fixed order
// keeps the result deterministic anyway.
//
// Scratch layout: partial (bt, s) is M×N row-major at (bt·S + s)·M·N.
//
// The scratch is one buffer per device, shared by every split-K matmul: ops run in queue order
// and each reduce has consumed its partials before the next split-K GEMM overwrites them. It is
// allocated outside the runtime's pool (which recycles what a caller releases), counted in
// gpu.memory, and grows by replacement; ops built earlier keep the smaller buffer they were bound to.
import { linearGrid, Params, type Bindable, type Gpu, type Op } from '../gpu/runtime';

const scratch = new WeakMap<Gpu, GPUBuffer>();

/** A region of at least `floats` f32 of the device's split-K scratch. */
export function splitKScratch(gpu: Gpu, floats: number): Bindable {
  const bytes = Math.max(16, Math.ceil(floats / 4) * 16);
  let buf = scratch.get(gpu);
  if (!buf || buf.size < bytes) {
    buf = gpu.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      label: 'matmul split-K partials',
    });
    scratch.set(gpu, buf);
  }
  return { buffer: buf, offset: 0, size: bytes };
}

/** K slices of a whole number of BK-deep tiles: `splits` asked for, the slice depth and count used. */
export function splitKSlices(K: number, splits: number, BK: number): { Kc: number; S: number } {
  const Kc = Math.ceil(Math.ceil(K / splits) / BK) * BK;
  return { Kc, S: Math.ceil(K / Kc) };
}

const sources = new Map<string, string>();

function reduceWgsl(bias: boolean, accumulate: boolean): string {
  const key = `${bias}/${accumulate}`;
  let code = sources.get(key);
  if (code) return code;
  const L: string[] = [];
  const e = (s: string) => L.push(s);
  e(`struct P { M: u32, N: u32, S: u32, sC: u32, alpha: f32, total: u32, nx: u32 }`);
  let binding = 0;
  e(`@group(0) @binding(${binding++}) var<storage, read> part: array<f32>;`);
  if (bias) e(`@group(0) @binding(${binding++}) var<storage, read> bias: array<f32>;`);
  e(`@group(0) @binding(${binding++}) var<storage, read_write> C: array<f32>;`);
  e(`@group(0) @binding(${binding++}) var<uniform> p: P;`);
  e(`@compute @workgroup_size(256)`);
  e(`fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3u) {`);
  e(`  let i = (wg.y * p.nx + wg.x) * 256u + t;`);
  e(`  if (i >= p.total) { return; }`);
  e(`  let mn = p.M * p.N;`);
  e(`  let bt = i / mn;`);
  e(`  let r = i % mn;`);
  e(`  var src = bt * p.S * mn + r;`);
  e(`  var sum = 0.0;`);
  e(`  for (var s = 0u; s < p.S; s++) {`);
  e(`    sum += part[src];`);
  e(`    src += mn;`);
  e(`  }`);
  // The one-pass epilogue's arithmetic, term for term: alpha·sum (+ bias), then (+ C).
  e(`  let v = p.alpha * sum${bias ? ' + bias[r % p.N]' : ''};`);
  e(`  let o = bt * p.sC + r;`);
  e(`  C[o] = ${accumulate ? 'C[o] + ' : ''}v;`);
  e(`}`);
  code = L.join('\n') + '\n';
  sources.set(key, code);
  return code;
}

/** The reduce of S partials (in `part`, layout above) into C[bt] (row stride N, batch stride sC). */
export function splitKReduce(
  gpu: Gpu,
  a: { part: Bindable; c: Bindable; bias?: Bindable; M: number; N: number; S: number; batch: number; strideC: number; alpha: number; accumulate: boolean },
): Op {
  const total = a.batch * a.M * a.N;
  const [nx, ny] = linearGrid(gpu, 'matmul split-K reduce', Math.ceil(total / 256));
  const params = new Params().u32(a.M).u32(a.N).u32(a.S).u32(a.strideC).f32(a.alpha).u32(total).u32(nx).build();
  return gpu.op({
    shader: 'matmul_splitk_reduce',
    code: reduceWgsl(!!a.bias, a.accumulate),
    reads: a.bias ? [a.part, a.bias] : [a.part],
    writes: [a.c],
    params,
    workgroups: [nx, ny],
    label: `matmul split-K reduce ${a.M}x${a.N} S=${a.S}${a.batch > 1 ? ` x${a.batch}` : ''}`,
  });
}
