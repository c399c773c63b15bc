// A teacher as the user has it (config.json, safetensors, tokenizer.json), checked and on the GPU.
// Everything that can be wrong with the files is found before the first byte is uploaded.
import type { Gpu } from '../gpu/runtime';
import { GpuError } from '../gpu/runtime';
import { parseConfig, type ArchConfig } from '../io/config';
import { readJson, type FileSet } from '../io/files';
import { openCheckpoint } from '../io/safetensors';
import { TeacherTokenizer, checkVocab } from '../io/tokenizer';
import { canonicalLayout, unusedWarning, type CanonicalTensor } from './arch';
import type { Weights } from './layers';
import type { TeacherSummary } from '../worker/api';
import type { DocumentTokenizer } from '../mohawk/token-stream';

export interface LoadedTeacher {
  config: ArchConfig;
  summary: TeacherSummary;
  tokenizer: TeacherTokenizer & DocumentTokenizer;
  /** Canonical weights (src/models/DESIGN.md), f32 on the GPU. */
  weights: Weights & { buffers: Map<string, GPUBuffer> };
  /** Host copies of the canonical weights (the student's initial values come from them). */
  hostWeights(): Promise<Map<string, Float32Array>>;
  release(): void;
}

export async function loadTeacher(
  gpu: Gpu,
  files: FileSet,
  name: string,
  onProgress?: (done: number, total: number) => void,
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

  const weights = await uploadTensors(gpu, layout.tensors, onProgress);

  const parameters = layout.tensors.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
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
  const tokenizer = Object.assign(tok, { encodeDocument: (text: string) => tok.encode(text) });
  const get = (n: string) => {
    const b = weights.get(n);
    if (!b) throw new Error(`teacher tensor ${n} is not loaded`);
    return b;
  };
  return {
    config,
    summary,
    tokenizer,
    weights: { get, has: (n) => weights.has(n), buffers: weights },
    hostWeights: async () => {
      const out = new Map<string, Float32Array>();
      for (const [n, b] of weights) out.set(n, await gpu.read(b));
      return out;
    },
    release: () => {
      for (const b of weights.values()) b.destroy();
      weights.clear();
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
