// Stage 2's measure of each layer's target, the hybrid advisor's yardstick for its residual
// (LayerObjective in src/mohawk/stages.ts, Distiller.attentionNormTail): the mean L2 norm per token of
// the teacher's attention output, over the stage's last steps, against the float64 Llama reference on
// the tokens those steps read, resident and with the layers streamed; an attention layer has none.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { nodeDirFileSet } from '../../src/io/files';
import { openCheckpoint } from '../../src/io/safetensors';
import { loadTeacher } from '../../src/models/teacher';
import { llamaForward, loadLlama, type LlamaModel } from '../../src/ref/llama';
import { Distiller, LAYER_LOSS_TAIL } from '../../src/mohawk/distiller';
import { DEFAULT_PLAN, type DistillPlan } from '../../src/mohawk/plan';
import { TokenStream } from '../../src/mohawk/token-stream';
import { CORPUS_FILE, TEACHER_DIR } from '../helpers/data';
import { relErr, testGpu } from '../helpers/gpu';

const text = readFileSync(CORPUS_FILE, 'utf8').slice(0, 100_000);
const L = 16;
// 3 steps of 2 micro-batches × 2 sequences (SwiftShader takes seconds a step): the tail
// (LAYER_LOSS_TAIL) is the last step, whose micro-batches are averaged as its loss is; the tail's
// mean over steps is the one layerLossTail takes.
const STEPS = 3;
const plan: DistillPlan = { ...DEFAULT_PLAN, stages: [2], tokens: { 1: 0, 2: STEPS * 4 * L, 3: 0 }, seqLen: L, batch: 2, accumulate: 2, attentionLayers: [1] };

let ref: LlamaModel;

beforeAll(async () => {
  const gpu = await testGpu();
  const files = await nodeDirFileSet(TEACHER_DIR);
  const config = (await loadTeacher(gpu, files, 'stories260K', undefined, { upload: false })).config;
  ref = (await loadLlama(await openCheckpoint(files), config)).model;
});

/** Stage 2 of `p` through the Distiller, with the token ids of each step it sampled. */
async function stage2(p: DistillPlan) {
  const gpu = await testGpu();
  const teacher = await loadTeacher(gpu, await nodeDirFileSet(TEACHER_DIR), 'stories260K', undefined, { upload: !p.streamLayers });
  const corpus = TokenStream.fromText(text, teacher.tokenizer, { maxDocs: 100 });
  const sampled: Uint32Array[] = [];
  const sample = corpus.sample.bind(corpus);
  corpus.sample = (n, len) => {
    const ids = sample(n, len);
    sampled.push(ids.slice());
    return ids;
  };
  const d = await Distiller.create(gpu, teacher, p, corpus);
  await d.run();
  const out = { norms: d.attentionNormTail(2), losses: d.layerLossTail(2), sampled };
  d.release();
  teacher.release();
  return out;
}

/** Each layer's mean over `steps`' sequences of the mean L2 norm per token of the reference's attention output. */
function referenceNorms(steps: Uint32Array[]): number[] {
  const layers = ref.layers.length;
  const d = ref.dims.dModel;
  const sum = new Float64Array(layers);
  let seqs = 0;
  for (const ids of steps) {
    for (let s = 0; s < ids.length / L; s++, seqs++) {
      const tr = llamaForward(ref, [...ids.subarray(s * L, (s + 1) * L)], { trace: true }).layers;
      for (let l = 0; l < layers; l++) {
        let perSeq = 0;
        for (let t = 0; t < L; t++) {
          let sq = 0;
          for (let i = 0; i < d; i++) sq += tr[l]!.attnOut[t * d + i]! ** 2;
          perSeq += Math.sqrt(sq);
        }
        sum[l] += perSeq / L;
      }
    }
  }
  return [...sum].map((v) => v / seqs);
}

describe("stage 2's attention-output norms", () => {
  for (const streamLayers of [false, true]) {
    it(`are the reference's mean norm per token over the stage's last steps (${streamLayers ? 'streamed' : 'resident'})`, async () => {
      const r = await stage2({ ...plan, streamLayers });
      expect(r.sampled).toHaveLength(STEPS);
      const tail = Math.max(1, Math.ceil(STEPS * LAYER_LOSS_TAIL));
      expect(tail).toBe(1);
      const want = referenceNorms(r.sampled.slice(-tail));
      const got = r.norms!;
      expect(got).toHaveLength(ref.layers.length);
      expect(Number.isNaN(got[1])).toBe(true);
      expect(Number.isNaN(r.losses![1])).toBe(true);
      const mixers = [0, 2, 3, 4];
      expect(relErr(mixers.map((l) => got[l]!), mixers.map((l) => want[l]!))).toBeLessThan(1e-4);
      // Not the norms of the other steps: the tail is what was measured.
      const first = referenceNorms(r.sampled.slice(0, tail));
      expect(relErr(mixers.map((l) => got[l]!), mixers.map((l) => first[l]!))).toBeGreaterThan(1e-3);
    }, 120_000);
  }
});
