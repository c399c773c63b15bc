// The student as files a user downloads and anyone can load again: model.safetensors (F32, the
// canonical names of src/models/DESIGN.md), config.json (the teacher's config.json verbatim under
// "teacher_config", the mixer's shape, the kept attention layers, how it was made) and the teacher's
// tokenizer files. `mohawk eval` and src/models/load.ts read this layout back; scripts/student_torch.py
// runs it in plain PyTorch. The tensors are canonical, not the teacher's checkpoint layout: norm
// weights are the multipliers the norms apply, so a gemma3_text teacher's (stored as w, applied as
// 1 + w) are saved as 1 + w and read back as they are (teacher_config's offset is for checkpoints only).
import { configObject, ConfigError, parseConfig, type ArchConfig } from '../io/config';
import { safetensorsLazy, safetensorsParts } from '../io/safetensors';
import { joinBytes, type Bytes } from '../io/bytes';
import { MIXER_CONV_K, MIXER_DEFAULT_CHUNK, mixerDims, type MixerShape } from './mamba-mixer-shape';
import { studentShapes } from './student';

export const STUDENT_MODEL_TYPE = 'mohawk_student';
export const STUDENT_MIXER_TYPE = 'discrete_mamba2';
export const STUDENT_METADATA = { format: 'pt', producer: 'mohawk-studio' } as const;
/** The tokenizer files a student carries over from its teacher (tokenizer.json is required). */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json'] as const;

export interface StudentConfigOptions {
  mixer: MixerShape;
  /** Layers that keep the teacher's attention. */
  attentionLayers: number[];
  /** How the student was made (stages, tokens, plan, teacher name, date...): kept under "mohawk". */
  provenance: Record<string, unknown>;
  /** Where the hybrid advisor chose attentionLayers: its choice and evidence, kept under "hybrid_advisor". */
  hybridAdvisor?: Record<string, unknown> | null;
}

export interface ParsedStudentConfig {
  teacher: ArchConfig;
  mixer: MixerShape;
  attentionLayers: number[];
}

export interface NamedBytes {
  name: string;
  bytes: Uint8Array;
}

/** A file as parts to write one after another, or made piece by piece (model.safetensors can be larger than one typed array, or than the host should hold). */
export interface NamedParts {
  name: string;
  parts: Bytes;
}

/** The student's config.json object. */
export function studentConfigJson(teacherConfigJson: object, opts: StudentConfigOptions): Record<string, unknown> {
  const m = opts.mixer;
  return {
    model_type: STUDENT_MODEL_TYPE,
    architectures: ['MohawkStudentForCausalLM'],
    teacher_config: teacherConfigJson,
    mixer: {
      type: STUDENT_MIXER_TYPE,
      d_inner: m.dInner,
      n_v: m.nV,
      n_qk: m.nQK,
      state_size: m.N,
      conv_kernel: MIXER_CONV_K,
      chunk_size: m.chunk ?? MIXER_DEFAULT_CHUNK,
      // Not implied by the teacher: a mixer shape may differ from the default.
      out_proj_bias: m.outBias,
    },
    attention_layers: [...opts.attentionLayers].sort((a, b) => a - b),
    ...(opts.hybridAdvisor ? { hybrid_advisor: opts.hybridAdvisor } : {}),
    mohawk: opts.provenance,
  };
}

export function isStudentConfig(json: unknown): boolean {
  return typeof json === 'object' && json !== null && (json as Record<string, unknown>).model_type === STUDENT_MODEL_TYPE;
}

/** Reads a student's config.json (text or parsed); errors name the field. */
export function parseStudentConfig(json: unknown, where = 'config.json'): ParsedStudentConfig {
  const cfg = configObject(json, where);
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const fail = (msg: string): never => {
    throw new ConfigError(`${where} (${STUDENT_MODEL_TYPE}): ${msg}`);
  };
  if (cfg.model_type !== STUDENT_MODEL_TYPE) fail(`model_type is ${JSON.stringify(cfg.model_type)}, not "${STUDENT_MODEL_TYPE}"`);
  if (!isObj(cfg.teacher_config)) fail('teacher_config is missing or not an object (the teacher\'s config.json)');
  const teacher = parseConfig(cfg.teacher_config, `${where} teacher_config`);

  const mx = cfg.mixer;
  if (!isObj(mx)) fail('mixer is missing or not an object');
  const m = mx as Record<string, unknown>;
  if (m.type !== STUDENT_MIXER_TYPE) fail(`mixer.type ${JSON.stringify(m.type)} is not supported (only "${STUDENT_MIXER_TYPE}")`);
  const int = (key: string, dflt?: number): number => {
    const v = m[key];
    if (v === undefined && dflt !== undefined) return dflt;
    if (v === undefined) fail(`mixer.${key} is missing`);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) fail(`mixer.${key} = ${JSON.stringify(v)} is not a positive integer`);
    return v as number;
  };
  const kernel = int('conv_kernel', MIXER_CONV_K);
  if (kernel !== MIXER_CONV_K) fail(`mixer.conv_kernel = ${kernel}: only ${MIXER_CONV_K} is supported`);
  let outBias = teacher.biases.attentionOut;
  if (m.out_proj_bias !== undefined) {
    if (typeof m.out_proj_bias !== 'boolean') fail(`mixer.out_proj_bias = ${JSON.stringify(m.out_proj_bias)} is not true/false`);
    outBias = m.out_proj_bias as boolean;
  }
  const mixer: MixerShape = {
    d: teacher.dModel,
    dInner: int('d_inner'),
    nV: int('n_v'),
    nQK: int('n_qk'),
    N: int('state_size'),
    chunk: int('chunk_size', MIXER_DEFAULT_CHUNK),
    outBias,
  };
  try {
    mixerDims(mixer);
  } catch (e) {
    fail(`mixer (d_inner, n_v, n_qk, state_size): ${(e as Error).message}`);
  }

  const al = cfg.attention_layers ?? [];
  if (!Array.isArray(al)) fail(`attention_layers = ${JSON.stringify(al)} is not a list of layer indices`);
  const attentionLayers: number[] = [];
  for (const v of al as unknown[]) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= teacher.layers) {
      fail(`attention_layers holds ${JSON.stringify(v)}, not a layer index in [0, ${teacher.layers})`);
    }
    if (attentionLayers.includes(v as number)) fail(`attention_layers names layer ${v} twice`);
    attentionLayers.push(v as number);
  }
  attentionLayers.sort((a, b) => a - b);
  return { teacher, mixer, attentionLayers };
}

/**
 * The exported student's files. `tensors` and `shapes` are by canonical name and must be exactly the
 * tensors config.json implies (checked here, so an export never writes what the loader refuses);
 * `tokenizerFiles` are the teacher's, of which tokenizer.json and tokenizer_config.json are kept.
 */
interface ExportArgs {
  configJson: Record<string, unknown>;
  /** Values, or reads of them in pieces made when model.safetensors is written (one piece on the host at a time). */
  tensors: Map<string, Float32Array | (() => AsyncIterable<Float32Array>)>;
  shapes: Map<string, number[]>;
  tokenizerFiles: NamedBytes[];
}

export function exportStudentFiles(args: ExportArgs & { tensors: Map<string, Float32Array> }): NamedBytes[] {
  return exportStudentParts(args).map((f) => ({ name: f.name, bytes: joinBytes(f.parts as Uint8Array[]) }));
}

/** As exportStudentFiles, with model.safetensors made as it is written (views of the tensors given, reads of the others). */
export function exportStudentParts(args: ExportArgs): NamedParts[] {
  const spec = parseStudentConfig(args.configJson);
  const want = studentShapes({ config: spec.teacher, mixer: spec.mixer, attentionLayers: spec.attentionLayers });
  const problems: string[] = [];
  for (const [name, shape] of want) {
    const got = args.shapes.get(name);
    if (!got) problems.push(`${name} is missing`);
    else if (got.join() !== shape.join()) problems.push(`${name} has shape [${got}], config.json implies [${shape}]`);
    else if (!args.tensors.has(name)) problems.push(`${name} has a shape but no values`);
    else {
      const t = args.tensors.get(name)!;
      if (typeof t !== 'function' && t.length !== shape.reduce((a, b) => a * b, 1)) problems.push(`${name} holds ${t.length} values for shape [${shape}]`);
    }
  }
  for (const name of args.shapes.keys()) if (!want.has(name)) problems.push(`${name} is not a tensor of this student`);
  if (problems.length) throw new Error(`export: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` and ${problems.length - 5} more` : ''}`);
  if (!args.tokenizerFiles.some((f) => f.name === 'tokenizer.json')) throw new Error('export: the teacher\'s tokenizer.json is missing');

  // Views of the arrays when every tensor is given; otherwise made as it is written, where a read's
  // count is checked (safetensorsLazy), a given array's above.
  const given = [...want].map(([name, shape]) => ({ name, shape, data: args.tensors.get(name)! }));
  const model = given.every((t): t is typeof t & { data: Float32Array } => typeof t.data !== 'function')
    ? safetensorsParts(given, { ...STUDENT_METADATA })
    : safetensorsLazy(
        given.map(({ name, shape, data: t }) => ({ name, shape, data: typeof t === 'function' ? t : async function* () { yield t; } })),
        { ...STUDENT_METADATA },
      );
  const config = new TextEncoder().encode(JSON.stringify(args.configJson, null, 2) + '\n');
  const tok = args.tokenizerFiles.filter((f) => (TOKENIZER_FILES as readonly string[]).includes(f.name));
  return [{ name: 'model.safetensors', parts: model }, { name: 'config.json', parts: [config] }, ...tok.map((f) => ({ name: f.name, parts: [f.bytes] }))];
}
