// The decoder's recomputing backward (DecoderOptions.recompute, stage 3 at large shapes): only the
// residual stream is kept per layer and each block's forward runs again before its backward. Its
// gradients must be the ones of the backward that keeps every layer, for each block form: sequential
// (llama, here a hybrid with an attention layer), parallel with one norm (phi) and two (gpt_neox), and
// post norms (gemma3, attention kept in a sliding layer); and it must hold less memory. Both take the
// mixers' buffers from the decoder, every layer sharing the backward's and the kernels' scratch: the
// mixers that make their own buffers (as stages 1 and 2 do) give the reference gradients.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/io/config';
import { crossEntropy } from '../../src/kernels/losses';
import { Decoder, type DecoderOptions } from '../../src/models/decoder';
import { AttentionMixer } from '../../src/models/layers';
import { MambaMixer } from '../../src/models/mamba-mixer';
import { defaultMixer, ParamSet, studentMixers, studentShapes } from '../../src/models/student';
import { FIXTURES_DIR } from '../helpers/fixtures';
import { testGpu } from '../helpers/gpu';
import { randomStudent } from '../helpers/student';

const CASES: [string, number[]][] = [
  ['llama-gqa', [1]],
  ['phi', []],
  ['gpt_neox', []],
  ['gemma3', [0]],
];

describe.each(CASES)('recomputed backward: %s, attention layers [%s]', (name, attentionLayers) => {
  it('gives the gradients of the backward that keeps every layer, holding less', async () => {
    const json = JSON.parse(readFileSync(join(FIXTURES_DIR, name, 'config.json'), 'utf8')) as Record<string, unknown>;
    const layers = 3;
    if (Array.isArray(json.layer_types)) json.layer_types = ['sliding_attention', 'full_attention', 'sliding_attention'];
    const c = parseConfig({ ...json, num_hidden_layers: layers }, `${name}/config.json`);
    const spec = { config: c, mixer: defaultMixer(c, 8), attentionLayers };
    const ps = new ParamSet(await testGpu(), studentShapes(spec), randomStudent(c, spec.mixer, attentionLayers, 17).tensors, 'student');
    const gpu = await testGpu();
    const batch = 2, L = 16, rows = batch * L, V = c.vocab;
    const ids = gpu.upload(Uint32Array.from({ length: rows }, (_, i) => (i * 37 + 11) % V));
    const targets = gpu.upload(Uint32Array.from({ length: rows }, (_, i) => (i * 53 + 7) % V));
    // Each mixer with buffers of its own, none shared between layers.
    const own: DecoderOptions['mixer'] = (l, acts, io) => {
      if (attentionLayers.includes(l)) return new AttentionMixer(gpu, { c, w: ps, layer: l, io, acts });
      const p = `layers.${l}.mixer.`;
      const m = new MambaMixer(gpu, spec.mixer, io, { w: (n) => ps.get(p + n), g: (n) => ps.grad(p + n) });
      return { forward: (u, out) => m.forward(u, out), backward: (dOut, dU, o) => m.backward(dOut, dU, o ?? {}), release: () => m.release() };
    };
    const run = async (mode: 'own' | 'kept' | 'recompute') => {
      gpu.trim();
      const before = gpu.memory.liveBytes;
      const opts: DecoderOptions = mode === 'own' ? { keepLayers: true, mixer: own } : mode === 'kept' ? { keepLayers: true, mixer: studentMixers(gpu, spec, ps) } : { recompute: true, mixer: studentMixers(gpu, spec, ps) };
      const dec = new Decoder(gpu, c, ps, { batch, L, ids }, opts);
      const dLogits = gpu.zeros(rows * V), loss = gpu.zeros(1);
      const ce = crossEntropy(gpu, { logits: dec.logits!, targets, rows, vocab: V, rowLoss: gpu.zeros(rows), loss, dLogits });
      const ops = [...dec.ops, ...ce, ...dec.backward(dLogits)];
      const held = gpu.memory.liveBytes - before;
      // Twice, as a training step runs each micro-batch: the second finds the first's activations.
      for (let k = 0; k < 2; k++) gpu.run(ops);
      const grads = ps.layout.unpack(await ps.readFlat(ps.grads));
      const logits = await gpu.read(dec.logits!);
      ps.write(ps.grads, new Float32Array(ps.layout.size));
      await gpu.check();
      dec.release();
      gpu.release(dLogits);
      return { grads, logits, held };
    };
    const ref = await run('own');
    const kept = await run('kept');
    const re = await run('recompute');
    const off: string[] = [];
    for (const [what, r] of [['kept', kept], ['recomputed', re]] as const) {
      expect(Array.from(r.logits), what).toEqual(Array.from(ref.logits));
      for (const [n, g] of ref.grads) {
        let scale = 0, diff = 0;
        const x = r.grads.get(n)!;
        for (let i = 0; i < g.length; i++) {
          scale = Math.max(scale, Math.abs(g[i]!));
          diff = Math.max(diff, Math.abs(g[i]! - x[i]!));
        }
        if (!(scale > 0)) off.push(`${n}: no gradient`);
        else if (!(diff <= 1e-6 * scale)) off.push(`${what} ${n}: differs by ${(diff / scale).toExponential(2)} of its largest entry`);
      }
    }
    expect(off).toEqual([]);
    expect([...ref.grads.keys()].some((n) => n.includes('.mixer.'))).toBe(true);
    expect(kept.held).toBeLessThan(ref.held);
    expect(re.held).toBeLessThan(kept.held);
    console.log(`${name}: ${layers} layers hold ${ref.held} bytes with mixers' own buffers, ${kept.held} kept, ${re.held} recomputed`);
    ps.release();
  }, 240_000);
});
