// Mamba-2's SSD: the chunked scan (the student's mixer, forward and forward+backward, at the
// target shape and at chunk 64) and the materialised mixing matrix L∘(C·Bᵀ) of MOHAWK stage 1.
// The scan runs without D and without initial or final states, like the PyTorch side's minimal SSD.
import { ssdMatrixBackward, ssdMatrixForward, type SsdMatrixShape } from '../kernels/ssd-matrix';
import { ssdScan, ssdScanBackward, type SsdShape } from '../kernels/ssd-scan';
import type { BenchCase, BenchData, BenchSize } from './case';

function scanInputs(data: BenchData, s: SsdShape) {
  const nx = s.batch * s.L * s.h * s.p;
  const nbc = s.batch * s.L * s.g * s.n;
  const scale = 1 / Math.sqrt(s.n);
  return {
    x: data.uniform(nx),
    // Log-decays in (−0.5, 0]: exp(a) in (0.6, 1], a typical trained range.
    a: data.uniform(s.batch * s.L * s.h, -0.5, 0),
    B: data.uniform(nbc, -scale, scale),
    C: data.uniform(nbc, -scale, scale),
  };
}

function scan(s: SsdShape, backward: boolean): BenchCase {
  return {
    group: 'ssd',
    name: backward ? 'ssd scan fwd+bwd' : 'ssd scan fwd',
    shape: `b${s.batch} L${s.L} h${s.h} p${s.p} g${s.g} n${s.n} chunk${s.chunk}`,
    setup(gpu, data) {
      const nx = s.batch * s.L * s.h * s.p;
      const nbc = s.batch * s.L * s.g * s.n;
      const t = scanInputs(data, s);
      const ops = ssdScan(gpu, s, { ...t, y: data.out(nx) });
      if (backward) {
        const g = { dy: data.uniform(nx), dx: data.out(nx), da: data.out(s.batch * s.L * s.h), dB: data.out(nbc), dC: data.out(nbc) };
        ops.push(...ssdScanBackward(gpu, s, { ...t, ...g }));
      }
      return { ops };
    },
  };
}

function matrix(s: SsdMatrixShape, backward: boolean): BenchCase {
  const nbc = s.batch * s.L * s.g * s.n;
  const nT = s.batch * s.h * s.L * s.L;
  return {
    group: 'ssd',
    name: backward ? 'ssd matrix bwd' : 'ssd matrix fwd',
    shape: `b${s.batch} L${s.L} h${s.h} g${s.g} n${s.n}`,
    setup(gpu, data) {
      const scale = 1 / Math.sqrt(s.n);
      const t = { B: data.uniform(nbc, -scale, scale), C: data.uniform(nbc, -scale, scale), a: data.uniform(s.batch * s.L * s.h, -0.5, 0) };
      // Bytes: T (or dT) once, B and C (and their gradients) once.
      const bytes = 4 * (nT + 2 * nbc * (backward ? 2 : 1));
      if (!backward) return { ops: ssdMatrixForward(gpu, s, { ...t, D: data.uniform(s.h), out: data.out(nT) }), bytes };
      const g = { dT: data.uniform(nT), dB: data.out(nbc), dC: data.out(nbc), da: data.out(s.batch * s.L * s.h), dD: data.out(s.h) };
      return { ops: ssdMatrixBackward(gpu, s, { ...t, ...g }), bytes };
    },
  };
}

export function ssdCases(size: BenchSize): BenchCase[] {
  const full = size === 'full';
  const s: SsdShape = full ? { batch: 8, L: 2048, h: 32, p: 64, g: 1, n: 64, chunk: 128 } : { batch: 1, L: 96, h: 2, p: 16, g: 1, n: 16, chunk: 32 };
  const s64: SsdShape = { ...s, chunk: full ? 64 : 16 };
  const m: SsdMatrixShape = full ? { batch: 2, L: 1024, h: 32, g: 1, n: 64 } : { batch: 1, L: 70, h: 2, g: 1, n: 16 };
  return [scan(s, false), scan(s, true), scan(s64, true), matrix(m, false), matrix(m, true)];
}
