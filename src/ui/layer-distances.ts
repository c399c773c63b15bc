// The stage-1 distance of each layer over the run: the grid's snapshots (layers × heads) reduced to one
// value per layer, kept per reported step for the small chart beside the grid.

/** Steps and, per layer, the mean over its heads at each step (null where no head was measured: a kept attention layer). */
export interface LayerDistanceSeries {
  step: number[];
  layers: (number | null)[][];
}

export const emptyLayerDistances = (): LayerDistanceSeries => ({ step: [], layers: [] });

/** Mean over heads per layer of a row-major layers × heads grid; NaN cells are left out. */
export function layerMeans(values: readonly number[], layers: number, heads: number): (number | null)[] {
  const out: (number | null)[] = [];
  for (let l = 0; l < layers; l++) {
    let sum = 0;
    let n = 0;
    for (let h = 0; h < heads; h++) {
      const v = values[l * heads + h];
      if (v !== undefined && Number.isFinite(v)) {
        sum += v;
        n++;
      }
    }
    out.push(n > 0 ? sum / n : null);
  }
  return out;
}

/**
 * Adds a snapshot at `step`, in place (a stage-1 run reports one per step). Steps stay increasing: a
 * snapshot at or before the last one (a stage taken up again from an earlier checkpoint) replaces what
 * lay from its step on; a grid of another shape starts the series afresh.
 */
export function appendLayerDistances(s: LayerDistanceSeries, step: number, means: readonly (number | null)[]): void {
  if (s.layers.length !== means.length) {
    s.step.length = 0;
    s.layers = means.map(() => []);
  }
  let keep = s.step.length;
  while (keep > 0 && s.step[keep - 1]! >= step) keep--;
  s.step.length = keep;
  for (const col of s.layers) col.length = keep;
  s.step.push(step);
  means.forEach((v, l) => s.layers[l]!.push(v));
}
