// The decoder's backward pass (stage 3 and hybrid layers): for every architecture, the gradient of
// each tensor, taken along a random direction, against central differences of the GPU forward loss.
// The direction is in one tensor at a time, so a wrong gradient cannot hide behind a large right one.
import { describe, expect, it } from 'vitest';
import { nodeDirFileSet } from '../../src/io/files';
import { crossEntropy } from '../../src/kernels/losses';
import { Decoder } from '../../src/models/decoder';
import { ParamSet } from '../../src/models/student';
import { loadTeacher } from '../../src/models/teacher';
import { loadFixture } from '../helpers/fixtures';
import { randn, testGpu } from '../helpers/gpu';

describe.each(['llama-gqa', 'gpt2', 'gpt_neox', 'phi'] as const)('decoder backward: %s', (name) => {
  it('matches central differences of the loss, tensor by tensor', async () => {
    const gpu = await testGpu();
    const fx = await loadFixture(name);
    const teacher = await loadTeacher(gpu, await nodeDirFileSet(fx.dir), name);
    const host = new Map<string, Float32Array>();
    for (const t of teacher.source.tensors) host.set(t.name, await t.read());
    const shapes = new Map([...host].map(([n, v]) => [n, n === 'embed' ? [teacher.config.vocab, teacher.config.dModel] : [v.length]]));
    const ps = new ParamSet(gpu, shapes, host, 'test');
    const batch = 2, L = 12, rows = batch * L;
    const ids = Uint32Array.from(fx.inputIds.flatMap((r) => r.slice(0, L)));
    const targets = Uint32Array.from(fx.inputIds.flatMap((r) => r.slice(1, L + 1)));
    const dec = new Decoder(gpu, teacher.config, ps, { batch, L, ids: gpu.upload(ids) }, { keepLayers: true });
    const rowLoss = gpu.zeros(rows), loss = gpu.zeros(1), dLogits = gpu.zeros(rows * teacher.config.vocab);
    const ce = crossEntropy(gpu, { logits: dec.logits!, targets: gpu.upload(targets), rows, vocab: teacher.config.vocab, rowLoss, loss, dLogits });
    gpu.run([...dec.ops, ...ce, ...dec.backward(dLogits)]);
    const grads = ps.layout.unpack(await ps.readFlat(ps.grads));
    const flat = await ps.readFlat();
    const lossAt = async (values: Float32Array) => {
      ps.write(ps.values, values);
      gpu.run([...dec.ops, ...ce]);
      return (await gpu.read(loss, 1))[0]!;
    };
    const worst: string[] = [];
    let seed = 11;
    for (const [n, s] of ps.layout.slices) {
      if (!/^(embed|pos|head|final_norm|layers\.0\.|layers\.1\.)/.test(n)) continue;
      // Along the gradient itself (a strong signal) plus a random part (so an error orthogonal to the
      // computed gradient still shows).
      const g = grads.get(n)!;
      const r = randn(s.count, seed++);
      let gl = 0, rl = 0;
      for (let i = 0; i < s.count; i++) {
        gl += g[i]! ** 2;
        rl += r[i]! ** 2;
      }
      gl = Math.sqrt(gl) || 1;
      rl = Math.sqrt(rl);
      const dir = r.map((v, i) => g[i]! / gl + (0.5 * v) / rl);
      let analytic = 0;
      for (let i = 0; i < s.count; i++) analytic += g[i]! * dir[i]!;
      // A step that moves the loss by about 1e-3 (far above its f32 rounding), but by no more than 3% of
      // the tensor's own norm, so that the cubic term of the central difference stays small.
      let wn = 0, dn = 0;
      for (let i = 0; i < s.count; i++) {
        wn += flat[s.offset + i]! ** 2;
        dn += dir[i]! ** 2;
      }
      const eps = Math.min(1e-3 / Math.max(Math.abs(analytic), 1e-3), (3e-2 * Math.max(Math.sqrt(wn), Math.sqrt(s.count) * 1e-1)) / Math.sqrt(dn));
      const plus = flat.slice(), minus = flat.slice();
      for (let i = 0; i < s.count; i++) {
        plus[s.offset + i] += eps * dir[i]!;
        minus[s.offset + i] -= eps * dir[i]!;
      }
      const numeric = ((await lossAt(plus)) - (await lossAt(minus))) / (2 * eps);
      // The loss is an f32 mean over a 2-layer forward: differences of ~1e-5 are rounding, not signal.
      const noise = 1e-5 / eps;
      const rel = Math.abs(numeric - analytic) / (Math.max(Math.abs(numeric), Math.abs(analytic)) + noise);
      if (!(rel < 2e-2)) worst.push(`${n}: analytic ${analytic.toExponential(4)} numeric ${numeric.toExponential(4)} (rel ${rel.toExponential(2)})`);
    }
    ps.write(ps.values, flat);
    await gpu.check();
    expect(worst).toEqual([]);
    ps.release();
    dec.release();
    teacher.release();
  }, 240_000);
});
