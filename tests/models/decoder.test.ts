// The GPU teacher forward against the float64 Llama reference on the real stories260K checkpoint:
// logits, every traced activation the stages read, and the mean NLL the eval command reports.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeDocuments, splitDocuments } from '../../src/io/corpus';
import { nodeDirFileSet } from '../../src/io/files';
import { openCheckpoint } from '../../src/io/safetensors';
import { Decoder } from '../../src/models/decoder';
import { meanNll } from '../../src/models/evaluate';
import { loadTeacher, type LoadedTeacher } from '../../src/models/teacher';
import { llamaForward, loadLlama, meanNll as refMeanNll, type LlamaModel } from '../../src/ref/llama';
import { CORPUS_FILE, TEACHER_DIR } from '../helpers/data';
import { relErr, relErrOfScale, testGpu } from '../helpers/gpu';


let teacher: LoadedTeacher;
let ref: LlamaModel;
let docs: number[][];

beforeAll(async () => {
  const gpu = await testGpu();
  const files = await nodeDirFileSet(TEACHER_DIR);
  teacher = await loadTeacher(gpu, files, 'stories260K');
  ref = (await loadLlama(await openCheckpoint(files), teacher.config)).model;
  const text = readFileSync(CORPUS_FILE, 'utf8');
  docs = encodeDocuments(teacher.tokenizer, splitDocuments(text).slice(0, 6), { maxTokens: 40 });
});

describe('GPU decoder on stories260K', () => {
  it('gives the float64 reference logits, residuals, normed inputs, attention matrices and outputs', async () => {
    const gpu = await testGpu();
    const batch = 2, L = 40;
    const ids = new Uint32Array(batch * L);
    docs.slice(0, batch).forEach((d, b) => ids.set(d.slice(0, L), b * L));
    const dec = new Decoder(gpu, teacher.config, teacher.weights, { batch, L, ids: gpu.upload(ids) }, { keepLayers: true });
    gpu.run(dec.ops);
    const d = teacher.config.dModel, V = teacher.config.vocab;
    const logits = await gpu.read(dec.logits!);
    for (let b = 0; b < batch; b++) {
      const r = llamaForward(ref, [...ids.subarray(b * L, (b + 1) * L)], { trace: true });
      expect(relErrOfScale(logits.subarray(b * L * V, (b + 1) * L * V), r.logits)).toBeLessThan(1e-4);
      for (const l of [0, teacher.config.layers - 1]) {
        const tr = r.layers[l]!;
        const part = async (buf: GPUBuffer) => (await gpu.read(buf)).subarray(b * L * d, (b + 1) * L * d);
        expect(relErrOfScale(await part(dec.residuals[l]!), tr.residualIn)).toBeLessThan(1e-4);
        expect(relErrOfScale(await part(dec.normed[l]!), tr.attnInput)).toBeLessThan(1e-4);
        expect(relErrOfScale(await part(dec.mixed[l]!), tr.attnOut)).toBeLessThan(1e-4);
        // Stage 1's target: the causal softmax matrices (batch, heads, L, L).
        const H = teacher.config.heads;
        const A = gpu.buffer(batch * H * L * L * 4);
        gpu.run(dec.attention(l).probabilities(A));
        expect(relErr((await gpu.read(A)).subarray(b * H * L * L, (b + 1) * H * L * L), tr.attnProbs)).toBeLessThan(1e-4);
      }
    }
    await gpu.check();
    dec.release();
  });

  it('gives the reference mean NLL over documents of different lengths (end padding changes nothing)', async () => {
    const gpu = await testGpu();
    const uneven = docs.map((d, i) => d.slice(0, 12 + 5 * i));
    const got = await meanNll(gpu, teacher, uneven);
    expect(got.tokens).toBe(uneven.reduce((s, d) => s + d.length - 1, 0));
    expect(Math.abs(got.meanNll - refMeanNll(ref, uneven)) / refMeanNll(ref, uneven)).toBeLessThan(1e-5);
  });
});
