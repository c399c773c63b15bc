// auto:K through the one run driver (src/mohawk/run.ts), on the two-layer GQA llama fixture: the
// command line's way (the advisor's choice stands, checkpointed with the student laid out for it, and
// a run resumed in stage 3 goes on with it), and the page's way (the run waits for the user, who may
// edit the choice; a plan without stage 2 probes for its residuals). The exported config.json
// records the choice and the evidence. And the advisor's stage-3 probe of candidate layer sets
// (src/mohawk/advisor-probe.ts) on its own: the same batches for each, the lowest KL kept, the run's
// student left as it was. (One file: the stage-3 pipelines of this fixture and shape compile once.)
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeFlatFile } from '../../src/io/flat-file';
import { describe, expect, it } from 'vitest';
import { nodeDirFileSet } from '../../src/io/files';
import { collectBytes } from '../../src/io/bytes';
import { loadTeacher } from '../../src/models/teacher';
import { memoryStore, readFloats, type CheckpointStore } from '../../src/mohawk/checkpoint';
import { gatherEvidence } from '../../src/mohawk/advisor-evidence';
import { PROBE3_MIN_STEPS, probeCandidates, probeSets, WARM_MIN_STEPS, warmProbeCandidates } from '../../src/mohawk/advisor-probe';
import { Distiller } from '../../src/mohawk/distiller';
import { adviceFromRecord, adviceRecord, adviseLayers } from '../../src/mohawk/hybrid-advisor';
import { DEFAULT_PLAN, type DistillPlan } from '../../src/mohawk/plan';
import { peekRunState, Run, type RunEvent, type RunSetup } from '../../src/mohawk/run';
import { TokenStream } from '../../src/mohawk/token-stream';
import { CORPUS_FILE } from '../helpers/data';
import { FIXTURES_DIR } from '../helpers/fixtures';
import { testGpu } from '../helpers/gpu';

const DIR = join(FIXTURES_DIR, 'llama-gqa');
const text = readFileSync(CORPUS_FILE, 'utf8').slice(0, 20_000);
const plan: DistillPlan = { ...DEFAULT_PLAN, stages: [1, 2, 3], tokens: { 1: 32, 2: 32, 3: 64 }, seqLen: 16, batch: 2, lr: { 1: 1e-3, 2: 3e-3, 3: 1e-3 }, attentionAuto: 1, advisorMethod: 'sets' };

async function setup(p: DistillPlan | null, store: CheckpointStore | null, onEvent: (e: RunEvent) => void, extra: Partial<RunSetup> = {}) {
  const gpu = await testGpu();
  const teacherFiles = await nodeDirFileSet(DIR);
  const teacher = await loadTeacher(gpu, teacherFiles, 'llama-gqa', undefined, { upload: false });
  const corpus = TokenStream.fromText(text, teacher.tokenizer, { maxDocs: 30 });
  return Run.prepare({
    gpu, teacher, teacherFiles, teacherName: 'llama-gqa', corpus, corpusName: 'tinystories', docs: 30, heldOut: 0.2,
    plan: p, store, resume: p === null || !!extra.resume, saveEveryS: 0, evaluation: { docs: 2, tokens: 16, atStageEnds: false }, tool: 'test', onEvent, ...extra,
  });
}

async function configJson(run: Run): Promise<Record<string, unknown>> {
  const f = (await run.studentFiles()).find((x) => x.name === 'config.json')!;
  return JSON.parse(new TextDecoder().decode(await collectBytes(f.parts)));
}

const advices = (events: RunEvent[]) => events.filter((e): e is Extract<RunEvent, { type: 'advice' }> => e.type === 'advice');

describe('auto:K in a run', () => {
  it("the command line's way: chosen after stage 2, checkpointed, and kept by a run resumed in stage 3", async () => {
    const store = memoryStore();
    const events: RunEvent[] = [];
    let run: Run | null = null;
    // The student is parked for the probes, and re-laid out while parked, in scratch files as the CLI keeps them.
    const scratch = mkdtempSync(join(tmpdir(), 'mohawk-hybrid-scratch-'));
    run = await setup(plan, store, (e) => {
      events.push(e);
      if (e.type === 'step' && e.stage === 3 && e.step === 1) run!.stop();
    }, { hostStore: nodeFlatFile({ dir: scratch, name: 'student-scratch.f32' }) });
    expect(await run.train()).toBe('stopped');
    // Stage 3 took one step from the re-laid-out student: its embedding is still the teacher's, to a step's change.
    const embed = run.distiller.layout.slices.get('embed')!;
    const got = (await readFloats(run.distiller.snapshot().params)).subarray(embed.offset, embed.offset + embed.count);
    const want = await run.distiller.teacher.source.read('embed');
    expect(Math.max(...want.map(Math.abs))).toBeGreaterThan(0.05);
    expect(Math.max(...got.map((x, i) => Math.abs(x - want[i]!)))).toBeLessThan(0.01);
    const [advice, ...more] = advices(events);
    expect(more).toEqual([]);
    expect(advice!.awaiting).toBe(false);
    const a = advice!.advice;
    expect(a.k).toBe(1);
    expect(a.layers).toEqual(a.chosen);
    expect(a.evidence).toMatchObject({ source: 'stage 2', docs: 2 });
    // Stage 3 of 2 steps: each candidate's probe takes both (64 tokens), the only training the advisor did.
    // Stage 3 of 2 steps: probing candidate sets would take all of it, so the score chooses, and the run says so.
    expect(a.evidence.candidates).toBeUndefined();
    expect(a.evidence.probeTokens).toBe(0);
    expect(events.some((e) => e.type === 'notice' && /^hybrid advisor: chosen by its score; probing the candidate layer sets would take \d+ of stage 3's 2 steps/.test(e.text))).toBe(true);
    expect(events.some((e) => e.type === 'progress' && e.label.startsWith('hybrid advisor: probing candidate'))).toBe(false);
    expect(a.evidence.residual).toHaveLength(2);
    expect(a.evidence.attentionNorm).toHaveLength(2);
    for (const n of a.evidence.attentionNorm) expect(n).toBeGreaterThan(0);
    // Announced after stage 2's end and before stage 3 began; stage 3 trained the hybrid.
    const at = (f: (e: RunEvent) => boolean) => events.findIndex(f);
    expect(at((e) => e.type === 'advice')).toBeGreaterThan(at((e) => e.type === 'stage' && e.stage === 2 && e.state === 'finished'));
    expect(at((e) => e.type === 'advice')).toBeLessThan(at((e) => e.type === 'stage' && e.stage === 3));
    expect(run.distiller.spec.attentionLayers).toEqual(a.layers);
    await run.release();
    expect(readdirSync(scratch)).toEqual([]);
    rmSync(scratch, { recursive: true });

    const saved = (await peekRunState(store))!;
    expect(saved.stage).toBe(3);
    expect(saved.advice).toMatchObject({ k: 1, attention_layers: a.layers, evidence: { source: 'stage 2' } });
    expect(saved.residuals).toEqual(a.evidence.residual);
    expect(saved.attentionNorms).toEqual(a.evidence.attentionNorm);

    const again: RunEvent[] = [];
    const resumed = await setup(plan, store, (e) => again.push(e), { resume: true });
    expect(resumed.from?.stage).toBe(3);
    expect(resumed.distiller.spec.attentionLayers).toEqual(a.layers);
    expect(await resumed.train()).toBe('finished');
    // The choice is reported again, and not made again.
    expect(advices(again).map((e) => e.advice.layers)).toEqual([a.layers]);
    expect(again.some((e) => e.type === 'progress' && e.label.startsWith('hybrid advisor'))).toBe(false);
    const cfg = await configJson(resumed);
    expect(cfg.attention_layers).toEqual(a.layers);
    expect(cfg.hybrid_advisor).toMatchObject({ k: 1, chosen: a.chosen, attention_layers: a.layers, edited: false, scores: a.scores, evidence: { source: 'stage 2', leave_one_out_kl: a.evidence.looKl, stage2_residual: a.evidence.residual, attention_norm: a.evidence.attentionNorm } });
    const rho = (cfg.hybrid_advisor as { evidence: { relative_residual: number[] } }).evidence.relative_residual;
    rho.forEach((v, l) => expect(v).toBeCloseTo(a.evidence.residual[l]! / a.evidence.attentionNorm[l]!, 12));
    expect((cfg.mohawk as { plan: DistillPlan }).plan.attentionAuto).toBe(1);
    resumed.release();
  }, 300_000);

  it("the page's way: a plan without stage 2 probes, the run waits, and the user's edit is what stage 3 trains", async () => {
    const events: RunEvent[] = [];
    let run: Run | null = null;
    const problems: string[] = [];
    const scratch = mkdtempSync(join(tmpdir(), 'mohawk-hybrid-scratch-'));
    // The greedy method, whose one probe would take stage 3's 2 steps whole: the score chooses, saying so.
    run = await setup({ ...plan, stages: [3], tokens: { 1: 0, 2: 0, 3: 64 }, advisorMethod: 'greedy' }, null, (e) => {
      events.push(e);
      if (e.type !== 'advice' || !e.awaiting) return;
      expect(run!.awaitingChoice).toBe(true);
      for (const bad of [[2], [0, 1], [1, 1]]) {
        try {
          run!.chooseLayers(bad);
        } catch (err) {
          problems.push((err as Error).message);
        }
      }
      run!.chooseLayers([1 - e.advice.chosen[0]!]);
      expect(run!.awaitingChoice).toBe(false);
    }, { confirmAdvice: true, hostStore: nodeFlatFile({ dir: scratch, name: 'student-scratch.f32' }) });
    expect(() => run!.chooseLayers([0])).toThrow(/not waiting/);
    expect(await run.train()).toBe('finished');
    expect(problems).toEqual(['attention layers: layers are whole numbers from 0 to 1', 'attention layers: every layer kept as attention leaves nothing to distill', 'attention layers: a layer is named twice']);
    const [asked, taken, ...more] = advices(events);
    expect(more).toEqual([]);
    expect(asked!.awaiting).toBe(true);
    expect(taken!.awaiting).toBe(false);
    const edited = [1 - asked!.advice.chosen[0]!];
    expect(taken!.advice.layers).toEqual(edited);
    expect(asked!.advice.evidence.source).toBe('probe');
    expect(asked!.advice.evidence.probeTokens).toBe(64);
    expect(asked!.advice.evidence.candidates).toBeUndefined();
    expect(events.filter((e) => e.type === 'notice').map((e) => (e as { text: string }).text)).toContain(
      "hybrid advisor: chosen by its score; its short stage 3 with every layer a mixer would take 2 of stage 3's 2 steps (more than 25%)",
    );
    expect(events.some((e) => e.type === 'progress' && /probing stage 1/.test(e.label))).toBe(true);
    expect(run.distiller.spec.attentionLayers).toEqual(edited);
    const cfg = await configJson(run);
    expect(cfg.attention_layers).toEqual(edited);
    expect(cfg.hybrid_advisor).toMatchObject({ chosen: asked!.advice.chosen, attention_layers: edited, edited: true, evidence: { source: 'probe', probe_tokens: 64 } });
    // The stages 1–2 probe parked the student in a scratch file and it was re-laid out there: stage 3's
    // two steps started from the teacher's embedding, not from a truncated file's zeros.
    const embed = run.distiller.layout.slices.get('embed')!;
    const got = (await readFloats(run.distiller.snapshot().params)).subarray(embed.offset, embed.offset + embed.count);
    const want = await run.distiller.teacher.source.read('embed');
    expect(Math.max(...got.map((x, i) => Math.abs(x - want[i]!)))).toBeLessThan(0.01);
    await run.release();
    expect(readdirSync(scratch)).toEqual([]);
    rmSync(scratch, { recursive: true });
  }, 300_000);
});

describe("the hybrid advisor's stage-3 probe", () => {
  it("probes each candidate on the same batches, keeps the lowest KL, and leaves the run's student as it was", async () => {
    const gpu = await testGpu();
    const teacher = await loadTeacher(gpu, await nodeDirFileSet(DIR), 'llama-gqa', undefined, { upload: false });
    await teacher.upload();
    const corpus = TokenStream.fromText(text, teacher.tokenizer, { maxDocs: 30 });
    const docs = corpus.heldOutDocs(2).map((x) => x.slice(0, 16));
    // 2 steps of stage 3 (the plan's): a probe takes both (PROBE3_MIN_STEPS would be more than the plan has).
    const d = await Distiller.create(gpu, teacher, plan, corpus.fresh());
    try {
      // Layer 0's relative residual is the larger: the score and ρ keep it, evenly spaced and the last layer keep 1.
      const gathered = (await gatherEvidence(gpu, d, { docs, stage2: { residual: [2, 1], attentionNorm: [1, 1] } }))!;
      const before = await readFloats(d.snapshot().params);
      const labels = new Set<string>();
      const e = (await probeCandidates(gpu, d, gathered, 1, { docs, onProgress: (label) => labels.add(label) }))!;
      expect(e.candidates!.map((c) => [c.layers, c.source])).toEqual([
        [[0], 'score'],
        [[1], 'evenly spaced'],
      ]);
      expect(PROBE3_MIN_STEPS).toBeGreaterThan(2);
      expect(e.probe3Tokens).toBe(2 * 2 * 32);
      expect(e.probeTokens).toBe(e.probe3Tokens);
      expect([...labels]).toContain('hybrid advisor: probing candidate 2 of 2 with stage 3 (layers 1)');
      // The short stage 3 repaired some of what restoring the layer alone left: below its leave-one-out KL.
      for (const c of e.candidates!) expect(c.probeKl!).toBeLessThan(gathered.looKl[c.layers[0]!]!);
      const [k0, k1] = e.candidates!.map((c) => c.probeKl!);
      expect(k0).not.toBe(k1);
      const advice = adviseLayers(e, 1);
      expect(advice.chosen).toEqual(k0! < k1! ? [0] : [1]);
      expect(adviceFromRecord(JSON.parse(JSON.stringify(adviceRecord(advice))))).toEqual(advice);
      // The run's student is the one it was (on the host now, until stage 3 takes it up).
      expect(await readFloats(d.snapshot().params)).toEqual(before);
      // A set probed again trains on the same batches from the same start: the same KL.
      const again = (await probeSets(gpu, d, [{ layers: [1], source: 'last layers' }], { docs }))!;
      expect(again[0]!.probeKl).toBe(k1);
      // A stop ends the probes before anything trains.
      let reported = 0;
      expect(await probeCandidates(gpu, d, gathered, 1, { docs, stop: () => true, onProgress: () => reported++ })).toBeNull();
      expect(reported).toBe(0);
      expect(await readFloats(d.snapshot().params)).toEqual(before);

      // The greedy method: one short stage 3 with both layers mixers, then each layer restored on it.
      const w = (await warmProbeCandidates(gpu, d, gathered, 1, { docs, onProgress: (label) => labels.add(label) }))!;
      expect(WARM_MIN_STEPS).toBeGreaterThan(2);
      expect(w.warm!.tokens).toBe(2 * 32);
      expect(w.probe3Tokens).toBe(2 * 32);
      expect([...labels]).toContain('hybrid advisor: a short stage 3 with every layer a mixer');
      // Trained end to end, the all-mixer copy is closer to the teacher than the stage-2 student it started from.
      expect(w.warm!.baseKl).toBeLessThan(gathered.baseKl);
      const loo = w.warm!.looKl;
      const best = loo[0]! <= loo[1]! ? 0 : 1;
      // The greedy set first (K = 1: the layer whose restoration lowers the KL most), then the other proposed set, measured the same way.
      expect(w.candidates!.map((c) => [c.layers, c.source])).toEqual([
        [[best], 'greedy'],
        [[1 - best], best === 0 ? 'evenly spaced' : 'score'],
      ]);
      expect(w.candidates![0]!.probeKl).toBe(loo[best]);
      expect(w.candidates![1]!.probeKl!).toBeCloseTo(loo[1 - best]!, 6);
      const greedyAdvice = adviseLayers(w, 1);
      expect(greedyAdvice.chosen).toEqual([best]);
      const rec = adviceRecord(greedyAdvice);
      expect(rec.method).toBe('greedy');
      expect(adviceFromRecord(JSON.parse(JSON.stringify(rec)))).toEqual(greedyAdvice);
      expect(await readFloats(d.snapshot().params)).toEqual(before);
      // The same again: the same batches from the same start, the same KLs.
      const w2 = (await warmProbeCandidates(gpu, d, gathered, 1, { docs }))!;
      expect(w2.warm!.looKl).toEqual(loo);
      reported = 0;
      expect(await warmProbeCandidates(gpu, d, gathered, 1, { docs, stop: () => true, onProgress: () => reported++ })).toBeNull();
      expect(reported).toBe(0);
      expect(await readFloats(d.snapshot().params)).toEqual(before);
    } finally {
      d.release();
    }
  }, 300_000);
});
