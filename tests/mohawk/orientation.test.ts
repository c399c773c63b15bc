// The stage-1 seed end to end in Node: the real stories260K teacher, the real corpus, WGSL all the way.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeDirFileSet } from '../../src/io/files';
import { loadTeacher } from '../../src/models/teacher';
import { Orientation } from '../../src/mohawk/orientation';
import { TokenStream } from '../../src/mohawk/token-stream';
import { testGpu } from '../helpers/gpu';

const ROOT = resolve(__dirname, '../..');

describe('stage 1 seed on stories260K', () => {
  it('fits layer 0 attention: the Frobenius loss falls by at least half', async () => {
    const gpu = await testGpu();
    const teacher = await loadTeacher(gpu, await nodeDirFileSet(`${ROOT}/public/teacher/stories260K`), 'stories260K');
    const text = readFileSync(`${ROOT}/public/corpus/tinystories-2MiB.txt`, 'utf8');
    const stream = TokenStream.fromText(text, teacher.tokenizer, { maxDocs: 60 });
    const stage = new Orientation(gpu, teacher.shape, teacher.layerWeights(0), { batch: 2, L: 32, lr: 0.02, seed: 7 });
    const losses: number[] = [];
    for (let i = 0; i < 60; i++) losses.push((await stage.step(stream.sample(2, 32))).loss);
    await gpu.check();
    const first = losses.slice(0, 3).reduce((a, b) => a + b) / 3;
    const last = losses.slice(-5).reduce((a, b) => a + b) / 5;
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(last).toBeLessThan(first * 0.5);
    teacher.release();
  });
});
