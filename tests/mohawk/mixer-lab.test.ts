// The mixer lab end to end on a tiny trained teacher (tests/fixtures/llama-gqa: 2 layers, 4 heads):
// held-out sequences as the runs split them, the teacher's attention per (sequence, layer, head), each
// family fitted with distances falling over the steps, and results that do not depend on how the
// matrices were batched.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { nodeDirFileSet } from '../../src/io/files';
import { loadTeacher, type LoadedTeacher } from '../../src/models/teacher';
import { DEFAULT_MIXER_LAB, heldOutSample, resolveMixerLab, runMixerLab, type MixerLabProgress } from '../../src/mohawk/mixer-lab';
import { TokenStream } from '../../src/mohawk/token-stream';
import { CORPUS_FILE } from '../helpers/data';
import { FIXTURES_DIR } from '../helpers/fixtures';
import { testGpu } from '../helpers/gpu';

let teacher: LoadedTeacher;
let corpus: TokenStream;

beforeAll(async () => {
  teacher = await loadTeacher(await testGpu(), await nodeDirFileSet(`${FIXTURES_DIR}/llama-gqa`), 'llama-gqa');
  corpus = TokenStream.fromText(readFileSync(CORPUS_FILE, 'utf8'), teacher.tokenizer, { maxDocs: 100 });
});

const small = { ...DEFAULT_MIXER_LAB, states: [4, 8], seqLen: 32, samples: 1 };

describe('mixer lab', () => {
  it('takes its sequences from the held-out documents, back to back, and says when there are too few', async () => {
    const ids = await heldOutSample(corpus, 3, 50);
    const held = corpus.heldOutDocs().flat();
    expect(Array.from(ids)).toEqual(held.slice(0, 150));
    await expect(heldOutSample(corpus, 1000, 128)).rejects.toThrow(new RegExp(`the corpus holds ${corpus.heldOutTokens} held-out tokens \\(10 documents\\), fewer than 1000 sequences of 128`));
  });

  it('fits every family at every N with distances that fall over the steps', async () => {
    const gpu = await testGpu();
    const ids = await heldOutSample(corpus, small.samples, small.seqLen);
    const seen: MixerLabProgress[] = [];
    const r = await runMixerLab(gpu, teacher, ids, { ...small, steps: 40 }, { onProgress: (p) => seen.push(p) });
    expect(r.matrices).toBe(1 * 2 * 4);
    expect(r.rows.map((x) => `${x.family}/${x.states}`)).toEqual(['toeplitz/4', 'toeplitz/8', 'low-rank/4', 'low-rank/8', 'ssd/4', 'ssd/8', 'ssm/4', 'ssm/8']);
    for (const row of r.rows) {
      expect(Object.keys(row.layers)).toEqual(['0', '1']);
      expect((row.layers['0']! + row.layers['1']!) / 2).toBeCloseTo(row.distance, 5);
      expect(row.distance).toBeLessThan(r.targetNorm.mean);
    }
    // Toeplitz has no state size: one fit, its row at every N.
    expect(r.rows[0]!.distance).toBe(r.rows[1]!.distance);
    for (const fit of ['toeplitz/null', 'low-rank/4', 'low-rank/8', 'ssd/4', 'ssd/8', 'ssm/4', 'ssm/8']) {
      const curve = seen.filter((p) => `${p.family}/${p.states}` === fit).map((p) => p.distance);
      expect(curve.length, fit).toBe(21);
      expect(curve.at(-1)!, fit).toBeLessThan(0.8 * curve[0]!);
      // Mostly downhill: a step up of more than 5% is no descent.
      for (let k = 1; k < curve.length; k++) expect(curve[k]!, `${fit} at read ${k}`).toBeLessThan(1.05 * curve[k - 1]!);
    }
    const at = (f: string, N: number) => r.rows.find((x) => x.family === f && x.states === N)!.distance;
    for (const f of ['low-rank', 'ssd', 'ssm']) expect(at(f, 8), f).toBeLessThan(at('toeplitz', 8));
    expect(at('low-rank', 8)).toBeLessThan(at('low-rank', 4));
  }, 120_000);

  it('gives the same Toeplitz distances and norms however the matrices are batched', async () => {
    const gpu = await testGpu();
    const o = { ...small, samples: 2, states: [2], steps: 5 };
    const ids = await heldOutSample(corpus, o.samples, o.seqLen);
    const one = await runMixerLab(gpu, teacher, ids, o);
    // A batch of at most 4 matrices of 32×32: one (sequence, layer) of 4 heads at a time, 4 batches.
    const seen = new Set<number>();
    const four = await runMixerLab(gpu, teacher, ids, { ...o, batchFloats: 4 * 32 * 32 }, { onProgress: (p) => seen.add(p.batches) });
    expect([...seen]).toEqual([4]);
    expect(four.targetNorm.mean).toBeCloseTo(one.targetNorm.mean, 5);
    // Toeplitz starts from zero, so its fit of each matrix is the same in any batch.
    expect(Math.abs(four.rows[0]!.distance - one.rows[0]!.distance)).toBeLessThan(1e-5 * one.rows[0]!.distance);
    for (const l of ['0', '1']) expect(four.rows[0]!.layers[l]).toBeCloseTo(one.rows[0]!.layers[l]!, 5);
  }, 120_000);

  it('names each bad option', () => {
    const c = teacher.config;
    expect(() => resolveMixerLab({ ...small, layers: [2] }, c)).toThrow(/layer 2 is not one of the teacher's layers 0–1/);
    expect(() => resolveMixerLab({ ...small, seqLen: 129 }, c)).toThrow(/sequences of 129 tokens are longer than the teacher's 128 positions/);
    expect(() => resolveMixerLab({ ...small, states: [8, 8] }, c)).toThrow(/state sizes repeat \(8, 8\)/);
    expect(() => resolveMixerLab({ ...small, states: [] }, c)).toThrow(/no state size/);
    expect(() => resolveMixerLab({ ...small, steps: 0 }, c)).toThrow(/the number of steps must be an integer ≥ 1, not 0/);
    expect(resolveMixerLab({ ...small, layers: [1, 0], states: [8, 4] }, c)).toMatchObject({ layers: [0, 1], states: [4, 8] });
  });
});
