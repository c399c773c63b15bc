// float64 reference for src/kernels/frobenius.ts.
//   dist[m] = ‖P_m − T_m‖_F (squared: ‖P_m − T_m‖²_F), loss = (1/mats) Σ_m dist[m]
//   dLoss/dP = (P − T)/(mats·dist[m]) (0 where dist[m] = 0);  squared: 2(P − T)/mats

export function frobeniusRef(
  p: Float64Array,
  t: Float64Array,
  mats: number,
  size: number,
  squared = false,
): { dist: Float64Array; loss: number; grad: Float64Array } {
  const dist = new Float64Array(mats);
  const grad = new Float64Array(mats * size);
  let loss = 0;
  for (let m = 0; m < mats; m++) {
    let ss = 0;
    for (let e = m * size; e < (m + 1) * size; e++) ss += (p[e] - t[e]) ** 2;
    const d = squared ? ss : Math.sqrt(ss);
    dist[m] = d;
    loss += d / mats;
    const coef = squared ? 2 / mats : d > 0 ? 1 / (mats * d) : 0;
    for (let e = m * size; e < (m + 1) * size; e++) grad[e] = coef * (p[e] - t[e]);
  }
  return { dist, loss, grad };
}
