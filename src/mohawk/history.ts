// A run's history: what its curves, grid and evaluation table are drawn from, kept beside its
// checkpoint so that a resumed or reopened run shows everything since its first step. The history is
// JSON lines appended in batches to files of at most about a MiB (history-0000.jsonl, -0001, ...):
// a step costs a string in memory, the disk sees one append per batch, and no file grows so large that
// a browser without in-place appends (createWritable copies the file) pays much for each.
// A resume writes a 'resume' record: what earlier sessions logged past the checkpoint it continues
// from (steps trained after the last save, then lost) no longer belongs to the run.
import type { RunFiles } from './checkpoint';
import type { Stage } from './plan';
import type { RunEvent } from './run';

/** Where in a run something happened: stage, step, and whether the stage had ended (a stage's end comes after its last step). */
export interface RunPoint {
  stage: Stage | 0;
  step: number;
  done: boolean;
}

export type HistoryRecord =
  | {
      k: 'step';
      stage: Stage;
      step: number;
      steps: number;
      /** Tokens trained in this stage up to this step. */
      tokens: number;
      loss: number;
      gradNorm: number;
      tokensPerS: number;
      /** The stage's training seconds, and the run's wall seconds (setup and evaluations included). */
      elapsedS: number;
      runElapsedS: number;
      /** The learning rate of the step (histories written before runs reported it lack it). */
      lr?: number;
      at: number;
    }
  | { k: 'stage'; stage: Stage; state: 'started' | 'finished' | 'skipped'; steps: number; tokens: number; at: number }
  /** Stage-1 distances per (layer, head); null where not measured. */
  | { k: 'distances'; stage: Stage; step: number; layers: number; heads: number; values: (number | null)[]; at: number }
  /** A held-out evaluation, `stage` as the run labels it (0: before training), made at `point`. */
  | { k: 'eval'; stage: Stage | 0; teacherNll: number; studentNll: number; tokens: number; point: RunPoint; at: number }
  | { k: 'checkpoint'; stage: Stage; step: number; stageDone: boolean; tokens: number; at: number }
  /** A session that continued the run from its checkpoint at `point`. */
  | { k: 'resume'; point: RunPoint; at: number };

export const HISTORY_PREFIX = 'history-';
const chunkName = (i: number) => `${HISTORY_PREFIX}${String(i).padStart(4, '0')}.jsonl`;
const CHUNK_RE = /^history-(\d{4,})\.jsonl$/;

/** -1, 0 or 1 as `a` comes before, with or after `b`. */
export function comparePoints(a: RunPoint, b: RunPoint): number {
  return a.stage - b.stage || a.step - b.step || Number(a.done) - Number(b.done);
}

/** Where a record sits in the run. */
export function pointOf(r: HistoryRecord): RunPoint {
  switch (r.k) {
    case 'step':
    case 'distances':
      return { stage: r.stage, step: r.step, done: false };
    case 'stage':
      return r.state === 'started' ? { stage: r.stage, step: 0, done: false } : { stage: r.stage, step: r.steps, done: true };
    case 'checkpoint':
      return { stage: r.stage, step: r.step, done: r.stageDone };
    case 'eval':
    case 'resume':
      return r.point;
  }
}

/**
 * The run as it stands: records are kept in order, except what a resume made obsolete (logged before
 * the resume, past its point); `cut` also drops everything past a point (the checkpoint a run not
 * running now would continue from). The resume records themselves go.
 */
export function foldHistory(records: readonly HistoryRecord[], cut?: RunPoint): HistoryRecord[] {
  let kept: HistoryRecord[] = [];
  for (const r of records) {
    if (r.k === 'resume') {
      kept = kept.filter((x) => comparePoints(pointOf(x), r.point) <= 0);
      continue;
    }
    kept.push(r);
  }
  return cut ? kept.filter((x) => comparePoints(pointOf(x), cut) <= 0) : kept;
}

/** Every record of the run's files in order; a torn last line (a crash mid-append) is left out. */
export async function readHistory(files: RunFiles): Promise<HistoryRecord[]> {
  const chunks = (await files.list())
    .map((n) => CHUNK_RE.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[0], index: Number(m[1]) }))
    .sort((a, b) => a.index - b.index);
  const out: HistoryRecord[] = [];
  const dec = new TextDecoder();
  for (const c of chunks) {
    const bytes = await files.read(c.name);
    if (!bytes) continue;
    for (const line of dec.decode(bytes).split('\n')) {
      if (!line) continue;
      try {
        const r = JSON.parse(line) as HistoryRecord;
        if (r && typeof r === 'object' && typeof r.k === 'string') out.push(r);
      } catch {
        // A line cut short by a crash: what came before it stands.
      }
    }
  }
  return out;
}

export interface RecorderOptions {
  /** Records held before they are appended (besides the flushes a run's checkpoints and ends ask for). */
  maxBuffered?: number;
  /** Milliseconds after which a step appends what is held. */
  flushEveryMs?: number;
  /** A history file grows to about this many bytes before the next one begins. */
  chunkBytes?: number;
  /** Distance snapshots kept per stage (evenly spaced by step, the stage's last always). */
  distanceSnapshots?: number;
  /** Hears of an append that failed (once: later ones are dropped quietly until one succeeds). */
  onError?(e: unknown): void;
  now?(): number;
}

/**
 * Turns a run's events into history records and appends them in batches. record() only formats and
 * holds a line (cheap, on the worker's event path); appends run one at a time in the background,
 * flush() waits for them.
 */
export class HistoryRecorder {
  private held: string[] = [];
  private chain: Promise<void> = Promise.resolve();
  private lastFlush: number;
  private chunk: number;
  private chunkSize: number;
  private last: RunPoint = { stage: 0, step: 0, done: false };
  /** The newest distances not yet written, and the step the last snapshot was taken at. */
  private pendingDistances: Extract<HistoryRecord, { k: 'distances' }> | null = null;
  private lastSnapshotStep = -Infinity;
  private stageSteps = 0;
  private failing = false;
  private readonly o: Required<Omit<RecorderOptions, 'onError'>> & Pick<RecorderOptions, 'onError'>;

  private constructor(private readonly files: RunFiles, chunk: number, chunkSize: number, o: RecorderOptions) {
    this.o = { maxBuffered: 500, flushEveryMs: 10_000, chunkBytes: 1 << 20, distanceSnapshots: 50, now: () => Date.now(), ...o };
    this.chunk = chunk;
    this.chunkSize = chunkSize;
    this.lastFlush = this.o.now();
  }

  /** A recorder that appends after whatever history `files` already holds. */
  static async open(files: RunFiles, o: RecorderOptions = {}): Promise<HistoryRecorder> {
    const chunks = (await files.list()).map((n) => CHUNK_RE.exec(n)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1]));
    const last = chunks.length ? Math.max(...chunks) : 0;
    return new HistoryRecorder(files, last, (await files.size(chunkName(last))) ?? 0, o);
  }

  /** A resumed session begins at `point`: what was logged past it is superseded. */
  resumed(point: RunPoint): void {
    this.last = point;
    this.lastSnapshotStep = -Infinity;
    this.hold({ k: 'resume', point, at: this.o.now() });
  }

  /** A session that opened the run at `point` without continuing it (to evaluate or export it). */
  at(point: RunPoint): void {
    this.last = point;
  }

  record(e: RunEvent): void {
    const at = this.o.now();
    switch (e.type) {
      case 'step': {
        const r: HistoryRecord = {
          k: 'step', stage: e.stage, step: e.step, steps: e.steps, tokens: e.tokens, loss: e.loss, gradNorm: e.gradNorm, tokensPerS: e.tokensPerS,
          elapsedS: e.elapsedS, runElapsedS: e.runElapsedS, lr: e.lr, at,
        };
        this.last = { stage: e.stage, step: e.step, done: false };
        this.stageSteps = e.steps;
        this.hold(r);
        if (at - this.lastFlush >= this.o.flushEveryMs) void this.drain();
        return;
      }
      case 'distances': {
        // Distances follow their step's record; a stage keeps about `distanceSnapshots` of them, evenly
        // spaced, and the newest is held so that the stage's last state is written at its end or save.
        if (this.last.stage === 0) return;
        const d: HistoryRecord = { k: 'distances', stage: this.last.stage, step: this.last.step, layers: e.layers, heads: e.heads, values: Array.from(e.values, (v) => (Number.isFinite(v) ? v : null)), at };
        const every = Math.max(1, Math.ceil(this.stageSteps / this.o.distanceSnapshots));
        if (d.step - this.lastSnapshotStep >= every) this.writeDistances(d);
        else this.pendingDistances = d;
        return;
      }
      case 'stage':
        if (e.state === 'started') this.lastSnapshotStep = -Infinity;
        else {
          this.writePendingDistances();
          this.last = { stage: e.stage, step: e.steps, done: true };
        }
        this.hold({ k: 'stage', stage: e.stage, state: e.state, steps: e.steps, tokens: e.tokens, at });
        if (e.state !== 'started') void this.flush();
        return;
      case 'checkpoint':
        this.last = { stage: e.stage, step: e.step, done: e.stageDone };
        this.hold({ k: 'checkpoint', stage: e.stage, step: e.step, stageDone: e.stageDone, tokens: e.tokens, at });
        void this.flush();
        return;
      case 'eval':
        this.hold({ k: 'eval', stage: e.stage, teacherNll: e.teacherNll, studentNll: e.studentNll, tokens: e.tokens, point: { ...this.last }, at });
        void this.flush();
        return;
      default:
        return;
    }
  }

  private writeDistances(d: Extract<HistoryRecord, { k: 'distances' }>): void {
    this.pendingDistances = null;
    this.lastSnapshotStep = d.step;
    this.hold(d);
  }

  private writePendingDistances(): void {
    if (this.pendingDistances) this.writeDistances(this.pendingDistances);
  }

  private hold(r: HistoryRecord): void {
    const line = JSON.stringify(r);
    this.held.push(line);
    if (this.held.length >= this.o.maxBuffered) void this.drain();
  }

  /** Appends what is held, in the background, after any append already under way. */
  private drain(): Promise<void> {
    if (this.held.length > 0) {
      const lines = this.held;
      this.held = [];
      this.lastFlush = this.o.now();
      this.chain = this.chain.then(() => this.append(lines));
    }
    return this.chain;
  }

  /** Appends everything held, the newest distances included; resolves once it is on disk. */
  flush(): Promise<void> {
    this.writePendingDistances();
    return this.drain();
  }

  /** Runs `read` after every append asked for so far (a browser may refuse to read a file being appended to). */
  after<T>(read: () => Promise<T>): Promise<T> {
    const r = this.chain.then(read);
    this.chain = r.then(
      () => {},
      () => {},
    );
    return r;
  }

  private async append(lines: string[]): Promise<void> {
    const text = lines.join('\n') + '\n';
    const bytes = new TextEncoder().encode(text);
    try {
      if (this.chunkSize > 0 && this.chunkSize + bytes.length > this.o.chunkBytes) {
        this.chunk += 1;
        this.chunkSize = 0;
      }
      await this.files.append(chunkName(this.chunk), bytes);
      this.chunkSize += bytes.length;
      this.failing = false;
    } catch (e) {
      if (!this.failing) this.o.onError?.(e);
      this.failing = true;
    }
  }
}
