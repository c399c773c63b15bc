// What a stage holds on the GPU: a stage's step frees everything it made when it ends (its kernels'
// own scratch too), so the next stage does not carry stage 1's matrices; stage 3 recomputing its
// activations takes the same steps as keeping every layer's, holding less; and the plan's estimate of
// stage 3 (stageMemory) is what a step holds, on small models shaped like Phi-1.5 and Llama-3.2-1B.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/io/config';
import { nodeDirFileSet } from '../../src/io/files';
import type { Bindable } from '../../src/gpu/runtime';
import { ParamSet } from '../../src/models/student';
import { loadTeacher, type LoadedTeacher } from '../../src/models/teacher';
import { Distiller } from '../../src/mohawk/distiller';
import { DEFAULT_PLAN, heldShapes, isMlp, stageMemory, stageOptions, studentSpec, type DistillPlan, type Stage } from '../../src/mohawk/plan';
import { StageStep } from '../../src/mohawk/stages';
import { TokenStream } from '../../src/mohawk/token-stream';
import { CORPUS_FILE, TEACHER_DIR } from '../helpers/data';
import { testGpu } from '../helpers/gpu';
import { randomStudent } from '../helpers/student';

let teacher: LoadedTeacher;
let text: string;

beforeAll(async () => {
  teacher = await loadTeacher(await testGpu(), await nodeDirFileSet(TEACHER_DIR), 'stories260K');
  text = readFileSync(CORPUS_FILE, 'utf8').slice(0, 200_000);
});

const step = 32 * 2;
const plan = (p: Partial<DistillPlan>): DistillPlan => ({ ...DEFAULT_PLAN, seqLen: 32, batch: 2, ...p });
const corpus = () => TokenStream.fromText(text, teacher.tokenizer, { maxDocs: 200 });

describe('GPU memory of the stages', () => {
  it('is back to the models and the optimizer after each stage', async () => {
    const gpu = await testGpu();
    const p = plan({ stages: [1, 2, 3], tokens: { 1: step, 2: step, 3: step } });
    // A first run makes what the device keeps for every later op (split-K scratch, rotary tables, a ones row).
    const first = await Distiller.create(gpu, teacher, p, corpus());
    await first.run();
    first.release();
    gpu.trim();
    const d = await Distiller.create(gpu, teacher, p, corpus());
    gpu.trim();
    const base = gpu.memory.liveBytes;
    const after = new Map<Stage, number>();
    const peaks = new Map<Stage, number>();
    await d.run({
      stage: (s, state, _steps, _tokens, peak) => {
        if (state !== 'finished') return;
        gpu.trim();
        after.set(s, gpu.memory.liveBytes - base);
        peaks.set(s, peak!);
      },
    });
    expect(Object.fromEntries(after)).toEqual({ 1: 0, 2: 0, 3: 0 });
    for (const s of [1, 2, 3] as const) expect(peaks.get(s)).toBeGreaterThan(base);
    d.release();
  }, 600_000);

  it('recomputing stage 3 takes the same steps and holds less', async () => {
    const gpu = await testGpu();
    const run = async (recompute: 'on' | 'off') => {
      const d = await Distiller.create(gpu, teacher, plan({ stages: [3], tokens: { 1: 0, 2: 0, 3: 3 * step }, recompute }), corpus());
      const losses: number[] = [];
      let peak = 0;
      gpu.trim();
      await d.run({ step: (r) => losses.push(r.loss), stage: (_s, state, _n, _t, p) => void (state === 'finished' && (peak = p!)) });
      d.release();
      return { losses, peak };
    };
    const kept = await run('off');
    const re = await run('on');
    expect(re.losses).toEqual(kept.losses);
    expect(re.losses.length).toBe(3);
    expect(re.peak).toBeLessThan(kept.peak);
    console.log(`stage 3 peak: ${kept.peak} bytes keeping every layer, ${re.peak} recomputing`);
  }, 600_000);

  // An eighth of Phi-1.5's and Llama-3.2-1B's widths (heads of 64), three layers, a vocabulary in the
  // same proportion to the width; one sequence of 128 tokens, so that the SSD chunk is the real runs' 128
  // (SwiftShader runs the step: larger shapes cost minutes of CI).
  const SMALL = {
    'phi-like': { model_type: 'phi', hidden_size: 256, intermediate_size: 1024, num_hidden_layers: 3, num_attention_heads: 4, partial_rotary_factor: 0.5, max_position_embeddings: 256, vocab_size: 6400, hidden_act: 'gelu_new', tie_word_embeddings: false },
    'llama-like': { model_type: 'llama', hidden_size: 256, intermediate_size: 1024, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 1, head_dim: 64, max_position_embeddings: 256, vocab_size: 16032, hidden_act: 'silu', tie_word_embeddings: true },
  };
  it.each(Object.keys(SMALL))("stage 3's estimate is what a step holds: %s", async (name) => {
    const gpu = await testGpu();
    const c = parseConfig(SMALL[name as keyof typeof SMALL], `${name}/config.json`);
    const p = plan({ stages: [3], seqLen: 128, batch: 1, freezeMlp: true });
    const spec = studentSpec(c, p);
    const t = randomStudent(c, spec.mixer, [...Array(c.layers).keys()], 3).tensors;
    const parameters = [...t.values()].reduce((a, v) => a + v.length, 0);
    for (const recompute of [false, true]) {
      gpu.trim();
      const before = gpu.memory.liveBytes;
      gpu.resetPeak();
      const bufs = new Map([...t].map(([n, v]) => [n, gpu.upload(v, n)] as const));
      const weights = { get: (n: string): Bindable => bufs.get(n)!, has: (n: string) => bufs.has(n) };
      const held = heldShapes(spec, p);
      const student = new ParamSet(gpu, held, new Map([...held.keys()].map((n) => [n, t.get(n) ?? new Float32Array(held.get(n)!.reduce((a, b) => a * b, 1))])), 'student');
      student.borrow(weights, isMlp);
      const [m, v] = [student.buffers('m'), student.buffers('v')];
      const step = new StageStep(gpu, { stage: 3, teacher: { config: c, weights }, spec, student, m, v, options: { ...stageOptions(p), recompute } });
      await step.step(Uint32Array.from({ length: 128 }, (_, i) => (i * 7919) % c.vocab), 1e-4);
      const measured = gpu.memory.peakBytes - before;
      const estimate = stageMemory(p, { config: c, parameters }, 3, recompute);
      console.log(`${name}${recompute ? ', recomputing' : ''}: stage 3 holds ${measured} bytes, estimate ${Math.round(estimate)} (${((estimate / measured - 1) * 100).toFixed(1)}%)`);
      expect(Math.abs(estimate / measured - 1)).toBeLessThan(0.05);
      step.release();
      student.release();
      for (const b of [...bufs.values(), ...m, ...v]) b.destroy();
      await gpu.check();
    }
  }, 600_000);
});
