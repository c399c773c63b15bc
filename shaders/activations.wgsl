// Elementwise activations, forward and backward, on row views: element e of a (rows × cols) view
// with row stride S and offset O lives at (e / cols)·S + O + e % cols. A contiguous tensor is the
// view S = cols, O = 0.
//
// The math is written for accuracy over all of f32, not just near 0: sigmoid never forms 1 − s,
// softplus uses an exact log1p, and the exact GELU uses a fitted erfc (see normal_cdf) rather than
// the 1e-7-short Abramowitz–Stegun formula.
//
// Bindings are declared per entry point by src/kernels/activations.ts (bindings(), in the op's order).

override WG: u32 = 256u;
// Which function unary_fwd / unary_bwd (and the gate of swiglu_*) compute (pipelines specialise on it):
// 0 softplus, 1 negSoftplus, 2 silu, 3 sigmoid, 4 geluTanh, 5 gelu.
override KIND: u32 = 0u;
// gated_*: 1 when a per-channel z bias is bound.
override HAS_BIAS: u32 = 0u;
// gated_bwd: rows one invocation walks down a column, so the bias gradient needs few partials.
override ROWS: u32 = 32u;

// 1 when every view of the op has stride = cols: an element's index is then e + offset, and the
// integer division (a long instruction sequence on GPUs) drops out.
override DENSE: u32 = 0u;

fn at(e: u32, cols: u32, stride: u32, offset: u32) -> u32 {
  if (DENSE == 1u) { return e + offset; }
  return (e / cols) * stride + offset + e % cols;
}

// 1 / (1 + e^{−x}) from e^{−|x|} ≤ 1, so neither tail overflows or cancels.
fn sigmoid(x: f32) -> f32 {
  let e = exp(-abs(x));
  let s = 1.0 / (1.0 + e);
  return select(e * s, s, x >= 0.0);
}

// log(1 + u) for u in [0, 1] as 2·atanh(u / (2 + u)): the series in s = u/(2+u) ≤ 1/3 has no
// cancellation, so tiny u keep full relative precision (WGSL has no log1p).
fn log1p_unit(u: f32) -> f32 {
  let s = u / (2.0 + u);
  let s2 = s * s;
  var p = 1.0 / 17.0;
  p = p * s2 + 1.0 / 15.0;
  p = p * s2 + 1.0 / 13.0;
  p = p * s2 + 1.0 / 11.0;
  p = p * s2 + 1.0 / 9.0;
  p = p * s2 + 1.0 / 7.0;
  p = p * s2 + 1.0 / 5.0;
  p = p * s2 + 1.0 / 3.0;
  p = p * s2 + 1.0;
  return 2.0 * s * p;
}

// PyTorch's softplus (beta 1, threshold 20): x above the threshold, log(1 + e^x) below it.
fn softplus(x: f32) -> f32 {
  if (x > 20.0) { return x; }
  return max(x, 0.0) + log1p_unit(exp(-abs(x)));
}

// exp(−x²/2) for x ≥ 0 with x² split as h² + (x−h)(x+h), h = x truncated to 1/16: h² is exact, so
// the rounding of x² (relative error ~x²·2⁻²⁴) does not reach the exponent.
fn gauss(x: f32) -> f32 {
  let a = min(x, 20.0);
  let h = trunc(a * 16.0) / 16.0;
  return exp(-0.5 * h * h) * exp(-0.5 * (a - h) * (a + h));
}

// Φ(x), the standard normal CDF, = ½·erfc(−x/√2). Near 0, erf(z) = z·P(z²); beyond |z| = 0.75,
// erfc(z) = e^{−z²}·t·Q(t) with t = 1/(1 + z/2). P and Q are least-squares fits (Lawson-weighted
// towards minimax) to erf(z)/z on [0, 0.75] and erfcx(z)/t on z ≥ 0.75, errors 1.5e-9 and 3.5e-9
// relative in float64; evaluated in f32, Φ is within 9e-8 absolute and 5e-7 relative in both tails.
fn normal_cdf(x: f32) -> f32 {
  let z = abs(x) * 0.70710678;
  if (z < 0.75) {
    let u = z * z;
    var p = -6.758789146e-04;
    p = p * u + 5.115658334e-03;
    p = p * u - 2.683527604e-02;
    p = p * u + 1.128338981e-01;
    p = p * u - 3.761261970e-01;
    p = p * u + 1.128379166e+00;
    return 0.5 + 0.5 * (x * 0.70710678) * p;
  }
  let t = 1.0 / (1.0 + 0.5 * z);
  var q = -7.527796121e-02;
  q = q * t + 2.438371918e-01;
  q = q * t - 2.385950665e-01;
  q = q * t + 1.919654261e-02;
  q = q * t - 2.280169186e-02;
  q = q * t + 8.634077762e-02;
  q = q * t + 1.761141362e-01;
  q = q * t + 2.468391076e-01;
  q = q * t + 2.820947735e-01;
  q = q * t + 2.820947909e-01;
  let half_erfc = 0.5 * gauss(abs(x)) * t * q;
  return select(1.0 - half_erfc, half_erfc, x < 0.0);
}

const SQRT_2_OVER_PI = 0.7978845608028654;
const INV_SQRT_2PI = 0.3989422804014327;
const GELU_C = 0.044715;

fn act(x: f32) -> f32 {
  switch KIND {
    case 0u: { return softplus(x); }
    case 1u: { return -softplus(x); }
    case 2u: { return x * sigmoid(x); }
    case 3u: { return sigmoid(x); }
    case 4u: {
      // ½x(1 + tanh u) = x·σ(2u): the sigmoid form keeps the negative tail's relative precision.
      let u = SQRT_2_OVER_PI * (x + GELU_C * x * x * x);
      return x * sigmoid(2.0 * u);
    }
    default: { return x * normal_cdf(x); }
  }
}

// d act / dx.
fn act_grad(x: f32) -> f32 {
  switch KIND {
    case 0u: { return select(sigmoid(x), 1.0, x > 20.0); }
    case 1u: { return -select(sigmoid(x), 1.0, x > 20.0); }
    case 2u: {
      // σ(x)(1 + x(1 − σ(x))) with 1 − σ(x) = σ(−x).
      let s = sigmoid(x);
      return s * (1.0 + x * sigmoid(-x));
    }
    case 3u: { return sigmoid(x) * sigmoid(-x); }
    case 4u: {
      let u = SQRT_2_OVER_PI * (x + GELU_C * x * x * x);
      let s = sigmoid(2.0 * u);
      // Beyond |x| = 10 the second term is below 1e-35 and x² would make 0·∞ for huge x.
      if (abs(x) > 10.0) { return s; }
      let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * x * x);
      return s + 2.0 * x * s * sigmoid(-2.0 * u) * du;
    }
    default: { return normal_cdf(x) + x * INV_SQRT_2PI * gauss(abs(x)); }
  }
}

fn linear_id(wg: vec3u, nwg: vec3u, li: u32) -> u32 {
  // A 2-D grid, because n can exceed 65535 workgroups in one dimension.
  return (wg.y * nwg.x + wg.x) * WG + li + E0;
}

// ---- four floats at a time ----------------------------------------------------------------------
// The *4 entries bind their tensors as array<vec4f> and take the views in units of 4 floats (n,
// cols, strides and offsets all divided by 4): one 16-byte load per tensor and quad, and each
// invocation takes two quads, WG apart, loading both before it computes, so that four times the
// bytes of the scalar entries are in flight per thread (these kernels wait on memory, not math).
// The function applied to each float is the scalar one: the same math in the same order.

// The scalar entries start at element E0 (a pipeline constant): 0, or where the quads of a flat
// view end, when they finish the last n mod 4 floats of a length the *4 entries could not take.
override E0: u32 = 0u;

fn at4(q: u32, cols4: u32, stride4: u32, offset4: u32) -> u32 {
  if (DENSE == 1u) { return q + offset4; }
  return (q / cols4) * stride4 + offset4 + q % cols4;
}

// First quad of the invocation's two; the second is WG quads on.
fn quad_id(wg: vec3u, nwg: vec3u, li: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * (2u * WG) + li;
}

fn act4(v: vec4f) -> vec4f {
  return vec4f(act(v.x), act(v.y), act(v.z), act(v.w));
}

fn act_grad4(v: vec4f) -> vec4f {
  return vec4f(act_grad(v.x), act_grad(v.y), act_grad(v.z), act_grad(v.w));
}

fn sigmoid4(v: vec4f) -> vec4f {
  return vec4f(sigmoid(v.x), sigmoid(v.y), sigmoid(v.z), sigmoid(v.w));
}

// ---- unary_fwd: y = act(x) ----------------------------------------------------------------------
struct UF { n: u32, cols: u32, xs: u32, xo: u32, ys: u32, yo: u32 }

@compute @workgroup_size(WG)
fn unary_fwd(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = linear_id(wg, nwg, li);
  if (e >= uf.n) { return; }
  uf_y[at(e, uf.cols, uf.ys, uf.yo)] = act(uf_x[at(e, uf.cols, uf.xs, uf.xo)]);
}

@compute @workgroup_size(WG)
fn unary_fwd4(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let q0 = quad_id(wg, nwg, li);
  let q1 = q0 + WG;
  if (q1 < uf4.n) {
    let a = uf4_x[at4(q0, uf4.cols, uf4.xs, uf4.xo)];
    let b = uf4_x[at4(q1, uf4.cols, uf4.xs, uf4.xo)];
    uf4_y[at4(q0, uf4.cols, uf4.ys, uf4.yo)] = act4(a);
    uf4_y[at4(q1, uf4.cols, uf4.ys, uf4.yo)] = act4(b);
  } else if (q0 < uf4.n) {
    uf4_y[at4(q0, uf4.cols, uf4.ys, uf4.yo)] = act4(uf4_x[at4(q0, uf4.cols, uf4.xs, uf4.xo)]);
  }
}

// ---- unary_bwd: dx (=|+=) act'(x)·dy ------------------------------------------------------------
struct UB { n: u32, cols: u32, acc: u32, xs: u32, xo: u32, dys: u32, dyo: u32, dxs: u32, dxo: u32 }

@compute @workgroup_size(WG)
fn unary_bwd(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = linear_id(wg, nwg, li);
  if (e >= ub.n) { return; }
  let g = act_grad(ub_x[at(e, ub.cols, ub.xs, ub.xo)]) * ub_dy[at(e, ub.cols, ub.dys, ub.dyo)];
  let i = at(e, ub.cols, ub.dxs, ub.dxo);
  // A branch, not select(): select would read dx even when it is overwritten.
  if (ub.acc == 1u) { ub_dx[i] = ub_dx[i] + g; } else { ub_dx[i] = g; }
}

@compute @workgroup_size(WG)
fn unary_bwd4(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let q0 = quad_id(wg, nwg, li);
  let q1 = q0 + WG;
  let acc = ub4.acc == 1u;
  if (q1 < ub4.n) {
    let x0 = ub4_x[at4(q0, ub4.cols, ub4.xs, ub4.xo)];
    let x1 = ub4_x[at4(q1, ub4.cols, ub4.xs, ub4.xo)];
    let d0 = ub4_dy[at4(q0, ub4.cols, ub4.dys, ub4.dyo)];
    let d1 = ub4_dy[at4(q1, ub4.cols, ub4.dys, ub4.dyo)];
    let i0 = at4(q0, ub4.cols, ub4.dxs, ub4.dxo);
    let i1 = at4(q1, ub4.cols, ub4.dxs, ub4.dxo);
    let g0 = act_grad4(x0) * d0;
    let g1 = act_grad4(x1) * d1;
    if (acc) {
      ub4_dx[i0] = ub4_dx[i0] + g0;
      ub4_dx[i1] = ub4_dx[i1] + g1;
    } else {
      ub4_dx[i0] = g0;
      ub4_dx[i1] = g1;
    }
  } else if (q0 < ub4.n) {
    let g = act_grad4(ub4_x[at4(q0, ub4.cols, ub4.xs, ub4.xo)]) * ub4_dy[at4(q0, ub4.cols, ub4.dys, ub4.dyo)];
    let i = at4(q0, ub4.cols, ub4.dxs, ub4.dxo);
    if (acc) { ub4_dx[i] = ub4_dx[i] + g; } else { ub4_dx[i] = g; }
  }
}

// ---- swiglu_fwd: out = act(gate)·up (SwiGLU with silu, GeGLU with a GELU; act per KIND) ---------
// gate and up share the row stride `gs` (separate buffers, or the two halves of one row).
struct SF { n: u32, cols: u32, gs: u32, go: u32, uo: u32, os: u32, oo: u32 }

@compute @workgroup_size(WG)
fn swiglu_fwd(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = linear_id(wg, nwg, li);
  if (e >= sf.n) { return; }
  let g = sf_gate[at(e, sf.cols, sf.gs, sf.go)];
  let u = sf_up[at(e, sf.cols, sf.gs, sf.uo)];
  sf_out[at(e, sf.cols, sf.os, sf.oo)] = act(g) * u;
}

@compute @workgroup_size(WG)
fn swiglu_fwd4(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let q0 = quad_id(wg, nwg, li);
  let q1 = q0 + WG;
  if (q1 < sf4.n) {
    let g0 = sf4_gate[at4(q0, sf4.cols, sf4.gs, sf4.go)];
    let g1 = sf4_gate[at4(q1, sf4.cols, sf4.gs, sf4.go)];
    let u0 = sf4_up[at4(q0, sf4.cols, sf4.gs, sf4.uo)];
    let u1 = sf4_up[at4(q1, sf4.cols, sf4.gs, sf4.uo)];
    sf4_out[at4(q0, sf4.cols, sf4.os, sf4.oo)] = act4(g0) * u0;
    sf4_out[at4(q1, sf4.cols, sf4.os, sf4.oo)] = act4(g1) * u1;
  } else if (q0 < sf4.n) {
    let g = sf4_gate[at4(q0, sf4.cols, sf4.gs, sf4.go)];
    let u = sf4_up[at4(q0, sf4.cols, sf4.gs, sf4.uo)];
    sf4_out[at4(q0, sf4.cols, sf4.os, sf4.oo)] = act4(g) * u;
  }
}

// ---- swiglu_bwd: dGate = dOut·up·act'(gate), dUp = dOut·act(gate) --------------------------------
// swiglu_bwd binds dGate and dUp apart; swiglu_bwd_one binds one buffer holding both (WebGPU
// forbids two writable bindings over the same bytes), with dgo/duo counted from its start. Both are
// stamped by src/kernels/activations.ts.
struct SB { n: u32, cols: u32, acc: u32, gs: u32, go: u32, uo: u32, dos: u32, doo: u32, ds: u32, dgo: u32, duo: u32 }
// (dGate, dUp) for gate g, up u and upstream gradient d.
fn swiglu_grads(g: f32, u: f32, d: f32) -> vec2f {
  return vec2f(d * u * act_grad(g), d * act(g));
}

// The same for four floats: (dGate, dUp) as columns 0 and 1.
fn swiglu_grads4(g: vec4f, u: vec4f, d: vec4f) -> mat2x4f {
  return mat2x4f(d * u * act_grad4(g), d * act4(g));
}

// ---- gated_fwd: out[r, c] = y[r, c]·silu(z[r, c] + zBias[c]) --------------------------------------
struct GF { n: u32, cols: u32, ys: u32, yo: u32, zs: u32, zo: u32, os: u32, oo: u32 }

@compute @workgroup_size(WG)
fn gated_fwd(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = linear_id(wg, nwg, li);
  if (e >= gf.n) { return; }
  var z = gf_z[at(e, gf.cols, gf.zs, gf.zo)];
  if (HAS_BIAS == 1u) { z = z + gf_bias[e % gf.cols]; }
  gf_out[at(e, gf.cols, gf.os, gf.oo)] = gf_y[at(e, gf.cols, gf.ys, gf.yo)] * z * sigmoid(z);
}

fn gated4(q: u32) -> vec4f {
  var z = gf4_z[at4(q, gf4.cols, gf4.zs, gf4.zo)];
  if (HAS_BIAS == 1u) { z = z + gf4_bias[q % gf4.cols]; }
  return gf4_y[at4(q, gf4.cols, gf4.ys, gf4.yo)] * z * sigmoid4(z);
}

@compute @workgroup_size(WG)
fn gated_fwd4(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let q0 = quad_id(wg, nwg, li);
  let q1 = q0 + WG;
  if (q1 < gf4.n) {
    let o0 = gated4(q0);
    let o1 = gated4(q1);
    gf4_out[at4(q0, gf4.cols, gf4.os, gf4.oo)] = o0;
    gf4_out[at4(q1, gf4.cols, gf4.os, gf4.oo)] = o1;
  } else if (q0 < gf4.n) {
    gf4_out[at4(q0, gf4.cols, gf4.os, gf4.oo)] = gated4(q0);
  }
}

// ---- gated_bwd: dy = dOut·silu(z'), dz = dOut·y·silu'(z'), z' = z + zBias; ------------------------
// one invocation per (channel, block of ROWS rows), so the bias gradient of its block is a plain
// sum it keeps in a register: part[block·cols + c]. gated_bwd_one writes dy and dz into one bound
// buffer (offsets from its start), for when they are slices of the same buffer. Both are stamped by
// src/kernels/activations.ts.
struct GB { rows: u32, cols: u32, acc: u32, ys: u32, yo: u32, zs: u32, zo: u32, dos: u32, doo: u32, dys: u32, dyo: u32, dzs: u32, dzo: u32 }
// (dy, dz) for y, pre-bias z' and upstream gradient d.
fn gated_grads(y: f32, z: f32, d: f32) -> vec2f {
  let s = sigmoid(z);
  return vec2f(d * z * s, d * y * s * (1.0 + z * sigmoid(-z)));
}

fn gated_grads4(y: vec4f, z: vec4f, d: vec4f) -> mat2x4f {
  let s = sigmoid4(z);
  return mat2x4f(d * z * s, d * y * s * (1.0 + z * sigmoid4(-z)));
}

// ---- colsum: out[c] (=|+=) Σ_q part[q·cols + c], blocks in order (deterministic) ------------------
struct CS { cols: u32, blocks: u32, acc: u32 }

@compute @workgroup_size(WG)
fn colsum(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= cs.cols) { return; }
  var s = 0.0;
  for (var q = 0u; q < cs.blocks; q++) { s = s + cs_part[q * cs.cols + c]; }
  if (cs.acc == 1u) { cs_out[c] = cs_out[c] + s; } else { cs_out[c] = s; }
}
