// `mohawk mixers`: the mixer lab (issue 15; the MOHAWK paper's Table 3) on the command line: how closely
// Toeplitz, low-rank, SSD and general diagonal SSM mixers of each state size fit the teacher's attention
// matrices on held-out sequences of the corpus.
import { statusLine } from '../status-line';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseFlags, UsageError, type Flags } from '../args';
import type { Command } from '../command';
import { Gpu } from '../../gpu/runtime';
import { nodeDirFileSet } from '../../io/files';
import { corpusBytes, openCorpusStore } from '../../io/corpus-store';
import type { ArchConfig } from '../../io/config';
import { loadTeacher } from '../../models/teacher';
import { DEFAULT_MIXER_LAB, heldOutSample, resolveMixerLab, runMixerLab, type MixerLabOptions, type MixerLabProgress, type MixerLabResult } from '../../mohawk/mixer-lab';
import { checkFinding, familyName, labCaveats, rowStates } from '../../mohawk/mixer-lab-table';
import { MIXER_FAMILIES } from '../../mohawk/mixer-fit';
import { corpusModeFor, TokenStream } from '../../mohawk/token-stream';
import { CORPUS_FLAGS, corpusFilesFromFlag, corpusLine, corpusReadOptions, DATA_HELP } from '../data-files';
import { TOKEN_CACHE_FLAG, tokenCache, tokenizePool } from '../tokenize-workers';
import { streamThreshold } from './distill';

const D = DEFAULT_MIXER_LAB;
const flags = {
  teacher: { type: 'string', help: 'teacher folder: config.json, *.safetensors, tokenizer.json', required: true },
  data: { type: 'list', help: `corpus: ${DATA_HELP}; the sequences come from its held-out documents`, required: true },
  ...CORPUS_FLAGS,
  ...TOKEN_CACHE_FLAG,
  states: { type: 'string', help: `state sizes N, comma-separated (default ${D.states.join(',')})` },
  layers: { type: 'string', help: 'teacher layers whose attention is fitted, comma-separated (default all)' },
  seq: { type: 'string', help: `tokens per sequence L (default ${D.seqLen})` },
  samples: { type: 'string', help: `held-out sequences K (default ${D.samples}): each family × N fits K × layers × heads matrices` },
  steps: { type: 'string', help: `Adam steps per fit (default ${D.steps})` },
  lr: { type: 'string', help: `Adam's peak learning rate (default ${D.lr})` },
  seed: { type: 'string', help: `seed of the factors' initialisation (default ${D.seed})` },
  'held-out': { type: 'string', help: 'fraction of the documents held out, as distill holds them out (default 0.1)' },
  'per-layer': { type: 'boolean', help: 'also print the mean distance per layer (--json always has it)' },
  json: { type: 'boolean', help: 'the last stdout line is a JSON array of rows {"family","states","distance","layers":{"<layer>":mean}}; progress and the rest on stderr' },
} as const;

const usage = (m: string): never => {
  throw new UsageError(`mohawk mixers: ${m}`);
};

function intList(f: Flags, name: string, min: number): number[] | null {
  const v = f[name] as string | undefined;
  if (v === undefined) return null;
  const parts = v.split(',').map((s) => s.trim());
  const out = parts.map((s) => (/^\d+$/.test(s) ? Number(s) : NaN));
  const bad = parts.find((_, i) => !(out[i]! >= min));
  if (bad !== undefined) usage(`--${name}: "${bad}" is not an integer ≥ ${min} (e.g. --${name} ${name === 'states' ? '16,32,64' : '0,2'})`);
  if (new Set(out).size !== out.length) usage(`--${name} ${v} names a value twice`);
  return out;
}

function int(f: Flags, name: string, dflt: number, min: number): number {
  const v = f[name] as string | undefined;
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v.trim()) || Number(v) < min) usage(`--${name} must be an integer ≥ ${min}, got "${v}"`);
  return Number(v);
}

function num(f: Flags, name: string, dflt: number, ok: (x: number) => boolean, what: string): number {
  const v = f[name] as string | undefined;
  if (v === undefined) return dflt;
  const x = v.trim() === '' ? NaN : Number(v);
  if (!Number.isFinite(x) || !ok(x)) usage(`--${name} must be ${what}, got "${v}"`);
  return x;
}

export function labOptionsFromFlags(f: Flags): MixerLabOptions & { heldOut: number } {
  return {
    states: intList(f, 'states', 1) ?? D.states,
    layers: intList(f, 'layers', 0),
    seqLen: int(f, 'seq', D.seqLen, 2),
    samples: int(f, 'samples', D.samples, 1),
    steps: int(f, 'steps', D.steps, 1),
    lr: num(f, 'lr', D.lr, (x) => x > 0, 'a learning rate > 0'),
    seed: int(f, 'seed', D.seed, 0),
    heldOut: num(f, 'held-out', 0.1, (x) => x > 0 && x < 1, 'a fraction in (0, 1)'),
  };
}

const FLAG_OF: [RegExp, string][] = [
  [/sequence/, '--seq'],
  [/layer/, '--layers'],
  [/state size/, '--states'],
];

/** The options held to the teacher's config before its weights are read; a bad one is a usage error naming its flag. */
function checkAgainst(o: MixerLabOptions, c: ArchConfig): void {
  try {
    resolveMixerLab(o, c);
  } catch (e) {
    const m = (e as Error).message;
    const flag = FLAG_OF.find(([re]) => re.test(m))?.[1];
    usage(flag ? `${flag}: ${m.replace(/^mixer lab: /, '')}` : m);
  }
}

function table(r: MixerLabResult, perLayer: boolean): string[] {
  const states = rowStates(r.rows);
  const at = (f: string, N: number) => r.rows.find((x) => x.family === f && x.states === N)!;
  const cell = (x: number) => x.toFixed(4).padStart(9);
  const lines = [`${'family'.padEnd(10)}${states.map((N) => `N=${N}`.padStart(9)).join('')}`];
  for (const f of MIXER_FAMILIES) lines.push(`${familyName(f).padEnd(10)}${states.map((N) => cell(at(f, N).distance)).join('')}`);
  if (perLayer) {
    const layers = r.options.layers;
    lines.push('', `per layer: ${'family'.padEnd(10)}${'N'.padStart(4)}${layers.map((l) => `L${l}`.padStart(9)).join('')}`);
    for (const f of MIXER_FAMILIES) {
      for (const N of states) lines.push(`           ${familyName(f).padEnd(10)}${String(N).padStart(4)}${layers.map((l) => cell(at(f, N).layers[String(l)]!)).join('')}`);
    }
    lines.push(`           ${'‖A‖_F'.padEnd(14)}${layers.map((l) => cell(r.targetNorm.layers[String(l)]!)).join('')}`);
  }
  return lines;
}

export const command: Command = {
  name: 'mixers',
  summary: "how closely Toeplitz, low-rank, SSD and SSM mixers fit the teacher's attention (the paper's Table 3)",
  synopsis: '--teacher DIR --data FILE… [--states 16,32,64] [--layers i,j] [--seq L] [--samples K] [--steps S] [--lr X] [--per-layer] [--json]',
  flags,
  async run(argv) {
    const f = parseFlags(argv, flags, 'mixers');
    const o = labOptionsFromFlags(f);
    const json = f.json === true;
    const dir = f.teacher as string;
    if (!(await stat(dir).then((s) => s.isDirectory(), () => false))) usage(`--teacher ${dir} is not a folder`);
    const data = f.data as string[];
    const dataFiles = await corpusFilesFromFlag(data);
    const { show, clear: clearLine, say } = statusLine(json);

    const gpu = await Gpu.create({ notice: (l) => console.error(l) });
    const name = basename(dir);
    const teacher = await loadTeacher(gpu, await nodeDirFileSet(dir), name, (done, total) => {
      show(`loading weights ${((100 * done) / total).toFixed(0)}%`);
    }, { checkConfig: (c) => checkAgainst(o, c) });
    clearLine();
    for (const w of teacher.summary.warnings) console.error(`warning: ${w}`);
    const c = teacher.config;

    // The corpus as distill reads and splits it: the same held-out documents.
    const read = { ...corpusReadOptions(f), label: `--data ${data.join(' ')}` };
    const opened = await openCorpusStore({
      files: dataFiles.files,
      read,
      tokenizer: teacher.tokenizer,
      pool: () => tokenizePool(teacher.tokenizer),
      cache: tokenCache(f['token-cache'] as string | undefined),
      onNotice: (t) => console.error(`warning: ${t}`),
      onProgress: (p) => {
        show(`tokenizing ${((100 * p.bytesDone) / Math.max(1, p.bytesTotal)).toFixed(0)}%: ${p.documents.toLocaleString('en-US')} documents`);
      },
    });
    let corpus: TokenStream;
    if (corpusModeFor(corpusBytes(dataFiles.files), streamThreshold()) === 'whole') {
      const cs = await opened.done;
      clearLine();
      console.error(corpusLine(dataFiles.name, dataFiles.files, read.textColumn ?? 'text', cs.store.documents, cs.notes.join('; ') || null));
      if (cs.store.documents < 2) throw new Error(`--data ${data.join(' ')} holds one document: the sequences come from held-out documents, and one document is never held out`);
      corpus = TokenStream.fromStore(cs.store, { heldOutFraction: o.heldOut });
    } else {
      corpus = TokenStream.streaming(opened.fill, { heldOutFraction: o.heldOut });
      opened.done.catch(() => undefined);
    }
    let ids: Uint32Array;
    try {
      ids = await heldOutSample(corpus, o.samples, o.seqLen);
    } catch (e) {
      throw new Error(`${(e as Error).message.replace('take fewer or shorter sequences', 'lower --samples or --seq')}`);
    } finally {
      // Only the held-out sequences were wanted: a streaming corpus stops tokenizing here.
      if (!corpus.complete) opened.stop();
    }

    const layers = o.layers ?? [...Array(c.layers).keys()];
    const perFit = o.samples * layers.length * c.heads;
    console.error(`mixer lab: ${name}, ${o.samples} held-out sequence${o.samples === 1 ? '' : 's'} of ${o.seqLen} tokens × ${layers.length} layer${layers.length === 1 ? '' : 's'} × ${c.heads} heads = ${perFit} attention matrices per fit, ${o.steps} Adam steps (lr ${o.lr})`);
    for (const w of labCaveats(o.states, o.seqLen)) console.error(`warning: ${w}`);
    const progress = (p: MixerLabProgress) => {
      const fit = `${familyName(p.family)}${p.states === null ? '' : ` N=${p.states}`}`;
      const where = p.batches > 1 ? ` (batch ${p.batch + 1}/${p.batches})` : '';
      const line = `${fit}: step ${p.step}/${p.steps}, distance ${p.distance.toFixed(4)}${where}`;
      if (process.stderr.isTTY) show(line);
      else if (p.step === p.steps) console.error(line);
    };
    const r = await runMixerLab(gpu, teacher, ids, o, { onProgress: progress });
    clearLine();
    teacher.release();

    const check = checkFinding(r.rows);
    const finding = [
      `SSM < SSD < low-rank < Toeplitz at every N: ${check.ordered ? 'yes' : 'no'}; each closer as N grows: ${check.falling ? 'yes' : 'no'}; Toeplitz / low-rank ≥ ${check.toeplitzOverLowRank.toFixed(1)}×`,
      ...check.problems.map((p) => `  ${p}`),
    ];
    const head = `‖M − A‖_F after the last step, mean over ${r.matrices} matrices (‖A‖_F itself: ${r.targetNorm.mean.toFixed(4)}), ${r.seconds.toFixed(1)} s`;
    if (json) {
      for (const l of [head, ...table(r, f['per-layer'] === true), ...finding]) console.error(l);
      console.log(JSON.stringify(r.rows));
    } else for (const l of [head, ...table(r, f['per-layer'] === true), ...finding]) say(l);
    return 0;
  },
};
