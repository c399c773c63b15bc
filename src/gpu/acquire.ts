// Finding a WebGPU device: navigator.gpu in a page or worker, Dawn (`webgpu` package) in Node.
export interface AcquireOptions {
  powerPreference?: GPUPowerPreference;
  /** Dawn's flags for Node, replacing nodeDawnFlags()'s, e.g. ['enable-dawn-features=allow_unsafe_apis']. */
  dawnFlags?: string[];
  /** Called once with a one-line notice, e.g. when falling back to SwiftShader. */
  notice?: (line: string) => void;
}

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export class NoWebGpuError extends Error {
  override name = 'NoWebGpuError';
}

// A page or worker has navigator.gpu (or no WebGPU at all); Node has process.versions.node.
const isNode =
  typeof process !== 'undefined' && typeof process.versions?.node === 'string' &&
  !(typeof navigator !== 'undefined' && 'gpu' in navigator);

/** An adapter of this host and what it was acquired with. */
export interface AcquiredAdapter {
  adapter: GPUAdapter;
  /** The flags Dawn was created with in Node; null in a page, whose browser decides. */
  dawnFlags: string[] | null;
}

/** The GPU entry point of this host and an adapter, or a NoWebGpuError saying why there is none. */
export async function acquireAdapter(opts: AcquireOptions = {}): Promise<AcquiredAdapter> {
  const powerPreference = opts.powerPreference ?? 'high-performance';
  if (!isNode) {
    if (typeof navigator === 'undefined' || !('gpu' in navigator) || !navigator.gpu) {
      throw new NoWebGpuError(
        'This browser has no WebGPU. Use a recent Chrome or Edge (version 113 or later) on a machine with a supported GPU.',
      );
    }
    const adapter = await navigator.gpu.requestAdapter({ powerPreference });
    if (!adapter) {
      throw new NoWebGpuError(
        'WebGPU is present but no GPU adapter was offered (the GPU may be blocklisted; check chrome://gpu).',
      );
    }
    return { adapter, dawnFlags: null };
  }
  return acquireNodeAdapter(powerPreference, opts);
}

/**
 * What the Node host gives Dawn unless told otherwise. Robustness off: Tint's robustness transform
 * clamps every array index it cannot prove in bounds, some 20–30 clamps per flash-attention shader,
 * most on workgroup-memory reads in the inner loops. A page must have them (WebGPU runs untrusted
 * code there, and Chrome keeps them unless started with --enable-dawn-features=disable_robustness);
 * the Node host runs only this project's kernels, each held to its float64 test with robustness off.
 * Measured on an H100: the SSD scan 6–9% faster, attention at d 128 2%, GPT-2-small stage 3 4%, with
 * bit-identical losses (BENCHMARKS.md, "Robustness off on the Node host").
 */
export const NODE_DAWN_FLAGS: readonly string[] = ['enable-dawn-features=disable_robustness'];

/**
 * The Dawn flags of this Node process: MOHAWK_DAWN_FLAGS when set (whitespace-separated; set but
 * empty gives Dawn's defaults, robustness on), else NODE_DAWN_FLAGS.
 */
export function nodeDawnFlags(env: Record<string, string | undefined> = process.env): string[] {
  const v = env.MOHAWK_DAWN_FLAGS;
  return v === undefined ? [...NODE_DAWN_FLAGS] : v.split(/\s+/).filter(Boolean);
}

/** Dawn flags as one line for a report: the flags, or that there were none. */
export function describeDawnFlags(flags: readonly string[]): string {
  return flags.join(' ') || '(no flags: robustness on)';
}

interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

/**
 * Gives the process a private XDG_RUNTIME_DIR when it has none (or a relative one), and returns it;
 * null when it had a usable one. Vulkan layers that look for a display (Mesa's device-select layer,
 * installed with mesa-vulkan-drivers) call wl_display_connect, and libwayland prints "error:
 * XDG_RUNTIME_DIR is invalid or not set in the environment." on stderr for each Dawn instance when
 * the variable is missing: a headless run would read as failing. In an empty folder the connection
 * fails quietly, as on a desktop without Wayland. It must be set before Dawn makes its instance;
 * setting process.env changes the C environment the layer reads. The folder is the user's own
 * (0700) under the temporary folder, made once and reused, like Qt's fallback for the same case.
 */
export async function privateRuntimeDir(env: Record<string, string | undefined> = process.env): Promise<string | null> {
  if (process.platform !== 'linux' || env.XDG_RUNTIME_DIR?.startsWith('/')) return null;
  const [fs, os, path] = await Promise.all([import('node:fs'), import('node:os'), import('node:path')]);
  const uid = process.getuid?.() ?? 0;
  const dir = path.join(os.tmpdir(), `mohawk-runtime-${uid}`);
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch {
    // Already there: used only if it is a real folder of ours that no one else can enter.
  }
  const st = fs.lstatSync(dir, { throwIfNoEntry: false });
  const mine = st?.isDirectory() && st.uid === uid && (st.mode & 0o077) === 0;
  env.XDG_RUNTIME_DIR = mine ? dir : fs.mkdtempSync(path.join(os.tmpdir(), 'mohawk-runtime-'));
  return env.XDG_RUNTIME_DIR;
}

async function acquireNodeAdapter(powerPreference: GPUPowerPreference, opts: AcquireOptions): Promise<AcquiredAdapter> {
  await privateRuntimeDir();
  const name = 'webgpu';
  const dawn = (await import(/* @vite-ignore */ name)) as DawnModule;
  Object.assign(globalThis, dawn.globals);
  const g = globalThis as { __mohawkDawn?: GPU[] };
  // Dawn frees its device once the instance is garbage-collected, which crashes the process:
  // every instance made here stays referenced for the life of the process.
  const keep = (inst: GPU) => ((g.__mohawkDawn ??= []).push(inst), inst);
  const flags = opts.dawnFlags ?? nodeDawnFlags();
  let adapter = await keep(dawn.create(flags)).requestAdapter({ powerPreference });
  if (!adapter) {
    const fs = await import('node:fs');
    if (!process.env.VK_ICD_FILENAMES && fs.existsSync(SWIFTSHADER_ICD)) {
      process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
      adapter = await keep(dawn.create(flags)).requestAdapter({ powerPreference });
      if (adapter) opts.notice?.(`no GPU adapter found; using SwiftShader (CPU, slow) from ${SWIFTSHADER_ICD}`);
    }
  }
  if (!adapter) {
    throw new NoWebGpuError(
      'Dawn found no WebGPU adapter. On a machine without a GPU install Chromium (it brings SwiftShader) and run ' +
        'through `npx mohawk`/`npm test`, which put /usr/lib/chromium on the library path.',
    );
  }
  return { adapter, dawnFlags: flags };
}
