// float64 reference for src/kernels/losses.ts. Tensors are contiguous (rows, vocab | d), row-major.
import { IGNORE_INDEX } from '../kernels/losses';

/** log Σ_j exp(x[off + j]·scale) over j < n, shifted by the max so nothing overflows. */
function logSumExp(x: Float64Array, off: number, n: number, scale = 1): number {
  let m = -Infinity;
  for (let j = 0; j < n; j++) m = Math.max(m, x[off + j] * scale);
  let s = 0;
  for (let j = 0; j < n; j++) s += Math.exp(x[off + j] * scale - m);
  return m + Math.log(s);
}

/**
 * rowLoss[r] = −log softmax(x_r)[target_r] (0 where target_r = IGNORE_INDEX), loss = mean over the
 * counted rows (0 if none), dLogits[r, j] = (softmax(x_r)_j − [j = target_r])/count.
 */
export function crossEntropyRef(
  logits: Float64Array,
  targets: Uint32Array,
  rows: number,
  vocab: number,
): { rowLoss: Float64Array; loss: number; dLogits: Float64Array } {
  const rowLoss = new Float64Array(rows);
  const dLogits = new Float64Array(rows * vocab);
  let count = 0;
  for (let r = 0; r < rows; r++) if (targets[r] !== IGNORE_INDEX) count++;
  let sum = 0;
  for (let r = 0; r < rows; r++) {
    const t = targets[r];
    if (t === IGNORE_INDEX) continue;
    const lse = logSumExp(logits, r * vocab, vocab);
    rowLoss[r] = lse - logits[r * vocab + t];
    sum += rowLoss[r];
    for (let j = 0; j < vocab; j++) {
      dLogits[r * vocab + j] = (Math.exp(logits[r * vocab + j] - lse) - (j === t ? 1 : 0)) / count;
    }
  }
  return { rowLoss, loss: count > 0 ? sum / count : 0, dLogits };
}

/**
 * With p = softmax(t_r/τ), q = softmax(s_r/τ):
 *   kl: rowLoss[r] = Σ_j p_j (log p_j − log q_j);  ce: rowLoss[r] = −Σ_j p_j log q_j,
 * both times τ² when scaleByTauSquared; loss = mean over rows. The gradient wrt s is the same for
 * both (the teacher's entropy does not depend on s): ∂/∂s_j = (q_j − p_j)/τ, times τ² and 1/rows.
 */
export function softCrossEntropyRef(
  s: Float64Array,
  t: Float64Array,
  rows: number,
  vocab: number,
  tau = 1,
  kind: 'kl' | 'ce' = 'kl',
  scaleByTauSquared = false,
): { rowLoss: Float64Array; loss: number; dStudent: Float64Array } {
  const scale = scaleByTauSquared ? tau * tau : 1;
  const rowLoss = new Float64Array(rows);
  const dStudent = new Float64Array(rows * vocab);
  let sum = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * vocab;
    const lseS = logSumExp(s, o, vocab, 1 / tau);
    const lseT = logSumExp(t, o, vocab, 1 / tau);
    let acc = 0;
    for (let j = 0; j < vocab; j++) {
      const logq = s[o + j] / tau - lseS;
      const logp = t[o + j] / tau - lseT;
      const p = Math.exp(logp);
      acc += kind === 'kl' ? p * (logp - logq) : -p * logq;
      dStudent[o + j] = (scale * (Math.exp(logq) - p)) / (tau * rows);
    }
    rowLoss[r] = scale * acc;
    sum += rowLoss[r];
  }
  return { rowLoss, loss: sum / rows, dStudent };
}

/** rowLoss[r] = ‖s_r − t_r‖₂, loss = mean, dS = (s − t)/(rows·‖s_r − t_r‖) (0 where the norm is 0). */
export function l2DistanceRef(s: Float64Array, t: Float64Array, rows: number, d: number): { rowLoss: Float64Array; loss: number; dS: Float64Array } {
  const rowLoss = new Float64Array(rows);
  const dS = new Float64Array(rows * d);
  let sum = 0;
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let j = r * d; j < (r + 1) * d; j++) ss += (s[j] - t[j]) ** 2;
    const n = Math.sqrt(ss);
    rowLoss[r] = n;
    sum += n;
    for (let j = r * d; j < (r + 1) * d; j++) dS[j] = n > 0 ? (s[j] - t[j]) / (rows * n) : 0;
  }
  return { rowLoss, loss: sum / rows, dS };
}
