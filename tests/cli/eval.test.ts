// `npx mohawk eval` as scripts call it: the built command, its exit status, its one JSON line.
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { splitDocuments } from '../../src/io/corpus';
import { CORPUS_FILE, TEACHER_DIR } from '../helpers/data';
import { FIXTURES_DIR } from '../helpers/fixtures';
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

  it('refuses a --teacher/--model whose config.json disagrees with its weights, or a length over its positions, by name and without a stack', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mohawk-bad-teacher-'));
    try {
      const teacher = join(dir, 'llama-gqa');
      cpSync(join(FIXTURES_DIR, 'llama-gqa'), teacher, { recursive: true });
      const config = JSON.parse(readFileSync(join(teacher, 'config.json'), 'utf8'));
      writeFileSync(join(teacher, 'config.json'), JSON.stringify({ ...config, num_key_value_heads: 4 }));
      const named =
        /^mohawk (eval|distill): config\.json says num_key_value_heads = 4 and head_dim = 16: model\.layers\.0\.self_attn\.k_proj\.weight should then have 4 × 16 = 64 rows .*, but it has 32 in model\.safetensors: the config and the weights must come from the same model$/m;
      const ev = mohawk('eval', '--model', teacher, '--data', CORPUS_FILE, '--docs', '2', '--json');
      expect(ev.code, ev.err).toBe(1);
      expect(ev.err).toMatch(named);
      expect(ev.err).not.toMatch(/\n\s+at /);
      expect(ev.out).toBe('');
      const di = mohawk('distill', '--teacher', teacher, '--data', CORPUS_FILE, '--out', join(dir, 'out'), '--json');
      expect(di.code, di.err).toBe(1);
      expect(di.err).toMatch(named);
      expect(di.err).not.toMatch(/\n\s+at /);

      // A length over the positions is the flag's fault: exit 2, before the weights are read.
      writeFileSync(join(teacher, 'config.json'), JSON.stringify(config));
      const long = mohawk('eval', '--model', teacher, '--data', CORPUS_FILE, '--docs', '2', '--max-tokens', '200');
      expect(long.code, long.err).toBe(2);
      expect(long.err).toMatch(/mohawk eval: --max-tokens 200 is over the model's 128 positions \(max_position_embeddings in its config\.json\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
