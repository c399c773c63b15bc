// The GPU teacher path of stage 1 (embedding → norm → q, k → rotary → softmax matrix) against the
// float64 Llama reference on the real stories260K weights and a real story.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeDirFileSet } from '../../src/io/files';
import { openCheckpoint } from '../../src/io/safetensors';
import { splitDocuments } from '../../src/io/corpus';
import { loadTeacher } from '../../src/models/teacher';
import { teacherAttentionOps } from '../../src/mohawk/teacher-attention';
import { llamaForward, loadLlama } from '../../src/ref/llama';
import { relErr, testGpu } from '../helpers/gpu';

const ROOT = resolve(__dirname, '../..');

describe('teacher attention on the GPU', () => {
  it('matches the float64 reference for every layer-0 head of stories260K', async () => {
    const gpu = await testGpu();
    const files = await nodeDirFileSet(`${ROOT}/public/teacher/stories260K`);
    const teacher = await loadTeacher(gpu, files, 'stories260K');
    const story = splitDocuments(readFileSync(`${ROOT}/public/corpus/tinystories-2MiB.txt`, 'utf8'))[0];
    const L = 40;
    const ids = teacher.tokenizer.encode(story).slice(0, L);
    expect(ids.length).toBe(L);
    const idBuf = gpu.upload(Uint32Array.from(ids));
    const t = teacherAttentionOps(gpu, teacher.shape, teacher.layerWeights(0), { ids: idBuf, batch: 1, L });
    gpu.run(t.ops);
    const got = await gpu.read(t.attention, teacher.shape.heads * L * L);
    await gpu.check();
    const { model } = await loadLlama(await openCheckpoint(files), teacher.config);
    const want = llamaForward(model, ids, { trace: true }).layers[0].attnProbs;
    expect(relErr(got, want)).toBeLessThan(1e-4);
    teacher.release();
  });
});
