// `mohawk distill`: a whole MOHAWK run in Node (issue 5), the same Distiller the page drives. Scripts
// depend on its flags and its --json lines: one {"stage","step","tokens","loss","tokens_per_s"} per
// optimizer step, then {"done":true,"held_out":{"teacher_nll","student_nll"}}. The run keeps a
// checkpoint in OUT/checkpoint (stage ends, every --save-every seconds, and on SIGINT/SIGTERM) that
// --resume continues from; the student is written into OUT in the layout `mohawk eval` loads.
import { statusLine } from '../status-line';
import { mkdir, mkdtemp, open, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { parseFlags, UsageError, type Flags } from '../args';
import type { Command } from '../command';
import { Gpu } from '../../gpu/runtime';
import type { ArchConfig } from '../../io/config';
import { corpusBytes, openCorpusStore, type CorpusStore } from '../../io/corpus-store';
import { nodeDirFileSet } from '../../io/files';
import { piecesOf } from '../../io/bytes';
import { nodeFlatFile } from '../../io/flat-file';
import { loadTeacher } from '../../models/teacher';
import { folderStore, loadCheckpoint, peekCheckpoint, STATE_FILE, type CheckpointStore } from '../../mohawk/checkpoint';
import { ADVISOR_METHODS, type AdvisorMethod, checkPlanAgainstConfig, DEFAULT_PLAN, PACKINGS, PLAN_FIELD_NAMES, PlanError, RECOMPUTE_ABOVE_BYTES, RECOMPUTES, recomputes, TEACHER_ATTENTIONS, type Packing, type Recompute, type TeacherAttention, splitTokens, STAGE_NAMES, tokensPerStep, validatePlan, type DistillPlan, type PerStage, type PlanField, type Stage } from '../../mohawk/plan';
import { printEstimate } from '../estimate';
import { checkResume, Run, teacherFilesFingerprint, type RunEvent, type RunState } from '../../mohawk/run';
import { adviceRecord, EVEN_MARGIN, klGains, PROBE3_SHARE, relativeResiduals, WARM_SHARE, type HybridAdvice } from '../../mohawk/hybrid-advisor';
import { corpusModeFor, stagePrefixes, STREAM_BYTES, TokenStream, type CorpusMode } from '../../mohawk/token-stream';
import { duration, loss as fmtLoss, tokens as fmtTokens } from '../../util/format';
import { CORPUS_FLAGS, corpusFilesFromFlag, corpusLine, corpusReadOptions, DATA_HELP } from '../data-files';
import { TOKEN_CACHE_FLAG, tokenCache, tokenizePool } from '../tokenize-workers';

export const distillFlags = {
  teacher: { type: 'string', help: 'teacher folder: config.json, *.safetensors, tokenizer.json', required: true },
  data: { type: 'list', help: `training corpus: ${DATA_HELP}`, required: true },
  ...CORPUS_FLAGS,
  ...TOKEN_CACHE_FLAG,
  out: { type: 'string', help: 'folder for the student (model.safetensors, config.json, tokenizer) and checkpoint/ (required, except with --estimate)' },
  stages: { type: 'string', help: 'stages to run, in order (default 1,2,3; e.g. 1,3 or 3)' },
  tokens: {
    type: 'string',
    help:
      'token budget per stage, "1:80k,2:160k,3:2.76M" (k, M, G suffixes), or one total split 80:160:2760 ' +
      'over the stages run; a stage left out of the list scales with the listed ones in those proportions ' +
      '(default 80k, 160k, 2.76M)',
  },
  seq: { type: 'string', help: `sequence length (default ${DEFAULT_PLAN.seqLen}; at most the teacher's positions)` },
  batch: { type: 'string', help: `sequences per micro-batch (default ${DEFAULT_PLAN.batch})` },
  accumulate: { type: 'string', help: `micro-batches per optimizer step (default ${DEFAULT_PLAN.accumulate})` },
  lr: { type: 'string', help: `peak learning rate per stage, "1:1e-3,3:3e-4", or one rate for all (default 1:${DEFAULT_PLAN.lr[1]},2:${DEFAULT_PLAN.lr[2]},3:${DEFAULT_PLAN.lr[3]}; unlisted stages keep theirs)` },
  'attention-layers': {
    type: 'string',
    help:
      'layers that keep the teacher attention, e.g. 0,3 (a hybrid student; default none), or auto:K: after stage 2 (without one, a short probe of stages 1-2) ' +
      'the hybrid advisor ranks the layers by their stage-2 residual (relative to the attention output it fits) and a leave-one-out held-out KL, puts up to 4 candidate sets of K layers ' +
      "(the ranking's top K, evenly spaced, the top K by relative residual, the last K) and decides among them by --advisor-method, and stage 3 trains with the chosen set as attention " +
      '(the choice and its evidence go to OUT/config.json as "hybrid_advisor", and with --json to a stdout line)',
  },
  'advisor-method': {
    type: 'string',
    help:
      `how auto:K decides among its candidate layer sets: sets trains a copy of the stage-2 student through a short stage 3 (${100 * PROBE3_SHARE}% of its steps) once per set and keeps the set that ends closest to the teacher; ` +
      `greedy (default) trains one copy with every layer a mixer through ${100 * WARM_SHARE}% of stage 3, then restores layers to attention one at a time, each the one that lowers its held-out KL the most (KL-guided layer selection), ` +
      `the candidate sets measured on it too, and keeps the lowest. Either keeps evenly spaced placement unless another set's KL is ${100 * EVEN_MARGIN}% lower. Either probe runs when it takes at most a quarter of stage 3 (else the ranking chooses); its tokens come on top of the plan's`,
  },
  warmup: { type: 'string', help: `fraction of each stage's steps warming up (default ${DEFAULT_PLAN.warmup})` },
  decay: { type: 'string', help: `fraction of each stage's steps decaying to 10% (default ${DEFAULT_PLAN.decay})` },
  'max-grad-norm': { type: 'string', help: `gradient clipping norm (default ${DEFAULT_PLAN.maxGradNorm})` },
  'weight-decay': { type: 'string', help: `AdamW weight decay (default ${DEFAULT_PLAN.weightDecay})` },
  temperature: { type: 'string', help: `stage 3 soft cross-entropy temperature (default ${DEFAULT_PLAN.temperature})` },
  'freeze-mlp': { type: 'boolean', help: 'stage 3: keep the MLPs copied from the teacher frozen' },
  seed: { type: 'string', help: `seed of the student's initialisation and of the corpus sampler (default ${DEFAULT_PLAN.seed})` },
  packing: {
    type: 'string',
    help: 'how sequences meet documents: across (default: windows anywhere in the documents back to back, each with the BOS/EOS its tokenizer places) or within (each sequence inside one document; shorter ones are not trained on)',
  },
  recompute: {
    type: 'string',
    help:
      'stage 3 activation memory: on keeps one layer\'s activations and recomputes each block\'s in the backward (less GPU memory, slower steps, the same training), ' +
      `off keeps every layer's, auto (default) recomputes when the plan's estimate without it is over ${RECOMPUTE_ABOVE_BYTES / 2 ** 30} GiB`,
  },
  'teacher-attention': {
    type: 'string',
    help:
      "precision of the frozen teacher's attention inputs: f32 (default) or f16, which reads f16 copies of its q, k and v (half the bytes for keys and values; " +
      'products and sums stay f32) and needs an adapter with shader-f16 (Chrome on most consumer GPUs; not SwiftShader, nor Dawn on NVIDIA\'s Vulkan driver)',
  },
  'stream-layers': {
    type: 'boolean',
    help: 'stages 1 and 2 hold one layer of teacher and student on the GPU at a time (slower; for a teacher that does not fit), and the held-out evaluation one model at a time. Stage 3 still needs both whole models on the GPU',
  },
  'gpu-memory': {
    type: 'string',
    help: 'GiB of GPU memory the run may take (what the card has less what its driver keeps: about 22 on a 24 GB card); a plan whose estimate is over it is refused before it starts, saying what would make it fit (default: not checked)',
  },
  docs: { type: 'string', help: 'use only the first K documents of --data (default all)' },
  'held-out': { type: 'string', help: 'fraction of the documents (the last ones) never trained on (default 0.1)' },
  'eval-docs': { type: 'string', help: 'held-out documents the final NLL is measured on (default 50)' },
  'eval-tokens': { type: 'string', help: 'truncate each of them to N tokens, BOS included (default 256)' },
  'save-every': { type: 'string', help: 'seconds between checkpoints besides stage ends (default 300; 0: every step)' },
  'log-every': { type: 'string', help: 'without --json: a progress line every N steps (default: about 20 per stage)' },
  'stop-grace': {
    type: 'string',
    help: 'seconds Ctrl-C or SIGTERM waits for the step in flight before quitting without a new checkpoint (default 10; a checkpoint being written is always finished, and releasing the GPU waits for the work already queued on it)',
  },
  resume: {
    type: 'boolean',
    help: 'continue from OUT/checkpoint (saved at stage ends, every --save-every seconds, and on Ctrl-C or SIGTERM, which stop after the current step with exit 130); give the first run\'s plan flags',
  },
  estimate: {
    type: 'boolean',
    help:
      'measure what the plan costs on this adapter (a few timed steps of each stage on a throwaway student, one timed evaluation), ' +
      'print the time and GPU memory per stage and in all, and exit: nothing is trained or written. With --json the last stdout line is ' +
      '{"stages":{"1":{"steps","seconds","peakBytes"},…},"totalSeconds","peakBytes"}',
  },
  profile: {
    type: 'boolean',
    help:
      'with --estimate: 3 more steps of each stage with every GPU op timed on its own, and a table per stage of where the GPU time goes, by kernel ' +
      '(with --json, "profile":{"1":[{"label","ms","count","share"},…],…} in the last line); needs an adapter with timestamp-query',
  },
  json: {
    type: 'boolean',
    help:
      'stdout: {"stage","step","tokens" (the stage\'s so far),"loss","tokens_per_s"} per optimizer step; with --attention-layers auto:K, before stage 3, ' +
      '{"attention_layers":[…],"hybrid_advisor":{"k","chosen","scores","candidates":[{"attention_layers","source","probe_kl"}],"evidence":{…}}}; then {"done":true,"held_out":{"teacher_nll","student_nll"}} (nats/token); all else on stderr',
  },
} as const;

const STAGES: readonly Stage[] = [1, 2, 3];

/**
 * Overrides STREAM_BYTES, the corpus size (bytes of its files) over which training starts before the
 * whole corpus is tokenized: for tests, which cannot afford a corpus of 64 MiB.
 */
export const STREAM_BYTES_ENV = 'MOHAWK_STREAM_BYTES';

export function streamThreshold(): number {
  const v = process.env[STREAM_BYTES_ENV];
  if (v === undefined || v === '') return STREAM_BYTES;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${STREAM_BYTES_ENV}=${v} is not a number of bytes`);
  return n;
}
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const usage = (m: string): never => {
  throw new UsageError(`mohawk distill: ${m}`);
};

const MULT: Record<string, number> = { '': 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, B: 1e9 };

/** "80000", "80k", "2.76M", "1e6": a whole, positive token count. */
export function parseCount(s: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?(?:e\d+)?)([kKMGB]?)$/.exec(s.trim().replace(/_/g, ''));
  const v = m ? Number(m[1]) * MULT[m[2]!]! : NaN;
  const n = Math.round(v);
  if (!(n >= 1) || !Number.isSafeInteger(n) || Math.abs(v - n) > 1e-9 * n) usage(`${flag}: "${s}" is not a whole number of tokens ≥ 1 (e.g. 2000, 80k, 2.76M)`);
  return n;
}

function parseNumber(s: string, flag: string, ok: (x: number) => boolean, what: string): number {
  const x = s.trim() === '' ? NaN : Number(s);
  if (!Number.isFinite(x) || !ok(x)) usage(`${flag} must be ${what}, got "${s}"`);
  return x;
}

const int = (f: Flags, name: string, dflt: number, min: number): number =>
  f[name] === undefined ? dflt : parseNumber(f[name] as string, `--${name}`, (x) => Number.isInteger(x) && x >= min, `an integer ≥ ${min}`);
const num = (f: Flags, name: string, dflt: number, ok: (x: number) => boolean, what: string): number =>
  f[name] === undefined ? dflt : parseNumber(f[name] as string, `--${name}`, ok, what);

/** "1:v,3:w" as a map stage → raw value; `null` for a single value without a stage. */
function stageList(s: string, flag: string, stages: readonly Stage[]): Map<Stage, string> | null {
  if (!s.includes(':')) return null;
  const out = new Map<Stage, string>();
  for (const part of s.split(',')) {
    const m = /^\s*([123])\s*:\s*(\S+)\s*$/.exec(part);
    if (!m) usage(`${flag}: "${part}" is not STAGE:VALUE with STAGE 1, 2 or 3 (e.g. ${flag} 1:80k,2:160k,3:2.76M)`);
    const st = Number(m![1]) as Stage;
    if (out.has(st)) usage(`${flag} gives stage ${st} twice`);
    if (!stages.includes(st)) usage(`${flag} gives stage ${st}, which --stages (${stages.join(',')}) does not run`);
    out.set(st, m![2]!);
  }
  return out;
}

function parseStages(s: string | undefined): Stage[] {
  if (s === undefined) return [...DEFAULT_PLAN.stages];
  const parts = s.split(',').map((x) => x.trim());
  const out: Stage[] = [];
  for (const p of parts) {
    if (!/^[123]$/.test(p)) usage(`--stages: "${p}" is not a stage (1, 2 or 3)`);
    const st = Number(p) as Stage;
    if (out.includes(st)) usage(`--stages lists stage ${st} twice`);
    if (out.length && st < out[out.length - 1]!) usage(`--stages must be in increasing order (the stages build on each other), got ${s}`);
    out.push(st);
  }
  return out;
}

function parseTokens(s: string | undefined, stages: readonly Stage[]): PerStage<number> {
  const dflt = DEFAULT_PLAN.tokens;
  const out: PerStage<number> = { 1: 0, 2: 0, 3: 0 };
  if (s === undefined) {
    for (const st of stages) out[st] = dflt[st];
    return out;
  }
  const list = stageList(s, '--tokens', stages);
  if (!list) return splitTokens(parseCount(s, '--tokens'), stages, dflt);
  let given = 0;
  let base = 0;
  for (const [st, v] of list) {
    out[st] = parseCount(v, `--tokens (stage ${st})`);
    given += out[st];
    base += dflt[st];
  }
  for (const st of stages) if (!list.has(st)) out[st] = Math.max(1, Math.round((dflt[st] * given) / base));
  return out;
}

function parseLr(s: string | undefined, stages: readonly Stage[]): PerStage<number> {
  const out = { ...DEFAULT_PLAN.lr };
  if (s === undefined) return out;
  const inRange = (x: number) => x > 0 && x < 1;
  const list = stageList(s, '--lr', stages);
  if (!list) {
    const x = parseNumber(s, '--lr', inRange, 'a learning rate in (0, 1)');
    for (const st of STAGES) out[st] = x;
    return out;
  }
  for (const [st, v] of list) out[st] = parseNumber(v, `--lr (stage ${st})`, inRange, 'a learning rate in (0, 1)');
  return out;
}

/** --attention-layers: "i,j" (the layers), or "auto:K" (the hybrid advisor chooses K; no layers named). */
function parseLayers(s: string | undefined): { layers: number[]; auto: number | null } {
  const auto = s === undefined ? null : /^\s*auto\s*:\s*(.*)$/.exec(s);
  if (auto) {
    const k = auto[1]!.trim();
    if (!/^\d+$/.test(k) || Number(k) < 1) usage(`--attention-layers auto:K takes a whole number K ≥ 1 of layers to keep, got "${s}" (e.g. auto:2)`);
    return { layers: [], auto: Number(k) };
  }
  return { layers: parseLayerList(s), auto: null };
}

function parseLayerList(s: string | undefined): number[] {
  if (s === undefined) return [];
  const out: number[] = [];
  for (const p of s.split(',').map((x) => x.trim())) {
    if (!/^\d+$/.test(p)) usage(`--attention-layers: "${p}" is not a layer index (0, 1, ...)`);
    const l = Number(p);
    if (out.includes(l)) usage(`--attention-layers lists layer ${l} twice`);
    out.push(l);
  }
  return out.sort((a, b) => a - b);
}

function parsePacking(s: string | undefined): Packing {
  if (s === undefined) return DEFAULT_PLAN.packing!;
  if (!(PACKINGS as readonly string[]).includes(s)) usage(`--packing must be one of ${PACKINGS.join(', ')}, got "${s}"`);
  return s as Packing;
}

function parseTeacherAttention(s: string | undefined): TeacherAttention {
  if (s === undefined) return DEFAULT_PLAN.teacherAttention!;
  if (!(TEACHER_ATTENTIONS as readonly string[]).includes(s)) usage(`--teacher-attention must be one of ${TEACHER_ATTENTIONS.join(', ')}, got "${s}"`);
  return s as TeacherAttention;
}

function parseAdvisorMethod(s: string | undefined): AdvisorMethod {
  if (s === undefined) return DEFAULT_PLAN.advisorMethod!;
  if (!(ADVISOR_METHODS as readonly string[]).includes(s)) usage(`--advisor-method must be one of ${ADVISOR_METHODS.join(', ')}, got "${s}"`);
  return s as AdvisorMethod;
}

function parseRecompute(s: string | undefined): Recompute {
  if (s === undefined) return DEFAULT_PLAN.recompute!;
  if (!(RECOMPUTES as readonly string[]).includes(s)) usage(`--recompute must be one of ${RECOMPUTES.join(', ')}, got "${s}"`);
  return s as Recompute;
}

export interface DistillOptions {
  plan: DistillPlan;
  /** Documents of --data used (undefined: all). */
  docs?: number;
  heldOut: number;
  evalDocs: number;
  evalTokens: number;
  saveEveryS: number;
  logEvery?: number;
  stopGraceS: number;
}

/** The plan and run options the flags ask for; every bad value is a UsageError naming its flag. */
export function optionsFromFlags(f: Flags): DistillOptions {
  const stages = parseStages(f.stages as string | undefined);
  const layers = parseLayers(f['attention-layers'] as string | undefined);
  const frac = (x: number) => x >= 0 && x <= 1;
  const plan: DistillPlan = {
    stages,
    tokens: parseTokens(f.tokens as string | undefined, stages),
    lr: parseLr(f.lr as string | undefined, stages),
    seqLen: int(f, 'seq', DEFAULT_PLAN.seqLen, 2),
    batch: int(f, 'batch', DEFAULT_PLAN.batch, 1),
    accumulate: int(f, 'accumulate', DEFAULT_PLAN.accumulate, 1),
    warmup: num(f, 'warmup', DEFAULT_PLAN.warmup, frac, 'a fraction in [0, 1]'),
    decay: num(f, 'decay', DEFAULT_PLAN.decay, frac, 'a fraction in [0, 1]'),
    maxGradNorm: num(f, 'max-grad-norm', DEFAULT_PLAN.maxGradNorm, (x) => x > 0, 'a norm > 0'),
    weightDecay: num(f, 'weight-decay', DEFAULT_PLAN.weightDecay, (x) => x >= 0 && x < 1, 'in [0, 1)'),
    temperature: num(f, 'temperature', DEFAULT_PLAN.temperature, (x) => x > 0, 'a temperature > 0'),
    freezeMlp: f['freeze-mlp'] === true,
    attentionLayers: layers.layers,
    attentionAuto: layers.auto,
    seed: int(f, 'seed', DEFAULT_PLAN.seed, 0),
    streamLayers: f['stream-layers'] === true,
    packing: parsePacking(f.packing as string | undefined),
    recompute: parseRecompute(f.recompute as string | undefined),
    teacherAttention: parseTeacherAttention(f['teacher-attention'] as string | undefined),
    advisorMethod: parseAdvisorMethod(f['advisor-method'] as string | undefined),
    ...(f['gpu-memory'] === undefined ? {} : { gpuMemoryGiB: num(f, 'gpu-memory', 0, (x) => x > 0, 'a number of GiB > 0') }),
  };
  if (f['advisor-method'] !== undefined && !layers.auto) usage('--advisor-method says how --attention-layers auto:K chooses its layers: give auto:K, or leave --advisor-method out');
  if (plan.warmup + plan.decay > 1) usage(`--warmup ${plan.warmup} and --decay ${plan.decay} add up to more than the whole stage`);
  return {
    plan,
    docs: f.docs === undefined ? undefined : int(f, 'docs', 0, 2),
    heldOut: num(f, 'held-out', 0.1, (x) => x > 0 && x < 1, 'a fraction in (0, 1)'),
    evalDocs: int(f, 'eval-docs', 50, 1),
    evalTokens: int(f, 'eval-tokens', 256, 2),
    saveEveryS: num(f, 'save-every', 300, (x) => x >= 0, 'a number of seconds ≥ 0'),
    logEvery: f['log-every'] === undefined ? undefined : int(f, 'log-every', 1, 1),
    stopGraceS: num(f, 'stop-grace', 10, (x) => x >= 0, 'a number of seconds ≥ 0'),
  };
}

/** The plan's fields as the flags that set them, for messages about a plan (validatePlan, a resumed checkpoint's). */
export const FIELD_FLAG: Record<PlanField, string> = {
  ...PLAN_FIELD_NAMES,
  stages: '--stages',
  tokens: '--tokens',
  lr: '--lr',
  seqLen: '--seq',
  batch: '--batch',
  accumulate: '--accumulate',
  warmup: '--warmup',
  decay: '--decay',
  maxGradNorm: '--max-grad-norm',
  weightDecay: '--weight-decay',
  temperature: '--temperature',
  freezeMlp: '--freeze-mlp',
  attentionLayers: '--attention-layers',
  attentionAuto: '--attention-layers',
  seed: '--seed',
  packing: '--packing',
  recompute: '--recompute',
  streamLayers: '--stream-layers',
  gpuMemoryGiB: '--gpu-memory',
  teacherAttention: '--teacher-attention',
  advisorMethod: '--advisor-method',
};

const isDir = (p: string) => stat(p).then((s) => s.isDirectory(), () => false);

/**
 * Whether files can be made in `out` (or, before it exists, in its nearest existing parent, where it
 * will be made): a folder is made there and removed again, since permission bits alone do not tell
 * (root passes every access check, and /proc refuses anyway). Nothing is left behind.
 */
async function checkWritable(out: string, given: string): Promise<void> {
  let dir = out;
  while (!(await stat(dir).then(() => true, () => false)) && dirname(dir) !== dir) dir = dirname(dir);
  try {
    await rm(await mkdtemp(join(dir, '.mohawk-write-check-')), { recursive: true });
  } catch (e) {
    throw new Error(`--out ${given}: cannot write in ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); choose a folder you can write to`);
  }
}

export const command: Command = {
  name: 'distill',
  summary: 'distill a Transformer teacher into a Mamba-2 student (MOHAWK, 3 stages)',
  synopsis: '--teacher DIR --data FILE… (--out DIR | --estimate) [--stages 1,2,3] [--tokens 1:N1,2:N2,3:N3] [--seq L] [--batch B] [--lr 1:…,2:…,3:…] [--attention-layers i,j|auto:K] [--resume] [--json]',
  flags: distillFlags,
  async run(argv) {
    const f = parseFlags(argv, distillFlags, 'distill');
    const opts = optionsFromFlags(f);
    const plan = opts.plan;
    const teacherDir = resolve(f.teacher as string);
    const data = f.data as string[];
    const estimate = f.estimate === true;
    if (f.out === undefined && !estimate) usage('--out is required (except with --estimate)');
    if (estimate && f.resume) usage('--estimate measures a new run of the plan: it does not go with --resume');
    if (f.profile && !estimate) usage('--profile goes with --estimate: it times the estimate\'s extra steps op by op');
    const out = resolve((f.out as string | undefined) ?? '.');
    const json = f.json === true;
    const { show, clear: clearLine, say } = statusLine(json);

    if (!(await isDir(teacherDir))) usage(`--teacher ${f.teacher} is not a folder`);
    if (!estimate && (await stat(out).then((s) => !s.isDirectory(), () => false))) usage(`--out ${f.out} is a file, not a folder`);
    if (!estimate) await checkWritable(out, f.out as string);
    const store: CheckpointStore = folderStore(join(out, 'checkpoint'));
    const hasCheckpoint = !estimate && (await store.read(STATE_FILE)) !== null;
    if (f.resume && !hasCheckpoint) throw new Error(`--resume: ${join(out, 'checkpoint')} holds no checkpoint to continue from (run without --resume to start)`);
    if (!f.resume && hasCheckpoint) {
      const p = await peekCheckpoint(store);
      const at = p ? ` (stage ${String(p.state.stage)}, step ${String(p.state.step)}, saved ${new Date(p.savedAt).toISOString()})` : '';
      throw new Error(`${out} already holds a checkpoint${at}: use --resume or another --out`);
    }

    const teacherFiles = await nodeDirFileSet(teacherDir);
    const teacherName = basename(teacherDir);
    const dataFiles = await corpusFilesFromFlag(data);
    const corpusName = dataFiles.name;
    const docs = opts.docs ?? null;
    let resumed: Partial<RunState> | null = null;
    if (f.resume) {
      // Checked before anything is loaded: a resumed run must be the run that was stopped.
      const p = await peekCheckpoint(store);
      resumed = (p?.state ?? null) as Partial<RunState> | null;
      // loadCheckpoint says what is wrong with a state.json that peekCheckpoint cannot read.
      if (!p) await loadCheckpoint(store);
      const expect = { plan, teacherFingerprint: await teacherFilesFingerprint(teacherFiles), teacherName, docs, heldOut: opts.heldOut, fieldNames: FIELD_FLAG };
      try {
        checkResume(p?.state, expect);
      } catch (e) {
        throw new Error(`--resume: ${(e as Error).message}. Give the first run's flags, or use another --out`);
      }
    }

    const dataLabel = `--data ${data.join(' ')}`;
    const read = { ...corpusReadOptions(f), maxDocs: opts.docs, label: dataLabel };

    const gpu = await Gpu.create({ notice: (l) => console.error(l) });
    const progress = (label: string, done: number, total: number) => {
      if (done >= total) return clearLine();
      show(`${label} ${((100 * done) / total).toFixed(0)}%`);
    };
    // Nothing goes to the GPU yet: the run uploads the teacher when its plan needs it whole.
    // The plan's sequence and layers are held to config.json before the weights are read.
    const checkConfig = (config: ArchConfig) => {
      try {
        checkPlanAgainstConfig(plan, config, FIELD_FLAG);
      } catch (e) {
        if (e instanceof PlanError) usage(e.message);
        throw e;
      }
    };
    // Local files, their headers checked against their sizes: each tensor is read where the run uses
    // it, not all once more up front (14.5 GB for a 7B teacher: minutes of silence before anything).
    const teacher = await loadTeacher(gpu, teacherFiles, teacherName, undefined, { upload: false, checkConfig, readAll: false });
    for (const w of teacher.summary.warnings) console.error(`warning: ${w}`);
    const c = teacher.config;
    // Read in slices and tokenized by worker threads into a compact token store, or the store an
    // earlier run made of the same files with the same tokenizer. A corpus over the streaming size is
    // trained on while it is tokenized (token-stream.ts); a resumed run reads its corpus as its
    // checkpoint did (one from before streaming: whole).
    const cache = tokenCache(f['token-cache'] as string | undefined);
    const bytes = corpusBytes(dataFiles.files);
    const threshold = streamThreshold();
    const mode: CorpusMode = resumed ? (resumed.corpusMode ?? 'whole') : corpusModeFor(bytes, threshold);
    const opened = await openCorpusStore({
      files: dataFiles.files,
      read,
      tokenizer: teacher.tokenizer,
      pool: () => tokenizePool(teacher.tokenizer),
      cache,
      onNotice: (t) => console.error(`warning: ${t}`),
      onProgress: (p) => {
        show(`tokenizing ${((100 * p.bytesDone) / Math.max(1, p.bytesTotal)).toFixed(0)}% of ${mb(p.bytesTotal)}: ${p.documents.toLocaleString('en-US')} documents, ${fmtTokens(p.tokens)} tokens, ${fmtTokens(Math.round(p.tokensPerS))} tokens/s`);
      },
    });
    const tokenized = (cs: CorpusStore) => {
      clearLine();
      const tokens = cs.store;
      console.error(corpusLine(corpusName, dataFiles.files, read.textColumn ?? 'text', tokens.documents, cs.notes.join('; ') || null));
      console.error(
        cs.reused
          ? `tokens reused from ${cache!.where} (${fmtTokens(tokens.tokens)} tokens, ${mb(tokens.bytes)})`
          : `tokenized ${fmtTokens(tokens.tokens)} tokens in ${cs.seconds.toFixed(1)} s (${fmtTokens(Math.round(tokens.tokens / Math.max(cs.seconds, 1e-3)))} tokens/s, ${cs.workers ? `${cs.workers} worker thread${cs.workers === 1 ? '' : 's'}` : 'on the main thread'}), stored as ${tokens.wide ? 'u32' : 'u16'} (${mb(tokens.bytes)})${cache ? ` in ${cache.where}` : ''}`,
      );
    };
    let corpus: TokenStream;
    if (mode === 'whole') {
      const cs = await opened.done;
      clearLine();
      if (cs.store.documents < 2) throw new Error(`${dataLabel} holds one document: a held-out one is needed besides the training text (separate documents with <|endoftext|> or blank lines)`);
      tokenized(cs);
      corpus = TokenStream.fromStore(cs.store, { heldOutFraction: opts.heldOut });
    } else {
      corpus = TokenStream.streaming(opened.fill, { heldOutFraction: opts.heldOut });
      if (!opened.reused) console.error(`corpus ${corpusName}: ${mb(bytes)}, over ${mb(threshold)}: each stage starts once its share is tokenized, and tokenizing goes on behind the run`);
      // Its failure reaches the run through the store (Run stops at the next step with a checkpoint).
      opened.done.then(tokenized, () => clearLine());
    }
    if (estimate) {
      try {
        // A streaming corpus still tokenizing: the measurement samples whatever is in (calibrate).
        const known = corpus.complete;
        const ctx = { trainTokens: known ? corpus.trainTokens : Infinity, longestTrainDoc: known ? corpus.longestTrainDoc : undefined };
        validatePlan(plan, { teacher: { config: c, parameters: teacher.summary.parameters, weightBytes: teacher.summary.weightBytes }, ...ctx, limits: gpu.info.limits, shaderF16: gpu.info.shaderF16 }, FIELD_FLAG);
      } catch (e) {
        if (e instanceof PlanError && e.field !== 'corpus' && e.field !== 'memory') usage(e.message);
        throw e;
      }
      return printEstimate({ gpu, teacher, corpus, plan, evaluation: { docs: opts.evalDocs, tokens: opts.evalTokens }, json, profile: f.profile === true });
    }

    // SIGINT/SIGTERM end the run after the step in flight, with a checkpoint. A step can take longer
    // than anyone waits (a large plan on a slow adapter): after --stop-grace seconds the process quits
    // with the last checkpoint written, unless one is being written, which is finished first. Ctrl-C
    // reaches this process twice (from the terminal and forwarded by bin/mohawk.mjs), so only a
    // signal well after the first one gives up at once.
    let stopAt = 0;
    let run: Run | null = null;
    let quitting = false;
    const quit = (why: string) => {
      quitting = true;
      const at = run?.lastCheckpoint;
      console.error(`mohawk distill: ${why}: quitting; ${at ? `the checkpoint in ${join(out, 'checkpoint')} (stage ${at.stage}, step ${at.step}) stays` : 'no checkpoint was written yet'}`);
      // Dawn crashes a process that exits with work still queued: the device goes first, and the
      // run, failing on it, ends the command (below).
      gpu.destroy();
    };
    const quitWhenInterruptible = (why: string) => {
      if (!run || run.interruptible) quit(why);
      else setTimeout(() => quitWhenInterruptible(why), 100).unref();
    };
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopAt === 0) {
        stopAt = Date.now();
        run?.stop();
        console.error(`\nmohawk distill: ${sig}: stopping after the current step and saving a checkpoint (signal again to quit without saving)`);
        setTimeout(() => quitWhenInterruptible(`the step in flight outlasted --stop-grace ${opts.stopGraceS} s`), opts.stopGraceS * 1000).unref();
      } else if (Date.now() - stopAt > 2000) {
        quitWhenInterruptible(`${sig} again`);
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    const logEvery = (total: number) => opts.logEvery ?? Math.max(1, Math.round(total / 20));
    const recompute = recomputes(plan, { config: c, parameters: teacher.summary.parameters, weightBytes: teacher.summary.weightBytes });
    const t0 = performance.now();
    let outcome: 'finished' | 'stopped';
    try {
      try {
        run = await Run.prepare({
          gpu,
          teacher,
          teacherFiles,
          teacherName,
          corpus,
          corpusName,
          docs,
          heldOut: opts.heldOut,
          plan,
          store,
          resume: f.resume === true,
          saveEveryS: opts.saveEveryS,
          evaluation: { docs: opts.evalDocs, tokens: opts.evalTokens, atStageEnds: false },
          tool: 'mohawk distill',
          fieldNames: FIELD_FLAG,
          disk: { where: `the disk of ${out}`, withExport: true, remedy: '--out on a disk with room' },
          // A plan of stages 1–2 alone keeps the student off the GPU: in this file, not the host's memory.
          hostStore: nodeFlatFile({ dir: out, name: SCRATCH_FILE }),
          onEvent: (e) => {
            switch (e.type) {
              case 'notice':
                clearLine();
                return console.error(e.text);
              case 'progress':
                return progress(e.label, e.done, e.total);
              case 'checkpoint':
                if (!e.stageDone) say(`checkpoint: stage ${e.stage}, step ${e.step}`);
                return;
              case 'stage':
                if (e.state === 'started') say(`stage ${e.stage} (${STAGE_NAMES[e.stage]}): ${e.steps} steps, ${fmtTokens(e.tokens)} tokens${plan.streamLayers && e.stage !== 3 ? ', layers streamed' : ''}${e.stage === 3 && recompute ? ', activations recomputed' : ''}`);
                else say(`stage ${e.stage} ${e.state}; GPU memory held at most ${e.gpuPeakBytes === undefined ? '?' : `${(e.gpuPeakBytes / 2 ** 20).toFixed(1)} MiB`} (buffers this run made)`);
                return;
              case 'advice':
                if (e.awaiting) return;
                if (json) return console.log(JSON.stringify({ attention_layers: e.advice.layers, hybrid_advisor: adviceRecord(e.advice) }));
                return say(adviceLines(e.advice).join('\n'));
              case 'step':
                if (json) return console.log(JSON.stringify({ stage: e.stage, step: e.step, tokens: e.tokens, loss: e.loss, tokens_per_s: e.tokensPerS }));
                if (e.step % logEvery(e.steps) !== 0 && e.step !== e.steps && e.step !== 1) return;
                clearLine();
                console.log(progressLine(e, plan.stages));
            }
          },
        });
      } catch (e) {
        // A plan that does not fit this teacher is a flag error, named by its flag; the corpus and memory are not.
        if (e instanceof PlanError && e.field !== 'corpus' && e.field !== 'memory') usage(e.message);
        if (f.resume) throw new Error(`--resume: ${(e as Error).message}`);
        throw e;
      }
      if (stopAt !== 0) run.stop();
      const steps = run.steps;
      say(`teacher ${teacherName}: ${c.modelType}, ${c.layers} layers, d ${c.dModel}, ${c.heads} heads, ${teacher.summary.parameters.toLocaleString('en-US')} parameters`);
      if (corpus.mode === 'whole') say(`corpus ${corpusName}: ${corpus.trainTokens.toLocaleString('en-US')} training tokens, ${corpus.heldOutCount} held-out documents`);
      else {
        const prefixes = stagePrefixes(run.plan);
        say(
          `corpus ${corpusName}: ${+(opts.heldOut * 100).toFixed(2)}% of the documents held out, spread over it; ` +
            `${run.plan.stages.map((st) => `stage ${st} samples its first ${fmtTokens(prefixes[st])} training tokens`).join(', ')} (or all there are)`,
        );
      }
      say(`plan: ${plan.stages.map((s) => `stage ${s} ${fmtTokens(plan.tokens[s])} tokens (${steps[s]} steps, lr ${plan.lr[s]})`).join(', ')}; ${tokensPerStep(plan)} tokens per step (seq ${plan.seqLen} × batch ${plan.batch} × ${plan.accumulate})`);
      if (run.from) say(`resuming at stage ${run.from.stage}, step ${run.from.step} of ${steps[run.from.stage]}`);
      outcome = await run.train().catch((e: unknown) => {
        if (quitting) return 'stopped' as const;
        if (e === corpus.failure) {
          const at = run!.lastCheckpoint;
          throw new Error(`${(e as Error).message} (found while the run trained on what came before); the run stopped: ${at ? `its checkpoint in ${join(out, 'checkpoint')} (stage ${at.stage}, step ${at.step}) stays` : 'no checkpoint was written yet'}`);
        }
        throw e;
      });
      if (quitting) return 130;
    } catch (e) {
      // A failed run's scratch file goes with it (a quit's goes at the process's exit).
      if (!quitting) await run?.release().catch(() => {});
      throw e;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    // A run that needed less than the whole corpus ends without waiting for the rest of it. One whose
    // corpus is all read waits for its token store to be kept (and said), which can come a moment
    // after the last tokens reached the run: exiting then would lose both.
    const cutShort = async () => {
      if (corpus.failure) return;
      if (corpus.complete) {
        await opened.done.catch(() => {});
        return;
      }
      clearLine();
      console.error(`tokenizing stopped with the run, after ${fmtTokens(corpus.trainTokens)} training tokens: the token cache keeps only whole corpora, so the next run tokenizes this one again`);
    };
    if (outcome !== 'finished') {
      await cutShort();
      const at = run.lastCheckpoint;
      const where = at ? `stage ${at.stage}, step ${at.step}` : 'nothing trained yet';
      console.error(`mohawk distill: stopped; checkpoint in ${join(out, 'checkpoint')} (${where}). Run the same command with --resume to continue.`);
      await run.release();
      return 130;
    }
    say(`training done in ${duration((performance.now() - t0) / 1000)}`);

    const files = await run.studentFiles();
    await mkdir(out, { recursive: true });
    for (const file of files) {
      const h = await open(join(out, file.name), 'w');
      try {
        for await (const part of piecesOf(file.parts)) await h.write(part);
      } finally {
        await h.close();
      }
    }
    say(`student written to ${out}: ${files.map((x) => x.name).join(', ')}`);
    if (stopAt !== 0) {
      console.error('mohawk distill: stopped before the held-out evaluation; the student is complete.');
      await run.release();
      return 130;
    }

    const ev = await run.evaluate();
    clearLine();
    if (json) console.log(JSON.stringify({ done: true, held_out: { teacher_nll: ev.teacherNll, student_nll: ev.studentNll } }));
    else {
      console.log(
        `held-out NLL over ${ev.tokens.toLocaleString('en-US')} tokens: teacher ${ev.teacherNll.toFixed(4)}, student ${ev.studentNll.toFixed(4)} nats/token ` +
          `(perplexity ${Math.exp(ev.teacherNll).toFixed(2)} / ${Math.exp(ev.studentNll).toFixed(2)})`,
      );
    }
    await run.release();
    await cutShort();
    return 0;
  },
};

/** In --out while a plan of stages 1–2 alone trains: the student's parameters and moments, deleted when the run ends (or the process exits). */
export const SCRATCH_FILE = 'student-scratch.f32';

/** What the hybrid advisor found, as lines for the console: the choice, then each layer's evidence. */
export function adviceLines(a: HybridAdvice): string[] {
  const e = a.evidence;
  const gains = klGains(e);
  const rho = relativeResiduals(e);
  const probe3 = e.probe3Tokens ?? 0;
  const from = e.source === 'probe' ? `a probe of stages 1-2 (${fmtTokens(e.probeTokens - probe3)} tokens)` : 'stage 2';
  const candidates = e.candidates ?? [];
  const each = candidates.length > 0 ? probe3 / candidates.length : 0;
  const width = Math.max(6, ...candidates.map((c) => c.layers.join(', ').length));
  const warm = e.warm;
  const chosen = `the lowest held-out KL is chosen, unless evenly spaced is within ${100 * EVEN_MARGIN}% of it`;
  return [
    `hybrid advisor: attention in layer${a.layers.length === 1 ? '' : 's'} ${a.layers.join(', ') || 'none'} for stage 3 (auto:${a.k}); ` +
      `held-out KL to the teacher ${e.baseKl.toFixed(4)} nats/token over ${e.tokens.toLocaleString('en-US')} positions, residuals from ${from}`,
    ...(warm ? [`  after a short stage 3 of ${fmtTokens(warm.tokens)} tokens with every layer a mixer, the held-out KL is ${warm.baseKl.toFixed(4)}`] : []),
    `  layer  score   KL with it restored  KL gain  stage-2 residual  attention norm  relative residual${warm ? '  after stage-3 probe' : ''}`,
    ...a.scores.map(
      (sc, l) =>
        `  ${String(l).padStart(5)}  ${sc.toFixed(3)}  ${e.looKl[l]!.toFixed(4).padStart(19)}  ${gains[l]!.toFixed(4).padStart(7)}  ${e.residual[l]!.toPrecision(4).padStart(16)}  ${e.attentionNorm[l]!.toPrecision(4).padStart(14)}  ${rho[l]!.toPrecision(4).padStart(17)}` +
        `${warm ? `  ${warm.looKl[l]!.toFixed(4).padStart(19)}` : ''}${a.layers.includes(l) ? '  kept' : ''}`,
    ),
    ...(candidates.length === 0
      ? []
      : [
          warm
            ? `  candidates, each measured on the stage-3 probe with its layers restored (greedy: one layer at a time, the lowest KL each time): ${chosen}`
            : `  candidates, each after a short stage 3 of ${fmtTokens(each)} tokens on the same batches: ${chosen}`,
          `  ${'layers'.padEnd(width)}  ${'source'.padEnd(17)}  probe KL`,
          ...candidates.map(
            (c) => `  ${c.layers.join(', ').padEnd(width)}  ${c.source.padEnd(17)}  ${(c.probeKl === null ? 'n/a' : c.probeKl.toFixed(4)).padStart(8)}${c.layers.join() === a.chosen.join() ? '  chosen' : ''}`,
          ),
        ]),
  ];
}

/**
 * The line a step prints without --json: the stage's progress and ETA, and while stages are still to
 * come, the whole run's ETA (their steps and the evaluations included, once the run can tell it).
 */
export function progressLine(e: Extract<RunEvent, { type: 'step' }>, stages: readonly Stage[]): string {
  const run = e.runEtaS !== null && stages.at(-1) !== e.stage ? `  run ETA ${duration(e.runEtaS)}` : '';
  return (
    `stage ${e.stage}  step ${e.step}/${e.steps}  tokens ${fmtTokens(e.tokens)}  loss ${fmtLoss(e.loss)}  ` +
    `${Math.round(e.tokensPerS).toLocaleString('en-US')} tok/s  elapsed ${duration(e.elapsedS)}  ETA ${duration(e.etaS ?? 0)}${run}`
  );
}
