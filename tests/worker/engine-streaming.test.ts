// The page's engine on a corpus over its streaming size: the load returns with the corpus partly in,
// a run starts on it and finishes, and the corpus ends complete on the same engine.
// (The streaming size is lowered for the test; in the page it is 64 MiB.)
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DOC_SEPARATOR, splitDocuments } from '../../src/io/corpus';
import { DEFAULT_PLAN, type DistillPlan } from '../../src/mohawk/plan';
import type { CorpusSummary } from '../../src/worker/api';
import { Engine } from '../../src/worker/engine';
import { CORPUS_FILE, TEACHER_DIR } from '../helpers/data';

describe('the engine on a corpus still being tokenized', () => {
  it('loads it partly in, trains on it, and ends with all of it', async () => {
    // The evaluations before and after the stage on 2 documents of 130 tokens, not the studio's 10 of 256:
    // on SwiftShader they took most of the test's time, and what is tested is the corpus.
    const engine = new Engine({ streamBytes: 256 * 1024, evaluation: { docs: 2, tokens: 130 } });
    type Seen = { type: string; corpus?: CorpusSummary | null; state?: string; stage?: number; finished?: boolean };
    const events: Seen[] = [];
    await engine.subscribe((e) => events.push(e as Seen));
    const teacher = readdirSync(TEACHER_DIR).map((name) => new File([new Uint8Array(readFileSync(`${TEACHER_DIR}/${name}`))], name));
    await engine.loadTeacherFiles(teacher, 'stories260K');

    // The built-in 2 MiB slice, eight times the streaming size lowered for the test.
    const docs = splitDocuments(readFileSync(CORPUS_FILE, 'utf8'));
    const text = docs.join(`\n${DOC_SEPARATOR}\n`);
    const load = await engine.loadCorpusFiles([{ file: new File([text], 'big.txt'), name: 'big.txt' }], { textColumn: 'text', skipBadLines: false });
    if (!load.ok) throw new Error(load.message);
    expect(load.corpus.tokenizing, 'the load returned with the corpus all in').toBeDefined();

    const plan: DistillPlan = { ...DEFAULT_PLAN, stages: [1], tokens: { 1: 128, 2: 0, 3: 0 }, seqLen: 32, batch: 2 };
    await engine.startDistill(plan);
    const t0 = Date.now();
    while (!events.some((e) => e.type === 'state' && e.finished) && Date.now() - t0 < 240_000) await new Promise((r) => setTimeout(r, 100));
    expect(events.some((e) => e.type === 'state' && e.finished), 'the run did not finish').toBe(true);

    // The corpus was still coming in when the run was started on it (the load returned partly in, above);
    // it ends complete, with every document. (Whether a step lands before the last slice is the two
    // paces' race: tests/cli/distill.test.ts holds the first step line before the "tokenized" one.)
    const t1 = Date.now();
    while (!events.some((e) => e.type === 'corpus' && e.corpus && !e.corpus.tokenizing) && Date.now() - t1 < 120_000) await new Promise((r) => setTimeout(r, 100));
    const last = events.filter((e) => e.type === 'corpus' && e.corpus).at(-1)!.corpus!;
    expect(last.tokenizing).toBeUndefined();
    expect(last.documents).toBe(docs.length);
    expect(load.corpus.documents).toBeLessThan(last.documents);
  }, 360_000);
});
