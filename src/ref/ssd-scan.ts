// float64 reference for src/kernels/ssd-scan.ts and ssd-step.ts (same layouts): the Mamba-2 recurrence
// run token by token, per (batch, head), head h reading group h / (h_count / g_count):
//   S_t = exp(a_t)·S_{t-1} + x_t ⊗ B_t     (p×n, S_{-1} = s0 or 0)
//   y_t = S_t·C_t + D·x_t
// Backward of  Σ dy∘y + Σ dsFinal∘S_{L-1}, with Ŝ_t the total gradient of S_t (Ŝ_{L-1} starts at dsFinal):
//   Ŝ_t += dy_t ⊗ C_t,   dC_t += S_tᵀ·dy_t,   dx_t = Ŝ_t·B_t + D·dy_t,   dB_t += Ŝ_tᵀ·x_t,
//   da_t = exp(a_t)·⟨Ŝ_t, S_{t-1}⟩,   dD += dy_t·x_t,   then Ŝ_{t-1} = exp(a_t)·Ŝ_t;   ds0 = Ŝ_{-1}.
// dB and dC sum over the heads of a group; dD sums over batch and tokens.
import type { SsdShape } from '../kernels/ssd-scan';

export interface SsdInputs {
  x: Float64Array; // (batch, L, h, p)
  a: Float64Array; // (batch, L, h)
  B: Float64Array; // (batch, L, g, n)
  C: Float64Array; // (batch, L, g, n)
  D?: Float64Array; // (h)
  s0?: Float64Array; // (batch, h, p, n)
}

export interface SsdGrads {
  dx: Float64Array;
  da: Float64Array;
  dB: Float64Array;
  dC: Float64Array;
  dD: Float64Array;
  ds0: Float64Array;
}

function index(s: SsdShape) {
  const { L, h: H, p: P, g: G, n: N } = s;
  return {
    x: (b: number, t: number, h: number) => ((b * L + t) * H + h) * P,
    a: (b: number, t: number, h: number) => (b * L + t) * H + h,
    bc: (b: number, t: number, g: number) => ((b * L + t) * G + g) * N,
    state: (b: number, h: number) => (b * H + h) * P * N,
    group: (h: number) => Math.floor(h / (H / G)),
  };
}

/** Every state S_{-1..L-1} of one (batch, head), S_t at offset (t + 1)·p·n. */
function states(s: SsdShape, t: SsdInputs, b: number, h: number): Float64Array {
  const { L, p: P, n: N } = s;
  const ix = index(s);
  const g = ix.group(h);
  const S = new Float64Array((L + 1) * P * N);
  if (t.s0) S.set(t.s0.subarray(ix.state(b, h), ix.state(b, h) + P * N));
  for (let k = 0; k < L; k++) {
    const decay = Math.exp(t.a[ix.a(b, k, h)]);
    const xo = ix.x(b, k, h);
    const bo = ix.bc(b, k, g);
    const prev = k * P * N;
    const cur = prev + P * N;
    for (let i = 0; i < P; i++) {
      for (let j = 0; j < N; j++) S[cur + i * N + j] = decay * S[prev + i * N + j] + t.x[xo + i] * t.B[bo + j];
    }
  }
  return S;
}

export function ssdScanRef(s: SsdShape, t: SsdInputs): { y: Float64Array; sFinal: Float64Array } {
  const { batch, L, h: H, p: P, n: N } = s;
  const ix = index(s);
  const y = new Float64Array(batch * L * H * P);
  const sFinal = new Float64Array(batch * H * P * N);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < H; h++) {
      const g = ix.group(h);
      const S = states(s, t, b, h);
      for (let k = 0; k < L; k++) {
        const cur = (k + 1) * P * N;
        const xo = ix.x(b, k, h);
        const co = ix.bc(b, k, g);
        for (let i = 0; i < P; i++) {
          let acc = t.D ? t.D[h] * t.x[xo + i] : 0;
          for (let j = 0; j < N; j++) acc += S[cur + i * N + j] * t.C[co + j];
          y[xo + i] = acc;
        }
      }
      sFinal.set(S.subarray(L * P * N), ix.state(b, h));
    }
  }
  return { y, sFinal };
}

export function ssdScanBackwardRef(s: SsdShape, t: SsdInputs, dy: Float64Array, dsFinal?: Float64Array): SsdGrads {
  const { batch, L, h: H, p: P, n: N } = s;
  const ix = index(s);
  const dx = new Float64Array(t.x.length);
  const da = new Float64Array(t.a.length);
  const dB = new Float64Array(t.B.length);
  const dC = new Float64Array(t.C.length);
  const dD = new Float64Array(H);
  const ds0 = new Float64Array(batch * H * P * N);
  const dS = new Float64Array(P * N);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < H; h++) {
      const g = ix.group(h);
      const S = states(s, t, b, h);
      if (dsFinal) dS.set(dsFinal.subarray(ix.state(b, h), ix.state(b, h) + P * N));
      else dS.fill(0);
      for (let k = L - 1; k >= 0; k--) {
        const cur = (k + 1) * P * N;
        const prev = k * P * N;
        const xo = ix.x(b, k, h);
        const bo = ix.bc(b, k, g);
        const decay = Math.exp(t.a[ix.a(b, k, h)]);
        for (let i = 0; i < P; i++) {
          for (let j = 0; j < N; j++) {
            dS[i * N + j] += dy[xo + i] * t.C[bo + j];
            dC[bo + j] += S[cur + i * N + j] * dy[xo + i];
          }
        }
        let gp = 0;
        for (let i = 0; i < P; i++) {
          let acc = t.D ? t.D[h] * dy[xo + i] : 0;
          for (let j = 0; j < N; j++) {
            acc += dS[i * N + j] * t.B[bo + j];
            dB[bo + j] += dS[i * N + j] * t.x[xo + i];
            gp += dS[i * N + j] * S[prev + i * N + j];
          }
          dx[xo + i] = acc;
          dD[h] += dy[xo + i] * t.x[xo + i];
        }
        da[ix.a(b, k, h)] = decay * gp;
        for (let e = 0; e < P * N; e++) dS[e] *= decay;
      }
      ds0.set(dS, ix.state(b, h));
    }
  }
  return { dx, da, dB, dC, dD, ds0 };
}
