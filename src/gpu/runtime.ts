// The WebGPU runtime every kernel goes through: one device, a pipeline cache, a buffer pool,
// ops recorded into few command buffers, and readback that never stalls the step that asked.
import { acquireAdapter, type AcquireOptions } from './acquire';
import type { OpProfiler, StepTimer } from './profile';

export interface GpuInfo {
  vendor: string;
  architecture: string;
  description: string;
  features: string[];
  subgroups: boolean;
  shaderF16: boolean;
  timestamps: boolean;
  /** A CPU implementation (SwiftShader, llvmpipe, WARP, or one the browser calls a fallback): correct, and hundreds of times slower. */
  software: boolean;
  /** The flags Dawn was created with in Node (robustness off by default: NODE_DAWN_FLAGS); null in a page, whose browser decides. */
  dawnFlags: string[] | null;
  limits: {
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupSizeX: number;
    maxComputeWorkgroupsPerDimension: number;
    maxStorageBuffersPerShaderStage: number;
    minStorageBufferOffsetAlignment: number;
  };
}

/** A buffer bound read-only, read-write, or a slice of one. */
export type Bindable = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

/**
 * Where a kernel takes the scratch its own ops use and nothing after them reads (partial sums,
 * intermediate tiles), by name and size. By default each call makes its own (gpu.buffer, bound to its
 * ops for as long as they live); a caller whose calls never interleave (one decoder layer after
 * another) can hand them all the same buffers instead.
 */
export type ScratchSource = (name: string, bytes: number) => GPUBuffer;

/**
 * Frozen weights may stay in their checkpoint's 16-bit precision on the GPU: two values per u32
 * word, element i in the low half of word i/2 when i is even (little-endian, as safetensors stores
 * them). Kernels that read weights (matmul's B, the embedding table) unpack them with no feature
 * needed; the buffer carries its precision, so callers pass it like any other weight.
 */
export type PackedDtype = 'bf16' | 'f16';
const packed = new WeakMap<GPUBuffer, PackedDtype>();

/** The 16-bit precision of a packed weight buffer, or null for f32. */
export function packedDtype(b: Bindable): PackedDtype | null {
  return packed.get('buffer' in b ? b.buffer : b) ?? null;
}

/** Elements a binding holds: 2 per u32 word when packed, 1 otherwise. */
export function bindableElements(b: Bindable): number {
  return slice(b).size / (packedDtype(b) ? 2 : 4);
}

export interface OpSpec {
  /** The shader's id (snake_case), naming its module and pipelines in labels and errors. */
  shader: string;
  /** The WGSL text: a kernel's `?raw` import of its shaders/ file, composed or stamped as it needs. */
  code: string;
  entry?: string;
  /** Values for the shader's `override` declarations (part of the pipeline cache key). */
  constants?: Record<string, number>;
  /** Bound at @binding(0..) as var<storage, read>. */
  reads?: Bindable[];
  /** Bound after the reads as var<storage, read_write>. */
  writes?: Bindable[];
  /** A uniform block bound last, after the writes (see Params). */
  params?: ArrayBuffer;
  workgroups: [number, number?, number?];
  label?: string;
}

/** A dispatch with its pipeline and bind group made once; recording it costs nothing more. */
export interface Op {
  readonly label: string;
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly workgroups: [number, number, number];
  /** Rewrites the op's uniform block (e.g. a step counter); takes effect in queue order. */
  setParams(params: ArrayBuffer): void;
}

/** Packs a WGSL uniform struct of 4-byte scalars in declaration order. */
export class Params {
  private readonly words: number[] = [];
  private readonly kinds: ('u' | 'i' | 'f')[] = [];
  u32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`u32 parameter out of range: ${v}`);
    this.words.push(v);
    this.kinds.push('u');
    return this;
  }
  i32(v: number): this {
    this.words.push(v | 0);
    this.kinds.push('i');
    return this;
  }
  f32(v: number): this {
    this.words.push(v);
    this.kinds.push('f');
    return this;
  }
  build(): ArrayBuffer {
    // Uniform blocks are sized in 16-byte units.
    const n = Math.max(4, Math.ceil(this.words.length / 4) * 4);
    const buf = new ArrayBuffer(n * 4);
    const dv = new DataView(buf);
    this.words.forEach((w, i) => {
      const k = this.kinds[i];
      if (k === 'f') dv.setFloat32(i * 4, w, true);
      else if (k === 'i') dv.setInt32(i * 4, w, true);
      else dv.setUint32(i * 4, w, true);
    });
    return buf;
  }
}

export class GpuError extends Error {
  override name = 'GpuError';
}

// GPUBufferUsage is a global only once a WebGPU implementation is loaded; read it lazily.
const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** The buffer, byte offset and byte size a Bindable names. */
/**
 * Workgroups [x, y] covering `groups` workgroups in a row within the per-dimension limit; the shaders
 * rebuild the linear workgroup index as y·x_count + x.
 */
export function linearGrid(gpu: Gpu, fn: string, groups: number): [number, number] {
  const max = gpu.info.limits.maxComputeWorkgroupsPerDimension;
  const nx = Math.min(Math.max(groups, 1), max);
  const ny = Math.ceil(groups / nx);
  if (ny > max) throw new Error(`${fn}: ${groups} workgroups exceed ${max}²`);
  return [nx, ny];
}

export function slice(b: Bindable): { buffer: GPUBuffer; offset: number; size: number } {
  if (!('buffer' in b)) return { buffer: b, offset: 0, size: b.size };
  const offset = b.offset ?? 0;
  return { buffer: b.buffer, offset, size: b.size ?? b.buffer.size - offset };
}

export class Gpu {
  readonly device: GPUDevice;
  readonly info: GpuInfo;
  /** Resolves with a plain-words message when the device is lost. */
  readonly lost: Promise<string>;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly layouts = new Map<string, GPUBindGroupLayout>();
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly pool = new Map<number, GPUBuffer[]>();
  private readonly errors: string[] = [];
  private isLost = false;
  /** While set, steps time each op (OpProfiler; needs timestamp-query). */
  profiler: OpProfiler | null = null;
  private liveBytes = 0;
  private peakBytes = 0;

  private constructor(device: GPUDevice, info: GpuInfo) {
    this.device = device;
    this.info = info;
    this.lost = device.lost.then((l) => {
      this.isLost = true;
      return l.reason === 'destroyed'
        ? 'the GPU device was released'
        : `the GPU device was lost (${l.message || 'driver reset or out of memory'}); reload to start again from the last checkpoint`;
    });
    device.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.errors.push(e.message);
    });
  }

  /** Gets an adapter and a device with the limits a trainer needs and every useful feature it offers. */
  static async create(opts: AcquireOptions = {}): Promise<Gpu> {
    const { adapter, dawnFlags } = await acquireAdapter(opts);
    const want: GPUFeatureName[] = ['subgroups', 'shader-f16', 'timestamp-query'];
    const requiredFeatures = want.filter((f) => adapter.features.has(f));
    const L = adapter.limits;
    const requiredLimits: Record<string, number> = {
      maxStorageBufferBindingSize: L.maxStorageBufferBindingSize,
      maxBufferSize: L.maxBufferSize,
      maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: L.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: L.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: L.maxComputeWorkgroupSizeY,
      maxStorageBuffersPerShaderStage: L.maxStorageBuffersPerShaderStage,
    };
    const device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'mohawk' });
    const ai = adapter.info;
    const info: GpuInfo = {
      vendor: ai?.vendor || 'unknown',
      architecture: ai?.architecture || '',
      description: ai?.description || '',
      features: [...device.features].sort(),
      subgroups: device.features.has('subgroups'),
      shaderF16: device.features.has('shader-f16'),
      timestamps: device.features.has('timestamp-query'),
      software:
        (ai as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter === true ||
        /swiftshader|llvmpipe|lavapipe|softpipe|warp|basic render/i.test(`${ai?.vendor} ${ai?.architecture} ${ai?.description}`),
      dawnFlags,
      limits: {
        maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
        maxBufferSize: device.limits.maxBufferSize,
        maxComputeWorkgroupStorageSize: device.limits.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: device.limits.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupSizeX: device.limits.maxComputeWorkgroupSizeX,
        maxComputeWorkgroupsPerDimension: device.limits.maxComputeWorkgroupsPerDimension,
        maxStorageBuffersPerShaderStage: device.limits.maxStorageBuffersPerShaderStage,
        minStorageBufferOffsetAlignment: device.limits.minStorageBufferOffsetAlignment,
      },
    };
    return new Gpu(device, info);
  }

  get deviceLost(): boolean {
    return this.isLost;
  }

  /**
   * The error to report for a failed GPU operation (`what`): a lost device fails every mapping,
   * often with an empty message, so when the device turns out lost the loss is what is said.
   */
  async failure(e: unknown, what: string): Promise<GpuError> {
    const lost = await Promise.race([this.lost, new Promise<null>((r) => setTimeout(() => r(null), 200))]);
    const why = e instanceof Error ? e.message : String(e);
    return new GpuError(lost ?? `${what} failed: ${why || 'the GPU returned no data'}`);
  }

  /**
   * Bytes of the buffers this Gpu created and has not destroyed (pooled ones included), and the most
   * there were at once since the last resetPeak(). WebGPU reports no device memory use, so this is the
   * project's own measure of what a plan holds on the GPU.
   */
  get memory(): { liveBytes: number; peakBytes: number } {
    return { liveBytes: this.liveBytes, peakBytes: this.peakBytes };
  }

  resetPeak(): void {
    this.peakBytes = this.liveBytes;
  }

  /** device.createBuffer, counted in `memory` until the buffer is destroyed. */
  createBuffer(desc: GPUBufferDescriptor): GPUBuffer {
    const b = this.device.createBuffer(desc);
    const size = desc.size;
    this.liveBytes += size;
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes);
    const destroy = b.destroy.bind(b);
    let gone = false;
    b.destroy = () => {
      if (!gone) {
        gone = true;
        this.liveBytes -= size;
      }
      destroy();
    };
    return b;
  }

  // ---- buffers -------------------------------------------------------------------------------

  /** A storage buffer of `bytes` (rounded up to 16), from the pool when one of that size is free. */
  buffer(bytes: number, label = 'buf'): GPUBuffer {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    if (size > this.info.limits.maxBufferSize) {
      throw new GpuError(
        `a buffer of ${(size / 2 ** 20).toFixed(1)} MiB (${label}) exceeds this adapter's maxBufferSize of ` +
          `${(this.info.limits.maxBufferSize / 2 ** 20).toFixed(0)} MiB`,
      );
    }
    const free = this.pool.get(size);
    const b = free?.pop() ?? this.createBuffer({ size, usage: STORAGE(), label });
    for (const c of this.collections) if (c.active) c.bufs.add(b);
    return b;
  }

  /** Open collections (collect), active or stopped, until they are freed. */
  private readonly collections = new Set<{ bufs: Set<GPUBuffer>; active: boolean }>();

  /**
   * Collects every buffer buffer() hands out (made, or taken from the pool), and the parameters of
   * every op made, until stop(): what one piece of work makes while it is built (a stage's step: its
   * activations, and the scratch its kernels make for themselves, which nothing else would ever
   * destroy), so that free() ends them all when the work is done. A collected buffer released to the pool is the pool's again (trim
   * frees it); one made as a cache for every later op (lasting) is never collected.
   */
  collect(): { stop(): void; free(): void } {
    const c = { bufs: new Set<GPUBuffer>(), active: true };
    this.collections.add(c);
    return {
      stop: () => {
        c.active = false;
      },
      free: () => {
        c.active = false;
        this.collections.delete(c);
        for (const b of c.bufs) b.destroy();
        c.bufs.clear();
      },
    };
  }

  /** Marks a buffer as the device's for good (a cache later ops bind): no collection frees it. */
  lasting(buf: GPUBuffer): GPUBuffer {
    for (const c of this.collections) c.bufs.delete(buf);
    return buf;
  }

  /** A storage buffer holding `data` (f32, u32 or i32). */
  upload(data: Float32Array | Uint32Array | Int32Array, label = 'data'): GPUBuffer {
    const buf = this.buffer(data.byteLength, label);
    this.device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
    return buf;
  }

  /** A storage buffer holding 16-bit weights in their checkpoint precision (see PackedDtype). */
  uploadPacked(data: Uint16Array, dtype: PackedDtype, label = 'weights'): GPUBuffer {
    const buf = this.buffer(Math.ceil(data.length / 2) * 4, label);
    this.writePacked(buf, data);
    packed.set(buf, dtype);
    return buf;
  }

  /** An uninitialised packed buffer of `values` 16-bit values. */
  packedBuffer(values: number, dtype: PackedDtype, label = 'weights'): GPUBuffer {
    const buf = this.buffer(Math.ceil(values / 2) * 4, label);
    packed.set(buf, dtype);
    return buf;
  }

  /** Writes 16-bit values at offsetBytes (a multiple of 4) of a packed buffer (an odd count is padded to a whole word). */
  writePacked(buf: GPUBuffer, data: Uint16Array, offsetBytes = 0): void {
    let src = data;
    if (data.length % 2 || data.byteOffset % 4) {
      src = new Uint16Array(data.length + (data.length % 2));
      src.set(data);
    }
    this.device.queue.writeBuffer(buf, offsetBytes, src.buffer, src.byteOffset, src.length * 2);
  }

  /** A zero-filled storage buffer. */
  zeros(count: number, label = 'zeros'): GPUBuffer {
    const buf = this.buffer(count * 4, label);
    const enc = this.device.createCommandEncoder();
    enc.clearBuffer(buf);
    this.device.queue.submit([enc.finish()]);
    return buf;
  }

  write(buf: GPUBuffer, data: Float32Array | Uint32Array | Int32Array, offsetBytes = 0): void {
    this.device.queue.writeBuffer(buf, offsetBytes, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Returns a buffer to the pool; it must not be used by work recorded afterwards. */
  release(buf: GPUBuffer): void {
    packed.delete(buf);
    for (const c of this.collections) c.bufs.delete(buf);
    const list = this.pool.get(buf.size) ?? [];
    list.push(buf);
    this.pool.set(buf.size, list);
  }

  /** Frees pooled buffers now rather than when they are collected. */
  trim(): void {
    for (const list of this.pool.values()) for (const b of list) b.destroy();
    this.pool.clear();
  }

  // ---- pipelines and ops ----------------------------------------------------------------------

  private layout(reads: number, writes: number, uniform: boolean): GPUBindGroupLayout {
    const key = `${reads}/${writes}/${uniform}`;
    let l = this.layouts.get(key);
    if (!l) {
      const entries: GPUBindGroupLayoutEntry[] = [];
      for (let i = 0; i < reads + writes; i++) {
        entries.push({
          binding: i,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: i < reads ? 'read-only-storage' : 'storage' },
        });
      }
      if (uniform) {
        entries.push({ binding: reads + writes, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } });
      }
      l = this.device.createBindGroupLayout({ entries, label: `layout ${key}` });
      this.layouts.set(key, l);
    }
    return l;
  }

  /** A compute pipeline, cached by WGSL text, entry point, constants and binding shape. */
  pipeline(spec: Pick<OpSpec, 'shader' | 'code' | 'entry' | 'constants'>, reads: number, writes: number, uniform: boolean): GPUComputePipeline {
    const code = spec.code;
    const entry = spec.entry ?? 'main';
    const constants = spec.constants ?? {};
    const ckey = Object.keys(constants).sort().map((k) => `${k}=${constants[k]}`).join(',');
    const key = `${code}\u0000${entry}\u0000${ckey}\u0000${reads}/${writes}/${uniform}`;
    let p = this.pipelines.get(key);
    if (!p) {
      let module = this.modules.get(code);
      if (!module) {
        module = this.device.createShaderModule({ code, label: spec.shader });
        this.modules.set(code, module);
      }
      p = this.device.createComputePipeline({
        label: `${spec.shader}:${entry}`,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [this.layout(reads, writes, uniform)] }),
        compute: { module, entryPoint: entry, constants },
      });
      this.pipelines.set(key, p);
    }
    return p;
  }

  op(spec: OpSpec): Op {
    const reads = spec.reads ?? [];
    const writes = spec.writes ?? [];
    const hasParams = spec.params !== undefined;
    const pipeline = this.pipeline(spec, reads.length, writes.length, hasParams);
    const entries: GPUBindGroupEntry[] = [...reads, ...writes].map((b, i) => ({
      binding: i,
      resource: slice(b),
    }));
    let uniform: GPUBuffer | undefined;
    if (hasParams) {
      uniform = this.createBuffer({
        size: spec.params!.byteLength,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        label: `${spec.shader} params`,
      });
      this.device.queue.writeBuffer(uniform, 0, spec.params!);
      // The op's own: a collection that holds the work building it ends it too.
      for (const c of this.collections) if (c.active) c.bufs.add(uniform);
      entries.push({ binding: reads.length + writes.length, resource: { buffer: uniform } });
    }
    const [x, y = 1, z = 1] = spec.workgroups;
    const maxWg = this.info.limits.maxComputeWorkgroupsPerDimension;
    for (const n of [x, y, z]) {
      if (!Number.isInteger(n) || n < 0 || n > maxWg) {
        throw new GpuError(`${spec.shader}: ${n} workgroups in one dimension (limit ${maxWg})`);
      }
    }
    const device = this.device;
    return {
      label: spec.label ?? `${spec.shader}:${spec.entry ?? 'main'}`,
      pipeline,
      bindGroup: device.createBindGroup({ layout: this.layout(reads.length, writes.length, hasParams), entries }),
      workgroups: [x, y, z],
      setParams(params: ArrayBuffer) {
        if (!uniform) throw new GpuError(`${spec.shader} was made without params`);
        device.queue.writeBuffer(uniform, 0, params);
      },
    };
  }

  /** Starts recording a step: ops go into compute passes of one command buffer. */
  begin(label = 'step'): Step {
    return new Step(this, label);
  }

  /** Records and submits ops in order, in one command buffer. */
  run(ops: Op[] | Op): void {
    const s = this.begin();
    s.run(ops);
    s.submit();
  }

  /** Copies a buffer back to the CPU. Waits for the queue: for tests, eval and export, not inside a step. */
  async read(src: Bindable, count?: number): Promise<Float32Array> {
    const s = this.begin('read');
    const p = s.readback(src, count);
    s.submit();
    return p;
  }

  /** Validation errors the device reported since the last call; empty when all is well. */
  takeErrors(): string[] {
    return this.errors.splice(0);
  }

  /** Waits for submitted work and throws the first validation error, if any. */
  async check(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
    const errs = this.takeErrors();
    if (errs.length) throw new GpuError(errs.join('\n'));
  }

  /**
   * Median GPU time of `ops` in milliseconds over `reps` runs after one warm-up. With timestamp-query
   * it brackets the passes on the GPU; otherwise it times submission to completion on the wall clock.
   */
  async time(ops: Op[], reps = 5): Promise<number> {
    this.run(ops);
    await this.device.queue.onSubmittedWorkDone();
    const times: number[] = [];
    if (this.info.timestamps) {
      const qs = this.device.createQuerySet({ type: 'timestamp', count: 2 });
      const res = this.device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
      const out = this.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      for (let r = 0; r < reps; r++) {
        const enc = this.device.createCommandEncoder();
        const pass = enc.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } });
        for (const op of ops) encodeOp(pass, op);
        pass.end();
        enc.resolveQuerySet(qs, 0, 2, res, 0);
        enc.copyBufferToBuffer(res, 0, out, 0, 16);
        this.device.queue.submit([enc.finish()]);
        await out.mapAsync(GPUMapMode.READ);
        const t = new BigUint64Array(out.getMappedRange().slice(0));
        out.unmap();
        times.push(Number(t[1] - t[0]) / 1e6);
      }
      qs.destroy();
      res.destroy();
      out.destroy();
    } else {
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        this.run(ops);
        await this.device.queue.onSubmittedWorkDone();
        times.push(performance.now() - t0);
      }
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)];
  }

  destroy(): void {
    this.trim();
    this.device.destroy();
  }
}

function encodeOp(pass: GPUComputePassEncoder, op: Op): void {
  pass.setPipeline(op.pipeline);
  pass.setBindGroup(0, op.bindGroup);
  const [x, y, z] = op.workgroups;
  if (x > 0 && y > 0 && z > 0) pass.dispatchWorkgroups(x, y, z);
}

/**
 * One step's recording. Ops share a compute pass until a copy needs the encoder; readbacks are
 * copied into staging buffers and resolve after submit, so the caller never waits on them.
 */
export class Step {
  private readonly enc: GPUCommandEncoder;
  private pass: GPUComputePassEncoder | null = null;
  /** Under a profiler (gpu.profiler, with timestamp-query): each op in a stamped pass of its own. */
  private readonly timer: StepTimer | null;
  private readonly pending: { staging: GPUBuffer; count: number; resolve: (v: Float32Array) => void; reject: (e: unknown) => void }[] = [];
  private submitted = false;

  constructor(private readonly gpu: Gpu, label: string) {
    this.enc = gpu.device.createCommandEncoder({ label });
    this.timer = gpu.profiler && gpu.info.timestamps ? gpu.profiler.stepTimer(gpu.device) : null;
  }

  run(ops: Op[] | Op): this {
    for (const op of Array.isArray(ops) ? ops : [ops]) {
      const stamps = this.timer?.next(op.label) ?? null;
      if (stamps) {
        const pass = this.encoder().beginComputePass({ timestampWrites: stamps, label: op.label });
        encodeOp(pass, op);
        pass.end();
        continue;
      }
      this.pass ??= this.enc.beginComputePass();
      encodeOp(this.pass, op);
    }
    return this;
  }

  private encoder(): GPUCommandEncoder {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    return this.enc;
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): this {
    this.encoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    return this;
  }

  clear(buf: GPUBuffer, offset = 0, size?: number): this {
    this.encoder().clearBuffer(buf, offset, size);
    return this;
  }

  /** f32 values of `src` (count of them, default all), available once the step has run. */
  readback(src: Bindable, count?: number): Promise<Float32Array> {
    const { buffer, offset, size } = slice(src);
    const n = count ?? size >> 2;
    const bytes = n * 4;
    const staging = this.gpu.createBuffer({
      size: Math.max(16, Math.ceil(bytes / 16) * 16),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      label: 'readback',
    });
    if (bytes > 0) this.encoder().copyBufferToBuffer(buffer, offset, staging, 0, bytes);
    return new Promise((resolve, reject) => this.pending.push({ staging, count: n, resolve, reject }));
  }

  submit(): void {
    if (this.submitted) throw new GpuError('step submitted twice');
    this.submitted = true;
    if (this.pass) this.pass.end();
    this.timer?.resolve(this.enc);
    this.gpu.device.queue.submit([this.enc.finish()]);
    this.timer?.collect();
    for (const p of this.pending) {
      p.staging
        .mapAsync(GPUMapMode.READ)
        .then(() => {
          const out = new Float32Array(p.staging.getMappedRange(0, Math.max(4, p.count * 4)).slice(0, p.count * 4));
          p.staging.unmap();
          p.staging.destroy();
          p.resolve(out);
        })
        .catch(async (e) => {
          p.staging.destroy();
          p.reject(await this.gpu.failure(e, 'readback'));
        });
    }
  }
}
