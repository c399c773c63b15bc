// What a user who drops a broken or mismatched checkpoint is told, before any GPU upload.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { memoryFileSet, nodeDirFileSet } from '../../src/io/files';
import { openCheckpoint, writeSafetensors } from '../../src/io/safetensors';
import { loadTeacher } from '../../src/models/teacher';
import { loadFixture } from '../helpers/fixtures';
import { testGpu } from '../helpers/gpu';

type Edit = (t: { name: string; shape: number[]; data: Float32Array }[]) => { name: string; shape: number[]; data: Float32Array }[];

async function variant(name: 'gpt2' | 'gpt_neox' | 'phi', edit: Edit, config?: (c: Record<string, unknown>) => void) {
  const fx = await loadFixture(name);
  const store = await openCheckpoint(await nodeDirFileSet(fx.dir));
  const tensors = [];
  for (const [n, info] of store.tensors) tensors.push({ name: n, shape: info.shape, data: await store.readF32(n) });
  const cfg = JSON.parse(readFileSync(`${fx.dir}/config.json`, 'utf8'));
  config?.(cfg);
  return memoryFileSet({
    'config.json': JSON.stringify(cfg),
    'model.safetensors': writeSafetensors(edit(tensors)),
    'tokenizer.json': readFileSync(`${fx.dir}/tokenizer.json`, 'utf8'),
    'tokenizer_config.json': readFileSync(`${fx.dir}/tokenizer_config.json`, 'utf8'),
  });
}

describe('loading teachers of every architecture: bad input', () => {
  it('names a tensor the architecture needs and the file lacks', async () => {
    const gpu = await testGpu();
    const files = await variant('gpt2', (ts) => ts.filter((t) => t.name !== 'transformer.h.1.attn.c_attn.weight'));
    await expect(loadTeacher(gpu, files, 'x')).rejects.toThrow(/model.safetensors lacks tensor the gpt2 config needs: transformer.h.1.attn.c_attn.weight/);
  });

  it('names the config field and the tensor that disagree, before reading any tensor', async () => {
    const gpu = await testGpu();
    const files = await variant('gpt_neox', (ts) => ts, (c) => (c.intermediate_size = 128));
    await expect(loadTeacher(gpu, files, 'x')).rejects.toThrow(
      /^config\.json says intermediate_size = 128, but gpt_neox\.layers\.0\.mlp\.dense_h_to_4h\.weight in model\.safetensors has 256 rows \(one per MLP unit\)/,
    );
  });

  it('still names a tensor whose shape disagrees where no config number is at stake', async () => {
    const gpu = await testGpu();
    const files = await variant('gpt_neox', (ts) => ts.map((t) => (t.name === 'gpt_neox.layers.1.input_layernorm.weight' ? { ...t, shape: [32], data: t.data.slice(0, 32) } : t)));
    await expect(loadTeacher(gpu, files, 'x')).rejects.toThrow(/gpt_neox.layers.1.input_layernorm.weight has shape \[32\] but config.json implies \[64\]/);
  });

  it('warns of tensors nothing uses, and still loads', async () => {
    const gpu = await testGpu();
    const files = await variant('phi', (ts) => [...ts, { name: 'model.extra.weight', shape: [2], data: new Float32Array(2) }]);
    const t = await loadTeacher(gpu, files, 'x');
    expect(t.summary.warnings.join(' ')).toMatch(/1 tensor\(s\) in the checkpoint are not used: model.extra.weight/);
    t.release();
  });

  it('refuses a tokenizer larger than the embedding', async () => {
    const gpu = await testGpu();
    const files = await variant(
      'gpt2',
      (ts) => ts.map((t) => (t.name === 'transformer.wte.weight' ? { ...t, shape: [256, 64], data: t.data.slice(0, 256 * 64) } : t)),
      (c) => (c.vocab_size = 256),
    );
    await expect(loadTeacher(gpu, files, 'x')).rejects.toThrow(/tokenizer\.json has 512 token ids \(0 to 511, added tokens included\), more than the 256 rows of the model's embedding/);
  });
});

describe('loading progress', () => {
  it('reports the parameters read, from 0 up to all of them, and leaves the GPU alone when told', async () => {
    const gpu = await testGpu();
    const seen: [number, number][] = [];
    const fx = await loadFixture('gpt2');
    const t = await loadTeacher(gpu, await nodeDirFileSet(fx.dir), 'gpt2', undefined, { upload: false, onRead: (d, n) => seen.push([d, n]) });
    expect(seen[0]).toEqual([0, t.summary.parameters]);
    expect(seen.at(-1)).toEqual([t.summary.parameters, t.summary.parameters]);
    for (let i = 1; i < seen.length; i++) expect(seen[i]![0]).toBeGreaterThan(seen[i - 1]![0]);
    expect(t.resident).toBe(false);
    t.release();
  });
});
