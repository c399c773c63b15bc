// A teacher as the user has it (config.json, safetensors, tokenizer.json), checked and on the GPU.
// Everything that can be wrong with the files is found before the first byte is uploaded.
import type { Gpu } from '../gpu/runtime';
import { GpuError } from '../gpu/runtime';
import { parseConfig, type ArchConfig } from '../io/config';
import { readJson, type FileSet } from '../io/files';
import { openCheckpoint, type TensorStore } from '../io/safetensors';
import { TeacherTokenizer, checkVocab } from '../io/tokenizer';
import { llamaTensorShapes } from '../ref/llama';
import type { TeacherSummary } from '../worker/api';
import type { TeacherLayerWeights, TeacherShape } from '../mohawk/teacher-attention';
import type { DocumentTokenizer } from '../mohawk/token-stream';

export interface LoadedTeacher {
  config: ArchConfig;
  summary: TeacherSummary;
  shape: TeacherShape;
  tokenizer: TeacherTokenizer & DocumentTokenizer;
  weights: Map<string, GPUBuffer>;
  layerWeights(layer: number): TeacherLayerWeights;
  release(): void;
}

/** Checks names and shapes of the checkpoint against the config; returns warnings for unused tensors. */
export function checkTensors(c: ArchConfig, store: TensorStore, where: string): string[] {
  const shapes = llamaTensorShapes(c);
  const need = [...shapes.keys()];
  const missing = need.filter((n) => !store.tensors.has(n));
  if (missing.length) {
    const shown = missing.slice(0, 5).join(', ') + (missing.length > 5 ? ` and ${missing.length - 5} more` : '');
    throw new Error(`${where} lacks tensor${missing.length > 1 ? 's' : ''} the ${c.modelType} config needs: ${shown}`);
  }
  for (const n of need) {
    const want = shapes.get(n)!;
    const got = store.tensors.get(n)!.shape;
    if ((want.length !== got.length || want.some((v, i) => v !== got[i]))) {
      throw new Error(`${where}: tensor ${n} has shape [${got}] but config.json implies [${want}]`);
    }
  }
  const used = new Set(need);
  const unused = [...store.tensors.keys()].filter((n) => !used.has(n) && !n.endsWith('rotary_emb.inv_freq'));
  return unused.length ? [`${unused.length} tensor(s) in the checkpoint are not used: ${unused.slice(0, 5).join(', ')}${unused.length > 5 ? ', …' : ''}`] : [];
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
  if (config.modelType !== 'llama') {
    throw new Error(`config.json: model_type "${config.modelType}" is read, but this build runs Llama-family teachers only`);
  }
  const store = await openCheckpoint(files);
  const weightsFile = files.names.find((n) => n.endsWith('.safetensors')) ?? 'the checkpoint';
  const warnings = checkTensors(config, store, weightsFile);
  const tok = await TeacherTokenizer.fromFiles(files, { bosId: config.bosId, eosId: config.eosId });
  warnings.push(...checkVocab(tok, config.vocab));

  const names = [...llamaTensorShapes(config).keys()];
  const lim = gpu.info.limits;
  let total = 0;
  for (const n of names) {
    const bytes = (store.tensors.get(n)!.shape.reduce((a, b) => a * b, 1)) * 4;
    if (bytes > lim.maxStorageBufferBindingSize || bytes > lim.maxBufferSize) {
      throw new GpuError(
        `tensor ${n} needs ${(bytes / 2 ** 20).toFixed(0)} MiB as f32, over this adapter's limit of ` +
          `${(Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize) / 2 ** 20).toFixed(0)} MiB per buffer: the model is too large for this GPU`,
      );
    }
    total += bytes;
  }
  const weights = new Map<string, GPUBuffer>();
  let done = 0;
  try {
    for (const n of names) {
      const data = await store.readF32(n);
      weights.set(n, gpu.upload(data, n));
      done += data.byteLength;
      onProgress?.(done, total);
    }
    await gpu.check();
  } catch (e) {
    // Nothing partially loaded stays behind.
    for (const b of weights.values()) b.destroy();
    throw e;
  }

  const parameters = names.reduce((s, n) => s + store.tensors.get(n)!.shape.reduce((a, b) => a * b, 1), 0);
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
  const shape: TeacherShape = {
    dModel: config.dModel,
    heads: config.heads,
    kvHeads: config.kvHeads,
    headDim: config.headDim,
    vocab: config.vocab,
    normEps: config.normEps,
    ropeTheta: config.ropeTheta ?? 10000,
    rotaryDim: config.rotaryDim,
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
    shape,
    tokenizer,
    weights,
    layerWeights: (i) => ({
      embed: get('model.embed_tokens.weight'),
      inputNorm: get(`model.layers.${i}.input_layernorm.weight`),
      wq: get(`model.layers.${i}.self_attn.q_proj.weight`),
      wk: get(`model.layers.${i}.self_attn.k_proj.weight`),
    }),
    release: () => {
      for (const b of weights.values()) b.destroy();
      weights.clear();
    },
  };
}
