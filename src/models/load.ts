// Any model the studio can run, from its files: a Hugging Face teacher (llama, gpt2, gpt_neox, phi).
import type { Gpu } from '../gpu/runtime';
import type { FileSet } from '../io/files';
import type { ArchConfig } from '../io/config';
import type { TeacherTokenizer } from '../io/tokenizer';
import { loadTeacher } from './teacher';
import type { DecoderOptions } from './decoder';
import type { Weights } from './layers';

export interface RunnableModel {
  name: string;
  config: ArchConfig;
  weights: Weights;
  tokenizer: TeacherTokenizer;
  /** Mixer of each layer when it is not the config's attention (an exported student). */
  mixer?: DecoderOptions['mixer'];
  warnings: string[];
  release(): void;
}

export async function loadModel(gpu: Gpu, files: FileSet, name: string, onProgress?: (done: number, total: number) => void): Promise<RunnableModel> {
  const t = await loadTeacher(gpu, files, name, onProgress);
  return { name, config: t.config, weights: t.weights, tokenizer: t.tokenizer, warnings: t.summary.warnings, release: t.release };
}
