// auto:K through the one run driver (src/mohawk/run.ts), on the two-layer GQA llama fixture: the
// command line's way (the advisor's choice stands, checkpointed with the student laid out for it, and
// a run resumed in stage 3 goes on with it), and the page's way (the run waits for the user, who may
// edit the choice; a plan without stage 2 probes for its residuals). The exported config.json
// records the choice and the evidence.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeDirFileSet } from '../../src/io/files';
import { collectBytes } from '../../src/io/bytes';
import { loadTeacher } from '../../src/models/teacher';
import { memoryStore, type CheckpointStore } from '../../src/mohawk/checkpoint';
import { DEFAULT_PLAN, type DistillPlan } from '../../src/mohawk/plan';
import { peekRunState, Run, type RunEvent, type RunSetup } from '../../src/mohawk/run';
import { TokenStream } from '../../src/mohawk/token-stream';
import { CORPUS_FILE } from '../helpers/data';
import { FIXTURES_DIR } from '../helpers/fixtures';
import { testGpu } from '../helpers/gpu';

const DIR = join(FIXTURES_DIR, 'llama-gqa');
const text = readFileSync(CORPUS_FILE, 'utf8').slice(0, 20_000);
const plan: DistillPlan = { ...DEFAULT_PLAN, stages: [1, 2, 3], tokens: { 1: 32, 2: 32, 3: 64 }, seqLen: 16, batch: 2, lr: { 1: 1e-3, 2: 3e-3, 3: 1e-3 }, attentionAuto: 1 };

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
    run = await setup(plan, store, (e) => {
      events.push(e);
      if (e.type === 'step' && e.stage === 3 && e.step === 1) run!.stop();
    });
    expect(await run.train()).toBe('stopped');
    const [advice, ...more] = advices(events);
    expect(more).toEqual([]);
    expect(advice!.awaiting).toBe(false);
    const a = advice!.advice;
    expect(a.k).toBe(1);
    expect(a.layers).toEqual(a.chosen);
    expect(a.evidence).toMatchObject({ source: 'stage 2', docs: 2, probeTokens: 0 });
    expect(a.evidence.residual).toHaveLength(2);
    expect(a.evidence.attentionNorm).toHaveLength(2);
    for (const n of a.evidence.attentionNorm) expect(n).toBeGreaterThan(0);
    // Announced after stage 2's end and before stage 3 began; stage 3 trained the hybrid.
    const at = (f: (e: RunEvent) => boolean) => events.findIndex(f);
    expect(at((e) => e.type === 'advice')).toBeGreaterThan(at((e) => e.type === 'stage' && e.stage === 2 && e.state === 'finished'));
    expect(at((e) => e.type === 'advice')).toBeLessThan(at((e) => e.type === 'stage' && e.stage === 3));
    expect(run.distiller.spec.attentionLayers).toEqual(a.layers);
    run.release();

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
    run = await setup({ ...plan, stages: [3], tokens: { 1: 0, 2: 0, 3: 64 } }, null, (e) => {
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
    }, { confirmAdvice: true });
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
    expect(events.some((e) => e.type === 'progress' && /probing stage 1/.test(e.label))).toBe(true);
    expect(run.distiller.spec.attentionLayers).toEqual(edited);
    const cfg = await configJson(run);
    expect(cfg.attention_layers).toEqual(edited);
    expect(cfg.hybrid_advisor).toMatchObject({ chosen: asked!.advice.chosen, attention_layers: edited, edited: true, evidence: { source: 'probe', probe_tokens: 64 } });
    run.release();
  }, 300_000);
});
