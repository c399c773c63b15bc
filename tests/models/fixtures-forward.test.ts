// The GPU teacher forward of every architecture against PyTorch (transformers, float64) on the
// trained fixtures of tests/fixtures/ (scripts/fixtures/make_fixtures.py makes them).
import { describe, expect, it } from 'vitest';
import { nodeDirFileSet } from '../../src/io/files';
import { Decoder } from '../../src/models/decoder';
import { meanNll } from '../../src/models/evaluate';
import { loadTeacher } from '../../src/models/teacher';
import { FIXTURE_NAMES, loadFixture } from '../helpers/fixtures';
import { relErrOfScale, testGpu } from '../helpers/gpu';


describe.each(FIXTURE_NAMES)('teacher forward: %s', (name) => {
  it('gives transformers\' logits and mean NLL', async () => {
    const gpu = await testGpu();
    const fx = await loadFixture(name);
    const teacher = await loadTeacher(gpu, await nodeDirFileSet(fx.dir), name);
    expect(teacher.summary.warnings).toEqual([]);
    const batch = fx.inputIds.length, L = fx.inputIds[0]!.length;
    const ids = Uint32Array.from(fx.inputIds.flat());
    const dec = new Decoder(gpu, teacher.config, teacher.weights, { batch, L, ids: gpu.upload(ids) });
    gpu.run(dec.ops);
    const logits = await gpu.read(dec.logits!);
    await gpu.check();
    expect(relErrOfScale(logits, fx.logits)).toBeLessThan(1e-4);
    const nll = await meanNll(gpu, teacher, fx.inputIds);
    expect(Math.abs(nll.meanNll - fx.meanNll) / fx.meanNll).toBeLessThan(1e-5);
    dec.release();
    teacher.release();
  });
});
