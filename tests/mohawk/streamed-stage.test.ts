// Layer streaming (src/mohawk/streamed-stage.ts) against the resident stages: the same losses and the
// same student after stages 1 and 2, for the residual forms it must walk (llama's sequential RMSNorm
// blocks with rotary attention and a kept attention layer, GPT-2's learned positions, Phi's shared
// norm, Gemma 3's two kinds of layer with the embedding scaled on the host), with gradient
// accumulation and windows of 1, 2 (3 steps: one ragged) and all steps; and less GPU memory held
// while it runs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeDirFileSet } from '../../src/io/files';
import { loadTeacher } from '../../src/models/teacher';
import { Distiller } from '../../src/mohawk/distiller';
import { DEFAULT_PLAN, validatePlan, type DistillPlan, type Stage } from '../../src/mohawk/plan';
import { parseConfig } from '../../src/io/config';
import { TokenStream } from '../../src/mohawk/token-stream';
import { CORPUS_FILE, TEACHER_DIR } from '../helpers/data';
import { testGpu } from '../helpers/gpu';
import { readFloats } from '../../src/mohawk/checkpoint';
import { nodeFlatFile, type FlatStoreFactory } from '../../src/io/flat-file';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';

const text = readFileSync(CORPUS_FILE, 'utf8').slice(0, 200_000);

interface Run {
  losses: number[];
  gradNorms: number[];
  params: Float32Array;
  peak: Partial<Record<Stage, number>>;
}

async function run(dir: string, plan: DistillPlan, windowBytes?: number, student: Distiller['streamedStudent'] = 'plan', chunkBytes?: number, hostStore?: FlatStoreFactory): Promise<Run> {
  const gpu = await testGpu();
  const teacher = await loadTeacher(gpu, await nodeDirFileSet(dir), dir, undefined, { upload: !plan.streamLayers });
  const corpus = TokenStream.fromText(text, teacher.tokenizer, { maxDocs: 200 });
  const d = await Distiller.create(gpu, teacher, plan, corpus, { chunkBytes, hostStore });
  if (windowBytes !== undefined) d.streamWindowBytes = windowBytes;
  d.streamedStudent = student;
  const out: Run = { losses: [], gradNorms: [], params: new Float32Array(), peak: {} };
  await d.run({
    step: (r) => {
      out.losses.push(r.loss);
      out.gradNorms.push(r.gradNorm);
    },
    stage: (s, state, _steps, _tokens, peak) => {
      if (state === 'finished') out.peak[s] = peak;
    },
  });
  out.params = await readFloats(d.snapshot().params);
  await d.release();
  teacher.release();
  return out;
}

const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / Math.max(den, 1e-12);
};

const FIXTURES = join(import.meta.dirname, '../fixtures');
// The window (steps per pass over the layers) is sized from the bytes given to the residuals: one
// step of these plans takes 2 × 32 rows × d floats (8 KiB per 32 of d).
// The last fields: where the streamed run keeps the student (the plan of stages 1–2 alone says the
// host: stories260K's in a scratch file, the others' in memory), and for a second streamed run with
// the student on the GPU, its chunk size (stories260K in chunks of 256 KiB, where layer 4's mixer
// spans two chunks). Less GPU memory is asserted with the
// student on the host: on the GPU it holds the whole student, which in these tiny models outweighs
// what streaming saves.
const cases: [string, string, Partial<DistillPlan>, number | undefined, 'host' | 'gpu', number?][] = [
  ['stories260K (llama, rotary), layer 1 kept as attention, window 1; and on the GPU in chunks of 256 KiB', TEACHER_DIR, { attentionLayers: [1] }, 1, 'host', 256 * 1024],
  ['gpt2 fixture (learned positions, LayerNorm), one window', join(FIXTURES, 'gpt2'), {}, undefined, 'host'],
  ['phi fixture (one norm, parallel residual), windows of 2', join(FIXTURES, 'phi'), {}, 2 * 2 * 32 * 64 * 4, 'host'],
  ['gemma3 fixture (a sliding and a full layer, scaled embedding, post norms), the student on the GPU', join(FIXTURES, 'gemma3'), {}, undefined, 'gpu'],
];

describe('layer streaming in stages 1 and 2', () => {
  for (const [name, dir, extra, windowBytes, student, gpuChunks] of cases) {
    it(`matches the resident stages: ${name}`, async () => {
      // Unclipped (maxGradNorm huge): the one place where streaming differs on purpose is clipping.
      const plan: DistillPlan = {
        ...DEFAULT_PLAN,
        stages: [1, 2],
        tokens: { 1: 16 * 2 * 2 * 3, 2: 16 * 2 * 2 * 3, 3: 0 },
        seqLen: 16,
        batch: 2,
        accumulate: 2,
        maxGradNorm: 1e6,
        lr: { 1: 1e-2, 2: 3e-3, 3: 1e-3 },
        ...extra,
      };
      const resident = await run(dir, { ...plan, streamLayers: false });
      // The host's student in a scratch file (deleted when the distiller is released) where the case has a GPU run too.
      const scratch = gpuChunks ? await mkdtemp(join(tmpdir(), 'mohawk-streamed-')) : null;
      const streamed = await run(dir, { ...plan, streamLayers: true }, windowBytes, student, undefined, scratch ? nodeFlatFile({ dir: scratch }) : undefined);
      if (scratch) {
        expect(await readdir(scratch)).toEqual([]);
        await rm(scratch, { recursive: true });
      }
      const same = (r: Run) => {
        expect(r.losses).toHaveLength(6);
        expect(relErr(r.losses, resident.losses)).toBeLessThan(1e-4);
        expect(relErr(r.gradNorms, resident.gradNorms)).toBeLessThan(1e-3);
        expect(relErr(r.params, resident.params)).toBeLessThan(1e-4);
      };
      // The steps moved the student, and the runs moved it the same way.
      expect(resident.losses[2]).not.toBe(resident.losses[0]);
      same(streamed);
      if (student === 'host') for (const s of [1, 2] as const) expect(streamed.peak[s]!).toBeLessThan(resident.peak[s]!);
      console.log(`${name}: GPU peak stage 1 ${resident.peak[1]} → ${streamed.peak[1]} bytes, stage 2 ${resident.peak[2]} → ${streamed.peak[2]}`);
      if (gpuChunks) same(await run(dir, { ...plan, streamLayers: true }, windowBytes, 'gpu', gpuChunks));
    }, 300_000);
  }
});

describe('a student over the one-binding limit', () => {
  it('trains in chunks; only a single tensor over the limit is refused, and streaming helps unless it is a mixer\'s', async () => {
    const config = parseConfig(JSON.parse(readFileSync(join(TEACHER_DIR, 'config.json'), 'utf8')));
    const limits = (kib: number) => ({ maxStorageBufferBindingSize: kib * 1024, maxBufferSize: 2 ** 30 });
    const ctx = (kib: number) => ({ teacher: { config, parameters: 260_000 }, trainTokens: 1e6, limits: limits(kib) });
    const base = { ...DEFAULT_PLAN, seqLen: 16, batch: 2 };
    // stories260K's student is about 1 MiB as f32; its largest tensor is the 128 KiB embedding, a
    // mixer's largest its 66 KiB in_proj.
    for (const streamLayers of [false, true]) expect(validatePlan({ ...base, streamLayers }, ctx(256)).steps).toEqual({ 1: 2500, 2: 5000, 3: 86250 });
    expect(() => validatePlan({ ...base, streamLayers: true }, ctx(100))).toThrow(
      "plan: GPU memory: the student's tensor embed takes 128 KiB as f32, over this GPU's 100 KiB limit for one storage binding, so stage 3 cannot train it: run stages 1 and 2 with layer streaming only",
    );
    expect(() => validatePlan({ ...base, stages: [1, 2], streamLayers: false }, ctx(100))).toThrow(/tensor embed .* so stages 1, 2 cannot train it: stream the layers$/);
    expect(validatePlan({ ...base, stages: [1, 2], streamLayers: true }, ctx(100)).steps).toEqual({ 1: 2500, 2: 5000, 3: 0 });
    expect(() => validatePlan({ ...base, stages: [1, 2], streamLayers: true }, ctx(64))).toThrow(
      "plan: GPU memory: the student's tensor layers.0.mixer.in_proj.weight takes 66 KiB as f32, over this GPU's 64 KiB limit for one storage binding, so stages 1, 2 cannot train it",
    );
  });
});
