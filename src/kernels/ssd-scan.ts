// The chunked Mamba-2 scan (state space duality), forward and backward. Per (batch, head h), head h
// reading group h / (h_count / g_count):
//   S_t = exp(a_t)·S_{t-1} + x_t ⊗ B_t   (p×n, S_{-1} = s0 or 0),   y_t = S_t·C_t + D_h·x_t
// computed by chunks of Q tokens (the last one may be partial), with cum_i the in-chunk cumulative
// log-decay (an exact integer part and a small rest, see shaders/ssd_scan_prep.wgsl) and P_c the state entering chunk c:
//   y_i = Σ_{j≤i} exp(cum_i − cum_j)·(C_i·B_j)·x_j + exp(cum_i)·P_c·C_i + D·x_i
//   P_{c+1} = exp(cum_last)·P_c + Σ_j exp(cum_last − cum_j)·x_j ⊗ B_j
// Every exponent is a decay difference within a chunk (≤ 0) or one chunk's total; nothing overflows.
//
// Layouts (row-major, last index fastest):
//   x, y, dx, dy              (batch, L, h, p)
//   a, da                     (batch, L, h)      log-decay, a ≤ 0
//   B, C, dB, dC              (batch, L, g, n)   dB, dC summed over the heads of each group
//   D, dD                     (h)                dD summed over batch and tokens
//   s0, sFinal, ds0, dsFinal  (batch, h, p, n)
// Outputs are overwritten, never accumulated into, and must not alias inputs. Each call allocates
// its scratch (cumulative decay, C·Bᵀ per chunk and group, chunk states; the backward also dCB and
// da partial sums) with gpu.buffer, bound to the returned ops, or takes it from the caller's
// `scratch` (shared by calls that run one after another: every scratch is written before it is read).
// On an H100 (Dawn/Vulkan), batch 8, L 2048, h 32, p 64, n 64, g 1: forward + backward 4.1 ms at
// chunk 128 and 3.9 ms at chunk 64, against 13.3 ms and 10.1 ms for PyTorch's ssd_minimal (f32).
//
// Backward (the kernels' comments carry the details), with G_c the gradient of the state leaving
// chunk c and W_ij = exp(cum_i − cum_j)·(C_i·B_j)·(dy_i·x_j):
//   dx_j = Σ_{i≥j} exp(cum_i − cum_j)·(C_i·B_j)·dy_i + exp(cum_last − cum_j)·G_c·B_j + D·dy_j
//   dC_i = Σ_{j≤i} dCB_ij·B_j + Σ_h exp(cum_i)·P_cᵀ·dy_i,  dB_j = Σ_{i≥j} dCB_ij·C_i + Σ_h exp(cum_last − cum_j)·G_cᵀ·x_j
//   da_k = Σ_{i≥k, j<k} W_ij + Σ_{i≥k} dy_i·(exp(cum_i)·P_c·C_i) + Σ_{j<k} x_j·(exp(cum_last − cum_j)·G_c·B_j)
//          + exp(A_c)·⟨G_c, P_c⟩
//   G_{c−1} = exp(A_c)·G_c + Σ_i exp(cum_i)·dy_i ⊗ C_i,  G_last = dsFinal,  ds0 = G_{−1}
// The in-chunk term of da is summed from strictly off-diagonal row and column sums of W, so the O(1)
// diagonal never cancels against terms that may be as small as exp(a) (a ≈ −30).
import { Params, slice, type Bindable, type Gpu, type Op, type ScratchSource } from '../gpu/runtime';
import { bindings, wgsl } from '../gpu/wgsl';
import tile from '../../shaders/lib/ssd_tile.wgsl?raw';
import decay from '../../shaders/lib/ssd_decay.wgsl?raw';
import tokenTile from '../../shaders/lib/ssd_token_tile.wgsl?raw';
import prepWgsl from '../../shaders/ssd_scan_prep.wgsl?raw';
import cbWgsl from '../../shaders/ssd_scan_cb.wgsl?raw';
import statesWgsl from '../../shaders/ssd_scan_states.wgsl?raw';
import passWgsl from '../../shaders/ssd_scan_pass.wgsl?raw';
import outWgsl from '../../shaders/ssd_scan_out.wgsl?raw';
import dcbWgsl from '../../shaders/ssd_scan_dcb.wgsl?raw';
import dxWgsl from '../../shaders/ssd_scan_dx.wgsl?raw';
import daWgsl from '../../shaders/ssd_scan_da.wgsl?raw';
import dbcWgsl from '../../shaders/ssd_scan_dbc.wgsl?raw';

export interface SsdShape {
  batch: number;
  L: number;
  h: number;
  p: number;
  g: number;
  n: number;
  /** Tokens per chunk, 1..256 (default 64). */
  chunk?: number;
}

export const SSD_DEFAULT_CHUNK = 64;
const MAX_CHUNK = 256; // the da kernel scans a chunk with one workgroup of 256
const TILE = 64; // the tile product of shaders/lib/ssd_tile.wgsl

interface Plan {
  s: SsdShape;
  Q: number;
  NC: number;
  hpg: number;
  nT: number;
  pT: number;
  nN: number;
  /** Floats of one region of each scratch. */
  cumLo: number;
  cb: number;
  states: number;
  partials: number;
  rows: number;
}

function describe(s: SsdShape): string {
  return `(batch=${s.batch}, L=${s.L}, h=${s.h}, p=${s.p}, g=${s.g}, n=${s.n}, chunk=${s.chunk ?? SSD_DEFAULT_CHUNK})`;
}

function plan(gpu: Gpu, fn: string, s: SsdShape): Plan {
  const shape = describe(s);
  const Q = s.chunk ?? SSD_DEFAULT_CHUNK;
  for (const v of [s.batch, s.L, s.h, s.p, s.g, s.n, Q]) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${fn} ${shape}: sizes must be positive integers`);
  }
  if (s.h % s.g !== 0) throw new Error(`${fn} ${shape}: h must be a multiple of g`);
  if (Q > MAX_CHUNK) throw new Error(`${fn} ${shape}: chunk must be at most ${MAX_CHUNK}`);
  const NC = Math.ceil(s.L / Q);
  const nT = Math.ceil(Q / TILE);
  const pT = Math.ceil(s.p / TILE);
  const nN = Math.ceil(s.n / TILE);
  const pl: Plan = {
    s,
    Q,
    NC,
    hpg: s.h / s.g,
    nT,
    pT,
    nN,
    cumLo: s.batch * s.h * NC * Q,
    cb: s.batch * NC * s.g * Q * Q,
    states: s.batch * NC * s.h * s.p * s.n,
    partials: s.batch * NC * s.h * pT * Q,
    rows: s.batch * NC * s.h * nT * Q,
  };
  const maxWg = gpu.info.limits.maxComputeWorkgroupsPerDimension;
  for (const [what, v] of [['batch·h', s.batch * s.h], ['chunks', NC], ['tiles', Math.max(nT * nT, nT * pT, nT * nN, pT * nN)]] as const) {
    if (v > maxWg) throw new Error(`${fn} ${shape}: ${what} = ${v} exceeds ${maxWg} workgroups`);
  }
  const maxBind = gpu.info.limits.maxStorageBufferBindingSize;
  const biggest = Math.max(s.batch * s.L * s.h * s.p, s.batch * s.L * s.g * s.n, pl.cb, 2 * pl.states, 2 * pl.cumLo + s.h);
  if (biggest * 4 > maxBind || biggest >= 2 ** 32) {
    throw new Error(`${fn} ${shape}: a tensor or scratch of ${biggest} floats exceeds the ${maxBind}-byte binding limit`);
  }
  return pl;
}

function checkBufs(fn: string, s: SsdShape, bufs: Record<string, [Bindable | undefined, number]>): void {
  for (const [name, [b, floats]] of Object.entries(bufs)) {
    if (!b) continue;
    const bytes = slice(b).size;
    if (bytes < floats * 4) throw new Error(`${fn} ${describe(s)}: ${name} holds ${bytes} bytes, needs ${floats * 4}`);
  }
}

function sizes(s: SsdShape) {
  return { x: s.batch * s.L * s.h * s.p, a: s.batch * s.L * s.h, bc: s.batch * s.L * s.g * s.n, state: s.batch * s.h * s.p * s.n };
}

const FLAG_D = 1;
const FLAG_INIT = 2;
const FLAG_FINAL = 4;

function uniforms(pl: Plan, flags: number): ArrayBuffer {
  const { s } = pl;
  return new Params()
    .u32(s.batch).u32(s.L).u32(s.h).u32(s.p)
    .u32(s.g).u32(s.n).u32(pl.Q).u32(pl.NC)
    .u32(pl.hpg).u32(flags).u32(pl.nT).u32(pl.pT)
    .u32(pl.nN).u32(pl.cumLo).u32(0).u32(pl.states)
    .u32(0).u32(pl.partials).u32(0).u32(pl.rows)
    .build();
}

// Every kernel shares the uniform block and tile product; those that bind the cumulative decay add
// its helpers, and the two per-head token tiles (out, dx) their tile layout. One set of bindings
// serves all the entry points of a file.
const SOURCES = {
  prep: wgsl(
    tile, prepWgsl,
    bindings(['la: array<f32>', 'lD: array<f32>'], ['cum: array<f32>'], 'u: U'), // main
  ),
  cb: wgsl(
    tile, cbWgsl,
    bindings(['mC: array<f32>', 'mB: array<f32>'], ['cb: array<f32>'], 'u: U'), // main
  ),
  states: wgsl(
    tile, decay, statesWgsl,
    bindings([
      'cum: array<f32>',
      'us: array<f32>', // x or dy (batch, L, H, P)
      'vs: array<f32>', // B or C (batch, L, G, N)
    ], ['st: array<f32>'], 'u: U'),
  ),
  pass: wgsl(
    tile, passWgsl,
    bindings(['cum: array<f32>', 'init: array<f32>'], ['st: array<f32>', 'fin: array<f32>'], 'u: U'), // forward, backward
  ),
  out: wgsl(
    tile, decay, tokenTile, outWgsl,
    bindings([
      'cum: array<f32>',
      'cb: array<f32>',
      'mC: array<f32>',
      'xs: array<f32>', // x for `y`, dy for `o`
      'st: array<f32>',
    ], ['outp: array<f32>'], 'u: U'), // o
  ),
  dcb: wgsl(
    tile, decay, dcbWgsl,
    bindings(['cum: array<f32>', 'cb: array<f32>', 'xs: array<f32>', 'dys: array<f32>'], ['dcb: array<f32>', 'rc: array<f32>'], 'u: U'), // main
  ),
  dx: wgsl(
    tile, decay, tokenTile, dxWgsl,
    bindings(['cum: array<f32>', 'cb: array<f32>', 'mB: array<f32>', 'xs: array<f32>', 'dys: array<f32>', 'st: array<f32>'], ['dx: array<f32>', 'vo: array<f32>'], 'u: U'), // main
  ),
  da: wgsl(
    tile, decay, daWgsl,
    bindings(['cum: array<f32>', 'rc: array<f32>', 'vo: array<f32>', 'st: array<f32>', 'xs: array<f32>', 'dys: array<f32>'], ['da: array<f32>', 'dpart: array<f32>'], 'u: U'), // grad_a
    bindings(['dpin: array<f32>'], ['dDo: array<f32>'], 'ud: U'), // dsum
  ),
  dbc: wgsl(
    tile, decay, dbcWgsl,
    bindings([
      'cum: array<f32>',
      'dcb: array<f32>',
      'mv: array<f32>', // B for dc, C for db (batch, L, G, N)
      'us: array<f32>', // dy for dc, x for db (batch, L, H, P)
      'st: array<f32>',
    ], ['outp: array<f32>'], 'u: U'), // dc, db
  ),
};

interface Kernel {
  name: keyof typeof SOURCES;
  entry: string;
  reads: Bindable[];
  writes: Bindable[];
  flags?: number;
  workgroups: [number, number?, number?];
}

function kernel(gpu: Gpu, pl: Plan, k: Kernel): Op {
  const shader = `ssd_scan_${k.name}`;
  return gpu.op({
    shader,
    code: SOURCES[k.name],
    entry: k.entry,
    reads: k.reads,
    writes: k.writes,
    params: uniforms(pl, k.flags ?? 0),
    workgroups: k.workgroups,
    label: `${shader}:${k.entry}`,
  });
}

/** Workgroups of 64 invocations covering `count`, folded into two dimensions when needed. */
function linear(gpu: Gpu, count: number): [number, number] {
  const groups = Math.max(1, Math.ceil(count / 64));
  const x = Math.min(groups, gpu.info.limits.maxComputeWorkgroupsPerDimension);
  return [x, Math.ceil(groups / x)];
}

/** A call's own scratch: new buffers, bound to its ops. */
const ownScratch = (gpu: Gpu): ScratchSource => (name, bytes) => gpu.buffer(bytes, name);

interface Scratch {
  cum: GPUBuffer;
  cb: GPUBuffer;
  states: GPUBuffer;
  /** Bound where an optional input or output is absent (read-only and writable uses differ). */
  noneIn: GPUBuffer;
  noneOut: GPUBuffer;
}

/** Cumulative decay (+ D), CB, and the chunk-entry states P_c: what forward and backward share. */
function prologue(gpu: Gpu, pl: Plan, t: { x: Bindable; a: Bindable; B: Bindable; C: Bindable; D?: Bindable; s0?: Bindable }, sFinal: Bindable | undefined, stateRegions: number, scratch: ScratchSource): { ops: Op[]; sc: Scratch } {
  const { s } = pl;
  const sc: Scratch = {
    cum: scratch('ssd cumulative decay', (2 * pl.cumLo + s.h) * 4),
    cb: scratch('ssd CB', pl.cb * 4),
    // The forward keeps one region of states, the backward two.
    states: scratch(`ssd chunk states x${stateRegions}`, stateRegions * pl.states * 4),
    noneIn: scratch('ssd absent input', 16),
    noneOut: scratch('ssd absent output', 16),
  };
  const bh = s.batch * s.h;
  const ops = [
    kernel(gpu, pl, { name: 'prep', entry: 'main', reads: [t.a, t.D ?? sc.noneIn], writes: [sc.cum], flags: t.D ? FLAG_D : 0, workgroups: linear(gpu, Math.max(bh * pl.NC, s.h)) }),
    kernel(gpu, pl, { name: 'cb', entry: 'main', reads: [t.C, t.B], writes: [sc.cb], workgroups: [pl.nT * pl.nT, pl.NC, s.batch * s.g] }),
    kernel(gpu, pl, { name: 'states', entry: 'chunk_state', reads: [sc.cum, t.x, t.B], writes: [sc.states], workgroups: [pl.pT * pl.nN, pl.NC, bh] }),
    kernel(gpu, pl, {
      name: 'pass',
      entry: 'forward',
      reads: [sc.cum, t.s0 ?? sc.noneIn],
      writes: [sc.states, sFinal ?? sc.noneOut],
      flags: (t.s0 ? FLAG_INIT : 0) | (sFinal ? FLAG_FINAL : 0),
      workgroups: [Math.ceil((s.p * s.n) / 256), bh],
    }),
  ];
  return { ops, sc };
}

export function ssdScan(
  gpu: Gpu,
  s: SsdShape,
  t: { x: Bindable; a: Bindable; B: Bindable; C: Bindable; D?: Bindable; s0?: Bindable; y: Bindable; sFinal?: Bindable; scratch?: ScratchSource },
): Op[] {
  const fn = 'ssdScan';
  const pl = plan(gpu, fn, s);
  const z = sizes(s);
  checkBufs(fn, s, { x: [t.x, z.x], a: [t.a, z.a], B: [t.B, z.bc], C: [t.C, z.bc], D: [t.D, s.h], s0: [t.s0, z.state], y: [t.y, z.x], sFinal: [t.sFinal, z.state] });
  const { ops, sc } = prologue(gpu, pl, t, t.sFinal, 1, t.scratch ?? ownScratch(gpu));
  ops.push(kernel(gpu, pl, { name: 'out', entry: 'y', reads: [sc.cum, sc.cb, t.C, t.x, sc.states], writes: [t.y], workgroups: [pl.nT * pl.pT, pl.NC, s.batch * s.h] }));
  return ops;
}

/**
 * Gradients of Σ dy∘y (+ Σ dsFinal∘sFinal) with respect to x, a, B, C, and, when their buffers are
 * given, D and s0. Recomputes the forward chunk states; needs no saved activations.
 */
export function ssdScanBackward(
  gpu: Gpu,
  s: SsdShape,
  t: {
    x: Bindable;
    a: Bindable;
    B: Bindable;
    C: Bindable;
    D?: Bindable;
    s0?: Bindable;
    dy: Bindable;
    dsFinal?: Bindable;
    dx: Bindable;
    da: Bindable;
    dB: Bindable;
    dC: Bindable;
    dD?: Bindable;
    ds0?: Bindable;
    scratch?: ScratchSource;
  },
): Op[] {
  const fn = 'ssdScanBackward';
  const pl = plan(gpu, fn, s);
  const z = sizes(s);
  checkBufs(fn, s, {
    x: [t.x, z.x], a: [t.a, z.a], B: [t.B, z.bc], C: [t.C, z.bc], D: [t.D, s.h], s0: [t.s0, z.state],
    dy: [t.dy, z.x], dsFinal: [t.dsFinal, z.state],
    dx: [t.dx, z.x], da: [t.da, z.a], dB: [t.dB, z.bc], dC: [t.dC, z.bc], dD: [t.dD, s.h], ds0: [t.ds0, z.state],
  });
  const scratch = t.scratch ?? ownScratch(gpu);
  const { ops, sc } = prologue(gpu, pl, t, undefined, 2, scratch);
  const bh = s.batch * s.h;
  const bg = s.batch * s.g;
  const dcb = scratch('ssd dCB', pl.cb * 4);
  const rc = scratch('ssd da row/column sums', 2 * pl.rows * 4);
  const vo = scratch('ssd da state partials', 2 * pl.partials * 4);
  const dpart = scratch('ssd dD partials', bh * pl.NC * 4);
  const perHead: [number, number, number] = [pl.nT * pl.pT, pl.NC, bh];
  const perGroupN: [number, number, number] = [pl.nT * pl.nN, pl.NC, bg];
  ops.push(
    kernel(gpu, pl, { name: 'states', entry: 'state_grad', reads: [sc.cum, t.dy, t.C], writes: [sc.states], workgroups: [pl.pT * pl.nN, pl.NC, bh] }),
    kernel(gpu, pl, {
      name: 'pass',
      entry: 'backward',
      reads: [sc.cum, t.dsFinal ?? sc.noneIn],
      writes: [sc.states, t.ds0 ?? sc.noneOut],
      flags: (t.dsFinal ? FLAG_INIT : 0) | (t.ds0 ? FLAG_FINAL : 0),
      workgroups: [Math.ceil((s.p * s.n) / 256), bh],
    }),
    kernel(gpu, pl, { name: 'dcb', entry: 'main', reads: [sc.cum, sc.cb, t.x, t.dy], writes: [dcb, rc], workgroups: [pl.nT * pl.nT, pl.NC, bg] }),
    kernel(gpu, pl, { name: 'out', entry: 'o', reads: [sc.cum, sc.cb, t.C, t.dy, sc.states], writes: [vo], workgroups: perHead }),
    kernel(gpu, pl, { name: 'dx', entry: 'main', reads: [sc.cum, sc.cb, t.B, t.x, t.dy, sc.states], writes: [t.dx, vo], workgroups: perHead }),
    kernel(gpu, pl, { name: 'da', entry: 'grad_a', reads: [sc.cum, rc, vo, sc.states, t.x, t.dy], writes: [t.da, dpart], workgroups: [pl.NC, bh] }),
    kernel(gpu, pl, { name: 'dbc', entry: 'dc', reads: [sc.cum, dcb, t.B, t.dy, sc.states], writes: [t.dC], workgroups: perGroupN }),
    kernel(gpu, pl, { name: 'dbc', entry: 'db', reads: [sc.cum, dcb, t.C, t.x, sc.states], writes: [t.dB], workgroups: perGroupN }),
  );
  if (t.dD) ops.push(kernel(gpu, pl, { name: 'da', entry: 'dsum', reads: [dpart], writes: [t.dD], workgroups: [Math.ceil(s.h / 64)] }));
  return ops;
}
