// The hybrid advisor's evidence on the GPU (src/mohawk/advisor-evidence.ts, meanKl in
// src/models/evaluate.ts), on the two-layer bf16 llama fixture (its attention restored from packed bf16): the KL is the float64 KL of the two models'
// logits, padding and all; a student with every layer restored is its teacher; each leave-one-out
// KL is the KL of a student re-laid out with that layer as attention (the layout stage 3 trains);
// and a plan without stage 2 gets its residuals from a probe that leaves the run's student as it was.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { nodeDirFileSet } from '../../src/io/files';
import { Decoder } from '../../src/models/decoder';
import { meanKl } from '../../src/models/evaluate';
import { loadTeacher } from '../../src/models/teacher';
import { gatherEvidence, leaveOneOut, probePlan, restoredModel } from '../../src/mohawk/advisor-evidence';
import { Distiller } from '../../src/mohawk/distiller';
import { DEFAULT_PLAN, type DistillPlan } from '../../src/mohawk/plan';
import { TokenStream } from '../../src/mohawk/token-stream';
import { CORPUS_FILE } from '../helpers/data';
import { FIXTURES_DIR } from '../helpers/fixtures';
import { relErr, testGpu } from '../helpers/gpu';
import { readFloats } from '../../src/mohawk/checkpoint';

const text = readFileSync(CORPUS_FILE, 'utf8').slice(0, 20_000);
const plan: DistillPlan = { ...DEFAULT_PLAN, stages: [3], tokens: { 1: 0, 2: 0, 3: 2000 }, seqLen: 16, batch: 2, attentionAuto: 1 };

let shared: { gpu: Awaited<ReturnType<typeof testGpu>>; teacher: Awaited<ReturnType<typeof loadTeacher>>; corpus: TokenStream; docs: number[][] };

beforeAll(async () => {
  const gpu = await testGpu();
  const teacher = await loadTeacher(gpu, await nodeDirFileSet(join(FIXTURES_DIR, 'llama-bf16')), 'llama-bf16', undefined, { upload: false });
  await teacher.upload();
  const corpus = TokenStream.fromText(text, teacher.tokenizer, { maxDocs: 30 });
  // Documents of different lengths: the batch pads the shorter ones.
  const docs = corpus.heldOutDocs(3).map((x, i) => x.slice(0, [24, 9, 17][i]));
  shared = { gpu, teacher, corpus, docs };
}, 60_000);

async function setup(p: DistillPlan = plan) {
  const d = await Distiller.create(shared.gpu, shared.teacher, p, shared.corpus.fresh());
  return { ...shared, d };
}

/** KL(p_t ‖ p_s) per real position from the two models' logits, in float64. */
async function hostKl(gpu: Awaited<ReturnType<typeof testGpu>>, teacher: Parameters<typeof meanKl>[1], student: Parameters<typeof meanKl>[1], docs: number[][]): Promise<number> {
  let sum = 0;
  let n = 0;
  for (const doc of docs) {
    const ids = gpu.upload(new Uint32Array(doc), 'ids');
    const io = { batch: 1, L: doc.length, ids };
    const logits = [];
    for (const m of [teacher, student]) {
      const dec = new Decoder(gpu, m.config, m.weights, io, { mixer: m.mixer });
      gpu.run(dec.ops);
      logits.push(await gpu.read(dec.logits!, doc.length * m.config.vocab));
      dec.release();
    }
    ids.destroy();
    const V = teacher.config.vocab;
    for (let t = 0; t < doc.length; t++) {
      const lse = (x: Float32Array) => {
        let m = -Infinity;
        for (let v = 0; v < V; v++) m = Math.max(m, x[t * V + v]!);
        let s = 0;
        for (let v = 0; v < V; v++) s += Math.exp(x[t * V + v]! - m);
        return m + Math.log(s);
      };
      const [a, b] = [lse(logits[0]!), lse(logits[1]!)];
      for (let v = 0; v < V; v++) {
        const lp = logits[0]![t * V + v]! - a;
        sum += Math.exp(lp) * (lp - (logits[1]![t * V + v]! - b));
      }
      n++;
    }
  }
  return sum / n;
}

describe('hybrid advisor evidence', () => {
  it('measures the KL of the logits, 0 for the teacher itself and for a student with every layer restored', async () => {
    const { gpu, teacher, d, docs } = await setup();
    await d.resident();
    const t = { config: teacher.config, weights: teacher.weights };
    const student = d.studentModel();
    const all = [...Array(teacher.config.layers).keys()];
    const r = await meanKl(gpu, t, 3, (i) => [t, student, restoredModel(gpu, t, d.spec, d.student, all)][i]!, docs);
    expect(r.tokens).toBe(24 + 9 + 17);
    expect(Math.abs(r.meanKl[0]!)).toBeLessThan(1e-6);
    expect(Math.abs(r.meanKl[2]!)).toBeLessThan(1e-5);
    expect(r.meanKl[1]!).toBeGreaterThan(1e-3);
    expect(relErr([r.meanKl[1]!], [await hostKl(gpu, t, student, docs)])).toBeLessThan(1e-4);
    d.release();
  }, 120_000);

  it('restores one layer at a time: each KL is that of the student re-laid out with the layer as attention', async () => {
    const { gpu, teacher, d, docs } = await setup();
    const loo = await leaveOneOut(gpu, d, docs);
    expect(loo.looKl).toHaveLength(teacher.config.layers);
    expect(loo.tokens).toBe(50);
    const t = { config: teacher.config, weights: teacher.weights };
    for (const l of [1]) {
      const { d: other } = await setup();
      await other.adoptAttentionLayers([l]);
      expect(other.spec.attentionLayers).toEqual([l]);
      expect(other.student.has(`layers.${l}.attn.q.weight`)).toBe(true);
      expect(other.student.has(`layers.${l}.mixer.in_proj.weight`)).toBe(false);
      const r = await meanKl(gpu, t, 1, () => other.studentModel(), docs);
      expect(relErr([loo.looKl[l]!], [r.meanKl[0]!])).toBeLessThan(1e-4);
      other.release();
    }
    // Each layer restored changes the KL (it can grow: a kept attention among mixers not fitted to it).
    for (const kl of loo.looKl) expect(Math.abs(kl - loo.baseKl)).toBeGreaterThan(1e-4);
    d.release();
  }, 120_000);

  it('probes stage 2 when the plan has none, leaving the run\'s student as it was', async () => {
    const p = probePlan(plan);
    expect(p.stages).toEqual([1, 2]);
    // A quarter of the paper's 80 : 160 beside stage 3's tokens, at least a step (32 tokens) each.
    expect(probePlan({ ...plan, tokens: { 1: 0, 2: 0, 3: 276_000 } }).tokens).toEqual({ 1: 2000, 2: 4000, 3: 0 });
    expect(probePlan({ ...plan, stages: [1, 3] }).stages).toEqual([2]);
    expect(p.tokens).toEqual({ 1: 32, 2: 32, 3: 0 });

    // A plan of stages 1 and 3: its stage 1 ran, so the probe trains stage 2 alone.
    const { gpu, d, docs } = await setup({ ...plan, stages: [1, 3], tokens: { 1: 32, 2: 0, 3: 2000 } });
    const before = await readFloats(d.snapshot().params);
    const labels = new Set<string>();
    const e = await gatherEvidence(gpu, d, { docs, stage2: null, onProgress: (label) => labels.add(label) });
    expect(e).not.toBeNull();
    expect(e!.source).toBe('probe');
    expect(e!.probeTokens).toBe(32);
    expect(e!.residual).toHaveLength(2);
    for (const r of e!.residual) expect(r).toBeGreaterThan(0);
    // The probe's Distiller measured the attention outputs' norms beside its residuals.
    expect(e!.attentionNorm).toHaveLength(2);
    for (const n of e!.attentionNorm) expect(n).toBeGreaterThan(0);
    expect([...labels].some((l) => l.includes('probing stage 2'))).toBe(true);
    expect([...labels].some((l) => l.includes('leave-one-out'))).toBe(true);
    expect(relErr(await readFloats(d.snapshot().params), before)).toBe(0);

    // With the plan's own residuals and norms, no probe: they are taken as given.
    const given = await gatherEvidence(gpu, d, { docs, stage2: { residual: [1, 2], attentionNorm: [3, 4] } });
    expect(given).toMatchObject({ source: 'stage 2', residual: [1, 2], attentionNorm: [3, 4], probeTokens: 0, docs: 3, tokens: 50 });
    d.release();
  }, 180_000);
});
