// A teacher as the user has it (config.json, safetensors, tokenizer.json), checked and on the GPU.
// Everything that can be wrong with the files is found before the first byte is uploaded.
import type { Gpu } from '../gpu/runtime';
import { GpuError } from '../gpu/runtime';
import { parseConfig, type ArchConfig } from '../io/config';
import { readJson, type FileSet } from '../io/files';
import { openCheckpoint } from '../io/safetensors';
import { TeacherTokenizer, checkVocab } from '../io/tokenizer';
import { canonicalLayout } from './arch';
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
  const warnings: string[] = [];
  if (layout.unused.length) {
    const u = layout.unused;
    warnings.push(`${u.length} tensor(s) in the checkpoint are not used: ${u.slice(0, 5).join(', ')}${u.length > 5 ? ', …' : ''}`);
  }
  const tok = await TeacherTokenizer.fromFiles(files, { bosId: config.bosId, eosId: config.eosId });
  warnings.push(...checkVocab(tok, config.vocab));

  const lim = gpu.info.limits;
  let total = 0;
  for (const t of layout.tensors) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * 4;
    if (bytes > lim.maxStorageBufferBindingSize || bytes > lim.maxBufferSize) {
      throw new GpuError(
        `tensor ${t.name} needs ${(bytes / 2 ** 20).toFixed(0)} MiB as f32, over this adapter's limit of ` +
          `${(Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize) / 2 ** 20).toFixed(0)} MiB per buffer: the model is too large for this GPU`,
      );
    }
    total += bytes;
  }
  const weights = new Map<string, GPUBuffer>();
  let done = 0;
  try {
    for (const t of layout.tensors) {
      const data = await t.read();
      weights.set(t.name, gpu.upload(data, t.name));
      done += data.byteLength;
      onProgress?.(done, total);
    }
    await gpu.check();
  } catch (e) {
    // Nothing partially loaded stays behind.
    for (const b of weights.values()) b.destroy();
    throw e;
  }

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
