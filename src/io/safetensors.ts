// Safetensors reading and writing. The header is validated completely before any tensor byte is
// used, because teacher files come from users and a bad offset would otherwise surface much later
// as garbage weights or an out-of-memory tab. Tensors are read one at a time through ranged reads
// so that a multi-gigabyte checkpoint never has to sit in memory whole.
//
// Format: u64 little-endian header length N, N bytes of UTF-8 JSON
//   { "<name>": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] }, "__metadata__": {..} }
// then the data section; data_offsets are relative to the data section's start (8 + N).

import { readText, type ByteSource, type FileSet } from './files';
import { rawToF32, type RawTensor } from './half';
import { joinBytes, type LazyBytes } from './bytes';

// Kept here too: many modules take it with the safetensors they join.
export { joinBytes };

export type Dtype = 'F32' | 'F16' | 'BF16';

export interface TensorInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Absolute byte offsets in the file. */
  begin: number;
  end: number;
}

/** Anything that holds named tensors readable as f32: one file or a sharded checkpoint. */
export interface TensorStore {
  readonly tensors: Map<string, TensorInfo>;
  readF32(name: string): Promise<Float32Array>;
  /** The tensor in the precision the file stores it (stores without it are read as f32). */
  readRaw?(name: string): Promise<RawTensor>;
  /** Values [from, from + count) in the file's precision, reading only their bytes (a piece of a large tensor). */
  readRawRange?(name: string, from: number, count: number): Promise<RawTensor>;
}

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

export const MAX_HEADER_BYTES = 100_000_000;

const DTYPE_BYTES: Record<Dtype, number> = { F32: 4, F16: 2, BF16: 2 };
/** Dtypes the format defines but the studio does not load; named separately for a clearer error. */
const OTHER_DTYPES = new Set(['F64', 'I64', 'I32', 'I16', 'I8', 'U64', 'U32', 'U16', 'U8', 'BOOL', 'F8_E4M3', 'F8_E5M2', 'E8M0', 'F4', 'F6_E2M3', 'F6_E3M2', 'C64']);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** What a user needs to hear first about a file that cannot be read: what it is, then the parser's detail. */
const NOT_SAFETENSORS = 'is not a safetensors file';
const TRUNCATED = 'is truncated (the download or copy was cut short): re-download it';

/** Parses and validates a header. `dataStart` = 8 + N, `fileSize` the whole file's length. */
export function parseHeader(
  file: string,
  headerBytes: Uint8Array,
  dataStart: number,
  fileSize: number,
): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  const fail = (msg: string): never => {
    throw new SafetensorsError(`${file}: ${msg}`);
  };
  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError(`${file} ${NOT_SAFETENSORS}: its header is not valid UTF-8`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(`${file} ${NOT_SAFETENSORS}: its header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(json)) throw new SafetensorsError(`${file} ${NOT_SAFETENSORS}: its header is not a JSON object`);
  const header = json as Record<string, unknown>;

  // Null prototype: a key such as "__proto__" stays an ordinary entry.
  const metadata: Record<string, string> = Object.create(null);
  const tensors = new Map<string, TensorInfo>();
  const dataSize = fileSize - dataStart;
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isPlainObject(entry)) fail('__metadata__ is not an object of strings');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__ entry "${k}" is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const at = `tensor "${name}"`;
    if (!isPlainObject(entry)) fail(`${at}: entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (typeof dtype !== 'string') fail(`${at}: dtype missing or not a string`);
    if (!Object.hasOwn(DTYPE_BYTES, dtype as string)) {
      if (OTHER_DTYPES.has(dtype as string)) fail(`${at}: dtype ${dtype} is not supported (only F32, F16, BF16)`);
      fail(`${at}: unknown dtype ${JSON.stringify(dtype)}`);
    }
    if (!Array.isArray(shape) || !shape.every(isIndex)) {
      fail(`${at}: shape ${JSON.stringify(shape)} is not an array of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
      fail(`${at}: data_offsets ${JSON.stringify(offsets)} is not [begin, end] of non-negative integers`);
    }
    const [b, e] = offsets as number[];
    if (e < b) fail(`${at}: data_offsets [${b}, ${e}] end before begin`);
    let count = 1;
    for (const d of shape as number[]) count *= d;
    const bytes = count * DTYPE_BYTES[dtype as Dtype];
    if (!Number.isSafeInteger(bytes)) fail(`${at}: shape ${JSON.stringify(shape)} is too large`);
    if (e - b !== bytes) {
      fail(`${at}: data_offsets [${b}, ${e}] hold ${e - b} bytes but ${dtype} ${JSON.stringify(shape)} needs ${bytes}`);
    }
    if (e > dataSize) {
      throw new SafetensorsError(`${file} ${TRUNCATED}: ${at}'s data_offsets [${b}, ${e}] run past the data section (${dataSize} bytes)`);
    }
    tensors.set(name, { name, dtype: dtype as Dtype, shape: (shape as number[]).slice(), begin: dataStart + b, end: dataStart + e });
  }

  // Zero-length tensors occupy no bytes, so they cannot overlap anything.
  const sorted = [...tensors.values()].filter((t) => t.end > t.begin).sort((x, y) => x.begin - y.begin);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (cur.begin < prev.end) fail(`tensor "${cur.name}" overlaps tensor "${prev.name}"`);
  }
  return { tensors, metadata };
}

export class SafetensorsFile implements TensorStore {
  private constructor(
    readonly source: ByteSource,
    readonly tensors: Map<string, TensorInfo>,
    readonly metadata: Record<string, string>,
  ) {}

  static async open(src: ByteSource): Promise<SafetensorsFile> {
    const file = src.name;
    if (src.size < 8) throw new SafetensorsError(`${file} ${NOT_SAFETENSORS}: ${src.size} bytes, too short for a safetensors header`);
    const lenBytes = await readExact(src, 0, 8);
    const n = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
    if (n > BigInt(MAX_HEADER_BYTES)) {
      throw new SafetensorsError(`${file} ${NOT_SAFETENSORS}: its first 8 bytes give a header length of ${n}, over the ${MAX_HEADER_BYTES}-byte limit`);
    }
    const headerLen = Number(n);
    if (8 + headerLen > src.size) {
      throw new SafetensorsError(`${file} ${src.size < 1024 ? NOT_SAFETENSORS : TRUNCATED}: header length ${headerLen} runs past the end of the file (${src.size} bytes)`);
    }
    const headerBytes = await readExact(src, 8, headerLen);
    const { tensors, metadata } = parseHeader(file, headerBytes, 8 + headerLen, src.size);
    return new SafetensorsFile(src, tensors, metadata);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new SafetensorsError(`${this.source.name}: no tensor "${name}"`);
    return t;
  }

  /** Reads one tensor, converting F16/BF16 to f32 (exactly: every such value is an f32). */
  async readF32(name: string): Promise<Float32Array> {
    return rawToF32(await this.readRaw(name));
  }

  /** Values [from, from + count) of an F32 tensor, reading only those bytes (a piece of a large tensor). */
  async readF32Range(name: string, from: number, count: number): Promise<Float32Array> {
    const t = this.info(name);
    if (t.dtype !== 'F32') throw new SafetensorsError(`${this.source.name}: tensor "${name}" is ${t.dtype}, not F32`);
    return (await this.readRawRange(name, from, count)).data as Float32Array;
  }

  /** Reads one tensor in the precision the file stores it. */
  async readRaw(name: string): Promise<RawTensor> {
    const t = this.info(name);
    const bytes = await readExact(this.source, t.begin, t.end - t.begin, `tensor "${name}"`);
    return toRaw(t.dtype, bytes);
  }

  /** Values [from, from + count) of a tensor in the file's precision, reading only those bytes. */
  async readRawRange(name: string, from: number, count: number): Promise<RawTensor> {
    const t = this.info(name);
    const size = t.dtype === 'F32' ? 4 : 2;
    if (!(Number.isSafeInteger(from) && Number.isSafeInteger(count) && from >= 0 && count >= 0 && t.begin + size * (from + count) <= t.end)) {
      throw new SafetensorsError(`${this.source.name}: values ${from}..${from + count} are outside tensor "${name}"`);
    }
    return toRaw(t.dtype, await readExact(this.source, t.begin + size * from, size * count, `tensor "${name}"`));
  }
}

async function readExact(src: ByteSource, offset: number, length: number, what = 'header'): Promise<Uint8Array> {
  const bytes = await src.read(offset, length);
  if (bytes.length !== length) {
    throw new SafetensorsError(`${src.name} ${TRUNCATED}: ${what}: read ${bytes.length} of ${length} bytes at offset ${offset}`);
  }
  return bytes;
}

// WebGPU and every host the studio targets are little-endian, so bytes are copied as they are.
function toRaw(dtype: Dtype, bytes: Uint8Array): RawTensor {
  if (dtype === 'F32') {
    const out = new Float32Array(bytes.length / 4);
    new Uint8Array(out.buffer).set(bytes);
    return { dtype, data: out };
  }
  const out = new Uint16Array(bytes.length / 2);
  new Uint8Array(out.buffer).set(bytes);
  return { dtype, data: out };
}

/** Writes F32 tensors in order, contiguous, header padded with spaces to a multiple of 8 bytes. */
export function writeSafetensors(
  tensors: { name: string; shape: number[]; data: Float32Array }[],
  metadata?: Record<string, string>,
): Uint8Array {
  return joinBytes(safetensorsParts(tensors, metadata));
}

/** The header of a safetensors file of F32 tensors laid out in order, contiguous, padded with spaces to a multiple of 8 bytes. */
function safetensorsHeader(tensors: readonly { name: string; shape: number[] }[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = Object.create(null);
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    if (t.name === '__metadata__' || Object.hasOwn(header, t.name)) throw new SafetensorsError(`writeSafetensors: duplicate or reserved name "${t.name}"`);
    if (!t.shape.every(isIndex)) throw new SafetensorsError(`writeSafetensors: tensor "${t.name}": bad shape ${JSON.stringify(t.shape)}`);
    const count = t.shape.reduce((a, b) => a * b, 1);
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + 4 * count] };
    offset += 4 * count;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const head = new Uint8Array(8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
  head.set(json, 8);
  return head;
}

const countOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Views of at most 1 GiB: a Uint8Array holds fewer than 2³² bytes, and a 1.5B-parameter optimizer moment is 6 GB. */
function* viewsOf(data: Float32Array): Iterable<Uint8Array> {
  const PIECE = 2 ** 30;
  for (let at = 0; at < data.byteLength; at += PIECE) yield new Uint8Array(data.buffer, data.byteOffset + at, Math.min(PIECE, data.byteLength - at));
}

/**
 * The safetensors file as parts to write one after another: the header, then a view of each tensor's
 * data (no copy), so files larger than one typed array can hold (4 GiB) can be written.
 */
export function safetensorsParts(
  tensors: { name: string; shape: number[]; data: Float32Array }[],
  metadata?: Record<string, string>,
): Uint8Array[] {
  for (const t of tensors) {
    const count = countOf(t.shape);
    if (t.shape.every(isIndex) && count !== t.data.length) {
      throw new SafetensorsError(`writeSafetensors: tensor "${t.name}": shape ${JSON.stringify(t.shape)} has ${count} elements, data ${t.data.length}`);
    }
  }
  const parts: Uint8Array[] = [safetensorsHeader(tensors, metadata)];
  for (const t of tensors) parts.push(...viewsOf(t.data));
  return parts;
}

/**
 * The safetensors file made as it is written: the header at once (from the shapes), then each
 * tensor's values as its `data()` yields them, piece by piece (read from the GPU or a teacher's
 * files), so the host never holds more than one piece. A tensor whose pieces do not add up to its
 * shape throws when the last one is taken.
 */
export function safetensorsLazy(tensors: { name: string; shape: number[]; data: () => AsyncIterable<Float32Array> }[], metadata?: Record<string, string>): LazyBytes {
  const head = safetensorsHeader(tensors, metadata);
  return {
    byteLength: head.length + tensors.reduce((a, t) => a + 4 * countOf(t.shape), 0),
    async *pieces() {
      yield head;
      for (const t of tensors) {
        let n = 0;
        for await (const piece of t.data()) {
          n += piece.length;
          if (n > countOf(t.shape)) break;
          yield* viewsOf(piece);
        }
        if (n !== countOf(t.shape)) throw new SafetensorsError(`writeSafetensors: tensor "${t.name}": shape ${JSON.stringify(t.shape)} has ${countOf(t.shape)} elements, its pieces ${n}`);
      }
    },
  };
}

/** A checkpoint split over several files, described by `model.safetensors.index.json`. */
export class ShardedCheckpoint implements TensorStore {
  private constructor(
    readonly tensors: Map<string, TensorInfo>,
    private readonly owner: Map<string, SafetensorsFile>,
    readonly shards: SafetensorsFile[],
    readonly metadata: Record<string, unknown>,
  ) {}

  /**
   * `index` is the parsed (or raw) index JSON; `openShard` gives the byte source of a file it names.
   * Every tensor in the weight map must be in the shard it names.
   */
  static async open(
    index: unknown,
    openShard: (fileName: string) => Promise<ByteSource>,
    indexName = 'model.safetensors.index.json',
  ): Promise<ShardedCheckpoint> {
    const fail = (msg: string): never => {
      throw new SafetensorsError(`${indexName}: ${msg}`);
    };
    let json = index;
    if (typeof index === 'string') {
      try {
        json = JSON.parse(index);
      } catch (e) {
        fail(`not valid JSON (${(e as Error).message})`);
      }
    }
    if (!isPlainObject(json)) fail('not a JSON object');
    const weightMap = (json as Record<string, unknown>).weight_map;
    if (!isPlainObject(weightMap)) fail('weight_map missing or not an object');
    const entries = Object.entries(weightMap as Record<string, unknown>);
    if (entries.length === 0) fail('weight_map is empty');
    const files = new Map<string, SafetensorsFile>();
    for (const [tensor, file] of entries) {
      if (typeof file !== 'string' || file === '') fail(`weight_map entry for tensor "${tensor}" is not a file name`);
      if (files.has(file as string)) continue;
      let src: ByteSource;
      try {
        src = await openShard(file as string);
      } catch (e) {
        fail(`cannot open shard ${file} (for tensor "${tensor}"): ${(e as Error).message}`);
      }
      files.set(file as string, await SafetensorsFile.open(src!));
    }
    const tensors = new Map<string, TensorInfo>();
    const owner = new Map<string, SafetensorsFile>();
    for (const [tensor, file] of entries) {
      const shard = files.get(file as string)!;
      const info = shard.tensors.get(tensor);
      if (!info) fail(`tensor "${tensor}" is mapped to ${file} but that file does not hold it`);
      tensors.set(tensor, info!);
      owner.set(tensor, shard);
    }
    const meta = (json as Record<string, unknown>).metadata;
    return new ShardedCheckpoint(tensors, owner, [...files.values()], isPlainObject(meta) ? meta : {});
  }

  /** The shard file that holds a tensor. */
  fileOf(name: string): string {
    const shard = this.owner.get(name);
    if (!shard) throw new SafetensorsError(`sharded checkpoint: no tensor "${name}"`);
    return shard.source.name;
  }

  async readF32(name: string): Promise<Float32Array> {
    return this.shard(name).readF32(name);
  }

  async readRaw(name: string): Promise<RawTensor> {
    return this.shard(name).readRaw(name);
  }

  async readRawRange(name: string, from: number, count: number): Promise<RawTensor> {
    return this.shard(name).readRawRange(name, from, count);
  }

  private shard(name: string): SafetensorsFile {
    const shard = this.owner.get(name);
    if (!shard) throw new SafetensorsError(`sharded checkpoint: no tensor "${name}"`);
    return shard;
  }
}

/**
 * The checkpoint in a set of files: `model.safetensors.index.json` (sharded) or `model.safetensors`,
 * else the only index or the only .safetensors file there is.
 */
export async function openCheckpoint(files: FileSet): Promise<TensorStore> {
  const indexes = files.names.filter((n) => n.endsWith('.safetensors.index.json'));
  const singles = files.names.filter((n) => n.endsWith('.safetensors'));
  const index = files.has('model.safetensors.index.json') ? 'model.safetensors.index.json' : indexes.length === 1 ? indexes[0] : null;
  if (index) return ShardedCheckpoint.open(await readText(files, index), (f) => files.source(f), index);
  const single = files.has('model.safetensors') ? 'model.safetensors' : singles.length === 1 ? singles[0] : null;
  if (single) return SafetensorsFile.open(await files.source(single));
  if (singles.length > 1 || indexes.length > 1) {
    throw new SafetensorsError(`several checkpoints (${[...indexes, ...singles].join(', ')}) and none named model.safetensors[.index.json]`);
  }
  const bin = files.names.find((n) => n.endsWith('.bin') || n.endsWith('.pt') || n.endsWith('.pth'));
  throw new SafetensorsError(
    bin ? `${bin}: PyTorch pickle checkpoints are not read; save the model with safe_serialization=True` : 'no .safetensors file among the files',
  );
}
