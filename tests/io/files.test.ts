import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  FileSetError,
  blobSource,
  browserFileSet,
  fetchFileSet,
  memoryFileSet,
  nodeDirFileSet,
  nodeFileSource,
  readJson,
  readText,
} from '../../src/io/files';
import { SafetensorsFile } from '../../src/io/safetensors';

import { TEACHER_DIR as TEACHER } from '../helpers/data';

describe('byte sources', () => {
  it('the committed data directory resolves', () => {
    expect(existsSync(`${TEACHER}/model.safetensors`)).toBe(true);
  });

  it('nodeFileSource reads exact ranges of a file on disk', async () => {
    const whole = readFileSync(`${TEACHER}/model.safetensors`);
    const src = await nodeFileSource(`${TEACHER}/model.safetensors`);
    expect(src.name).toBe('model.safetensors');
    expect(src.size).toBe(whole.length);
    for (const [o, l] of [[0, 8], [12345, 1000], [whole.length - 7, 7], [100, 0]]) {
      expect(Buffer.from(await src.read(o, l)).equals(whole.subarray(o, o + l))).toBe(true);
    }
    await expect(src.read(whole.length - 3, 4)).rejects.toThrow(FileSetError);
    await expect(src.read(-1, 2)).rejects.toThrow(/outside the file/);
  });

  it('blobSource reads slices of a File', async () => {
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    const src = blobSource(new File([bytes], 'x.bin'), 'x.bin');
    expect(src.size).toBe(300);
    expect(await src.read(250, 50)).toEqual(bytes.subarray(250, 300));
    await expect(src.read(299, 2)).rejects.toThrow(/x\.bin: read of 2 bytes at 299 is outside the file \(300 bytes\)/);
  });

  it('opens the stories260K checkpoint through a File and through a path alike', async () => {
    const whole = readFileSync(`${TEACHER}/model.safetensors`);
    const fromFile = await SafetensorsFile.open(blobSource(new File([whole], 'model.safetensors'), 'model.safetensors'));
    const fromPath = await SafetensorsFile.open(await nodeFileSource(`${TEACHER}/model.safetensors`));
    expect(fromFile.tensors.size).toBe(47);
    expect(fromPath.tensors).toEqual(fromFile.tensors);
    expect(fromPath.tensors.get('model.layers.3.self_attn.k_proj.weight')).toMatchObject({ dtype: 'F32', shape: [32, 64] });
    expect(await fromPath.readF32('model.layers.4.mlp.down_proj.weight')).toEqual(await fromFile.readF32('model.layers.4.mlp.down_proj.weight'));
  });
});

describe('file sets', () => {
  it('nodeDirFileSet lists a directory and refuses names outside it', async () => {
    const files = await nodeDirFileSet(TEACHER);
    expect(files.names).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    expect(((await readJson(files, 'config.json')) as { model_type: string }).model_type).toBe('llama');
    await expect(files.source('../stories260K/config.json')).rejects.toThrow(/missing file \.\.\/stories260K\/config\.json/);
  });

  it('browserFileSet keys files by base name and refuses two of one name', async () => {
    const files = browserFileSet([new File(['{"a":1}'], 'config.json'), new File(['x'], 'notes.txt')]);
    expect(files.names).toEqual(['config.json', 'notes.txt']);
    expect(await readJson(files, 'config.json')).toEqual({ a: 1 });
    await expect(files.source('tokenizer.json')).rejects.toThrow(/missing file tokenizer\.json \(have: config\.json, notes\.txt\)/);
    expect(() => browserFileSet([new File(['1'], 'a.json'), new File(['2'], 'a.json')])).toThrow(/two files named a\.json/);
  });

  it('readText and readJson name the file they could not read', async () => {
    const files = memoryFileSet({ 'bad.json': '{x', 'bin.json': new Uint8Array([0xff, 0xfe]) });
    await expect(readJson(files, 'bad.json')).rejects.toThrow(/^bad\.json: not valid JSON/);
    await expect(readText(files, 'bin.json')).rejects.toThrow(/^bin\.json: not valid UTF-8 text$/);
  });

  it('fetchFileSet fetches each file once, and again after a failure', async () => {
    const calls: string[] = [];
    let fail = true;
    const fakeFetch = (async (url: string) => {
      calls.push(url);
      if (url.endsWith('tokenizer.json') && fail) return new Response('', { status: 404 });
      return new Response(url.endsWith('config.json') ? '{"model_type":"llama"}' : 'tok');
    }) as unknown as typeof fetch;
    const files = fetchFileSet('/teacher/stories260K', ['config.json', 'tokenizer.json'], fakeFetch);
    expect(await readJson(files, 'config.json')).toEqual({ model_type: 'llama' });
    expect(await readJson(files, 'config.json')).toEqual({ model_type: 'llama' });
    await expect(files.source('tokenizer.json')).rejects.toThrow(/\/teacher\/stories260K\/tokenizer\.json: HTTP 404/);
    fail = false;
    expect(await readText(files, 'tokenizer.json')).toBe('tok');
    await expect(files.source('model.safetensors')).rejects.toThrow(/missing file model\.safetensors/);
    expect(calls).toEqual(['/teacher/stories260K/config.json', '/teacher/stories260K/tokenizer.json', '/teacher/stories260K/tokenizer.json']);
  });
});
