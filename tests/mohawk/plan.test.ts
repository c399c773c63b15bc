// validatePlan (src/mohawk/plan.ts), the one check a start goes through: each refusal names its
// field the way the caller's user knows it (the page's words, the command line's flags).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIELD_FLAG } from '../../src/cli/commands/distill';
import { parseConfig } from '../../src/io/config';
import { DEFAULT_PLAN, PlanError, RECOMPUTE_ABOVE_BYTES, estimateMemory, overMemory, recomputes, stageMemory, validatePlan, type DistillPlan, type PlanContext } from '../../src/mohawk/plan';
import { TEACHER_DIR } from '../helpers/data';
import { LLAMA_32_1B, PHI_15 } from '../helpers/real-shapes';

const config = parseConfig(JSON.parse(readFileSync(join(TEACHER_DIR, 'config.json'), 'utf8')));
const ctx = { teacher: { config, parameters: 260_000 }, trainTokens: 100_000, limits: { maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 30 } };
const plan = (patch: Partial<DistillPlan>): DistillPlan => ({ ...structuredClone(DEFAULT_PLAN), ...patch });
const refusal = (p: DistillPlan, names?: typeof FIELD_FLAG, c: PlanContext = ctx): PlanError => {
  try {
    validatePlan(p, c, names);
  } catch (e) {
    return e as PlanError;
  }
  throw new Error('the plan passed');
};

describe('packing', () => {
  it('within documents needs a document of a whole sequence; a plan saved before packing was a choice packs across', async () => {
    expect(refusal(plan({ packing: 'within', seqLen: 256 }), FIELD_FLAG, { ...ctx, longestTrainDoc: 100 }).message).toMatch(
      /^plan: the corpus: no training document has 256 tokens \(the longest has 100\)/,
    );
    expect(() => validatePlan(plan({ packing: 'within', seqLen: 64 }), { ...ctx, longestTrainDoc: 100 })).not.toThrow();
    expect(refusal(plan({ packing: 'sideways' as never }), FIELD_FLAG).message).toMatch(/--packing "sideways" is not one of across, within/);
    const { planDifference } = await import('../../src/mohawk/run');
    const { packing: _, ...old } = plan({});
    expect(planDifference(old, plan({}))).toBeNull();
    expect(planDifference(old, plan({ packing: 'within' }))).toMatch(/^packing \(packing\): the checkpoint has "across", this run asks for "within"/);
  });
});

describe('validatePlan', () => {
  it('passes the default plan with its steps and a memory estimate', () => {
    const r = validatePlan(plan({}), ctx);
    expect(r.steps).toEqual({ 1: 79, 2: 157, 3: 2696 });
    expect(r.memoryBytes).toBe(estimateMemory(r.plan, ctx.teacher));
    expect(r.memoryBytes).toBeGreaterThan(0);
  });

  it('names the field that is wrong, in the page\'s words or the flags', () => {
    const long = plan({ seqLen: 4096 });
    expect(refusal(long).field).toBe('seqLen');
    expect(refusal(long).message).toBe("plan: sequence length 4096 is over the teacher's 512 positions (max_position_embeddings in its config.json)");
    expect(refusal(long, FIELD_FLAG).message).toBe("plan: --seq 4096 is over the teacher's 512 positions (max_position_embeddings in its config.json)");
    expect(refusal(plan({ attentionLayers: [0, 7] }), FIELD_FLAG).message).toMatch(/--attention-layers: 7 is not a layer of this 5-layer teacher \(0..4\)/);
    expect(refusal(plan({ attentionLayers: [0, 1, 2, 3, 4] })).message).toMatch(/keeps every layer's attention/);
    expect(refusal(plan({ warmup: 0.7, decay: 0.5 })).field).toBe('warmup');
    expect(refusal(plan({}), undefined, { ...ctx, trainTokens: 100 }).message).toBe('plan: the corpus has 100 training tokens, fewer than one sequence of 256');
  });

  it('lets the hybrid advisor keep 1 to layers − 1 layers, choosing them itself before stage 3', () => {
    expect(validatePlan(plan({ attentionAuto: 4 }), ctx).steps[3]).toBe(2696);
    for (const k of [0, 5, 2.5, -1]) {
      const e = refusal(plan({ attentionAuto: k }), FIELD_FLAG);
      expect(e).toBeInstanceOf(PlanError);
      expect(e.field).toBe('attentionAuto');
      expect(e.message).toBe(`plan: --attention-layers auto:${k}: K must be 1 to 4 for this 5-layer teacher (at least one layer keeps attention, at least one becomes Mamba)`);
    }
    // In the page's words.
    expect(refusal(plan({ attentionAuto: 5 })).message).toMatch(/^plan: attention layers \(auto:K\) auto:5: K must be 1 to 4/);
    expect(refusal(plan({ attentionAuto: 2, attentionLayers: [1] }), FIELD_FLAG).message).toMatch(/auto:2: the advisor chooses the layers itself: name none \(got 1\)/);
    expect(refusal(plan({ attentionAuto: 2, stages: [1, 2] }), FIELD_FLAG).message).toMatch(/auto:2: the advisor chooses the layers stage 3 trains, and this plan has no stage 3/);
    // Stage 3's estimate counts K attention layers; stages 1 and 2 fit a mixer in every layer.
    const auto = plan({ attentionAuto: 2 });
    expect(stageMemory(auto, ctx.teacher, 3, false)).toBe(stageMemory(plan({ attentionLayers: [0, 1] }), ctx.teacher, 3, false));
    expect(stageMemory(auto, ctx.teacher, 3, false)).not.toBe(stageMemory(plan({}), ctx.teacher, 3, false));
    expect(stageMemory(auto, ctx.teacher, 2, false)).toBe(stageMemory(plan({}), ctx.teacher, 2, false));
  });

  it('refuses buffers over the adapter\'s one-binding limit before any is made', () => {
    const small = { ...ctx, limits: { maxStorageBufferBindingSize: 2 ** 20, maxBufferSize: 2 ** 20 } };
    expect(refusal(plan({ stages: [1], batch: 8 }), undefined, small).message).toMatch(/stage 1's attention matrices \(8 × 8 heads × 256²\) need 16 MiB in one buffer, over this adapter's 1 MiB/);
    expect(refusal(plan({ stages: [3] }), undefined, small).field).toBe('memory');
  });

  it('estimates less memory for streamed stages 1 and 2', () => {
    const big = { config: { ...config, layers: 24 }, parameters: 24 * 260_000 };
    const p = plan({ stages: [1, 2] });
    expect(estimateMemory({ ...p, streamLayers: true }, big)).toBeLessThan(estimateMemory(p, big));
  });
});

const REAL = { 'Phi-1.5': PHI_15, 'Llama-3.2-1B': LLAMA_32_1B };

describe("the teacher's attention in f16", () => {
  it('is refused by its flag where the adapter has no shader-f16, taken where it has, and checked when unknown only by value', () => {
    const half = plan({ teacherAttention: 'f16' });
    expect(refusal(half, FIELD_FLAG, { ...ctx, shaderF16: false }).message).toMatch(/--teacher-attention f16 needs the shader-f16 feature, which this GPU adapter does not offer/);
    expect(refusal(half, undefined, { ...ctx, shaderF16: false }).field).toBe('teacherAttention');
    expect(() => validatePlan(half, { ...ctx, shaderF16: true })).not.toThrow();
    expect(refusal(plan({ teacherAttention: 'f8' as never }), FIELD_FLAG).message).toMatch(/--teacher-attention "f8" is not one of f32, f16/);
  });

  it("adds one set of f16 q, k, v copies to every stage's estimate", () => {
    const rows = DEFAULT_PLAN.batch * DEFAULT_PLAN.seqLen;
    const copies = rows * (config.heads + 2 * config.kvHeads) * config.headDim * 2;
    for (const streamLayers of [false, true]) {
      for (const s of [1, 2, 3] as const) {
        const p = plan({ streamLayers });
        expect(stageMemory({ ...p, teacherAttention: 'f16' }, ctx.teacher, s, false) - stageMemory(p, ctx.teacher, s, false)).toBe(copies);
      }
    }
  });
});

describe('activation recomputation in stage 3', () => {
  const real = plan({ stages: [3], seqLen: 512, batch: 4, freezeMlp: true });
  const gib = (b: number) => b / 2 ** 30;

  it('a plan made before the choice recomputes when the estimate needs it; a bad value is refused by its flag', () => {
    const { recompute: _, ...old } = real;
    for (const t of Object.values(REAL)) {
      const teacher = { ...t, weightBytes: 2 * t.parameters };
      expect(recomputes(old, teacher)).toBe(stageMemory(real, teacher, 3, false) > RECOMPUTE_ABOVE_BYTES);
      expect(recomputes({ ...real, recompute: 'off' }, teacher)).toBe(false);
    }
    expect(recomputes(plan({}), ctx.teacher)).toBe(false);
    expect(recomputes(plan({ recompute: 'on' }), ctx.teacher)).toBe(true);
    expect(refusal(plan({ recompute: 'sometimes' as never }), FIELD_FLAG).message).toMatch(/--recompute "sometimes" is not one of auto, on, off/);
  });

  it('holds the 1B-class shapes at seq 512 × batch 4 with frozen MLPs under 20 GiB', () => {
    for (const [name, t] of Object.entries(REAL)) {
      const teacher = { ...t, weightBytes: 2 * t.parameters };
      const kept = stageMemory(real, teacher, 3, false);
      const recomputed = stageMemory(real, teacher, 3, true);
      console.log(`${name} stage 3: ${gib(kept).toFixed(2)} GiB keeping every layer, ${gib(recomputed).toFixed(2)} GiB recomputing`);
      expect(recomputes(real, teacher)).toBe(true);
      expect(estimateMemory(real, teacher)).toBe(recomputed);
      expect(gib(recomputed)).toBeLessThan(20);
      expect(recomputed).toBeLessThan(kept);
    }
  });
});

describe('a GPU memory limit (--gpu-memory)', () => {
  const phi = { ...REAL['Phi-1.5'], weightBytes: 2 * REAL['Phi-1.5'].parameters };
  const all = plan({ stages: [1, 2, 3], seqLen: 512, batch: 4, freezeMlp: true, gpuMemoryGiB: 22 });

  it('refuses a Phi-1.5 plan whose resident stages 1–2 are over 22 GiB, naming what makes it fit', () => {
    const m = overMemory(all, phi, FIELD_FLAG);
    expect(m).toMatch(/is 22 GiB, and by the plan's estimate stage 1 about 3\d\.\d GiB, stage 2 about 3\d\.\d GiB; it fits with --stream-layers \(about 16\.\d GiB\)$/);
    // The measured run of that plan with --stream-layers peaked at 19.0 GiB in nvidia-smi (BENCHMARKS.md).
    expect(overMemory({ ...all, streamLayers: true }, phi, FIELD_FLAG)).toBeNull();
  });

  it('offers recomputation, frozen MLPs, then a smaller batch with more accumulation', () => {
    const s3 = plan({ stages: [3], seqLen: 512, batch: 4, freezeMlp: false, recompute: 'off', gpuMemoryGiB: 30 });
    const m = overMemory(s3, phi, FIELD_FLAG)!;
    expect(m).toMatch(/stage 3 about \d+\.\d GiB; it fits with --recompute on \(about \d+\.\d GiB\)/);
    const tight = overMemory({ ...s3, gpuMemoryGiB: 15 }, phi, FIELD_FLAG)!;
    expect(tight).toMatch(/it fits with --batch [123] with --recompute on, --freeze-mlp \(about \d+\.\d GiB; --accumulate [234] keeps the tokens per step\)$/);
    expect(overMemory({ ...s3, gpuMemoryGiB: 1 }, phi, FIELD_FLAG)).toMatch(/even --batch 1 with every memory saving does not fit/);
  });

  it('is checked by validatePlan, and a plan without a limit is not', () => {
    const phiCtx = { ...ctx, teacher: phi, limits: { maxStorageBufferBindingSize: 2 ** 31 - 4, maxBufferSize: 2 ** 40 } };
    expect(() => validatePlan({ ...all, gpuMemoryGiB: undefined, streamLayers: true }, phiCtx)).not.toThrow();
    const e = refusal({ ...all, gpuMemoryGiB: 22 }, FIELD_FLAG, phiCtx);
    expect(e.field).toBe('gpuMemoryGiB');
    expect(e.message).toMatch(/^plan: --gpu-memory is 22 GiB/);
    expect(refusal({ ...all, gpuMemoryGiB: -1 }, FIELD_FLAG, phiCtx).message).toMatch(/--gpu-memory must be a positive number of GiB/);
  });
});
