// What a stage holds on the GPU: a stage's step frees everything it made when it ends (its kernels'
// own scratch too), so the next stage does not carry stage 1's matrices.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { nodeDirFileSet } from '../../src/io/files';
import { loadTeacher, type LoadedTeacher } from '../../src/models/teacher';
import { Distiller } from '../../src/mohawk/distiller';
import { DEFAULT_PLAN, type DistillPlan, type Stage } from '../../src/mohawk/plan';
import { TokenStream } from '../../src/mohawk/token-stream';
import { CORPUS_FILE, TEACHER_DIR } from '../helpers/data';
import { testGpu } from '../helpers/gpu';

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
});
