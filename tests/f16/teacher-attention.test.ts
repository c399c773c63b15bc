// DistillPlan.teacherAttention 'f16' on an adapter with shader-f16 (`npm run test:f16`, lavapipe):
// the frozen teacher's attention reads f16 copies of q, k, v. Its logits stay within f16's rounding
// of the f32 teacher's, the three stages (resident and streamed) train as with the f32 teacher, and
// stage 3's memory estimate still matches what a step holds.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { nodeDirFileSet } from '../../src/io/files';
import { Decoder } from '../../src/models/decoder';
import { ParamSet } from '../../src/models/student';
import { loadTeacher, type LoadedTeacher } from '../../src/models/teacher';
import { Distiller } from '../../src/mohawk/distiller';
import { DEFAULT_PLAN, heldShapes, isMlp, stageMemory, stageOptions, studentSpec, type DistillPlan, type Stage } from '../../src/mohawk/plan';
import { StageStep } from '../../src/mohawk/stages';
import { TokenStream } from '../../src/mohawk/token-stream';
import { CORPUS_FILE, TEACHER_DIR } from '../helpers/data';
import { testGpu } from '../helpers/gpu';
import { randomStudent } from '../helpers/student';

const gpu = await testGpu();
const f16 = gpu.info.shaderF16;

let teacher: LoadedTeacher;
let text: string;
beforeAll(async () => {
  if (!f16) return;
  teacher = await loadTeacher(gpu, await nodeDirFileSet(TEACHER_DIR), 'stories260K');
  text = readFileSync(CORPUS_FILE, 'utf8').slice(0, 200_000);
});

const plan = (p: Partial<DistillPlan>): DistillPlan => ({ ...DEFAULT_PLAN, seqLen: 32, batch: 2, ...p });

/** max |a − b| / max |b|. */
function scaleErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let [err, scale] = [0, 0];
  for (let i = 0; i < b.length; i++) [err, scale] = [Math.max(err, Math.abs(a[i] - b[i])), Math.max(scale, Math.abs(b[i]))];
  return err / scale;
}

async function curves(p: DistillPlan): Promise<Map<Stage, number[]>> {
  const d = await Distiller.create(gpu, teacher, p, TokenStream.fromText(text, teacher.tokenizer, { maxDocs: 200 }));
  const curve = new Map<Stage, number[]>();
  await d.run({ step: (r) => curve.set(r.stage, [...(curve.get(r.stage) ?? []), r.loss]) });
  await d.release();
  return curve;
}

describe.skipIf(!f16)('the teacher attention in f16', () => {
  it("gives the f32 teacher's logits up to f16's rounding of q, k, v", async () => {
    const c = teacher.config;
    const ids = teacher.tokenizer.encode(text.slice(0, 2000)).slice(0, 2 * 48);
    const io = { batch: 2, L: 48, ids: gpu.upload(Uint32Array.from(ids)) };
    const [full, half] = [new Decoder(gpu, c, teacher.weights, io), new Decoder(gpu, c, teacher.weights, io, { halfAttention: true })];
    gpu.run(full.ops);
    const a = await gpu.read(full.logits!, io.batch * io.L * c.vocab);
    gpu.run(half.ops);
    const b = await gpu.read(half.logits!, io.batch * io.L * c.vocab);
    await gpu.check();
    const err = scaleErr(b, a);
    console.log(`stories260K logits, f16 attention inputs against f32: ${err.toExponential(2)} of the largest`);
    expect(err).toBeGreaterThan(0); // the f16 path ran
    expect(err).toBeLessThan(5e-3);
    expect(() => half.mixers[0]!.backward!(full.residuals[0]!, undefined)).toThrow(/forward only/);
    full.release();
    half.release();
  });

  it('trains stages 1, 2 and 3, resident and streamed, as the f32 teacher does', async () => {
    const tokens = { 1: 64 * 4, 2: 64 * 4, 3: 64 * 4 };
    const f32 = await curves(plan({ stages: [1, 2, 3], tokens }));
    const runs: [string, Map<Stage, number[]>][] = [
      ['', await curves(plan({ stages: [1, 2, 3], tokens, teacherAttention: 'f16' }))],
      // Streaming changes only where the layers are (the f32 curves agree to 1e-3 either way).
      ['streamed ', await curves(plan({ stages: [1, 2], tokens, teacherAttention: 'f16', streamLayers: true }))],
    ];
    for (const [how, got] of runs) {
      for (const [s, y] of got) {
        const x = f32.get(s)!;
        expect(y).toHaveLength(4);
        const worst = Math.max(...x.map((v, i) => Math.abs(y[i]! - v) / Math.abs(v)));
        console.log(`${how}stage ${s}: f32 ${x.map((v) => v.toFixed(4)).join(' ')}; f16 ${y.map((v) => v.toFixed(4)).join(' ')}`);
        expect(worst).toBeLessThan(2e-2);
      }
    }
  }, 600_000);

  it("stage 3's estimate counts the f16 copies as a step holds them", async () => {
    const c = teacher.config;
    const held3 = async (p: DistillPlan) => {
      const spec = studentSpec(c, p);
      const t = randomStudent(c, spec.mixer, [...Array(c.layers).keys()], 3).tensors;
      gpu.trim();
      const before = gpu.memory.liveBytes;
      gpu.resetPeak();
      const bufs = new Map([...t].map(([n, v]) => [n, gpu.upload(v, n)] as const));
      const weights = { get: (n: string) => bufs.get(n)!, has: (n: string) => bufs.has(n) };
      const held = heldShapes(spec, p);
      const student = new ParamSet(gpu, held, new Map([...held.keys()].map((n) => [n, t.get(n) ?? new Float32Array(held.get(n)!.reduce((x, y) => x * y, 1))])), 'student');
      student.borrow(weights, isMlp);
      const [m, v] = [student.buffers('m'), student.buffers('v')];
      const step = new StageStep(gpu, { stage: 3, teacher: { config: c, weights }, spec, student, m, v, options: { ...stageOptions(p), recompute: false } });
      await step.step(Uint32Array.from({ length: 64 }, (_, i) => (i * 7919) % c.vocab), 1e-4);
      const measured = gpu.memory.peakBytes - before;
      const parameters = [...t.values()].reduce((n, x) => n + x.length, 0);
      step.release();
      student.release();
      for (const b of [...bufs.values(), ...m, ...v]) b.destroy();
      await gpu.check();
      return { measured, estimate: stageMemory(p, { config: c, parameters }, 3, false) };
    };
    const p = plan({ stages: [3], freezeMlp: true });
    const [a, b] = [await held3(p), await held3({ ...p, teacherAttention: 'f16' })];
    console.log(`stories260K stage 3: f32 attention holds ${a.measured} bytes (estimate ${Math.round(a.estimate)}), f16 ${b.measured} (estimate ${Math.round(b.estimate)})`);
    expect(b.measured).toBeGreaterThan(a.measured);
    // The copies' bytes, and the three casts' small uniform blocks, which no estimate counts.
    expect(b.estimate - a.estimate).toBe(2 * 64 * (c.heads + 2 * c.kvHeads) * c.headDim);
    expect(Math.abs(b.measured - a.measured - (b.estimate - a.estimate))).toBeLessThan(1024);
    expect(Math.abs(b.estimate / b.measured - 1)).toBeLessThan(0.05);
  });
});
