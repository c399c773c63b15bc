// Every run the browser keeps, each in its own folder of the OPFS (mohawk-checkpoints/runs/<id>/):
// its checkpoint (./checkpoint.ts), its history (./history.ts) and run.json, a small record of what
// the run is (teacher, corpus, plan, where it stands, whether its student was exported) that lists it
// without opening its tensors. Folders of the layout before runs were kept apart, one per teacher
// fingerprint (mohawk-checkpoints/<fingerprint>/ with a state.json), are listed as runs too, with a
// record made from their checkpoint's state.
import { isNotFound, opfsDirectory, opfsStore, peekCheckpoint, STATE_FILE, type OpfsRoot, type RunFiles } from './checkpoint';
import type { DistillPlan, Stage } from './plan';
import { runName, type RunState } from './run';

export const RUN_FILE = 'run.json';
const RUNS_DIR = 'runs';
const LEGACY = 'legacy-';
const FORMAT = 'mohawk-run';
const VERSION = 1;

/** What a run last did: a record written by a session that ended without saying so reads 'running' or 'paused'. */
export type RunStatus = 'running' | 'paused' | 'stopped' | 'finished' | 'failed';

export interface RunRecord {
  format: typeof FORMAT;
  version: typeof VERSION;
  id: string;
  /** The run's name, which its exported files carry. */
  name: string;
  teacher: string;
  teacherFingerprint: string;
  corpus: string;
  /** ISO times: the run's start, and its last checkpoint (null before one). */
  created: string;
  lastSaved: string | null;
  /** Where its last checkpoint stands (stage null before one). */
  stage: Stage | null;
  step: number;
  stageDone: boolean;
  done: boolean;
  /** Tokens trained over all stages at the last checkpoint. */
  tokens: number;
  plan: DistillPlan;
  exported: boolean;
  status: RunStatus;
  lastEval: { stage: Stage | 0; teacherNll: number; studentNll: number; tokens: number } | null;
  /** Why a failed run failed. */
  error?: string;
  /** Kept in the folder of a teacher, as runs were before each had its own. */
  legacy?: boolean;
}

export interface RunLibrary {
  /** The ids of the runs kept, in no particular order. */
  ids(): Promise<string[]>;
  /** A run's folder (created on the first write). */
  files(id: string): RunFiles;
  /** Removes the run's folder and everything in it. */
  remove(id: string): Promise<void>;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** A new run's id: its start (UTC, to the second) and a random tail, so that ids sort by age and never collide. */
export function newRunId(now = new Date()): string {
  const t = `${now.getUTCFullYear()}${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())}-${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}${pad(now.getUTCSeconds())}`;
  const tail = Array.from(globalThis.crypto.getRandomValues(new Uint8Array(3)), (b) => b.toString(16).padStart(2, '0')).join('');
  return `${t}-${tail}`;
}

/** The runs under mohawk-checkpoints/ of the OPFS (`root` for tests: an OPFS of their own). */
export function opfsRunLibrary(root?: OpfsRoot): RunLibrary {
  const where = (id: string): string[] => (id.startsWith(LEGACY) ? [id.slice(LEGACY.length)] : [RUNS_DIR, id]);
  return {
    async ids() {
      const base = await opfsDirectory([], root);
      const ids: string[] = [];
      for await (const [name, h] of base.entries()) {
        if (h.kind !== 'directory') continue;
        if (name === RUNS_DIR) {
          for await (const [id, r] of (await base.getDirectoryHandle(RUNS_DIR)).entries()) if (r.kind === 'directory') ids.push(id);
          continue;
        }
        // An old teacher folder counts while it holds a checkpoint.
        if ((await opfsStore([name], root).size(STATE_FILE)) !== null) ids.push(`${LEGACY}${name}`);
      }
      return ids;
    },
    files: (id) => opfsStore(where(id), root),
    async remove(id) {
      const path = where(id);
      const parent = await opfsDirectory(path.slice(0, -1), root);
      await parent.removeEntry(path[path.length - 1]!, { recursive: true }).catch((e) => {
        if (!isNotFound(e)) throw e;
      });
    },
  };
}

export function isRecord(j: unknown): j is RunRecord {
  const r = j as Partial<RunRecord> | null;
  return !!r && r.format === FORMAT && r.version === VERSION && typeof r.id === 'string' && typeof r.name === 'string' && typeof r.plan === 'object' && r.plan !== null;
}

/** A fresh run's record. */
export function newRecord(r: { id: string; name: string; teacher: string; teacherFingerprint: string; corpus: string; plan: DistillPlan; created?: string }): RunRecord {
  return {
    format: FORMAT, version: VERSION, id: r.id, name: r.name, teacher: r.teacher, teacherFingerprint: r.teacherFingerprint, corpus: r.corpus,
    created: r.created ?? new Date().toISOString(), lastSaved: null, stage: null, step: 0, stageDone: false, done: false, tokens: 0, plan: r.plan,
    exported: false, status: 'running', lastEval: null,
  };
}

const sumTokens = (t: Partial<Record<Stage, number>> | undefined) => Object.values(t ?? {}).reduce<number>((a, b) => a + (Number(b) || 0), 0);

/** The record a checkpoint's state implies (a run of the old layout, or one whose run.json was lost). */
export function recordFromState(id: string, st: Partial<RunState>, savedAtMs: number, legacy: boolean): RunRecord | null {
  if (!st.plan || typeof st.teacher !== 'string') return null;
  const saved = new Date(Number.isFinite(savedAtMs) ? savedAtMs : Date.now()).toISOString();
  const created = typeof st.startedAt === 'string' ? st.startedAt : saved;
  return {
    ...newRecord({ id, name: st.name ?? runName(st.teacher, created), teacher: st.teacher, teacherFingerprint: String(st.teacherFingerprint ?? ''), corpus: String(st.corpus ?? ''), plan: st.plan, created }),
    lastSaved: saved,
    stage: st.stage ?? null,
    step: st.step ?? 0,
    stageDone: !!st.stageDone,
    done: !!st.done,
    tokens: sumTokens(st.tokensDone),
    status: st.done ? 'finished' : 'stopped',
    ...(legacy ? { legacy: true } : {}),
  };
}

/** The run's record: its run.json, else one made from its checkpoint; null for a folder that holds neither. */
export async function readRecord(lib: RunLibrary, id: string): Promise<RunRecord | null> {
  const files = lib.files(id);
  const bytes = await files.read(RUN_FILE);
  if (bytes) {
    try {
      const j: unknown = JSON.parse(new TextDecoder().decode(bytes));
      if (isRecord(j)) return { ...j, id, ...(id.startsWith(LEGACY) ? { legacy: true } : {}) };
    } catch {
      // Unreadable (cut short): the checkpoint still says what the run is.
    }
  }
  const p = await peekCheckpoint(files);
  return p ? recordFromState(id, p.state as Partial<RunState>, p.savedAt, id.startsWith(LEGACY)) : null;
}

export async function writeRecord(lib: RunLibrary, r: RunRecord): Promise<void> {
  const { legacy: _legacy, ...rest } = r;
  await lib.files(r.id).write(RUN_FILE, new TextEncoder().encode(JSON.stringify(rest)));
}

/** The bytes a run's files take. */
export async function runBytes(files: RunFiles): Promise<number> {
  let total = 0;
  for (const n of await files.list()) total += (await files.size(n)) ?? 0;
  return total;
}

export interface StoredRun {
  record: RunRecord;
  bytes: number;
  /** A checkpoint to resume, evaluate or export from. */
  hasCheckpoint: boolean;
}

/** Every run kept, newest first; a folder that is no run (no record, no checkpoint) is left out. */
export async function listRuns(lib: RunLibrary): Promise<StoredRun[]> {
  const out: StoredRun[] = [];
  for (const id of await lib.ids()) {
    const record = await readRecord(lib, id).catch(() => null);
    if (!record) continue;
    const files = lib.files(id);
    out.push({ record, bytes: await runBytes(files), hasCheckpoint: (await files.size(STATE_FILE)) !== null });
  }
  return out.sort((a, b) => (a.record.created < b.record.created ? 1 : a.record.created > b.record.created ? -1 : a.record.id < b.record.id ? 1 : -1));
}
