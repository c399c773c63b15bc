// Making the student from a large teacher without host work that scales with what is never used:
// the random in_proj rows are drawn only where they are kept (normalRange jumps the generator to
// them), and a streamed run's teacher is not read whole before the run reads its tensors.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/io/config';
import { nodeDirFileSet, type FileSet } from '../../src/io/files';
import { mixerDims } from '../../src/models/mamba-mixer-shape';
import { normal, normalRange, xorshiftJump } from '../../src/models/params';
import { defaultMixer, initialStudent } from '../../src/models/student';
import { loadTeacher } from '../../src/models/teacher';
import { randomStudent } from '../helpers/student';
import { loadFixture } from '../helpers/fixtures';
import { testGpu } from '../helpers/gpu';

/** The draw as `normal` made it before ranges: every value from the first, one xorshift step at a time. */
function drawnWhole(n: number, std: number, seed: number): Float32Array {
  let s = seed >>> 0 || 0x9e3779b9;
  const u = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u()));
    const t = 2 * Math.PI * u();
    out[i] = r * Math.cos(t) * std;
    if (i + 1 < n) out[i + 1] = r * Math.sin(t) * std;
  }
  return out;
}

describe('normalRange', () => {
  it('jumps the xorshift generator exactly as many steps as stepping it', () => {
    for (const seed of [1, 0x9e3779b9, 0xffffffff, 12345]) {
      let s = seed;
      for (let k = 0; k <= 300; k++) {
        expect(xorshiftJump(seed, k)).toBe(s);
        s ^= s << 13;
        s >>>= 0;
        s ^= s >>> 17;
        s ^= s << 5;
        s >>>= 0;
      }
    }
  });

  it('gives the values of the whole draw, for even and odd ends, and normal() is the whole draw', () => {
    for (const [n, seed] of [[1001, 0], [4096, 7], [777, 2 ** 31 + 5]] as const) {
      const whole = drawnWhole(n, 0.3, seed);
      expect(normal(n, 0.3, seed)).toEqual(whole);
      for (const [from, to] of [[0, n], [0, 1], [1, 2], [2, 5], [n - 1, n], [n - 7, n], [333, 334], [400, 400], [128, 641]]) {
        expect(normalRange(n, 0.3, seed, from, to)).toEqual(whole.subarray(from, to));
      }
    }
    expect(() => normalRange(10, 1, 1, 4, 11)).toThrow(/not inside/);
  });
});

describe('initialStudent', () => {
  const c = parseConfig({ model_type: 'llama', hidden_size: 32, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 48, vocab_size: 64, rms_norm_eps: 1e-5, max_position_embeddings: 64 });
  const teacher = randomStudent(c, defaultMixer(c, 8), [0, 1, 2], 4).tensors;

  it("draws the same random rows as a whole draw (A rows, and a mixer not made from the attention's conv rows) and reports each layer", async () => {
    for (const mixer of [defaultMixer(c, 8), { ...defaultMixer(c, 8), N: 4 }]) {
      const seen: [number, number][] = [];
      const v = await initialStudent({ config: c, mixer, attentionLayers: [1] }, teacher, 11, () => true, (d, t) => seen.push([d, t]));
      expect(seen).toEqual([[0, 3], [1, 3], [2, 3], [3, 3]]);
      const dims = mixerDims(mixer);
      const d = c.dModel;
      const fromAttention = mixer.N === c.headDim;
      for (const i of [0, 2]) {
        const whole = drawnWhole(dims.proj * d, 1 / Math.sqrt(d), 11 + 101 * i);
        const inProj = v.get(`layers.${i}.mixer.in_proj.weight`)!;
        expect(inProj.subarray(dims.aOff * d)).toEqual(whole.subarray(dims.aOff * d).map((x) => x * 0.1));
        if (!fromAttention) expect(inProj.subarray(0, dims.convCh * d)).toEqual(whole.subarray(0, dims.convCh * d));
        // z rows stay 0.
        expect(inProj.subarray(dims.zOff * d, dims.aOff * d).every((x) => x === 0)).toBe(true);
      }
    }
  });
});

describe('loadTeacher readAll: false', () => {
  it('reads the safetensors headers and no tensor, and the tensors stay readable', async () => {
    const fx = await loadFixture('gpt2');
    const files = await nodeDirFileSet(fx.dir);
    let tensorBytes = 0;
    const counting: FileSet = {
      names: files.names,
      has: (n) => files.has(n),
      source: async (n) => {
        const src = await files.source(n);
        if (!n.endsWith('.safetensors')) return src;
        // Beyond the 8 length bytes and the header every read is tensor data.
        return { ...src, name: src.name, size: src.size, read: async (offset: number, length: number) => {
          if (offset > 8) tensorBytes += length;
          return src.read(offset, length);
        } };
      },
    };
    const gpu = await testGpu();
    const read: number[] = [];
    const t = await loadTeacher(gpu, counting, 'gpt2', undefined, { upload: false, readAll: false, onRead: (d) => read.push(d) });
    expect(tensorBytes).toBe(0);
    expect(read).toEqual([]);
    const name = t.source.tensors[0]!.name;
    expect((await t.source.read(name)).length).toBe(t.source.shape(name).reduce((a, b) => a * b, 1));
    expect(tensorBytes).toBeGreaterThan(0);
    t.release();
  });
});
