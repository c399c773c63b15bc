// `npx mohawk eval` as scripts call it: the built command, its exit status, its one JSON line.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CORPUS_FILE, TEACHER_DIR } from '../helpers/data';

const BIN = fileURLToPath(new URL('../../bin/mohawk.mjs', import.meta.url));

function mohawk(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('mohawk eval', () => {
  it('gives 1.2465 nats/token on the first 30 stories at 256 tokens, as one JSON object', () => {
    const r = mohawk('eval', '--model', TEACHER_DIR, '--data', CORPUS_FILE, '--max-tokens', '256', '--docs', '30', '--json');
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines).toHaveLength(1);
    const j = JSON.parse(lines[0]!);
    expect(Object.keys(j).sort()).toEqual(['mean_nll', 'perplexity', 'tokens']);
    // The float64 reference (and transformers in float64) give 1.2464855.
    expect(Math.abs(j.mean_nll - 1.2464855)).toBeLessThan(2e-6);
    expect(j.tokens).toBe(7367);
    expect(Math.abs(j.perplexity - Math.exp(j.mean_nll))).toBeLessThan(1e-9);
  }, 300_000);

  it('says what is wrong with bad arguments, with a non-zero status', () => {
    const noModel = mohawk('eval', '--data', CORPUS_FILE);
    expect(noModel.code).toBe(2);
    expect(noModel.err).toMatch(/--model is required/);
    const badFlag = mohawk('eval', '--model', TEACHER_DIR, '--data', CORPUS_FILE, '--max-token', '5');
    expect(badFlag.code).toBe(2);
    expect(badFlag.err).toMatch(/unknown flag --max-token/);
    const noData = mohawk('eval', '--model', TEACHER_DIR, '--data', '/nonexistent/corpus.txt');
    expect(noData.code).toBe(1);
    expect(noData.err).toMatch(/cannot read --data \/nonexistent\/corpus.txt: no such file/);
    const notModel = mohawk('eval', '--model', fileURLToPath(new URL('../../public/corpus', import.meta.url)), '--data', CORPUS_FILE);
    expect(notModel.code).toBe(1);
    expect(notModel.err).toMatch(/config.json is missing/);
  }, 300_000);
});
