// `npx mohawk plan`: the plan distill would run, with distill's flags, as a versioned JSON file that
// reads back to the same plan (src/mohawk/plan-file.ts); bad flags and plans are refused by name.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { optionsFromFlags } from '../../src/cli/commands/distill';
import { parseFlags } from '../../src/cli/args';
import { stepsPerStage } from '../../src/mohawk/plan';
import { PLAN_VERSION, planFile, readPlanFile } from '../../src/mohawk/plan-file';
import { TEACHER_DIR } from '../helpers/data';

const BIN = fileURLToPath(new URL('../../bin/mohawk.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mohawk-plan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const mohawk = (...args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe('mohawk plan', () => {
  it('writes the plan distill would run, which reads back the same', async () => {
    const flags = ['--stages', '1,3', '--tokens', '1:8k,3:64k', '--seq', '128', '--batch', '2', '--accumulate', '2', '--lr', '3:2e-4', '--attention-layers', '2', '--freeze-mlp', '--packing', 'within', '--recompute', 'on', '--seed', '7', '--docs', '500', '--held-out', '0.05', '--eval-docs', '20', '--text-column', 'body'];
    const out = join(dir, 'plan.json');
    const r = mohawk('plan', '--teacher', TEACHER_DIR, '--out', out, ...flags);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/plan for llama \(5 layers\): stage 1 16 steps, stage 3 125 steps; written to .*plan\.json/);
    const json = JSON.parse(readFileSync(out, 'utf8'));
    expect(json).toMatchObject({ format: 'mohawk-plan', version: PLAN_VERSION, teacher: { name: 'stories260K', model_type: 'llama', layers: 5, vocab: 512 }, tokens_per_step: 512 });
    expect(json.plan).toMatchObject({ stages: [1, 3], tokens: { 1: 8000, 3: 64000 }, lr: { 1: 1e-3, 3: 2e-4 }, seq_len: 128, batch: 2, accumulate: 2, attention_layers: [2], freeze_mlp: true, packing: 'within', recompute: 'on', seed: 7 });
    expect(json.data).toEqual({ text_column: 'body', skip_bad_lines: false, docs: 500, held_out: 0.05 });
    expect(json.evaluation).toEqual({ docs: 20, tokens: 256 });
    // What distill itself makes of the same flags.
    const { distillFlags } = await import('../../src/cli/commands/distill');
    const expected = optionsFromFlags(parseFlags(['--teacher', 'x', '--data', 'y', ...flags], distillFlags, 'distill')).plan;
    const back = readPlanFile(json);
    expect(back.plan).toEqual(expected);
    expect(json.steps).toEqual({ 1: stepsPerStage(expected)[1], 3: stepsPerStage(expected)[3] });
  }, 120_000);

  it('refuses what distill refuses, named as its own', () => {
    const seq = mohawk('plan', '--teacher', TEACHER_DIR, '--out', join(dir, 'x.json'), '--seq', '4096');
    expect(seq.code).toBe(2);
    expect(seq.err).toMatch(/(^|\n)mohawk plan: plan: --seq 4096 is over the teacher's 512 positions/);
    const bad = mohawk('plan', '--teacher', TEACHER_DIR, '--out', join(dir, 'x.json'), '--lr', 'fast');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/(^|\n)mohawk plan: --lr/);
    expect(bad.err).not.toMatch(/mohawk distill:/);
    const k = mohawk('plan', '--teacher', TEACHER_DIR, '--out', join(dir, 'x.json'), '--attention-layers', 'auto:5');
    expect(k.code).toBe(2);
    expect(k.err).toMatch(/(^|\n)mohawk plan: plan: --attention-layers auto:5: K must be 1 to 4 for this 5-layer teacher/);
  }, 120_000);

  it('reads back only what it can run, naming the field', () => {
    const good = JSON.parse(JSON.stringify({ format: 'mohawk-plan', version: 1, teacher: { name: 't', model_type: 'llama', layers: 2, d_model: 8, heads: 2, vocab: 16, max_positions: 64 }, plan: { stages: [3], tokens: { 3: 100 }, lr: { 3: 1e-3 }, seq_len: 8, batch: 1, accumulate: 1, warmup: 0, decay: 0, max_grad_norm: 1, weight_decay: 0, temperature: 1, freeze_mlp: false, attention_layers: [], seed: 1, stream_layers: false, packing: 'across', recompute: 'auto' }, data: { text_column: 'text', skip_bad_lines: false, docs: null, held_out: 0.1 }, evaluation: { docs: 5, tokens: 32 } }));
    expect(readPlanFile(good).plan.tokens[3]).toBe(100);
    expect(() => readPlanFile({ ...good, version: 2 })).toThrow(/version 2 is not one this build reads/);
    expect(() => readPlanFile({ ...good, plan: { ...good.plan, lr: { 3: 2 } } })).toThrow(/plan\.lr\.3 is 2/);
    expect(() => readPlanFile({ ...good, plan: { ...good.plan, packing: 'random' } })).toThrow(/plan\.packing is "random", not one of across, within/);
    expect(() => readPlanFile({ ...good, format: 'other' })).toThrow(/"format" is "other"/);
    // auto:K as the flag spells it, both ways.
    const auto = readPlanFile({ ...good, plan: { ...good.plan, attention_layers: 'auto:1' } });
    expect(auto.plan).toMatchObject({ attentionLayers: [], attentionAuto: 1 });
    expect((planFile(auto.plan, auto.data, auto.teacher, { by: 'test', at: new Date(0) }).plan as Record<string, unknown>).attention_layers).toBe('auto:1');
    expect(readPlanFile(planFile(auto.plan, auto.data, auto.teacher, { by: 'test', at: new Date(0) })).plan).toEqual(auto.plan);
    expect(readPlanFile(good).plan.attentionAuto).toBeNull();
    // teacher_attention: absent in files written before it, f32; f16 both ways; anything else refused.
    expect(readPlanFile(good).plan.teacherAttention).toBe('f32');
    const half = readPlanFile({ ...good, plan: { ...good.plan, teacher_attention: 'f16' } });
    expect(half.plan.teacherAttention).toBe('f16');
    expect(readPlanFile(planFile(half.plan, half.data, half.teacher, { by: 'test', at: new Date(0) })).plan).toEqual(half.plan);
    expect(() => readPlanFile({ ...good, plan: { ...good.plan, teacher_attention: 'f8' } })).toThrow(/plan\.teacher_attention is "f8", not one of f32, f16/);
    // advisor_method: absent in files written before it, sets; greedy both ways; anything else refused.
    expect(readPlanFile(good).plan.advisorMethod).toBe('sets');
    const greedy = readPlanFile({ ...good, plan: { ...good.plan, attention_layers: 'auto:1', advisor_method: 'greedy' } });
    expect(greedy.plan.advisorMethod).toBe('greedy');
    expect(readPlanFile(planFile(greedy.plan, greedy.data, greedy.teacher, { by: 'test', at: new Date(0) })).plan).toEqual(greedy.plan);
    expect(() => readPlanFile({ ...good, plan: { ...good.plan, advisor_method: 'best' } })).toThrow(/plan\.advisor_method is "best", not one of sets, greedy/);
    for (const bad of ['auto:0', 'auto', 'all', 3]) expect(() => readPlanFile({ ...good, plan: { ...good.plan, attention_layers: bad } }), String(bad)).toThrow(/plan\.attention_layers is .*not a list of layers or "auto:K"/);
  });
});
