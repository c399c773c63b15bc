// The small trained checkpoints in tests/fixtures/ (gpt2, llama-gqa, gpt_neox, phi, llama-bf16, qwen2,
// qwen3, mistral-swa, llama3-rope, gemma3) and the outputs transformers gives for them: made by scripts/fixtures/make_fixtures.py, provenance in
// scripts/fixtures/README.md. Forward tests compare against these instead of against our own references.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { nodeFileSource } from '../../src/io/files';
import { SafetensorsFile } from '../../src/io/safetensors';

export const FIXTURES_DIR = fileURLToPath(new URL('../fixtures', import.meta.url));
/** The fixtures of the supported teacher families. */
export const FIXTURE_NAMES = ['gpt2', 'llama-gqa', 'gpt_neox', 'phi', 'llama-bf16', 'qwen2', 'qwen3', 'mistral-swa', 'llama3-rope', 'gemma3'] as const;
export type FixtureName = (typeof FIXTURE_NAMES)[number];

/** Shape of every fixture's reference logits: 2 sequences of 24 tokens over a 512-token vocabulary. */
export const FIXTURE_LOGITS_SHAPE = [2, 24, 512] as const;

export interface Fixture {
  /** The checkpoint folder: config.json, model.safetensors, tokenizer.json, tokenizer_config.json. */
  dir: string;
  /** Two rows of 24 ids: BOS, then the first 23 tokens of `texts[row]`. */
  inputIds: number[][];
  /** Next-token NLL in nats over the 2 × 23 predicted positions (transformers, float64). */
  meanNll: number;
  /** transformers' float64 logits cast to f32, (2, 24, 512) row-major. */
  logits: Float32Array;
  /** The two held-out stories the rows start. */
  texts: string[];
}

export async function loadFixture(name: FixtureName): Promise<Fixture> {
  const dir = `${FIXTURES_DIR}/${name}`;
  const expected = JSON.parse(readFileSync(`${dir}/expected.json`, 'utf8')) as { input_ids: number[][]; mean_nll: number; texts: string[] };
  const file = await SafetensorsFile.open(await nodeFileSource(`${dir}/expected_logits.safetensors`));
  const info = file.info('logits');
  if (info.dtype !== 'F32' || info.shape.join() !== FIXTURE_LOGITS_SHAPE.join()) {
    throw new Error(`${dir}/expected_logits.safetensors: logits are ${info.dtype} ${JSON.stringify(info.shape)}, expected F32 ${JSON.stringify(FIXTURE_LOGITS_SHAPE)}`);
  }
  return { dir, inputIds: expected.input_ids, meanNll: expected.mean_nll, logits: await file.readF32('logits'), texts: expected.texts };
}
