// The exported student: written to a folder, loaded back by loadModel (as `mohawk eval` does), run on
// the GPU, and held to the float64 student forward; what a broken export or config is told.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type ArchConfig } from '../../src/io/config';
import { encodeDocuments } from '../../src/io/corpus';
import { memoryFileSet, nodeDirFileSet } from '../../src/io/files';
import { openCheckpoint, SafetensorsFile, writeSafetensors } from '../../src/io/safetensors';
import { bytesSource } from '../../src/io/files';
import { Decoder } from '../../src/models/decoder';
import { meanNll } from '../../src/models/evaluate';
import { loadModel } from '../../src/models/load';
import { defaultMixer, initialStudent, studentShapes } from '../../src/models/student';
import { loadTeacher } from '../../src/models/teacher';
import type { MixerShape } from '../../src/models/mamba-mixer-shape';
import { exportStudentFiles, parseStudentConfig, studentConfigJson, type NamedBytes } from '../../src/models/student-files';
import { studentForwardRef, studentMeanNllRef } from '../../src/ref/student';
import { loadFixture, type Fixture } from '../helpers/fixtures';
import { relErrOfScale, testGpu } from '../helpers/gpu';
import { randomStudent, type RandomStudent } from '../helpers/student';

const BIN = fileURLToPath(new URL('../../bin/mohawk.mjs', import.meta.url));


let fx: Fixture;
let teacherJson: Record<string, unknown>;
let teacher: ArchConfig;
let tokenizerFiles: NamedBytes[];
const dirs: string[] = [];

beforeAll(async () => {
  ({ fx, teacherJson, tokenizerFiles } = await teacherFiles('llama-gqa'));
  teacher = parseConfig(teacherJson);
});

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function defaultShape(c: ArchConfig, chunk?: number): MixerShape {
  return { d: c.dModel, dInner: c.dModel, nV: c.heads, nQK: c.heads, N: c.headDim, outBias: c.biases.attention, chunk };
}

/** The teacher a student is exported from: its fixture, config.json and tokenizer files. */
interface TeacherFiles {
  fx: Fixture;
  teacherJson: Record<string, unknown>;
  tokenizerFiles: NamedBytes[];
}

async function teacherFiles(name: 'llama-gqa' | 'gemma3'): Promise<TeacherFiles> {
  const f = await loadFixture(name);
  const files = ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json'].map((n) => ({ name: n, bytes: readFileSync(`${f.dir}/${n}`) }));
  return { fx: f, teacherJson: JSON.parse(readFileSync(`${f.dir}/config.json`, 'utf8')), tokenizerFiles: files };
}

function exportTo(s: RandomStudent, t: Omit<TeacherFiles, 'fx'> = { teacherJson, tokenizerFiles }): { dir: string; files: NamedBytes[] } {
  const configJson = studentConfigJson(t.teacherJson, { mixer: s.spec.mixer, attentionLayers: s.spec.attentionLayers, provenance: { test: true, stages: [1, 2, 3] } });
  const files = exportStudentFiles({ configJson, tensors: s.tensors, shapes: s.shapes, tokenizerFiles: t.tokenizerFiles });
  const dir = mkdtempSync(join(tmpdir(), 'mohawk-student-'));
  dirs.push(dir);
  for (const f of files) writeFileSync(join(dir, f.name), f.bytes);
  return { dir, files };
}

async function checkAgainstReference(s: RandomStudent, t: TeacherFiles = { fx, teacherJson, tokenizerFiles }) {
  const gpu = await testGpu();
  const { fx } = t;
  const { dir } = exportTo(s, t);
  const model = await loadModel(gpu, await nodeDirFileSet(dir), 'student');
  expect(model.warnings).toEqual([]);
  expect(model.student?.attentionLayers).toEqual(s.spec.attentionLayers);
  const batch = fx.inputIds.length, L = fx.inputIds[0]!.length, V = s.spec.config.vocab;
  const ids = gpu.upload(new Uint32Array(fx.inputIds.flat()));
  const dec = new Decoder(gpu, model.config, model.weights, { batch, L, ids }, { mixer: model.mixer });
  gpu.run(dec.ops);
  const logits = await gpu.read(dec.logits!);
  await gpu.check();
  dec.release();
  gpu.release(ids);
  for (let b = 0; b < batch; b++) {
    const ref = studentForwardRef(s.spec, s.tensors, fx.inputIds[b]!);
    expect(relErrOfScale(logits.subarray(b * L * V, (b + 1) * L * V), ref)).toBeLessThan(1e-4);
  }
  // Uneven documents: end padding must change nothing, as for the teacher.
  const docs = [fx.inputIds[0]!.slice(0, 17), fx.inputIds[1]!, fx.inputIds[0]!.slice(3, 12)];
  const got = await meanNll(gpu, model, docs);
  const want = studentMeanNllRef(s.spec, s.tensors, docs);
  expect(got.tokens).toBe(16 + 23 + 8);
  expect(Math.abs(got.meanNll - want) / want).toBeLessThan(1e-5);
  model.release();
  return { dir, want };
}

describe('exported student', () => {
  it('writes model.safetensors (F32, canonical names, metadata), config.json and the tokenizer files', () => {
    const s = randomStudent(teacher, defaultShape(teacher, 8), [], 1);
    const { files } = exportTo(s);
    expect(files.map((f) => f.name)).toEqual(['model.safetensors', 'config.json', 'tokenizer.json', 'tokenizer_config.json']);
    const cfg = JSON.parse(new TextDecoder().decode(files[1]!.bytes));
    expect(cfg.model_type).toBe('mohawk_student');
    expect(cfg.architectures).toEqual(['MohawkStudentForCausalLM']);
    expect(cfg.teacher_config).toEqual(teacherJson);
    expect(cfg.mixer).toEqual({ type: 'discrete_mamba2', d_inner: 64, n_v: 4, n_qk: 4, state_size: 16, conv_kernel: 4, chunk_size: 8, out_proj_bias: true });
    expect(cfg.attention_layers).toEqual([]);
    expect(cfg.mohawk).toEqual({ test: true, stages: [1, 2, 3] });
    const parsed = parseStudentConfig(cfg);
    expect(parsed.mixer).toEqual(s.spec.mixer);
    expect(parsed.teacher).toEqual(teacher);
    return SafetensorsFile.open(bytesSource('model.safetensors', files[0]!.bytes)).then(async (st) => {
      expect(st.metadata).toEqual({ format: 'pt', producer: 'mohawk-studio' });
      expect([...st.tensors.keys()]).toEqual([...s.shapes.keys()]);
      for (const [n, info] of st.tensors) {
        expect(info.dtype).toBe('F32');
        expect(info.shape).toEqual(s.shapes.get(n));
      }
      expect(await st.readF32('layers.1.mixer.in_proj.weight')).toEqual(s.tensors.get('layers.1.mixer.in_proj.weight'));
      expect(st.tensors.has('layers.0.mixer.out_proj.bias')).toBe(true);
    });
  });

  it('loads back and runs as the float64 student: logits and mean NLL (Mamba-2 in every layer, SSD over 3 chunks)', async () => {
    await checkAgainstReference(randomStudent(teacher, defaultShape(teacher, 8), [], 2));
  });

  it('a hybrid keeping attention in layer 1 loads back and runs as the float64 student', async () => {
    const s = randomStudent(teacher, defaultShape(teacher), [1], 3);
    expect(s.shapes.has('layers.1.attn.q.bias')).toBe(true);
    expect([...s.shapes.keys()].some((n) => n.startsWith('layers.1.mixer.'))).toBe(false);
    await checkAgainstReference(s);
  });

  it('of a gemma3 teacher: stores its norms as the multipliers 1 + w, loads back and runs as the float64 student', async () => {
    const g = await teacherFiles('gemma3');
    const c = parseConfig(g.teacherJson);
    const t = await loadTeacher(await testGpu(), await nodeDirFileSet(g.fx.dir), 'gemma3', undefined, { upload: false });
    // Attention kept in the sliding layer, the mixer in the full one; post norms around both.
    const spec = { config: c, mixer: defaultMixer(c, 8), attentionLayers: [0] };
    const tensors = await initialStudent(spec, t.source, 5);
    t.release();
    const store = await openCheckpoint(await nodeDirFileSet(g.fx.dir));
    for (const [ours, hf] of [['layers.1.mlp_out_norm', 'post_feedforward_layernorm'], ['layers.1.mixer_out_norm', 'post_attention_layernorm'], ['layers.0.attn.q_norm', 'self_attn.q_norm']]) {
      const w = await store.readF32(`model.layers.${ours.split('.')[1]}.${hf}.weight`);
      expect(tensors.get(`${ours}.weight`), ours).toEqual(w.map((v) => v + 1));
    }
    await checkAgainstReference({ spec, shapes: studentShapes(spec), tensors }, g);
  });

  it('`mohawk eval` evaluates an exported student (one JSON line, the float64 NLL)', async () => {
    const s = randomStudent(teacher, defaultShape(teacher, 8), [], 4);
    const { dir } = exportTo(s);
    const data = join(dir, 'data.txt');
    writeFileSync(data, fx.texts.join('\n<|endoftext|>\n'));
    const model = await loadModel(await testGpu(), await nodeDirFileSet(dir), 'student');
    const docs = encodeDocuments(model.tokenizer, fx.texts, { maxTokens: 24 });
    model.release();
    const want = studentMeanNllRef(s.spec, s.tensors, docs);
    const r = spawnSync(process.execPath, [BIN, 'eval', '--model', dir, '--data', data, '--max-tokens', '24', '--json'], { encoding: 'utf8', timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout.trim());
    expect(j.tokens).toBe(docs.reduce((a, d) => a + d.length - 1, 0));
    expect(Math.abs(j.mean_nll - want) / want).toBeLessThan(1e-5);
  }, 300_000);
});

describe('exported student: bad files', () => {
  const cfgWith = (edit: (c: Record<string, any>) => void) => {
    const c = studentConfigJson(structuredClone(teacherJson), { mixer: defaultShape(teacher), attentionLayers: [], provenance: {} }) as Record<string, any>;
    edit(c);
    return c;
  };

  it('config.json errors name the field', () => {
    expect(() => parseStudentConfig(cfgWith((c) => delete c.mixer))).toThrow(/config.json \(mohawk_student\): mixer is missing/);
    expect(() => parseStudentConfig(cfgWith((c) => delete c.teacher_config))).toThrow(/teacher_config is missing/);
    expect(() => parseStudentConfig(cfgWith((c) => delete c.teacher_config.hidden_size))).toThrow(/config.json teacher_config \(llama\): missing required field hidden_size/);
    expect(() => parseStudentConfig(cfgWith((c) => (c.mixer.type = 'mamba1')))).toThrow(/mixer.type "mamba1" is not supported/);
    expect(() => parseStudentConfig(cfgWith((c) => delete c.mixer.state_size))).toThrow(/mixer.state_size is missing/);
    expect(() => parseStudentConfig(cfgWith((c) => (c.mixer.n_v = 3)))).toThrow(/mixer \(d_inner, n_v, n_qk, state_size\).*dInner must be a multiple of nV/);
    expect(() => parseStudentConfig(cfgWith((c) => (c.mixer.chunk_size = 0)))).toThrow(/mixer.chunk_size = 0 is not a positive integer/);
    expect(() => parseStudentConfig(cfgWith((c) => (c.mixer.conv_kernel = 3)))).toThrow(/mixer.conv_kernel = 3: only 4 is supported/);
    expect(() => parseStudentConfig(cfgWith((c) => (c.attention_layers = [2])))).toThrow(/attention_layers holds 2, not a layer index in \[0, 2\)/);
    expect(() => parseStudentConfig(cfgWith((c) => (c.attention_layers = [1, 1])))).toThrow(/attention_layers names layer 1 twice/);
  });

  it('export refuses tensors that do not fit config.json', () => {
    const s = randomStudent(teacher, defaultShape(teacher), [], 5);
    const configJson = studentConfigJson(teacherJson, { mixer: s.spec.mixer, attentionLayers: [], provenance: {} });
    const shapes = new Map(s.shapes);
    shapes.set('layers.0.mixer.D', [5]);
    expect(() => exportStudentFiles({ configJson, tensors: s.tensors, shapes, tokenizerFiles })).toThrow(/export: layers.0.mixer.D has shape \[5\], config.json implies \[4\]/);
    const fewer = new Map(s.shapes);
    fewer.delete('head.weight');
    expect(() => exportStudentFiles({ configJson, tensors: s.tensors, shapes: fewer, tokenizerFiles })).toThrow(/export: head.weight is missing/);
    expect(() => exportStudentFiles({ configJson, tensors: s.tensors, shapes: s.shapes, tokenizerFiles: [] })).toThrow(/tokenizer.json is missing/);
  });

  it('loading names a missing or misshapen tensor before any upload, and warns of unused ones', async () => {
    const gpu = await testGpu();
    const s = randomStudent(teacher, defaultShape(teacher), [], 6);
    const configJson = JSON.stringify(studentConfigJson(teacherJson, { mixer: s.spec.mixer, attentionLayers: [], provenance: {} }));
    const tok = { 'tokenizer.json': readFileSync(`${fx.dir}/tokenizer.json`), 'tokenizer_config.json': readFileSync(`${fx.dir}/tokenizer_config.json`) };
    const files = (edit: (t: { name: string; shape: number[]; data: Float32Array }[]) => { name: string; shape: number[]; data: Float32Array }[]) =>
      memoryFileSet({ 'config.json': configJson, 'model.safetensors': writeSafetensors(edit([...s.shapes].map(([name, shape]) => ({ name, shape, data: s.tensors.get(name)! })))), ...tok });
    await expect(loadModel(gpu, files((ts) => ts.filter((t) => t.name !== 'layers.1.mixer.z_bias')), 'x')).rejects.toThrow(
      /model.safetensors lacks tensor the student's config.json needs: layers.1.mixer.z_bias/,
    );
    await expect(
      loadModel(gpu, files((ts) => ts.map((t) => (t.name === 'layers.0.mixer.conv1d.weight' ? { ...t, shape: [t.shape[1]!, t.shape[0]!] } : t))), 'x'),
    ).rejects.toThrow(/tensor layers.0.mixer.conv1d.weight has shape \[4,192\] but config.json implies \[192,4\]/);
    const m = await loadModel(gpu, files((ts) => [...ts, { name: 'layers.0.attn.q.weight', shape: [2], data: new Float32Array(2) }]), 'x');
    expect(m.warnings.join(' ')).toMatch(/1 tensor\(s\) in the checkpoint are not used: layers.0.attn.q.weight/);
    m.release();
  });
});
