// float64 reference for src/kernels/embedding.ts. Layouts: ids (tokens); table (vocab, d);
// out (tokens, d); pos table (≥ L, d); all row-major. Ids above vocab − 1 are clamped to it.
//   out[t, j] = table[min(ids[t], vocab−1), j] + pos[t mod L, j]

export interface EmbeddingShape {
  tokens: number;
  d: number;
  vocab: number;
}

export function embeddingRef(
  ids: ArrayLike<number>,
  table: Float64Array,
  s: EmbeddingShape,
  pos?: { table: Float64Array; L: number },
): Float64Array {
  const { tokens, d, vocab } = s;
  const out = new Float64Array(tokens * d);
  for (let t = 0; t < tokens; t++) {
    const v = Math.min(ids[t], vocab - 1);
    for (let j = 0; j < d; j++) {
      out[t * d + j] = table[v * d + j] + (pos ? pos.table[(t % pos.L) * d + j] : 0);
    }
  }
  return out;
}

/**
 * Gradients of Σ dOut·out: every token t sends its dOut row to the table row it read and to the
 * position row t mod L.
 */
export function embeddingBackwardRef(
  ids: ArrayLike<number>,
  dOut: Float64Array,
  s: EmbeddingShape,
  L?: number,
): { dTable: Float64Array; dPos: Float64Array | null } {
  const { tokens, d, vocab } = s;
  const dTable = new Float64Array(vocab * d);
  const dPos = L ? new Float64Array(L * d) : null;
  for (let t = 0; t < tokens; t++) {
    const v = Math.min(ids[t], vocab - 1);
    for (let j = 0; j < d; j++) {
      dTable[v * d + j] += dOut[t * d + j];
      if (dPos && L) dPos[(t % L) * d + j] += dOut[t * d + j];
    }
  }
  return { dTable, dPos };
}
