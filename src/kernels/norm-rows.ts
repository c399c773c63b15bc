// The four-float row kernels of RMSNorm and LayerNorm (used by norm.ts when d is a multiple of 4),
// generated because each invocation keeps its NV quads of a row in registers and Tint does not
// unroll loops. The math is that of shaders/norm.wgsl, whose struct U, row_index and tree they use.
//
// A row of d = 4·d4 floats is read once as vec4s: invocation lid holds quads lid + k·WG, k < NV
// (NV·WG ≥ d4 > (NV−1)·WG, so only the last quad can fall past the row and is guarded), all loaded
// before the first sum, so a workgroup has its whole row in flight. The row's sums go through
// wsum: subgroupAdd and one slot per subgroup where the device has subgroups, the workgroup tree
// of norm.wgsl where not. Nothing is read twice: y (or dx) comes from the registers. rms_add_fwd4
// and ln_add_fwd4 first add the residual (h = x + a, written out) and normalise h.
//
// Backward with weight gradients (rms_bwd4, ln_bwd4): a workgroup takes `chunk` consecutive rows,
// one after another, writes each row's dx and adds dy·x̂ (and dy) into registers per column, so the
// weight gradients cost no second pass over x and dy; each chunk's sums go to the partials that
// norm.wgsl's wgrad_fold and wgrad_final add up in a fixed order. rms_dx4 and ln_dx4 are the same
// without weight gradients, one row per workgroup.
import { bindings } from '../gpu/wgsl';

/** Quads per invocation the generated kernels may hold; longer rows take the scalar kernels. */
export const MAX_NV = 8;

/** The module text after shaders/norm.wgsl: the subgroup reduction (or the tree's), then the entries. */
export function normRowsWgsl(nv: number, subgroups: boolean): string {
  if (!Number.isInteger(nv) || nv < 1 || nv > MAX_NV) throw new Error(`normRowsWgsl: NV ${nv} must be 1..${MAX_NV}`);
  const ks = [...Array(nv).keys()];
  const last = nv - 1;
  const each = (f: (k: number) => string, sep = '\n  ') => ks.map(f).join(sep);
  const sum = (f: (k: number) => string) => ks.map(f).join(' + ');
  // The builtins the entries take for wsum, and what they pass it.
  const sgIn = subgroups ? ', @builtin(subgroup_invocation_id) sid: u32, @builtin(subgroup_size) ssz: u32' : '';
  const sg = subgroups ? 'sid, ssz' : '0u, 0u';
  const head = (entry: string) => `@compute @workgroup_size(WG)
fn ${entry}(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32${sgIn}) {`;
  const idx = `${each((k) => `let j${k} = lid + ${k}u * WG;`)}
  let in${last} = j${last} < d4;`;
  /** `var name_k` = buf[base + j_k], the last one 0 past the row. */
  const load = (name: string, buf: string, base = 'base') =>
    each((k) => (k < last ? `let ${name}${k} = ${buf}[${base} + j${k}];` : `var ${name}${k} = vec4f(0.0);\n  if (in${k}) { ${name}${k} = ${buf}[${base} + j${k}]; }`));
  /** buf[base + j_k] = value(k), or (+)= with acc; the last one only inside the row. */
  const storeEach = (buf: string, value: (k: number) => string, acc?: string) =>
    each((k) => {
      const i = `base + j${k}`;
      const put = acc ? `if (${acc}) { ${buf}[${i}] = ${buf}[${i}] + ${value(k)}; } else { ${buf}[${i}] = ${value(k)}; }` : `${buf}[${i}] = ${value(k)};`;
      return k < last ? put : `if (in${k}) { ${put} }`;
    });
  const ones = 'vec4f(1.0)';

  const wsum = subgroups
    ? `// Sum of v over the workgroup: within each subgroup, then over one slot per subgroup, which
// every invocation reads (a broadcast from workgroup memory). Subgroups are taken as runs of
// consecutive local indices, as Vulkan, Metal and D3D lay out one-dimensional workgroups; there
// are at most WG / 4 of them (WebGPU's least subgroup size is 4).
var<workgroup> sg_red: array<vec2f, 64>;

fn wsum(lid: u32, v: vec2f, sid: u32, ssz: u32) -> vec2f {
  let s = subgroupAdd(v);
  if (sid == 0u) { sg_red[lid / ssz] = s; }
  workgroupBarrier();
  var t = sg_red[0];
  for (var i = 1u; i < (WG + ssz - 1u) / ssz; i++) { t += sg_red[i]; }
  workgroupBarrier(); // sg_red is reused by the next sum
  return t;
}`
    : `// Sum of v over the workgroup through norm.wgsl's tree (no subgroups on this device).
fn wsum(lid: u32, v: vec2f, sid: u32, ssz: u32) -> vec2f {
  return tree(lid, v);
}`;

  // The forward's input: x, or with a residual add (the *_add_fwd4 entries) h = x + a, written out.
  const input = (p: string, add: boolean) =>
    add
      ? `${load('xa', `${p}_x`)}
  ${load('ra', `${p}_a`)}
  ${each((k) => `let x${k} = xa${k} + ra${k};`)}
  ${storeEach(`${p}_h`, (k) => `x${k}`)}`
      : load('x', `${p}_x`);

  const rmsFwd = (add: boolean) => {
    const p = add ? 'r4a' : 'r4f';
    const reads = [`${p}_x: array<vec4f>`, ...(add ? [`${p}_a: array<vec4f>`] : []), `${p}_w: array<vec4f>`];
    const writes = [`${p}_y: array<vec4f>`, `${p}_rstd: array<f32>`, ...(add ? [`${p}_h: array<vec4f>`] : [])];
    return `${bindings(reads, writes, `${p}u: U`)}

${head(add ? 'rms_add_fwd4' : 'rms_fwd4')}
  let row = row_index(wg, nwg);
  if (row >= ${p}u.rows) { return; }
  let d4 = ${p}u.d / 4u;
  let base = row * d4;
  ${idx}
  ${input(p, add)}
  let ss = ${sum((k) => `dot(x${k}, x${k})`)};
  let r = inverseSqrt(wsum(lid, vec2f(ss, 0.0), ${sg}).x / f32(${p}u.d) + ${p}u.eps);
  ${storeEach(`${p}_y`, (k) => `x${k} * r * ${p}_w[j${k}]`)}
  if (lid == 0u) { ${p}_rstd[row] = r; }
}`;
  };

  // As ln_fwd: the mean from a compensated sum, then the corrected two-pass variance about it, all
  // from registers.
  const lnFwd = (add: boolean) => {
    const p = add ? 'l4a' : 'l4f';
    const reads = [`${p}_x: array<vec4f>`, ...(add ? [`${p}_a: array<vec4f>`] : []), `${p}_w: array<vec4f>`, `${p}_b: array<vec4f>`];
    const writes = [`${p}_y: array<vec4f>`, `${p}_mean: array<f32>`, `${p}_rstd: array<f32>`, ...(add ? [`${p}_h: array<vec4f>`] : [])];
    return `${bindings(reads, writes, `${p}u: U`)}

${head(add ? 'ln_add_fwd4' : 'ln_fwd4')}
  let row = row_index(wg, nwg);
  if (row >= ${p}u.rows) { return; }
  let d4 = ${p}u.d / 4u;
  let base = row * d4;
  ${idx}
  ${input(p, add)}
  var s = vec2f(0.0);
  ${each((k) => `s = cadd4(s, x${k});`)}
  let st = csum(lid, s);
  let mu = (st.x + st.y) / f32(${p}u.d);
  ${each((k) => (k < last ? `let c${k} = x${k} - mu;` : `let c${k} = select(vec4f(0.0), x${k} - mu, in${k});`))}
  let m2 = vec2f(dot(${sum((k) => `c${k}`)}, ${ones}), ${sum((k) => `dot(c${k}, c${k})`)});
  let t = wsum(lid, m2, ${sg});
  let mu_lo = t.x / f32(${p}u.d);
  let r = inverseSqrt(max(t.y - t.x * mu_lo, 0.0) / f32(${p}u.d) + ${p}u.eps);
  ${storeEach(`${p}_y`, (k) => `(c${k} - mu_lo) * r * ${p}_w[j${k}] + ${p}_b[j${k}]`)}
  if (lid == 0u) {
    ${p}_mean[row] = mu;
    ${p}_rstd[row] = r;
  }
}`;
  };

  // dx = r·(g − x̂·Σ(g·x̂)/d), g = dy·w, x̂ = x·r; with weights, dw partial += dy·x·r per column.
  const rmsBwd = (dw: boolean) => {
    const p = dw ? 'r4b' : 'r4d';
    const writes = [`${p}_dx: array<vec4f>`, ...(dw ? [`${p}_part: array<vec4f>`] : [])];
    return `${bindings([`${p}_x: array<vec4f>`, `${p}_w: array<vec4f>`, `${p}_rstd: array<f32>`, `${p}_dy: array<vec4f>`], writes, `${p}u: U`)}

${head(dw ? 'rms_bwd4' : 'rms_dx4')}
  let ci = row_index(wg, nwg);
  let r0 = ci * ${p}u.chunk;
  if (r0 >= ${p}u.rows) { return; }
  let r1 = min(r0 + ${p}u.chunk, ${p}u.rows);
  let d4 = ${p}u.d / 4u;
  let acc = ${p}u.acc == 1u;
  ${idx}
  ${load('w', `${p}_w`, '0u')}
  ${dw ? each((k) => `var a${k} = vec4f(0.0);`) : ''}
  for (var row = r0; row < r1; row++) {
    let base = row * d4;
    let r = ${p}_rstd[row];
    ${load('x', `${p}_x`).replace(/\n {2}/g, '\n    ')}
    ${load('dy', `${p}_dy`).replace(/\n {2}/g, '\n    ')}
    ${each((k) => `let g${k} = dy${k} * w${k};`, '\n    ')}
    let gx = (${sum((k) => `dot(g${k} * x${k}, ${ones})`)}) * r;
    let c = wsum(lid, vec2f(gx, 0.0), ${sg}).x / f32(${p}u.d);
    ${storeEach(`${p}_dx`, (k) => `r * (g${k} - x${k} * r * c)`, 'acc').replace(/\n {2}/g, '\n    ')}
    ${dw ? each((k) => `a${k} += dy${k} * x${k} * r;`, '\n    ') : ''}
  }
  ${dw ? storeEach(`${p}_part`, (k) => `a${k}`).replace(/base \+ /g, 'ci * d4 + ') : ''}
}`;
  };

  // dx = r·(g − Σg/d − x̂·Σ(g·x̂)/d); with weights, dw partial += dy·x̂ and db partial += dy.
  const lnBwd = (dw: boolean) => {
    const p = dw ? 'l4b' : 'l4d';
    const writes = [`${p}_dx: array<vec4f>`, ...(dw ? [`${p}_part: array<vec4f>`] : [])];
    return `${bindings([`${p}_x: array<vec4f>`, `${p}_w: array<vec4f>`, `${p}_mean: array<f32>`, `${p}_rstd: array<f32>`, `${p}_dy: array<vec4f>`], writes, `${p}u: U`)}

${head(dw ? 'ln_bwd4' : 'ln_dx4')}
  let ci = row_index(wg, nwg);
  let r0 = ci * ${p}u.chunk;
  if (r0 >= ${p}u.rows) { return; }
  let r1 = min(r0 + ${p}u.chunk, ${p}u.rows);
  let d4 = ${p}u.d / 4u;
  let acc = ${p}u.acc == 1u;
  ${idx}
  ${load('w', `${p}_w`, '0u')}
  ${dw ? each((k) => `var a${k} = vec4f(0.0);\n  var b${k} = vec4f(0.0);`) : ''}
  for (var row = r0; row < r1; row++) {
    let base = row * d4;
    let mu = ${p}_mean[row];
    let r = ${p}_rstd[row];
    ${load('x', `${p}_x`).replace(/\n {2}/g, '\n    ')}
    ${load('dy', `${p}_dy`).replace(/\n {2}/g, '\n    ')}
    ${each((k) => `let g${k} = dy${k} * w${k};\n    let xh${k} = (x${k} - mu) * r;`, '\n    ')}
    let m = wsum(lid, vec2f(dot(${sum((k) => `g${k}`)}, ${ones}), ${sum((k) => `dot(g${k}, xh${k})`)}), ${sg}) / f32(${p}u.d);
    ${storeEach(`${p}_dx`, (k) => `r * (g${k} - m.x - xh${k} * m.y)`, 'acc').replace(/\n {2}/g, '\n    ')}
    ${dw ? each((k) => `a${k} += dy${k} * xh${k};\n    b${k} += dy${k};`, '\n    ') : ''}
  }
  ${dw ? storeEach(`${p}_part`, (k) => `a${k}`).replace(/base \+ /g, 'ci * 2u * d4 + ') : ''}
  ${dw ? storeEach(`${p}_part`, (k) => `b${k}`).replace(/base \+ /g, 'ci * 2u * d4 + d4 + ') : ''}
}`;
  };

  return [wsum, rmsFwd(false), rmsFwd(true), lnFwd(false), lnFwd(true), rmsBwd(false), rmsBwd(true), lnBwd(false), lnBwd(true)].join('\n\n');
}
