// A teacher as the user has it (config.json, safetensors, tokenizer.json), checked and on the GPU.
// Everything that can be wrong with the files is found before the first byte is uploaded.
import type { Gpu } from '../gpu/runtime';
import { GpuError } from '../gpu/runtime';
import { parseConfig, type ArchConfig } from '../io/config';
import { readJson, type FileSet } from '../io/files';
import { openCheckpoint } from '../io/safetensors';
import { TeacherTokenizer, checkVocab, type DocumentTokenizer } from '../io/tokenizer';
import { canonicalLayout, unusedWarning, type CanonicalTensor } from './arch';
import type { Weights } from './layers';

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
  parameters: number;
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

export interface LoadedTeacher {
  config: ArchConfig;
  summary: TeacherSummary;
  tokenizer: TeacherTokenizer & DocumentTokenizer;
  /** Canonical weights (src/models/DESIGN.md), f32 on the GPU while `resident`. */
  weights: Weights & { buffers: Map<string, GPUBuffer> };
  /**
   * Host copies of the canonical weights, always kept: the student's initial values come from them,
   * and layer streaming uploads one layer at a time from them.
   */
  host: Map<string, Float32Array>;
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
   * upload: false leaves the weights on the host (the run uploads them when it needs them whole);
   * onRead hears how many parameters of how many have been read from the files.
   */
  opts: { upload?: boolean; onRead?: (done: number, total: number) => void } = {},
): Promise<LoadedTeacher> {
  if (!files.has('config.json')) throw new Error(`config.json is missing (have: ${files.names.join(', ') || 'no files'})`);
  if (!files.has('tokenizer.json')) throw new Error(`tokenizer.json is missing (have: ${files.names.join(', ')})`);
  const config = parseConfig(await readJson(files, 'config.json'));
  const store = await openCheckpoint(files);
  const weightsFile = files.names.find((n) => n.endsWith('.safetensors')) ?? 'the checkpoint';
  const layout = canonicalLayout(config, store, weightsFile);
  const warnings = unusedWarning(layout.unused);
  const tok = await TeacherTokenizer.fromFiles(files, { bosId: config.bosId, eosId: config.eosId });
  warnings.push(...checkVocab(tok, config.vocab));

  // Read once; the GPU copies are made from the host ones (now and after any eviction).
  const host = new Map<string, Float32Array>();
  const shapes = new Map(layout.tensors.map((t) => [t.name, t.shape] as const));
  const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
  const totalValues = layout.tensors.reduce((a, t) => a + count(t.shape), 0);
  let readValues = 0;
  opts.onRead?.(0, totalValues);
  for (const t of layout.tensors) {
    host.set(t.name, await t.read());
    readValues += count(t.shape);
    opts.onRead?.(readValues, totalValues);
  }
  const fromHost = () => [...host].map(([name, data]) => ({ name, shape: shapes.get(name)!, read: async () => data }));

  const weights = new Map<string, GPUBuffer>();
  if (opts.upload ?? true) for (const [n, b] of await uploadTensors(gpu, fromHost(), onProgress)) weights.set(n, b);

  const parameters = totalValues;
  const summary: TeacherSummary = {
    name,
    modelType: config.modelType,
    layers: config.layers,
    dModel: config.dModel,
    heads: config.heads,
    kvHeads: config.kvHeads,
    headDim: config.headDim,
    vocab: config.vocab,
    parameters,
    warnings,
  };
  const tokenizer = tok;
  const get = (n: string) => {
    const b = weights.get(n);
    if (!b) {
      if (weights.size === 0 && host.has(n)) throw new Error(`the teacher's weights are not on the GPU (its layers are being streamed); ${n} is needed`);
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
    weights: { get, has: (n) => host.has(n), buffers: weights },
    host,
    get resident() {
      return weights.size > 0;
    },
    upload: async (progress) => {
      if (weights.size > 0) return;
      for (const [n, b] of await uploadTensors(gpu, fromHost(), progress)) weights.set(n, b);
    },
    evict,
    release: () => {
      evict();
      host.clear();
    },
  };
}

/**
 * Uploads tensors one by one as f32, after checking each against the adapter's per-buffer limit;
 * on any failure nothing partially loaded stays behind.
 */
export async function uploadTensors(
  gpu: Gpu,
  tensors: CanonicalTensor[],
  onProgress?: (done: number, total: number) => void,
): Promise<Map<string, GPUBuffer>> {
  const lim = gpu.info.limits;
  const cap = Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
  let total = 0;
  for (const t of tensors) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * 4;
    if (bytes > cap) {
      throw new GpuError(
        `tensor ${t.name} needs ${(bytes / 2 ** 20).toFixed(0)} MiB as f32, over this adapter's limit of ${(cap / 2 ** 20).toFixed(0)} MiB per buffer: the model is too large for this GPU`,
      );
    }
    total += bytes;
  }
  const buffers = new Map<string, GPUBuffer>();
  let done = 0;
  try {
    for (const t of tensors) {
      const data = await t.read();
      buffers.set(t.name, gpu.upload(data, t.name));
      done += data.byteLength;
      onProgress?.(done, total);
    }
    await gpu.check();
  } catch (e) {
    for (const b of buffers.values()) b.destroy();
    throw e;
  }
  return buffers;
}
