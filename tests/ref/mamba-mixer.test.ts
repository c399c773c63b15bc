import { describe, expect, it } from 'vitest';
import { MIXER_CONV_K, mixerDims, mixerParamShapes, type MixerShape } from '../../src/models/mamba-mixer-shape';
import { mambaMixerBackwardRef, mambaMixerRef, mixerMatrixBackwardRef, type MixerIo, type MixerParams } from '../../src/ref/mamba-mixer';
import { randn } from '../helpers/gpu';
import { fdGrad } from '../helpers/fd';

const f64 = (x: ArrayLike<number>) => Float64Array.from(x);

function params(s: MixerShape, seed: number): MixerParams {
  const P: MixerParams = new Map();
  let k = 0;
  for (const [name, shape] of mixerParamShapes(s)) P.set(name, f64(randn(shape.reduce((a, b) => a * b, 1), seed + k++, 0.6)));
  return P;
}

const softplus = (v: number) => Math.log1p(Math.exp(v));
const silu = (v: number) => v / (1 + Math.exp(-v));

/** The mixer written out token by token, straight from Phi-Mamba's definition, for one batch row. */
function direct(s: MixerShape, L: number, P: MixerParams, u: Float64Array, b: number): Float64Array {
  const m = mixerDims(s);
  const W = P.get('in_proj.weight')!;
  const cw = P.get('conv1d.weight')!;
  const cb = P.get('conv1d.bias')!;
  const zin: number[][] = [];
  for (let t = 0; t < L; t++) {
    zin.push(Array.from({ length: m.proj }, (_, o) => {
      let acc = 0;
      for (let i = 0; i < s.d; i++) acc += W[o * s.d + i] * u[(b * L + t) * s.d + i];
      return acc;
    }));
  }
  const S = Array.from({ length: s.nV }, () => new Float64Array(m.p * s.N));
  const out = new Float64Array(L * s.d);
  for (let t = 0; t < L; t++) {
    const xBC = Array.from({ length: m.convCh }, (_, c) => {
      let acc = cb[c];
      for (let k = 0; k < MIXER_CONV_K; k++) {
        const tt = t - (MIXER_CONV_K - 1) + k;
        if (tt >= 0) acc += cw[c * MIXER_CONV_K + k] * zin[tt][c];
      }
      return acc;
    });
    const gated = new Float64Array(s.dInner);
    for (let h = 0; h < s.nV; h++) {
      const grp = Math.floor(h / (s.nV / s.nQK));
      const decay = Math.exp(-softplus(zin[t][m.aOff + h]));
      for (let i = 0; i < m.p; i++) {
        const xi = xBC[h * m.p + i];
        let y = P.get('D')![h] * xi;
        for (let n = 0; n < s.N; n++) {
          const e = i * s.N + n;
          S[h][e] = decay * S[h][e] + xi * xBC[m.bOff + grp * s.N + n];
          y += S[h][e] * xBC[m.cOff + grp * s.N + n];
        }
        const c = h * m.p + i;
        gated[c] = y * silu(zin[t][m.zOff + c] + P.get('z_bias')![c]);
      }
    }
    for (let o = 0; o < s.d; o++) {
      let acc = s.outBias ? P.get('out_proj.bias')![o] : 0;
      for (let c = 0; c < s.dInner; c++) acc += P.get('out_proj.weight')![o * s.dInner + c] * gated[c];
      out[t * s.d + o] = acc;
    }
  }
  return out;
}

describe('mamba mixer float64 reference', () => {
  const s: MixerShape = { d: 6, dInner: 8, nV: 4, nQK: 2, N: 3, outBias: true };
  const io: MixerIo = { batch: 2, L: 7 };
  const rows = io.batch * io.L;

  it('equals the mixer written out token by token', () => {
    const P = params(s, 10);
    const u = f64(randn(rows * s.d, 1));
    const { out } = mambaMixerRef(s, io, P, u);
    let worst = 0;
    for (let b = 0; b < io.batch; b++) {
      const want = direct(s, io.L, P, u, b);
      want.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - out[b * io.L * s.d + i]))));
    }
    expect(worst).toBeLessThan(1e-12);
  });

  for (const outBias of [true, false]) {
    it(`has gradients that match central finite differences (out bias ${outBias})`, () => {
      const sh = { ...s, outBias };
      const P = params(sh, 20);
      const u = f64(randn(rows * sh.d, 2));
      const r = f64(randn(rows * sh.d, 3)); // loss = Σ r∘out
      const loss = () => mambaMixerRef(sh, io, P, u).out.reduce((acc, v, i) => acc + v * r[i], 0);
      const g = mambaMixerBackwardRef(sh, io, P, u, r);
      expect([...g.params.keys()].sort()).toEqual([...mixerParamShapes(sh).keys()].sort());
      const eps = 1e-5;
      const check = (what: string, arr: Float64Array, grad: Float64Array) => {
        expect(grad.length, what).toBe(arr.length);
        const fd = fdGrad(arr, loss, eps);
        let worst = 0;
        for (let i = 0; i < arr.length; i++) worst = Math.max(worst, Math.abs(fd[i] - grad[i]) / Math.max(1, Math.abs(grad[i])));
        expect(worst, what).toBeLessThan(1e-7);
      };
      check('u', u, g.dU);
      for (const [name, arr] of P) check(name, arr, g.params.get(name)!);
    });
  }

  it('sends the SSD-input gradients of stage 1 where the full backward does', () => {
    const P = params(s, 30);
    const u = f64(randn(rows * s.d, 4));
    const r = f64(randn(rows * s.d, 5));
    const full = mambaMixerBackwardRef(s, io, P, u, r);
    const part = mixerMatrixBackwardRef(s, io, P, u, full.ssd);
    const m = mixerDims(s);
    const inFull = full.params.get('in_proj.weight')!;
    const inPart = part.get('in_proj.weight')!;
    for (let o = 0; o < m.proj; o++) {
      const mine = (o >= m.bOff && o < m.zOff) || o >= m.aOff;
      for (let i = 0; i < s.d; i++) expect(inPart[o * s.d + i]).toBeCloseTo(mine ? inFull[o * s.d + i] : 0, 12);
    }
    const wFull = full.params.get('conv1d.weight')!;
    const wPart = part.get('conv1d.weight')!;
    for (let c = 0; c < m.convCh; c++) {
      for (let k = 0; k < MIXER_CONV_K; k++) expect(wPart[c * MIXER_CONV_K + k]).toBeCloseTo(c >= m.bOff ? wFull[c * MIXER_CONV_K + k] : 0, 12);
      expect(part.get('conv1d.bias')![c]).toBeCloseTo(c >= m.bOff ? full.params.get('conv1d.bias')![c] : 0, 12);
    }
    expect([...part.get('D')!]).toEqual([...full.params.get('D')!]);
  });
});
