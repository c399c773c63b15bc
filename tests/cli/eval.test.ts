// `npx mohawk eval` as scripts call it: the built command, its exit status, its one JSON line.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { splitDocuments } from '../../src/io/corpus';
import { CORPUS_FILE, TEACHER_DIR } from '../helpers/data';
import { PARQUET_DIR } from '../helpers/corpus-files';

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

  it('gives the same on those stories as a parquet shard and a .jsonl.gz, taken by path and glob', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mohawk-eval-'));
    try {
      // stories.parquet holds the first 20 stories; the next 10 go into a .jsonl.gz with one broken line.
      copyFileSync(join(PARQUET_DIR, 'stories.parquet'), join(dir, 'a.parquet'));
      const next = splitDocuments(readFileSync(CORPUS_FILE, 'utf8')).slice(20, 30).map((text) => JSON.stringify({ text }));
      next.splice(4, 0, '{"text": "broken');
      writeFileSync(join(dir, 'b.jsonl.gz'), gzipSync(next.join('\n')));
      const broken = mohawk('eval', '--model', TEACHER_DIR, '--data', join(dir, 'a.parquet'), join(dir, '*.gz'), '--json');
      expect(broken.code).toBe(1);
      expect(broken.err).toMatch(/b\.jsonl\.gz, line 5: not valid JSON .*nothing was loaded/);
      const r = mohawk('eval', '--model', TEACHER_DIR, '--data', join(dir, 'a.parquet'), join(dir, '*.gz'), '--skip-bad-lines', '--max-tokens', '256', '--docs', '30', '--json');
      expect(r.code, r.err).toBe(0);
      expect(r.err).toMatch(/corpus a\.parquet and 1 more file: 2 files \(1 parquet, 1 jsonl\.gz\), 30 documents, text column "text"; 1 bad line skipped \(.*b\.jsonl\.gz line 5/);
      const j = JSON.parse(r.out.trim());
      expect(Math.abs(j.mean_nll - 1.2464855)).toBeLessThan(2e-6);
      expect(j.tokens).toBe(7367);
      const numbers = mohawk('eval', '--model', TEACHER_DIR, '--data', join(PARQUET_DIR, 'numbers.parquet'));
      expect(numbers.code).toBe(1);
      expect(numbers.err).toMatch(/numbers\.parquet has no string column to read documents from \(its columns: id \(int64\), score \(double\)\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
