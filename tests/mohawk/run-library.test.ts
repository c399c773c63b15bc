// Runs kept apart in the OPFS (an in-memory fake here): each run's folder holds its checkpoint, its
// history and run.json; the history is appended in batches and read back as the run stands (what a
// resume superseded left out); folders of the older one-per-teacher layout still list and load.
import { describe, expect, it } from 'vitest';
import { loadCheckpoint, opfsStore, saveCheckpoint, type RunFiles } from '../../src/mohawk/checkpoint';
import { HistoryRecorder, foldHistory, readHistory, type HistoryRecord } from '../../src/mohawk/history';
import { DEFAULT_PLAN, clonePlan } from '../../src/mohawk/plan';
import { listRuns, newRecord, newRunId, opfsRunLibrary, readRecord, writeRecord } from '../../src/mohawk/run-library';
import type { RunEvent, RunState } from '../../src/mohawk/run';
import { fakeOpfs } from '../helpers/fake-opfs';

const step = (stage: 1 | 2 | 3, k: number, steps = 10): RunEvent => ({
  type: 'step', stage, step: k, steps, tokens: k * 64, loss: 1 / k, gradNorm: 0.5, lr: k * 1e-4, tokensPerS: 100, elapsedS: k, etaS: null, runElapsedS: k + 2, runEtaS: null,
});

/** A store that counts appends. */
function counting(files: RunFiles) {
  const appends: string[] = [];
  const store: RunFiles = { ...files, append: async (n, b) => {
    appends.push(n);
    return files.append(n, b);
  } };
  return { store, appends };
}

async function tinyCheckpoint(files: RunFiles, state: Partial<RunState>) {
  const params = new Float32Array([1, 2, 3, 4]);
  await saveCheckpoint(files, { state: state as Record<string, unknown>, params, m: params.map((x) => x / 10), v: params.map((x) => x / 100), paramShapes: new Map([['w', { offset: 0, count: 4, shape: [2, 2] }]]) });
}

describe('OPFS stores on a fake OPFS', () => {
  for (const syncHandles of [true, false]) {
    it(`write, append, size, list and remove in a nested folder (${syncHandles ? 'sync access handles' : 'createWritable only'})`, async () => {
      const fs = fakeOpfs({ syncHandles });
      const files = opfsStore(['runs', 'abc'], fs.root);
      expect(await files.size('a.txt')).toBeNull();
      await files.write('a.txt', new TextEncoder().encode('hello'));
      await files.append('a.txt', new TextEncoder().encode(' world'));
      await files.append('b.txt', new TextEncoder().encode('new'));
      expect(new TextDecoder().decode((await files.read('a.txt'))!)).toBe('hello world');
      expect(await files.size('a.txt')).toBe(11);
      expect(await files.list()).toEqual(['a.txt', 'b.txt']);
      expect([...fs.dir('mohawk-checkpoints/runs/abc')!.children.keys()].sort()).toEqual(['a.txt', 'b.txt']);
      await files.remove('a.txt');
      expect(await files.read('a.txt')).toBeNull();
      await expect(files.append('../x', new Uint8Array(1))).rejects.toThrow(/not a plain file name/);
    });
  }
});

describe('a run\'s history', () => {
  it('holds records until a batch is full, a checkpoint or a stage end, then appends them in one write', async () => {
    const fs = fakeOpfs();
    const { store, appends } = counting(opfsStore(['runs', 'r1'], fs.root));
    let now = 0;
    const rec = await HistoryRecorder.open(store, { maxBuffered: 4, flushEveryMs: 1e9, now: () => now });
    rec.record({ type: 'stage', stage: 1, state: 'started', steps: 10, tokens: 640 });
    for (let k = 1; k <= 2; k++) rec.record(step(1, k));
    await rec.after(async () => {});
    expect(appends).toEqual([]);
    rec.record(step(1, 3));
    await rec.after(async () => {});
    expect(appends).toEqual(['history-0000.jsonl']);
    // Time alone also sends what is held, at the next step.
    const timed = await HistoryRecorder.open(store, { maxBuffered: 1000, flushEveryMs: 5000, now: () => now });
    timed.record(step(1, 4));
    now = 6000;
    timed.record(step(1, 5));
    await timed.after(async () => {});
    expect(appends.length).toBe(2);
    timed.record({ type: 'checkpoint', stage: 1, step: 5, stageDone: false, tokens: 320, at: 0 });
    await timed.after(async () => {});
    expect(appends.length).toBe(3);
    const back = await readHistory(store);
    expect(back.map((r) => (r.k === 'step' ? `s${r.step}` : r.k))).toEqual(['stage', 's1', 's2', 's3', 's4', 's5', 'checkpoint']);
    expect(back[1]).toMatchObject({ k: 'step', stage: 1, step: 1, loss: 1, gradNorm: 0.5, lr: 1e-4, tokens: 64, runElapsedS: 3 });
  });

  it('goes on in a new file past the chunk size, and reads the files in order, a torn last line left out', async () => {
    const fs = fakeOpfs();
    const files = opfsStore(['runs', 'r2'], fs.root);
    const rec = await HistoryRecorder.open(files, { maxBuffered: 1, chunkBytes: 600 });
    for (let k = 1; k <= 12; k++) rec.record(step(2, k, 12));
    await rec.flush();
    const names = (await files.list()).filter((n) => n.startsWith('history-'));
    expect(names.length).toBeGreaterThan(2);
    for (const n of names) expect((await files.size(n))!).toBeLessThanOrEqual(600);
    // A later session appends after the last file.
    const again = await HistoryRecorder.open(files, { maxBuffered: 1, chunkBytes: 600 });
    again.record(step(2, 13, 13));
    await again.flush();
    await files.append(names[names.length - 1]!.replace(/\d+/, (d) => String(Number(d) + 5).padStart(4, '0')), new TextEncoder().encode('{"k":"step","stage":2,"st'));
    const steps = (await readHistory(files)).map((r) => (r.k === 'step' ? r.step : -1));
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
  });

  it('keeps evenly spaced distance snapshots and the last one of the stage, with no NaN in them', async () => {
    const files = opfsStore(['runs', 'r3'], fakeOpfs().root);
    const rec = await HistoryRecorder.open(files, { distanceSnapshots: 5 });
    rec.record({ type: 'stage', stage: 1, state: 'started', steps: 23, tokens: 23 * 64 });
    for (let k = 1; k <= 23; k++) {
      rec.record(step(1, k, 23));
      rec.record({ type: 'distances', layers: 1, heads: 2, values: new Float32Array([k, k === 1 ? NaN : k / 2]) });
    }
    rec.record({ type: 'stage', stage: 1, state: 'finished', steps: 23, tokens: 23 * 64 });
    await rec.flush();
    const snaps = (await readHistory(files)).filter((r) => r.k === 'distances') as Extract<HistoryRecord, { k: 'distances' }>[];
    // Every ceil(23 / 5) = 5 steps from the first, and the stage's last.
    expect(snaps.map((s) => s.step)).toEqual([1, 6, 11, 16, 21, 23]);
    expect(snaps[0]!.values).toEqual([1, null]);
    expect(snaps[5]).toMatchObject({ stage: 1, layers: 1, heads: 2, values: [23, 11.5] });
  });

  it('a resume supersedes what was logged past its checkpoint; a cut drops what lies past a point', async () => {
    const files = opfsStore(['runs', 'r4'], fakeOpfs().root);
    const first = await HistoryRecorder.open(files);
    first.record({ type: 'eval', stage: 0, teacherNll: 1, studentNll: 9, tokens: 10 });
    first.record({ type: 'stage', stage: 1, state: 'started', steps: 4, tokens: 256 });
    for (let k = 1; k <= 4; k++) first.record(step(1, k, 4));
    first.record({ type: 'stage', stage: 1, state: 'finished', steps: 4, tokens: 256 });
    first.record({ type: 'checkpoint', stage: 1, step: 4, stageDone: true, tokens: 256, at: 0 });
    first.record({ type: 'eval', stage: 1, teacherNll: 1, studentNll: 5, tokens: 10 });
    first.record({ type: 'stage', stage: 2, state: 'started', steps: 6, tokens: 384 });
    for (let k = 1; k <= 5; k++) {
      first.record(step(2, k, 6));
      if (k === 2) first.record({ type: 'checkpoint', stage: 2, step: 2, stageDone: false, tokens: 128, at: 0 });
    }
    await first.flush();
    // The tab closed at step 5; the run resumes from the checkpoint at step 2.
    const all = await readHistory(files);
    const asStored = foldHistory(all, { stage: 2, step: 2, done: false });
    expect(asStored.filter((r) => r.k === 'step' && r.stage === 2).map((r) => (r as { step: number }).step)).toEqual([1, 2]);
    const second = await HistoryRecorder.open(files);
    second.resumed({ stage: 2, step: 2, done: false });
    for (let k = 3; k <= 6; k++) second.record(step(2, k, 6));
    second.record({ type: 'stage', stage: 2, state: 'finished', steps: 6, tokens: 384 });
    second.record({ type: 'eval', stage: 2, teacherNll: 1, studentNll: 3, tokens: 10 });
    await second.flush();
    const run = foldHistory(await readHistory(files));
    const stage2 = run.filter((r) => r.k === 'step' && r.stage === 2).map((r) => (r as { step: number }).step);
    expect(stage2).toEqual([1, 2, 3, 4, 5, 6]);
    expect(run.filter((r) => r.k === 'step' && r.stage === 1).length).toBe(4);
    expect(run.filter((r) => r.k === 'eval').map((r) => [(r as { stage: number }).stage, (r as { point: unknown }).point])).toEqual([
      [0, { stage: 0, step: 0, done: false }],
      [1, { stage: 1, step: 4, done: true }],
      [2, { stage: 2, step: 6, done: true }],
    ]);
    expect(run.some((r) => r.k === 'resume')).toBe(false);
  });

  it('an append that fails is reported once and does not stop the recorder', async () => {
    const files = opfsStore(['runs', 'r5'], fakeOpfs().root);
    let fail = true;
    const errors: unknown[] = [];
    const flaky: RunFiles = { ...files, append: (n, b) => (fail ? Promise.reject(new Error('quota exceeded')) : files.append(n, b)) };
    const rec = await HistoryRecorder.open(flaky, { maxBuffered: 1, onError: (e) => errors.push(e) });
    rec.record(step(3, 1));
    rec.record(step(3, 2));
    await rec.flush();
    expect(errors.map((e) => (e as Error).message)).toEqual(['quota exceeded']);
    fail = false;
    rec.record(step(3, 3));
    await rec.flush();
    expect((await readHistory(files)).map((r) => (r as { step: number }).step)).toEqual([3]);
  });
});

describe('the run library', () => {
  const state = (over: Partial<RunState>): Partial<RunState> => ({
    stage: 1, step: 3, stageDone: false, done: false, tokens: 192, tokensDone: { 1: 192, 2: 0, 3: 0 }, plan: clonePlan(DEFAULT_PLAN),
    teacher: 'stories260K (built in)', teacherFingerprint: 'f00d', corpus: 'TinyStories', docs: 2000, heldOut: 0.1, savedAt: '', ...over,
  });

  it('lists every run newest first with its record, size and checkpoint; removes one; lists an old per-teacher folder as a run', async () => {
    const fs = fakeOpfs();
    const lib = opfsRunLibrary(fs.root);
    expect(await listRuns(lib)).toEqual([]);
    const a = newRunId(new Date(Date.UTC(2025, 0, 2, 3, 4, 5)));
    expect(a).toMatch(/^20250102-030405-[0-9a-f]{6}$/);
    const b = newRunId(new Date(Date.UTC(2025, 0, 2, 3, 9, 0)));
    await writeRecord(lib, { ...newRecord({ id: a, name: 'teacher-mohawk-student-20250102-0304', teacher: 'teacher', teacherFingerprint: 'f00d', corpus: 'c', plan: clonePlan(DEFAULT_PLAN), created: '2025-01-02T03:04:05.000Z' }), status: 'finished', done: true });
    await tinyCheckpoint(lib.files(a), state({ done: true }));
    await writeRecord(lib, newRecord({ id: b, name: 'teacher-mohawk-student-20250102-0309', teacher: 'teacher', teacherFingerprint: 'f00d', corpus: 'c', plan: clonePlan(DEFAULT_PLAN), created: '2025-01-02T03:09:00.000Z' }));
    // An old-layout folder: mohawk-checkpoints/<fingerprint>/ with a checkpoint and no run.json.
    const old = opfsStore(['beef'], fs.root);
    await tinyCheckpoint(old, state({ teacherFingerprint: 'beef', startedAt: '2024-12-31T23:00:00.000Z', step: 2 }));
    // A folder with nothing in it is no run.
    await opfsStore(['runs', 'empty'], fs.root).write('note.txt', new Uint8Array(1));

    const runs = await listRuns(lib);
    expect(runs.map((r) => r.record.id)).toEqual([b, a, 'legacy-beef']);
    expect(runs[0]).toMatchObject({ hasCheckpoint: false, record: { status: 'running', name: 'teacher-mohawk-student-20250102-0309' } });
    expect(runs[1]!.hasCheckpoint).toBe(true);
    const aFiles = lib.files(a);
    let bytes = 0;
    for (const n of await aFiles.list()) bytes += (await aFiles.size(n))!;
    expect(runs[1]!.bytes).toBe(bytes);
    expect(runs[2]!.record).toMatchObject({
      legacy: true, teacher: 'stories260K (built in)', teacherFingerprint: 'beef', stage: 1, step: 2, tokens: 192, status: 'stopped',
      created: '2024-12-31T23:00:00.000Z', name: 'stories260K-built-in-mohawk-student-20241231-2300',
    });
    expect((await loadCheckpoint(lib.files('legacy-beef')))!.state.step).toBe(2);
    // Its record, once written (exported, say), is kept in the old folder.
    await writeRecord(lib, { ...runs[2]!.record, exported: true });
    expect(await readRecord(lib, 'legacy-beef')).toMatchObject({ exported: true, legacy: true });

    await lib.remove(a);
    await lib.remove('legacy-beef');
    expect((await listRuns(lib)).map((r) => r.record.id)).toEqual([b]);
    expect(fs.dir('mohawk-checkpoints/beef')).toBeUndefined();
    expect(fs.dir(`mohawk-checkpoints/runs/${a}`)).toBeUndefined();
  });

  it('a cut-short run.json falls back to the checkpoint\'s state', async () => {
    const lib = opfsRunLibrary(fakeOpfs().root);
    const id = newRunId();
    await tinyCheckpoint(lib.files(id), state({ name: 'kept-name', startedAt: '2025-02-03T04:05:06.000Z' }));
    await lib.files(id).write('run.json', new TextEncoder().encode('{"format":"mohawk-'));
    expect(await readRecord(lib, id)).toMatchObject({ id, name: 'kept-name', step: 3, status: 'stopped', created: '2025-02-03T04:05:06.000Z' });
  });
});
