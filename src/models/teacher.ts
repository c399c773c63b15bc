// A teacher as the user has it (config.json, safetensors, tokenizer.json), checked and on the GPU.
// Everything that can be wrong with the files is found before the first byte is uploaded.
import type { Gpu } from '../gpu/runtime';
import { GpuError } from '../gpu/runtime';
import { configObject, parseConfig, type ArchConfig } from '../io/config';
import { readJson, type FileSet } from '../io/files';
import { rawToF32, type RawTensor } from '../io/half';
import { FLAT_PIECE } from '../io/flat-file';
import { openCheckpoint, type Dtype } from '../io/safetensors';
import { TeacherTokenizer, checkVocab, type DocumentTokenizer } from '../io/tokenizer';
import { canonicalLayout, unusedWarning, type CanonicalTensor } from './arch';
import type { Weights } from './layers';
import { checkCheckpointHeader, positionsField } from './teacher-checks';

/** What the page shows of a loaded teacher. */
export interface TeacherSummary {
  name: string;
  modelType: string;
  layers: number;
  dModel: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  /** Longest sequence the model takes, and the config.json field that says so (the plan form bounds its sequence length by it). */
  maxPositions: number;
  positionsField: string;
  parameters: number;
  /** Bytes the weights take on the GPU, as loaded (bf16/f16 matrices stay 16-bit). */
  weightBytes: number;
  /** Warnings that did not stop the load (e.g. unused tensors). */
  warnings: string[];
}

/**
 * A teacher's name when its files came without a folder: the last part of config.json's
 * `_name_or_path` (what save_pretrained recorded), else its architecture; never the file's own name.
 */
export function teacherName(config: unknown): string {
  const c = (typeof config === 'object' && config !== null ? config : {}) as Record<string, unknown>;
  const path = typeof c._name_or_path === 'string' ? c._name_or_path.replace(/[\\/]+$/, '').split(/[\\/]/).pop() : '';
  if (path) return path;
  const arch = Array.isArray(c.architectures) && typeof c.architectures[0] === 'string' ? c.architectures[0] : '';
  if (arch) return arch;
  return typeof c.model_type === 'string' && c.model_type ? `a ${c.model_type} model` : 'dropped teacher';
}

/**
 * The teacher's canonical tensors, read from the dropped files whenever they are needed: nothing of
 * the teacher stays on the host, so a multi-gigabyte checkpoint loads in a worker of a few hundred MB.
 */
export interface TeacherSource {
  readonly tensors: readonly CanonicalTensor[];
  has(name: string): boolean;
  shape(name: string): number[];
  read(name: string): Promise<Float32Array>;
  readRaw(name: string): Promise<RawTensor>;
  /** The f32 values in pieces of at most `piece` (tensorPieces): a large tensor is never whole on the host. */
  pieces(name: string, piece?: number): AsyncIterable<{ at: number; values: Float32Array }>;
}

/**
 * How the teacher's matrices sit on the GPU: as the checkpoint stores them (bf16/f16 matrices stay
 * 16-bit, packed; vectors are widened to f32), or all f32.
 */
export type WeightPrecision = 'checkpoint' | 'f32';

export interface LoadedTeacher {
  config: ArchConfig;
  summary: TeacherSummary;
  tokenizer: TeacherTokenizer & DocumentTokenizer;
  /** Canonical weights (src/models/DESIGN.md) on the GPU while `resident`, in `precision`. */
  weights: Weights & { buffers: Map<string, GPUBuffer> };
  source: TeacherSource;
  precision: WeightPrecision;
  /** Whether `weights` are on the GPU. */
  readonly resident: boolean;
  /** Puts the weights (back) on the GPU; a no-op when they are there. */
  upload(onProgress?: (done: number, total: number) => void): Promise<void>;
  /** Frees the GPU copies (layer streaming); `upload` brings them back. */
  evict(): void;
  release(): void;
}

export async function loadTeacher(
  gpu: Gpu,
  files: FileSet,
  name: string,
  onProgress?: (done: number, total: number) => void,
  /**
   * upload: false leaves the weights in the files (the run uploads them when it needs them whole);
   * onRead hears how many parameters of how many have been read and checked; checkConfig may
   * refuse the config (a caller's sequence length) once the files are checked, before any tensor is read.
   * readAll: false (with upload: false) reads no tensor now: the headers, already checked against the
   * files' sizes, are all a run needs before it reads each tensor where it uses it (default true).
   */
  opts: { upload?: boolean; onRead?: (done: number, total: number) => void; precision?: WeightPrecision; checkConfig?: (config: ArchConfig) => void; readAll?: boolean } = {},
): Promise<LoadedTeacher> {
  if (!files.has('config.json')) throw new Error(`config.json is missing (have: ${files.names.join(', ') || 'no files'})`);
  if (!files.has('tokenizer.json')) throw new Error(`tokenizer.json is missing (have: ${files.names.join(', ')})`);
  const raw = configObject(await readJson(files, 'config.json'), 'config.json');
  const config = parseConfig(raw);
  const store = await openCheckpoint(files);
  const weightsFile = files.names.find((n) => n.endsWith('.safetensors')) ?? 'the checkpoint';
  checkCheckpointHeader(config, raw, store);
  const layout = canonicalLayout(config, store, weightsFile);
  const warnings = unusedWarning(layout.unused);
  const tok = await TeacherTokenizer.fromFiles(files, { bosId: config.bosId, eosId: config.eosId });
  warnings.push(...checkVocab(tok, config.vocab));
  opts.checkConfig?.(config);
  const precision = opts.precision ?? 'checkpoint';

  const byName = new Map(layout.tensors.map((t) => [t.name, t] as const));
  const tensor = (n: string) => {
    const t = byName.get(n);
    if (!t) throw new Error(`the teacher has no tensor ${n}`);
    return t;
  };
  const source: TeacherSource = {
    tensors: layout.tensors,
    has: (n) => byName.has(n),
    shape: (n) => tensor(n).shape,
    read: (n) => tensor(n).read(),
    readRaw: (n) => tensor(n).readRaw(),
    pieces: (n, piece) => tensorPieces(tensor(n), piece),
  };
  const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
  const totalValues = layout.tensors.reduce((a, t) => a + count(t.shape), 0);

  const weights = new Map<string, GPUBuffer>();
  if (opts.upload ?? true) {
    // The read is the upload: report it as both.
    const both = (done: number, total: number) => {
      onProgress?.(done, total);
      opts.onRead?.(done, total);
    };
    for (const [n, b] of await uploadTensors(gpu, layout.tensors, both, precision)) weights.set(n, b);
  } else if (opts.readAll ?? true) {
    // Every tensor is read once now, so an unreadable file (a browser File changed or gone) fails at
    // the load, not mid-run; truncation is already caught by the header check against the file size.
    let readValues = 0;
    opts.onRead?.(0, totalValues);
    for (const t of layout.tensors) {
      await t.readRaw();
      readValues += count(t.shape);
      opts.onRead?.(readValues, totalValues);
    }
  }

  const summary: TeacherSummary = {
    name,
    modelType: config.modelType,
    layers: config.layers,
    dModel: config.dModel,
    heads: config.heads,
    kvHeads: config.kvHeads,
    headDim: config.headDim,
    vocab: config.vocab,
    maxPositions: config.maxPositions,
    positionsField: positionsField(config),
    parameters: totalValues,
    weightBytes: layout.tensors.reduce((a, t) => a + gpuBytes(t, precision), 0),
    warnings,
  };
  const tokenizer = tok;
  const get = (n: string) => {
    const b = weights.get(n);
    if (!b) {
      if (weights.size === 0 && byName.has(n)) throw new Error(`the teacher's weights are not on the GPU (its layers are being streamed); ${n} is needed`);
      throw new Error(`teacher tensor ${n} is not loaded`);
    }
    return b;
  };
  const evict = () => {
    for (const b of weights.values()) b.destroy();
    weights.clear();
  };
  return {
    config,
    summary,
    tokenizer,
    weights: { get, has: (n) => byName.has(n), buffers: weights },
    source,
    precision,
    get resident() {
      return weights.size > 0;
    },
    upload: async (progress) => {
      if (weights.size > 0) return;
      for (const [n, b] of await uploadTensors(gpu, layout.tensors, progress, precision)) weights.set(n, b);
    },
    evict,
    release: evict,
  };
}

/** Whether a tensor stays 16-bit on the GPU: a matrix (matmul's B or an embedding table) stored as bf16/f16. */
export function keepsCheckpointPrecision(t: { shape: readonly number[]; dtype: Dtype }, precision: WeightPrecision): boolean {
  return precision === 'checkpoint' && t.dtype !== 'F32' && t.shape.length === 2;
}

/** Bytes a tensor takes on the GPU in `precision`. */
export function gpuBytes(t: { shape: readonly number[]; dtype: Dtype }, precision: WeightPrecision): number {
  const n = t.shape.reduce((a, b) => a * b, 1);
  return keepsCheckpointPrecision(t, precision) ? Math.ceil(n / 2) * 4 : n * 4;
}

/**
 * A tensor's raw values (the checkpoint's precision) in pieces of at most `piece` values, each read
 * alone where the tensor reads ranges (CanonicalTensor.readRawRange), else the whole tensor at once.
 * Pieces start at even values, so 16-bit ones fill whole u32 words.
 */
export async function* rawPieces(t: CanonicalTensor, piece = FLAT_PIECE): AsyncGenerator<{ at: number; raw: RawTensor }> {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const step = Math.max(2, piece - (piece % 2));
  if (!t.readRawRange || n <= step) {
    yield { at: 0, raw: await t.readRaw() };
    return;
  }
  for (let at = 0; at < n; at += step) yield { at, raw: await t.readRawRange(at, Math.min(step, n - at)) };
}

/** tensorPieces: rawPieces widened to f32 a piece at a time. */
export async function* tensorPieces(t: CanonicalTensor, piece = FLAT_PIECE): AsyncGenerator<{ at: number; values: Float32Array }> {
  for await (const { at, raw } of rawPieces(t, piece)) yield { at, values: rawToF32(raw) };
}

/** One tensor on the GPU in `precision`, written as rawPieces reads it (a piece at a time when it is large). */
export async function uploadTensor(gpu: Gpu, t: CanonicalTensor, precision: WeightPrecision, into?: GPUBuffer, piece = FLAT_PIECE): Promise<GPUBuffer> {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const keep = keepsCheckpointPrecision(t, precision);
  const buf = into ?? (keep ? gpu.packedBuffer(n, t.dtype === 'BF16' ? 'bf16' : 'f16', t.name) : gpu.buffer(n * 4, t.name));
  try {
    for await (const { at, raw } of rawPieces(t, piece)) {
      if (!keep) gpu.write(buf, rawToF32(raw), at * 4);
      else if (raw.dtype === 'F32') throw new Error(`tensor ${t.name}: the checkpoint said ${t.dtype} but gave f32 values`);
      else gpu.writePacked(buf, raw.data, at * 2);
    }
  } catch (e) {
    if (!into) buf.destroy();
    throw e;
  }
  return buf;
}

/**
 * Uploads tensors one by one (f32, or in the checkpoint's precision), after checking each against
 * the adapter's per-buffer limit; on any failure nothing partially loaded stays behind.
 */
export async function uploadTensors(
  gpu: Gpu,
  tensors: readonly CanonicalTensor[],
  onProgress?: (done: number, total: number) => void,
  precision: WeightPrecision = 'f32',
): Promise<Map<string, GPUBuffer>> {
  const lim = gpu.info.limits;
  const cap = Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
  let total = 0;
  for (const t of tensors) {
    const bytes = gpuBytes(t, precision);
    if (bytes > cap) {
      throw new GpuError(
        `tensor ${t.name} needs ${(bytes / 2 ** 20).toFixed(0)} MiB on the GPU, over this adapter's limit of ${(cap / 2 ** 20).toFixed(0)} MiB per buffer: the model is too large for this GPU`,
      );
    }
    total += bytes;
  }
  const buffers = new Map<string, GPUBuffer>();
  let done = 0;
  onProgress?.(0, total);
  try {
    for (const t of tensors) {
      buffers.set(t.name, await uploadTensor(gpu, t, precision));
      done += gpuBytes(t, precision);
      onProgress?.(done, total);
    }
    await gpu.check();
  } catch (e) {
    for (const b of buffers.values()) b.destroy();
    throw e;
  }
  return buffers;
}
