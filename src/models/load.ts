// Any model the studio can run, from its files: a Hugging Face teacher (llama, gpt2, gpt_neox, phi)
// or a student the studio exported (config.json model_type "mohawk_student", src/models/student-files.ts).
// As with teachers, everything that can be wrong with the files is found before the first upload.
import { GpuError, type Gpu } from '../gpu/runtime';
import type { ArchConfig } from '../io/config';
import { readJson, type FileSet } from '../io/files';
import { openCheckpoint } from '../io/safetensors';
import { TeacherTokenizer, checkVocab } from '../io/tokenizer';
import { loadTeacher } from './teacher';
import type { DecoderOptions, Mixer } from './decoder';
import { AttentionMixer, type Weights } from './layers';
import { MambaMixer } from './mamba-mixer';
import type { MixerShape } from './mamba-mixer-shape';
import { studentShapes } from './student';
import { isStudentConfig, parseStudentConfig } from './student-files';

export interface RunnableModel {
  name: string;
  config: ArchConfig;
  weights: Weights;
  tokenizer: TeacherTokenizer;
  /** Mixer of each layer when it is not the config's attention (an exported student). */
  mixer?: DecoderOptions['mixer'];
  /** Set for an exported student: its mixer shape and the layers that kept attention. */
  student?: { mixer: MixerShape; attentionLayers: number[] };
  warnings: string[];
  release(): void;
}

export async function loadModel(gpu: Gpu, files: FileSet, name: string, onProgress?: (done: number, total: number) => void): Promise<RunnableModel> {
  if (files.has('config.json')) {
    const json = await readJson(files, 'config.json');
    if (isStudentConfig(json)) return loadStudentModel(gpu, files, name, json, onProgress);
  }
  const t = await loadTeacher(gpu, files, name, onProgress);
  return { name, config: t.config, weights: t.weights, tokenizer: t.tokenizer, warnings: t.summary.warnings, release: t.release };
}

async function loadStudentModel(
  gpu: Gpu,
  files: FileSet,
  name: string,
  json: unknown,
  onProgress?: (done: number, total: number) => void,
): Promise<RunnableModel> {
  const spec = parseStudentConfig(json);
  const config = spec.teacher;
  if (!files.has('tokenizer.json')) throw new Error(`tokenizer.json is missing (have: ${files.names.join(', ')})`);
  const store = await openCheckpoint(files);
  const weightsFile = files.names.find((n) => n.endsWith('.safetensors')) ?? 'the checkpoint';
  const shapes = studentShapes({ config, mixer: spec.mixer, attentionLayers: spec.attentionLayers });

  const missing: string[] = [];
  const wrong: string[] = [];
  for (const [n, shape] of shapes) {
    const t = store.tensors.get(n);
    if (!t) missing.push(n);
    else if (t.shape.join() !== shape.join()) wrong.push(`${n} has shape [${t.shape}] but config.json implies [${shape}]`);
  }
  if (missing.length) {
    const shown = missing.slice(0, 5).join(', ') + (missing.length > 5 ? ` and ${missing.length - 5} more` : '');
    throw new Error(`${weightsFile} lacks tensor${missing.length > 1 ? 's' : ''} the student's config.json needs: ${shown}`);
  }
  if (wrong.length) throw new Error(`${weightsFile}: tensor ${wrong[0]}${wrong.length > 1 ? ` (and ${wrong.length - 1} more mismatches)` : ''}`);
  const warnings: string[] = [];
  const unused = [...store.tensors.keys()].filter((n) => !shapes.has(n));
  if (unused.length) warnings.push(`${unused.length} tensor(s) in the checkpoint are not used: ${unused.slice(0, 5).join(', ')}${unused.length > 5 ? ', …' : ''}`);
  const tokenizer = await TeacherTokenizer.fromFiles(files, { bosId: config.bosId, eosId: config.eosId });
  warnings.push(...checkVocab(tokenizer, config.vocab));

  const lim = gpu.info.limits;
  const cap = Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
  let total = 0;
  for (const [n, shape] of shapes) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    if (bytes > cap) {
      throw new GpuError(`tensor ${n} needs ${(bytes / 2 ** 20).toFixed(0)} MiB as f32, over this adapter's limit of ${(cap / 2 ** 20).toFixed(0)} MiB per buffer: the model is too large for this GPU`);
    }
    total += bytes;
  }
  const buffers = new Map<string, GPUBuffer>();
  let done = 0;
  try {
    for (const n of shapes.keys()) {
      const data = await store.readF32(n);
      buffers.set(n, gpu.upload(data, n));
      done += data.byteLength;
      onProgress?.(done, total);
    }
    await gpu.check();
  } catch (e) {
    for (const b of buffers.values()) b.destroy();
    throw e;
  }

  const get = (n: string) => {
    const b = buffers.get(n);
    if (!b) throw new Error(`student tensor ${n} is not loaded`);
    return b;
  };
  const weights: Weights = { get, has: (n) => buffers.has(n) };
  const mixer: NonNullable<DecoderOptions['mixer']> = (l, acts, io): Mixer => {
    if (spec.attentionLayers.includes(l)) return new AttentionMixer(gpu, config, weights, l, io, acts);
    // Loaded weights are never trained here: no parameter has a gradient.
    const m = new MambaMixer(gpu, spec.mixer, io, { w: (n) => get(`layers.${l}.mixer.${n}`), g: () => undefined });
    return { forward: (u, out) => m.forward(u, out), backward: (dOut, dU, opts) => m.backward(dOut, dU, opts) };
  };
  return {
    name,
    config,
    weights,
    tokenizer,
    mixer,
    student: { mixer: spec.mixer, attentionLayers: spec.attentionLayers },
    warnings,
    release: () => {
      for (const b of buffers.values()) b.destroy();
      buffers.clear();
    },
  };
}
