// config.json against the checkpoint's header shapes, no GPU and no tensor data: each number a user
// can get wrong is named by its field and its tensor, with both values; real checkpoints pass.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/io/config';
import { bytesSource, nodeFileSource } from '../../src/io/files';
import { SafetensorsFile, ShardedCheckpoint, writeSafetensors } from '../../src/io/safetensors';
import { checkVocab, TeacherTokenizer } from '../../src/io/tokenizer';
import { defaultMixer, studentShapes } from '../../src/models/student';
import { checkCheckpointHeader, checkWeightsAgainstConfig, ConfigMismatchError, sequenceProblem } from '../../src/models/teacher-checks';
import { FIXTURE_NAMES, FIXTURES_DIR } from '../helpers/fixtures';
import { TEACHER_DIR } from '../helpers/data';

type Json = Record<string, unknown>;

const configOf = (dir: string): Json => JSON.parse(readFileSync(`${dir}/config.json`, 'utf8'));
const headerOf = async (dir: string) => SafetensorsFile.open(await nodeFileSource(`${dir}/model.safetensors`));

/** The message a fixture's checkpoint gets with its config.json edited in memory, or null when it passes. */
async function problem(fixture: string, edit: (c: Json) => void): Promise<string | null> {
  const dir = `${FIXTURES_DIR}/${fixture}`;
  const raw = configOf(dir);
  edit(raw);
  try {
    checkCheckpointHeader(parseConfig(raw), raw, await headerOf(dir));
    return null;
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigMismatchError);
    return (e as Error).message;
  }
}

const SAME = ': the config and the weights must come from the same model';

describe('config.json against the weights (header shapes only)', () => {
  it('passes every supported fixture and the built-in teacher as they are', async () => {
    for (const name of FIXTURE_NAMES) expect(await problem(name, () => {}), name).toBeNull();
    const raw = configOf(TEACHER_DIR);
    const store = await headerOf(TEACHER_DIR);
    expect(() => checkCheckpointHeader(parseConfig(raw), raw, store)).not.toThrow();
  });

  it('names the hidden size and the vocabulary by the embedding', async () => {
    expect(await problem('llama-gqa', (c) => (c.hidden_size = 128))).toBe(
      `config.json says hidden_size = 128, but model.embed_tokens.weight in model.safetensors has 64 columns (one per hidden unit)${SAME}`,
    );
    expect(await problem('llama-gqa', (c) => (c.vocab_size = 256))).toBe(
      `config.json says vocab_size = 256, but model.embed_tokens.weight in model.safetensors has 512 rows (one per token id)${SAME}`,
    );
    expect(await problem('gpt2', (c) => (c.n_embd = 32))).toMatch(/^config\.json says n_embd = 32, but transformer\.wte\.weight in model\.safetensors has 64 columns/);
  });

  it('names key/value heads, heads and head_dim, with the arithmetic', async () => {
    expect(await problem('llama-gqa', (c) => (c.num_key_value_heads = 4))).toBe(
      'config.json says num_key_value_heads = 4 and head_dim = 16: model.layers.0.self_attn.k_proj.weight should then have 4 × 16 = 64 rows ' +
        `(one per dimension of every key/value head), but it has 32 in model.safetensors${SAME}`,
    );
    expect(await problem('llama-gqa', (c) => (c.num_attention_heads = 8))).toBe(
      'config.json says num_attention_heads = 8 and head_dim = 16: model.layers.0.self_attn.q_proj.weight should then have 8 × 16 = 128 rows ' +
        `(one per query dimension of every head), but it has 64 in model.safetensors${SAME}`,
    );
    // qwen2 gives no head_dim: it follows from the hidden size and the heads, and the message says how.
    expect(await problem('qwen2', (c) => (c.num_attention_heads = 8))).toBe(
      'config.json says num_key_value_heads = 2, and it does not set head_dim, so it is hidden_size / num_attention_heads = 64 / 8 = 8: ' +
        `model.layers.0.self_attn.k_proj.weight should then have 2 × 8 = 16 rows (one per dimension of every key/value head), but it has 32 in model.safetensors${SAME}`,
    );
    // qwen3's per-head norms show head_dim on its own.
    expect(await problem('qwen3', (c) => (c.head_dim = 16))).toBe(
      `config.json says head_dim = 16, but model.layers.0.self_attn.q_norm.weight in model.safetensors has 24 entries (one per dimension of a head)${SAME}`,
    );
    // Phi has kv heads but no head_dim field; a missing kv count defaults to the heads.
    expect(await problem('phi', (c) => (c.num_key_value_heads = 2))).toMatch(
      /^config\.json says num_key_value_heads = 2, and it does not set head_dim, so it is hidden_size \/ num_attention_heads = 64 \/ 4 = 16: model\.layers\.0\.self_attn\.k_proj\.weight should then have 2 × 16 = 32 rows/,
    );
  });

  it('names the layer count, the MLP width and the learned positions, defaults included', async () => {
    expect(await problem('llama-gqa', (c) => (c.num_hidden_layers = 4))).toBe(
      `config.json says num_hidden_layers = 4, but model.safetensors holds only 2 layers (model.layers.0 to model.layers.1)${SAME}`,
    );
    // Fewer layers in the config than in the file would silently drop layers: refused too.
    expect(await problem('gpt_neox', (c) => (c.num_hidden_layers = 1))).toBe(
      `config.json says num_hidden_layers = 1, but model.safetensors holds 2 layers (gpt_neox.layers.0 to gpt_neox.layers.1)${SAME}`,
    );
    expect(await problem('gpt_neox', (c) => (c.intermediate_size = 128))).toBe(
      `config.json says intermediate_size = 128, but gpt_neox.layers.0.mlp.dense_h_to_4h.weight in model.safetensors has 256 rows (one per MLP unit)${SAME}`,
    );
    expect(await problem('gpt2', (c) => (c.n_inner = 128))).toMatch(/^config\.json says n_inner = 128, but transformer\.h\.0\.mlp\.c_fc\.weight in model\.safetensors has 256 columns \(one per MLP unit\)/);
    expect(await problem('gpt2', (c) => delete c.n_positions)).toBe(
      `config.json does not set n_positions, so it is 1024 by default, but transformer.wpe.weight in model.safetensors has 128 rows (one per position)${SAME}`,
    );
  });

  it('names an untied head the checkpoint lacks, and leaves a stored copy of a tied head alone', async () => {
    expect(await problem('qwen2', (c) => (c.tie_word_embeddings = false))).toBe(
      'config.json says tie_word_embeddings = false, so the output head has weights of its own, but model.safetensors has no lm_head.weight: ' +
        'if the head shares the embedding, set tie_word_embeddings to true',
    );
    expect(await problem('gpt2', (c) => (c.tie_word_embeddings = false))).toMatch(/has no lm_head\.weight: if the head shares the embedding/);
    expect(await problem('llama-gqa', (c) => delete c.tie_word_embeddings)).toBeNull();
    // A tied config beside a checkpoint that also stores the head: transformers ties them, so do we.
    expect(await problem('llama-gqa', (c) => (c.tie_word_embeddings = true))).toBeNull();
  });

  it('names the shard a mismatching tensor is in', async () => {
    const dir = `${FIXTURES_DIR}/llama-gqa`;
    const one = await headerOf(dir);
    const tensors = await Promise.all([...one.tensors.keys()].map(async (name) => ({ name, shape: one.tensors.get(name)!.shape, data: await one.readF32(name) })));
    const half = Math.ceil(tensors.length / 2);
    const shards: Record<string, Uint8Array> = { 'a.safetensors': writeSafetensors(tensors.slice(0, half)), 'b.safetensors': writeSafetensors(tensors.slice(half)) };
    const weightMap = Object.fromEntries(tensors.map((t, i) => [t.name, i < half ? 'a.safetensors' : 'b.safetensors']));
    const store = await ShardedCheckpoint.open({ weight_map: weightMap }, async (f) => bytesSource(f, shards[f]!));
    const raw = { ...configOf(dir), num_key_value_heads: 4 };
    expect(() => checkCheckpointHeader(parseConfig(raw), raw, store)).toThrow(/k_proj\.weight should then have 4 × 16 = 64 rows .*, but it has 32 in a\.safetensors/);
  });

  it("checks an exported student's canonical tensors against its teacher_config", () => {
    const raw = { ...configOf(`${FIXTURES_DIR}/llama-gqa`) };
    const config = parseConfig(raw);
    const shapes = new Map([...studentShapes({ config, mixer: defaultMixer(config), attentionLayers: [1] })].map(([n, shape]) => [n, { shape }] as const));
    expect(() => checkWeightsAgainstConfig(config, raw, shapes, { naming: 'canonical', fieldPrefix: 'teacher_config.' })).not.toThrow();
    const wrong = { ...raw, num_key_value_heads: 4 };
    expect(() => checkWeightsAgainstConfig(parseConfig(wrong), wrong, shapes, { naming: 'canonical', fieldPrefix: 'teacher_config.', file: 'model.safetensors' })).toThrow(
      'config.json says teacher_config.num_key_value_heads = 4 and teacher_config.head_dim = 16: layers.1.attn.k.weight should then have 4 × 16 = 64 rows',
    );
    const fewer = { ...raw, num_hidden_layers: 1 };
    expect(() => checkWeightsAgainstConfig(parseConfig(fewer), fewer, shapes, { naming: 'canonical', fieldPrefix: 'teacher_config.', file: 'model.safetensors' })).toThrow(
      'config.json says teacher_config.num_hidden_layers = 1, but model.safetensors holds 2 layers (layers.0 to layers.1)',
    );
  });
});

describe('windows and sequences against the positions', () => {
  it('refuses a stated sliding window over max_position_embeddings, not a default one', async () => {
    expect(await problem('mistral-swa', (c) => (c.sliding_window = 200))).toBe(
      "config.json says sliding_window = 200, over the model's 128 positions (max_position_embeddings): a window is at most the positions (null turns it off)",
    );
    expect(await problem('mistral-swa', (c) => (c.sliding_window = 128))).toBeNull();
    // MistralConfig's default window (4096) over 128 positions never applies: not the user's mistake.
    expect(await problem('mistral-swa', (c) => delete c.sliding_window)).toBeNull();
  });

  it('names the length and the field that bounds it', () => {
    const llama = parseConfig(configOf(`${FIXTURES_DIR}/llama-gqa`));
    const gpt2 = parseConfig(configOf(`${FIXTURES_DIR}/gpt2`));
    expect(sequenceProblem(llama, 128, '--max-tokens 128')).toBeNull();
    expect(sequenceProblem(llama, 129, '--max-tokens 129')).toBe("--max-tokens 129 is over the model's 128 positions (max_position_embeddings in its config.json)");
    expect(sequenceProblem(gpt2, 300, 'sequence length 300', "the teacher's")).toBe("sequence length 300 is over the teacher's 128 positions (n_positions in its config.json)");
  });
});

describe('tokenizer ids against the embedding rows', () => {
  const dir = `${FIXTURES_DIR}/llama-gqa`;
  const tokJson = () => JSON.parse(readFileSync(`${dir}/tokenizer.json`, 'utf8')) as { added_tokens: Json[] };

  it('counts added tokens: one id past the rows is refused, spare rows (padding) are only reported', () => {
    const json = tokJson();
    json.added_tokens.push({ id: 600, content: '<|extra|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    const tok = TeacherTokenizer.fromJson(json);
    expect(tok.vocabSize).toBe(601);
    expect(() => checkVocab(tok, 512)).toThrow(
      "tokenizer.json has 601 token ids (0 to 600, added tokens included), more than the 512 rows of the model's embedding: every id needs a row, so the tokenizer is not this model's",
    );
    expect(checkVocab(tok, 601)).toEqual([]);
    const plain = TeacherTokenizer.fromJson(tokJson());
    expect(checkVocab(plain, 640)).toEqual(['the embedding has 128 rows no token uses (tokenizer 512, model 640)']);
  });
});
