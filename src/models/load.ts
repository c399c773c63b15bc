// Any model the studio can run, from its files: a Hugging Face teacher (any family config.ts reads)
// or a student the studio exported (config.json model_type "mohawk_student", src/models/student-files.ts).
// As with teachers, everything that can be wrong with the files is found before the first upload.
import type { Gpu } from '../gpu/runtime';
import type { ArchConfig } from '../io/config';
import { readJson, type FileSet } from '../io/files';
import { openCheckpoint } from '../io/safetensors';
import { TeacherTokenizer, checkVocab } from '../io/tokenizer';
import { loadTeacher, uploadTensors } from './teacher';
import type { DecoderOptions } from './decoder';
import type { Weights } from './layers';
import type { MixerShape } from './mamba-mixer-shape';
import { studentMixers, studentShapes } from './student';
import { canonicalTensors, unusedWarning } from './arch';
import { isStudentConfig, parseStudentConfig } from './student-files';
import { checkCheckpointHeader } from './teacher-checks';

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

/** `checkConfig` may refuse the model's config (a caller's sequence length) once its files are checked, before any tensor is read. */
export async function loadModel(
  gpu: Gpu,
  files: FileSet,
  name: string,
  onProgress?: (done: number, total: number) => void,
  opts: { checkConfig?: (config: ArchConfig) => void } = {},
): Promise<RunnableModel> {
  if (files.has('config.json')) {
    const json = await readJson(files, 'config.json');
    if (isStudentConfig(json)) return loadStudentModel(gpu, files, name, json, onProgress, opts.checkConfig);
  }
  const t = await loadTeacher(gpu, files, name, onProgress, { checkConfig: opts.checkConfig });
  return { name, config: t.config, weights: t.weights, tokenizer: t.tokenizer, warnings: t.summary.warnings, release: t.release };
}

async function loadStudentModel(
  gpu: Gpu,
  files: FileSet,
  name: string,
  json: unknown,
  onProgress?: (done: number, total: number) => void,
  checkConfig?: (config: ArchConfig) => void,
): Promise<RunnableModel> {
  const spec = parseStudentConfig(json);
  const config = spec.teacher;
  if (!files.has('tokenizer.json')) throw new Error(`tokenizer.json is missing (have: ${files.names.join(', ')})`);
  const store = await openCheckpoint(files);
  const teacherJson = (json as { teacher_config: Record<string, unknown> }).teacher_config;
  checkCheckpointHeader(config, teacherJson, store, { naming: 'canonical', fieldPrefix: 'teacher_config.' });
  const weightsFile = files.names.find((n) => n.endsWith('.safetensors')) ?? 'the checkpoint';
  const studentSpec = { config, mixer: spec.mixer, attentionLayers: spec.attentionLayers };
  const layout = canonicalTensors(store, studentShapes(studentSpec), weightsFile, "the student's config.json");
  const warnings = unusedWarning(layout.unused);
  const tokenizer = await TeacherTokenizer.fromFiles(files, { bosId: config.bosId, eosId: config.eosId });
  warnings.push(...checkVocab(tokenizer, config.vocab));
  checkConfig?.(config);
  const buffers = await uploadTensors(gpu, layout.tensors, onProgress);

  const get = (n: string) => {
    const b = buffers.get(n);
    if (!b) throw new Error(`student tensor ${n} is not loaded`);
    return b;
  };
  const weights: Weights = { get, has: (n) => buffers.has(n) };
  // Loaded weights are never trained here: `weights` has no gradients, so no mixer gets any.
  const mixer = studentMixers(gpu, studentSpec, weights);
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
