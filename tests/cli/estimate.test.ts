// `mohawk distill --estimate`: the plan's cost measured on this adapter, printed, with nothing trained
// or written. Kept apart from distill.test.ts (slow) with a plan of a few tiny steps per stage.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOC_SEPARATOR, splitDocuments } from '../../src/io/corpus';
import { CORPUS_FILE, TEACHER_DIR } from '../helpers/data';

const BIN = fileURLToPath(new URL('../../bin/mohawk.mjs', import.meta.url));

function mohawk(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 600_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

let dir: string;
let corpus: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mohawk-estimate-'));
  corpus = join(dir, 'stories.txt');
  writeFileSync(corpus, splitDocuments(readFileSync(CORPUS_FILE, 'utf8')).slice(0, 40).join(`\n${DOC_SEPARATOR}\n`));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('mohawk distill --estimate', () => {
  it('prints time and GPU memory per stage and in all, as JSON last, and writes nothing', () => {
    const out = join(dir, 'never-made');
    // 32 tokens a step: 3, 2 and 40 steps (stage 3 is extrapolated far past the steps it times); auto:1
    // by the greedy method, whose one probe of 10 steps (24% of 40, rounded) is a quarter of stage 3.
    const r = mohawk('distill', '--teacher', TEACHER_DIR, '--data', corpus, '--out', out, '--seq', '16', '--batch', '2', '--tokens', '1:96,2:64,3:1280', '--eval-docs', '2', '--eval-tokens', '16',
      '--attention-layers', 'auto:1', '--advisor-method', 'greedy', '--estimate', '--json');
    expect(r.code, r.err).toBe(0);
    expect(existsSync(out)).toBe(false);
    const lines = r.out.trim().split('\n');
    const j = JSON.parse(lines.at(-1)!);
    expect(Object.keys(j.stages)).toEqual(['1', '2', '3']);
    expect([1, 2, 3].map((s) => j.stages[s].steps)).toEqual([3, 2, 40]);
    let sum = 0;
    for (const s of [1, 2, 3]) {
      const st = j.stages[s];
      expect(st.seconds).toBeGreaterThan(0);
      expect(st.peakBytes).toBeGreaterThan(0);
      sum += st.seconds;
    }
    // The advisor before stage 3: its probe, and leave-one-out (7 passes), one round (7) and the candidates (5) over the held-out documents.
    expect(j.advisor).toMatchObject({ probes: 1, stepsEach: 10, stages12: { 1: 0, 2: 0 }, forwards: 19 });
    expect(j.advisor.seconds).toBeGreaterThan(0);
    expect(r.err).toMatch(/hybrid advisor before stage 3 \(auto:1, greedy\): one stage-3 probe of 10 steps with every layer a mixer, 19 model passes over the held-out documents: about /);
    // Setup, the advisor and the final evaluation come on top of the stages.
    expect(j.totalSeconds).toBeGreaterThan(sum + j.advisor.seconds);
    expect(j.peakBytes).toBeGreaterThanOrEqual(Math.max(...[1, 2, 3].map((s) => j.stages[s].peakBytes)));
    // What the run would write: f32 parameters and two moments a checkpoint, twice that while one replaces another.
    expect(j.diskBytes.checkpoint).toBeGreaterThan(0);
    expect(j.diskBytes.saving).toBe(2 * j.diskBytes.checkpoint);
    expect(j.diskBytes.export * 3).toBeGreaterThanOrEqual(j.diskBytes.checkpoint);
    expect(r.err).toMatch(/on the disk of --out: each checkpoint .+ while a save replaces the last\), the exported student /);
    // The words go to stderr with --json, the CPU adapter named as one.
    expect(r.err).toMatch(/stage 3 \(weight transfer & distillation\): 40 steps, about .+; GPU memory at most/);
    expect(r.err).toMatch(/in all: about /);
    expect(r.err).toMatch(/warning: .*swiftshader.* is a CPU adapter/i);
  }, 600_000);

  it('refuses --resume, and needs --out only to train', () => {
    const both = mohawk('distill', '--teacher', TEACHER_DIR, '--data', corpus, '--estimate', '--resume');
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/--estimate measures a new run of the plan: it does not go with --resume/);
    const profile = mohawk('distill', '--teacher', TEACHER_DIR, '--data', corpus, '--out', '/tmp/never', '--profile');
    expect(profile.code).toBe(2);
    expect(profile.err).toMatch(/--profile goes with --estimate/);
    const noOut = mohawk('distill', '--teacher', TEACHER_DIR, '--data', corpus);
    expect(noOut.code).toBe(2);
    expect(noOut.err).toMatch(/--out is required \(except with --estimate\)/);
  }, 120_000);
});
