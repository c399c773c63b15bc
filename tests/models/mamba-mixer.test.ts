import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/runtime';
import { ssdMatrixBackward } from '../../src/kernels/ssd-matrix';
import { MambaMixer, type MixerParamBinding } from '../../src/models/mamba-mixer';
import { MambaStepper } from '../../src/models/mamba-stepper';
import { mixerDims, mixerParamShapes, type MixerIo, type MixerShape } from '../../src/models/mamba-mixer-shape';
import { FlatParams } from '../../src/models/params';
import { mambaMixerBackwardRef, mambaMixerRef, mixerMatrixBackwardRef, type MixerParams } from '../../src/ref/mamba-mixer';
import { ssdMatrixBackwardRef } from '../../src/ref/ssd-matrix';
import { randn, relErr, testGpu } from '../helpers/gpu';

const f64 = (x: ArrayLike<number>) => Float64Array.from(x);

interface Case {
  name: string;
  s: MixerShape;
  io: MixerIo;
}

const CASES: Case[] = [
  // L = 37 is two full chunks of 16 and a partial one.
  { name: 'chunk 16, L 37, out bias', s: { d: 32, dInner: 32, nV: 4, nQK: 2, N: 8, chunk: 16, outBias: true }, io: { batch: 2, L: 37 } },
  // Widths that are not multiples of 4 or 16 (p = 9, N = 5) put every column slice off any
  // alignment; the default chunk (128) is capped at L = 21.
  { name: 'odd widths, default chunk, one group', s: { d: 20, dInner: 36, nV: 4, nQK: 1, N: 5, outBias: false }, io: { batch: 3, L: 21 } },
];

/** Parameters in a flat buffer (slices 256-byte aligned, as the trainer lays them out), gradients likewise. */
class Setup {
  readonly flat = new FlatParams();
  readonly values: Map<string, Float32Array> = new Map();
  readonly grads0: Map<string, Float32Array> = new Map();
  readonly pbuf: GPUBuffer;
  readonly gbuf: GPUBuffer;

  constructor(
    readonly gpu: Gpu,
    readonly c: Case,
    seed: number,
  ) {
    let k = 0;
    for (const [name, shape] of mixerParamShapes(c.s)) {
      this.flat.add(name, shape);
      const n = shape.reduce((a, b) => a * b, 1);
      // in_proj scaled so that A_log spans decays from near 0 to a few units of log-decay.
      this.values.set(name, randn(n, seed + k, name === 'in_proj.weight' ? 0.5 : 0.4));
      this.grads0.set(name, randn(n, seed + 100 + k, 0.3));
      k++;
    }
    this.pbuf = this.flat.upload(gpu, this.values, 'test mixer params');
    this.gbuf = this.flat.upload(gpu, this.grads0, 'test mixer grads');
  }

  binding(frozen: Set<string> = new Set()): MixerParamBinding {
    return {
      w: (name) => this.flat.view(this.pbuf, name),
      g: (name) => (frozen.has(name) ? undefined : this.flat.view(this.gbuf, name)),
    };
  }

  ref(): MixerParams {
    return new Map([...this.values].map(([k, v]) => [k, f64(v)]));
  }

  async grads(): Promise<Map<string, Float32Array>> {
    return this.flat.unpack(await this.gpu.read(this.gbuf));
  }
}

const minus = (a: Float32Array, b: Float32Array) => f64(a).map((v, i) => v - b[i]);
const plus = (a: ArrayLike<number>, b: ArrayLike<number>, k = 1) => Float64Array.from(a, (v, i) => v + k * b[i]);

for (const c of CASES) {
  describe(`MambaMixer (${c.name})`, () => {
    const rows = c.io.batch * c.io.L;
    const { d } = c.s;
    const u = randn(rows * d, 1);
    const dOut = randn(rows * d, 2);

    it('forward equals the float64 reference, and exposes the matrix inputs', async () => {
      const gpu = await testGpu();
      const st = new Setup(gpu, c, 10);
      const mixer = new MambaMixer(gpu, c.s, c.io, st.binding());
      const out = gpu.upload(randn(rows * d, 3, 9));
      gpu.run(mixer.forward(gpu.upload(u), out));
      const want = mambaMixerRef(c.s, c.io, st.ref(), f64(u));
      expect(relErr(await gpu.read(out, rows * d), want.out)).toBeLessThan(1e-4);
      const mi = mixer.matrixInputs();
      expect(relErr(await gpu.read(mi.B, want.B.length), want.B)).toBeLessThan(1e-4);
      expect(relErr(await gpu.read(mi.C, want.C.length), want.C)).toBeLessThan(1e-4);
      expect(relErr(await gpu.read(mi.a, want.a.length), want.a)).toBeLessThan(1e-4);
      // The decays must not all be trivial for the test to mean anything.
      const a = [...want.a];
      expect(Math.min(...a)).toBeLessThan(-1.5);
      expect(Math.max(...a)).toBeGreaterThan(-0.5);
      await gpu.check();
    });

    it('backward: dU overwritten or accumulated, every parameter gradient added to', async () => {
      const gpu = await testGpu();
      const st = new Setup(gpu, c, 20);
      const mixer = new MambaMixer(gpu, c.s, c.io, st.binding());
      const ub = gpu.upload(u);
      const ob = gpu.buffer(rows * d * 4);
      const dob = gpu.upload(dOut);
      const dU0 = randn(rows * d, 4, 0.5);
      const dUover = gpu.upload(randn(rows * d, 5, 9));
      const dUacc = gpu.upload(dU0);
      const fwd = mixer.forward(ub, ob);
      const over = mixer.backward(dob, dUover);
      const acc = mixer.backward(dob, dUacc, { accumulate: true });
      const want = mambaMixerBackwardRef(c.s, c.io, st.ref(), f64(u), f64(dOut));

      gpu.run([...fwd, ...over]);
      expect(relErr(await gpu.read(dUover, rows * d), want.dU)).toBeLessThan(1e-3);
      let g = await st.grads();
      for (const [name, w] of want.params) expect(relErr(minus(g.get(name)!, st.grads0.get(name)!), w), name).toBeLessThan(1e-3);

      gpu.run(acc);
      expect(relErr(minus(await gpu.read(dUacc, rows * d), dU0), want.dU)).toBeLessThan(1e-3);
      g = await st.grads();
      for (const [name, w] of want.params) expect(relErr(g.get(name)!, plus(st.grads0.get(name)!, w, 2)), `${name} twice`).toBeLessThan(1e-3);
      await gpu.check();
    });

    it('backward skips frozen parameters and an input that needs no gradient', async () => {
      const gpu = await testGpu();
      const want = (st: Setup) => mambaMixerBackwardRef(c.s, c.io, st.ref(), f64(u), f64(dOut));
      // Stage 2: the student reads the teacher's input; here in_proj and the conv are frozen too.
      // Then the other way round: only the parameters below the SSD train, and dU is wanted.
      const variants: { frozen: string[]; dU: boolean }[] = [
        { frozen: ['in_proj.weight', 'conv1d.weight', 'conv1d.bias'], dU: false },
        { frozen: ['out_proj.weight', 'out_proj.bias', 'z_bias', 'D', 'conv1d.bias'], dU: true },
      ];
      for (const v of variants) {
        const st = new Setup(gpu, c, 30);
        const mixer = new MambaMixer(gpu, c.s, c.io, st.binding(new Set(v.frozen)));
        const dU = v.dU ? gpu.buffer(rows * d * 4) : undefined;
        gpu.run([...mixer.forward(gpu.upload(u), gpu.buffer(rows * d * 4)), ...mixer.backward(gpu.upload(dOut), dU)]);
        const w = want(st);
        const g = await st.grads();
        for (const [name, ref] of w.params) {
          const got = minus(g.get(name)!, st.grads0.get(name)!);
          if (v.frozen.includes(name)) expect(got.every((e) => e === 0), `${name} frozen`).toBe(true);
          else expect(relErr(got, ref), name).toBeLessThan(1e-3);
        }
        if (dU) expect(relErr(await gpu.read(dU, rows * d), w.dU)).toBeLessThan(1e-3);
      }
      await gpu.check();
    });

    it('stage-1 pieces: matrixBackward from the SSD-input gradients adds what the full backward sends there', async () => {
      const gpu = await testGpu();
      const st = new Setup(gpu, c, 40);
      const mixer = new MambaMixer(gpu, c.s, c.io, st.binding());
      const P = st.ref();
      const full = mambaMixerBackwardRef(c.s, c.io, P, f64(u), f64(dOut));
      const up = (x: Float64Array) => gpu.upload(Float32Array.from(x));
      gpu.run([
        ...mixer.matrixForward(gpu.upload(u)),
        ...mixer.matrixBackward({ dB: up(full.ssd.dB), dC: up(full.ssd.dC), da: up(full.ssd.da), dD: up(full.ssd.dD) }),
      ]);
      const want = mixerMatrixBackwardRef(c.s, c.io, P, f64(u), full.ssd);
      const g = await st.grads();
      const m = mixerDims(c.s);
      for (const [name, ref] of want) expect(relErr(minus(g.get(name)!, st.grads0.get(name)!), ref), name).toBeLessThan(1e-3);
      // Consistency with the full backward, on the rows and channels stage 1 trains.
      const inProj = minus(g.get('in_proj.weight')!, st.grads0.get('in_proj.weight')!);
      const fullIn = full.params.get('in_proj.weight')!;
      const rowsOf = (x: ArrayLike<number>, r0: number, r1: number) => Array.from(x).slice(r0 * d, r1 * d);
      expect(relErr(rowsOf(inProj, m.bOff, m.zOff), rowsOf(fullIn, m.bOff, m.zOff))).toBeLessThan(1e-3);
      expect(relErr(rowsOf(inProj, m.aOff, m.proj), rowsOf(fullIn, m.aOff, m.proj))).toBeLessThan(1e-3);
      expect(rowsOf(inProj, 0, m.bOff).every((e) => e === 0)).toBe(true);
      expect(rowsOf(inProj, m.zOff, m.aOff).every((e) => e === 0)).toBe(true);
      const convB = minus(g.get('conv1d.bias')!, st.grads0.get('conv1d.bias')!);
      expect(relErr(convB.slice(m.bOff), full.params.get('conv1d.bias')!.slice(m.bOff))).toBeLessThan(1e-3);
      expect(relErr(minus(g.get('D')!, st.grads0.get('D')!), full.params.get('D')!)).toBeLessThan(1e-3);
      await gpu.check();
    });

    it('stage-1 chain: ssdMatrixBackward on matrixInputs() feeds matrixBackward', async () => {
      const gpu = await testGpu();
      const st = new Setup(gpu, c, 50);
      const mixer = new MambaMixer(gpu, c.s, c.io, st.binding());
      const { batch, L } = c.io;
      const ms = { batch, L, h: c.s.nV, g: c.s.nQK, n: c.s.N };
      const m = mixerDims(c.s);
      const dT = randn(batch * c.s.nV * L * L, 6);
      const dB = gpu.buffer(rows * m.gN * 4);
      const dC = gpu.buffer(rows * m.gN * 4);
      const da = gpu.buffer(rows * c.s.nV * 4);
      const dD = gpu.buffer(c.s.nV * 4);
      const fwd = mixer.matrixForward(gpu.upload(u));
      const mi = mixer.matrixInputs();
      gpu.run([
        ...fwd,
        ...ssdMatrixBackward(gpu, ms, { ...mi, dT: gpu.upload(dT), dB, dC, da, dD }),
        ...mixer.matrixBackward({ dB, dC, da, dD }),
      ]);
      const P = st.ref();
      const t = mambaMixerRef(c.s, c.io, P, f64(u));
      const sg = ssdMatrixBackwardRef(ms, t.B, t.C, t.a, f64(dT));
      const want = mixerMatrixBackwardRef(c.s, c.io, P, f64(u), sg, t);
      const g = await st.grads();
      for (const [name, ref] of want) expect(relErr(minus(g.get(name)!, st.grads0.get(name)!), ref), name).toBeLessThan(1e-3);
      await gpu.check();
    });

    it('stepper: prefill then one token at a time equals the chunked forward', async () => {
      const gpu = await testGpu();
      const st = new Setup(gpu, c, 60);
      const { batch, L } = c.io;
      const want = mambaMixerRef(c.s, c.io, st.ref(), f64(u)).out;
      const rowsOfTokens = (x: ArrayLike<number>, t0: number, t1: number) => {
        const out: number[] = [];
        for (let b = 0; b < batch; b++) for (let t = t0; t < t1; t++) for (let j = 0; j < d; j++) out.push(x[(b * L + t) * d + j]);
        return out;
      };
      // A prompt shorter than the conv window (zeros before it), and one longer than a chunk.
      for (const Lp of [2, 19]) {
        const stepper = new MambaStepper(gpu, c.s, st.binding(), batch);
        const prompt = gpu.upload(Float32Array.from(rowsOfTokens(u, 0, Lp)));
        const promptOut = gpu.buffer(batch * Lp * d * 4);
        gpu.run(stepper.prefill(prompt, promptOut, Lp));
        expect(relErr(await gpu.read(promptOut, batch * Lp * d), rowsOfTokens(want, 0, Lp)), `prefill ${Lp}`).toBeLessThan(1e-4);
        const tok = gpu.buffer(batch * d * 4);
        const out = gpu.buffer(batch * d * 4);
        const ops = stepper.step(tok, out);
        for (let t = Lp; t < L; t++) {
          gpu.write(tok, Float32Array.from(rowsOfTokens(u, t, t + 1)));
          gpu.run(ops);
          expect(relErr(await gpu.read(out, batch * d), rowsOfTokens(want, t, t + 1)), `token ${t} after a prompt of ${Lp}`).toBeLessThan(1e-4);
        }
      }
      await gpu.check();
    });
  });
}

describe('MambaMixer checks', () => {
  it('rejects parameters and activations of the wrong size with the shape in the message', async () => {
    const gpu = await testGpu();
    const c = CASES[0];
    const st = new Setup(gpu, c, 70);
    const small = gpu.zeros(16);
    const bad: MixerParamBinding = { w: (n) => (n === 'in_proj.weight' ? small : st.binding().w(n)), g: () => undefined };
    expect(() => new MambaMixer(gpu, c.s, c.io, bad)).toThrow(/in_proj\.weight holds 64 bytes, shape \[100,32\] needs 12800/);
    expect(() => new MambaMixer(gpu, { ...c.s, nV: 3 }, c.io, st.binding())).toThrow(/dInner must be a multiple of nV/);
    const mixer = new MambaMixer(gpu, c.s, c.io, st.binding());
    expect(() => mixer.forward(gpu.zeros(10), gpu.zeros(c.io.batch * c.io.L * c.s.d))).toThrow(/batch=2, L=37.*u holds/);
  });
});

describe('MambaMixer: stage 1 computes only the rows its loss reads', () => {
  // Widths whose row and channel views start on 256-byte boundaries (d, dInner multiples of 64), so
  // matrixForward({ only }) takes the B, C and A_log rows of in_proj alone.
  const c: Case = { name: 'aligned', s: { d: 64, dInner: 64, nV: 2, nQK: 2, N: 16, chunk: 16, outBias: false }, io: { batch: 2, L: 24 } };
  const rows = c.io.batch * c.io.L;
  const m = mixerDims(c.s);
  const u = randn(rows * c.s.d, 3);
  const grads = (seed: number) => ({ dB: randn(rows * m.gN, seed), dC: randn(rows * m.gN, seed + 1), da: randn(rows * c.s.nV, seed + 2), dD: randn(c.s.nV, seed + 3) });

  for (const frozen of [[], ['in_proj.weight']]) {
    it(`gives the full path's matrix inputs and gradients${frozen.length ? ' (in_proj frozen)' : ''}, with exact zeros in the rows it skips`, async () => {
      const gpu = await testGpu();
      const g = grads(60);
      const run = async (only: boolean) => {
        const st = new Setup(gpu, c, 70);
        const mixer = new MambaMixer(gpu, c.s, c.io, st.binding(new Set(frozen)));
        const up = (x: Float32Array) => gpu.upload(x);
        const fwd = mixer.matrixForward(gpu.upload(u), { only });
        const narrowed = mixer.matrixNarrowed;
        const mi = mixer.matrixInputs();
        gpu.run([...fwd, ...mixer.matrixBackward({ dB: up(g.dB), dC: up(g.dC), da: up(g.da), dD: up(g.dD) })]);
        const inputs = { B: await gpu.read(mi.B, rows * m.gN), C: await gpu.read(mi.C, rows * m.gN), a: await gpu.read(mi.a, rows * c.s.nV) };
        const added = new Map([...(await st.grads())].map(([n, v]) => [n, minus(v, st.grads0.get(n)!)]));
        await gpu.check();
        mixer.release();
        return { narrowed, inputs, added };
      };
      const [full, narrow] = [await run(false), await run(true)];
      expect([full.narrowed, narrow.narrowed]).toEqual([false, true]);
      for (const k of ['B', 'C', 'a'] as const) expect(relErr(narrow.inputs[k], full.inputs[k]), k).toBeLessThan(1e-6);
      for (const [name, want] of full.added) expect(relErr(narrow.added.get(name)!, want, 1e-6), name).toBeLessThan(1e-5);
      const inProj = narrow.added.get('in_proj.weight')!;
      const rowsOf = (x: ArrayLike<number>, r0: number, r1: number) => Array.from(x).slice(r0 * c.s.d, r1 * c.s.d);
      expect(rowsOf(inProj, 0, m.bOff).every((e) => e === 0)).toBe(true);
      expect(rowsOf(inProj, m.zOff, m.aOff).every((e) => e === 0)).toBe(true);
      if (!frozen.length) expect(rowsOf(inProj, m.bOff, m.zOff).some((e) => e !== 0)).toBe(true);
    });
  }
});
