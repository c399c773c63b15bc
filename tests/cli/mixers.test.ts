// `npx mohawk mixers` as scripts call it (the built command, spawned) on a tiny trained teacher
// (tests/fixtures/llama-gqa): the JSON rows on the last stdout line, the table, progress on stderr,
// and what bad flags say.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOC_SEPARATOR, splitDocuments } from '../../src/io/corpus';
import { labOptionsFromFlags } from '../../src/cli/commands/mixers';
import { CORPUS_FILE } from '../helpers/data';
import { FIXTURES_DIR } from '../helpers/fixtures';

const BIN = fileURLToPath(new URL('../../bin/mohawk.mjs', import.meta.url));
const TEACHER = join(FIXTURES_DIR, 'llama-gqa');

let dir: string;
let corpus: string;

function mohawk(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, XDG_CACHE_HOME: join(dir, 'cache') } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mohawk-mixers-'));
  corpus = join(dir, 'stories.txt');
  writeFileSync(corpus, splitDocuments(readFileSync(CORPUS_FILE, 'utf8')).slice(0, 60).join(`\n${DOC_SEPARATOR}\n`));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SMALL = ['--states', '2,4', '--seq', '16', '--samples', '1', '--steps', '30'];

describe('mohawk mixers', () => {
  it('prints the rows as one JSON array on the last stdout line, progress and the table on stderr', () => {
    const r = mohawk('mixers', '--teacher', TEACHER, '--data', corpus, ...SMALL, '--layers', '1', '--json');
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines).toHaveLength(1);
    const rows = JSON.parse(lines[0]!) as { family: string; states: number; distance: number; layers: Record<string, number> }[];
    expect(rows.map((x) => `${x.family}/${x.states}`)).toEqual(['toeplitz/2', 'toeplitz/4', 'low-rank/2', 'low-rank/4', 'ssd/2', 'ssd/4', 'ssm/2', 'ssm/4']);
    for (const row of rows) {
      expect(Object.keys(row).sort()).toEqual(['distance', 'family', 'layers', 'states']);
      expect(Object.keys(row.layers)).toEqual(['1']);
      expect(row.layers['1']).toBe(row.distance);
      expect(row.distance).toBeGreaterThan(0);
    }
    expect(r.err).toMatch(/1 held-out sequence of 16 tokens × 1 layer × 4 heads = 4 attention matrices per fit, 30 Adam steps/);
    // Without a terminal, a line at the end of each fit.
    expect(r.err).toMatch(/SSM N=4: step 30\/30, distance \d/);
    expect(r.err).toMatch(/^family\s+N=2\s+N=4$/m);
    expect(r.err).toMatch(/^Toeplitz\s+\d+\.\d{4}\s+\d+\.\d{4}$/m);
    expect(r.err).toMatch(/SSM < SSD < low-rank < Toeplitz at every N: (yes|no)/);
  }, 300_000);

  it('prints the table, per layer on demand, on stdout without --json', () => {
    const r = mohawk('mixers', '--teacher', TEACHER, '--data', corpus, ...SMALL, '--steps', '5', '--states', '2', '--per-layer');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/‖M − A‖_F after the last step, mean over 8 matrices/);
    expect(r.out).toMatch(/^SSD\s+\d+\.\d{4}$/m);
    expect(r.out).toMatch(/per layer: family\s+N\s+L0\s+L1/);
    expect(r.out).toMatch(/^\s+low-rank\s+2\s+\d+\.\d{4}\s+\d+\.\d{4}$/m);
  }, 300_000);

  it('names bad flags, and options the teacher cannot take, before anything is fitted', () => {
    const base = ['mixers', '--teacher', TEACHER, '--data', corpus];
    const cases: [string[], RegExp][] = [
      [['--states', '16,x'], /--states: "x" is not an integer ≥ 1/],
      [['--states', '8,8'], /--states 8,8 names a value twice/],
      [['--layers', '-1'], /--layers: "-1" is not an integer ≥ 0/],
      [['--steps', '0'], /--steps must be an integer ≥ 1, got "0"/],
      [['--lr', 'fast'], /--lr must be a learning rate > 0, got "fast"/],
      [['--layers', '7'], /--layers: layer 7 is not one of the teacher's layers 0–1/],
      [['--seq', '500'], /--seq: sequences of 500 tokens are longer than the teacher's 128 positions/],
      [['--stats', '4'], /unknown flag --stats/],
    ];
    for (const [flags, want] of cases) {
      const r = mohawk(...base, ...flags);
      expect(r.code, flags.join(' ')).toBe(2);
      expect(r.err, flags.join(' ')).toMatch(want);
    }
    const few = mohawk(...base, '--samples', '200', '--seq', '128');
    expect(few.code).toBe(1);
    expect(few.err).toMatch(/held-out tokens \(6 documents\), fewer than 200 sequences of 128 \(25600\): lower --samples or --seq/);
    const noTeacher = mohawk('mixers', '--data', corpus);
    expect(noTeacher.code).toBe(2);
    expect(noTeacher.err).toMatch(/--teacher is required/);
  }, 300_000);

  it('reads its defaults and lists from the flags', () => {
    expect(labOptionsFromFlags({})).toMatchObject({ states: [16, 32, 64], layers: null, seqLen: 128, samples: 4, steps: 300, heldOut: 0.1 });
    expect(labOptionsFromFlags({ states: '64, 16', layers: '3,1', seq: '256' })).toMatchObject({ states: [64, 16], layers: [3, 1], seqLen: 256 });
  });
});
