// Frobenius distance, the stage 1 loss: for `mats` matrices P_m, T_m of `size` elements each,
//   dist[m] = ‖P_m − T_m‖_F   (or ‖P_m − T_m‖²_F when squared)
//   loss    = mean_m dist[m]
//   grad    = dLoss/dP: (P − T)/(mats·dist[m]) (0 where dist[m] = 0), or 2(P − T)/mats when squared.
//
// Layouts: p, t, grad are mats matrices back to back, matrix m at elements [m·size, (m+1)·size) (any
// inner order, as long as P and T agree); dist holds mats f32; loss one f32.
import { Params, slice, type Bindable, type Gpu, type Op } from '../gpu/runtime';
import { bindings, shader } from '../gpu/wgsl';
import { meanEntry } from './stamps';
import treeSum from '../../shaders/lib/tree_sum.wgsl?raw';
import frobeniusWgsl from '../../shaders/frobenius.wgsl?raw';

const SHADER = shader('frobenius',
  treeSum,
  frobeniusWgsl,
  bindings(['pp: array<f32>', 'pt: array<f32>'], ['part_out: array<f32>'], 'up: U'), // partial
  bindings(['dpart: array<f32>'], ['dist_out: array<f32>'], 'ud: U'), // dist
  meanEntry('loss', 'ul', 'U', 'mats'), // loss[0] = mean_m dist[m]
  bindings(['gp: array<f32>', 'gt: array<f32>', 'gdist: array<f32>'], ['grad_out: array<f32>'], 'ug: U'), // grad
);

const WG = 256;
const CHUNK = 4096; // elements one workgroup of `partial` reduces; keep in step with the shader

export interface FrobeniusArgs {
  p: Bindable;
  t: Bindable;
  mats: number;
  /** Elements per matrix (rows·cols). */
  size: number;
  /** mats f32: ‖P_m − T_m‖_F, or its square when `squared`. */
  dist: Bindable;
  /** 1 f32: mean over mats of dist. */
  loss: Bindable;
  /** dLoss/dP, same layout as P; overwritten. */
  grad?: Bindable;
  squared?: boolean;
}

function need(name: string, b: Bindable, floats: number, shape: string): void {
  const bytes = slice(b).size;
  if (bytes < floats * 4) throw new Error(`frobenius ${shape}: ${name} holds ${bytes} bytes, needs ${floats * 4}`);
}

export function frobenius(gpu: Gpu, args: FrobeniusArgs): Op[] {
  const { mats, size } = args;
  const shape = `(mats=${mats}, size=${size})`;
  if (!Number.isInteger(mats) || !Number.isInteger(size) || mats < 1 || size < 1) {
    throw new Error(`frobenius ${shape}: mats and size must be positive integers`);
  }
  if (mats * size > 0xffffffff) throw new Error(`frobenius ${shape}: more than 2^32 elements`);
  need('p', args.p, mats * size, shape);
  need('t', args.t, mats * size, shape);
  need('dist', args.dist, mats, shape);
  need('loss', args.loss, 1, shape);
  if (args.grad) need('grad', args.grad, mats * size, shape);

  const chunks = Math.ceil(size / CHUNK);
  const maxWg = gpu.info.limits.maxComputeWorkgroupsPerDimension;
  if (chunks > maxWg || mats > maxWg) throw new Error(`frobenius ${shape}: too many workgroups (${chunks} chunks per matrix)`);
  const params = new Params().u32(size).u32(mats).u32(chunks).u32(args.squared ? 1 : 0).build();
  const part = gpu.buffer(mats * chunks * 4, 'frobenius partial sums');

  const ops: Op[] = [
    gpu.op({ ...SHADER, entry: 'partial', reads: [args.p, args.t], writes: [part], params, workgroups: [chunks, mats] }),
    gpu.op({ ...SHADER, entry: 'dist', reads: [part], writes: [args.dist], params, workgroups: [mats] }),
    gpu.op({ ...SHADER, entry: 'loss', reads: [args.dist], writes: [args.loss], params, workgroups: [1] }),
  ];
  if (args.grad) {
    const groups = Math.ceil((mats * size) / WG);
    const x = Math.min(groups, maxWg);
    const y = Math.ceil(groups / x);
    ops.push(
      gpu.op({ ...SHADER, entry: 'grad', reads: [args.p, args.t, args.dist], writes: [args.grad], params, workgroups: [x, y] }),
    );
  }
  return ops;
}
