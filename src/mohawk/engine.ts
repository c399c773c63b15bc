// The engine behind the page: owns the GPU, the loaded teacher and the running stage, and reports
// everything as plain events. It runs in a worker in the browser and directly in Node.
import { Gpu } from '../gpu/runtime';
import type { EngineApi, EngineEvent, GpuSummary, RunPlan, TeacherSummary } from '../worker/api';
import { loadTeacher, type LoadedTeacher } from '../models/teacher';
import { browserFileSet, fetchFileSet, type FileSet } from '../io/files';
import { TokenStream } from './token-stream';
import { Orientation } from './orientation';

export const BUILTIN_TEACHER_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
export const BUILTIN_CORPUS = 'corpus/tinystories-2MiB.txt';

export class Engine implements EngineApi {
  private gpu: Gpu | null = null;
  private teacher: LoadedTeacher | null = null;
  private corpusText: Promise<string> | null = null;
  private baseUrl = '/';
  private readonly listeners: ((e: EngineEvent) => void)[] = [];
  private running = false;
  private paused = false;
  private wake: (() => void) | null = null;

  private emit(e: EngineEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // A listener that went away (closed page) must not stop the engine.
      }
    }
  }

  private status(text: string, level: 'info' | 'error' = 'info'): void {
    this.emit({ type: 'status', text, level });
  }

  async subscribe(listener: (e: EngineEvent) => void): Promise<void> {
    this.listeners.push(listener);
  }

  async init(): Promise<GpuSummary> {
    if (!this.gpu) {
      this.gpu = await Gpu.create({ notice: (line) => this.status(line) });
      void this.gpu.lost.then((msg) => {
        if (this.gpu?.deviceLost) {
          this.running = false;
          this.status(msg, 'error');
          this.emit({ type: 'state', running: false, paused: false, finished: false });
        }
      });
    }
    return this.gpu.info;
  }

  private async device(): Promise<Gpu> {
    if (!this.gpu) await this.init();
    return this.gpu!;
  }

  async loadTeacherFiles(files: File[]): Promise<TeacherSummary> {
    const folder = (files[0] as File & { webkitRelativePath?: string })?.webkitRelativePath?.split('/')[0];
    return this.load(browserFileSet(files), folder || 'dropped teacher');
  }

  async loadBuiltinTeacher(baseUrl: string): Promise<TeacherSummary> {
    this.baseUrl = baseUrl.endsWith('/') ? baseUrl : baseUrl + '/';
    const dir = `${this.baseUrl}teacher/stories260K/`;
    return this.load(fetchFileSet(dir, BUILTIN_TEACHER_FILES), 'stories260K (built in)');
  }

  private async load(files: FileSet, name: string): Promise<TeacherSummary> {
    if (this.running) throw new Error('a run is in progress: pause it before loading another teacher');
    const gpu = await this.device();
    this.teacher?.release();
    this.teacher = null;
    this.status(`reading ${files.names.join(', ')}`);
    const t = await loadTeacher(gpu, files, name, (done, total) => this.emit({ type: 'progress', label: 'loading weights', done, total }));
    this.teacher = t;
    this.status(`loaded ${t.summary.name}: ${t.summary.modelType}, ${t.summary.layers} layers, ${(t.summary.parameters / 1e6).toFixed(2)}M parameters`);
    for (const w of t.summary.warnings) this.status(`warning: ${w}`);
    return t.summary;
  }

  private corpus(): Promise<string> {
    this.corpusText ??= fetch(this.baseUrl + BUILTIN_CORPUS).then(async (r) => {
      if (!r.ok) throw new Error(`could not fetch the built-in corpus (${r.status} ${r.statusText})`);
      return r.text();
    });
    return this.corpusText;
  }

  async start(plan: RunPlan): Promise<void> {
    if (this.running) throw new Error('already running');
    const teacher = this.teacher;
    if (!teacher) throw new Error('load a teacher first');
    const gpu = await this.device();
    if (!Number.isInteger(plan.layer) || plan.layer < 0 || plan.layer >= teacher.summary.layers) {
      throw new Error(`layer ${plan.layer} does not exist: the teacher has layers 0 to ${teacher.summary.layers - 1}`);
    }
    if (plan.layer !== 0) throw new Error('this build fits layer 0 only: deeper layers need the full teacher forward');
    const matrixBytes = plan.batch * teacher.summary.heads * plan.seqLen * plan.seqLen * 4;
    if (matrixBytes > gpu.info.limits.maxStorageBufferBindingSize) {
      throw new Error(
        `batch ${plan.batch} × ${teacher.summary.heads} heads × ${plan.seqLen}² attention matrices need ` +
          `${(matrixBytes / 2 ** 20).toFixed(0)} MiB, over this adapter's ${(gpu.info.limits.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB binding limit: lower the batch or sequence length`,
      );
    }
    this.running = true;
    this.paused = false;
    this.emit({ type: 'state', running: true, paused: false, finished: false });
    try {
      this.status('tokenizing the corpus');
      const stream = TokenStream.fromText(await this.corpus(), teacher.tokenizer, { maxDocs: 400, heldOutFraction: 0.1 });
      if (stream.trainTokens < plan.seqLen + 1) {
        throw new Error(`the corpus has ${stream.trainTokens} training tokens, fewer than one sequence of ${plan.seqLen}`);
      }
      const stage = new Orientation(gpu, teacher.shape, teacher.layerWeights(plan.layer), {
        batch: plan.batch,
        L: plan.seqLen,
        lr: plan.lr,
      });
      await gpu.check();
      this.status(`stage 1 (matrix orientation), layer ${plan.layer}: ${plan.steps} steps of ${plan.batch}×${plan.seqLen} tokens`);
      const t0 = performance.now();
      const inFlight: Promise<unknown>[] = [];
      for (let step = 1; step <= plan.steps; step++) {
        if (this.paused) {
          this.emit({ type: 'state', running: true, paused: true, finished: false });
          this.status(`paused at step ${step - 1}`);
          await new Promise<void>((r) => (this.wake = r));
          this.emit({ type: 'state', running: true, paused: false, finished: false });
        }
        if (!this.running) break;
        const lr = plan.lr * warmupCosine(step, plan.steps);
        const s = step;
        const p = stage.step(stream.sample(plan.batch, plan.seqLen), lr).then((r) => {
          if (!Number.isFinite(r.loss)) throw new Error(`the stage 1 loss became ${r.loss} at step ${s} (layer ${plan.layer}); stopped`);
          const tokens = s * plan.batch * plan.seqLen;
          const elapsed = (performance.now() - t0) / 1000;
          this.emit({ type: 'metric', stage: 1, step: s, tokens, loss: r.loss, tokensPerS: tokens / Math.max(elapsed, 1e-6) });
          this.emit({ type: 'progress', label: 'stage 1', done: s, total: plan.steps });
        });
        inFlight.push(p);
        // Keep two steps queued on the GPU: enough to hide the readback, few enough to pause promptly.
        if (inFlight.length > 2) await inFlight.shift();
      }
      await Promise.all(inFlight);
      this.status(`stage 1 finished: ${plan.steps} steps in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      this.emit({ type: 'state', running: false, paused: false, finished: true });
    } catch (e) {
      this.emit({ type: 'state', running: false, paused: false, finished: false });
      throw e;
    } finally {
      this.running = false;
      this.paused = false;
    }
  }

  async pause(): Promise<void> {
    if (this.running) this.paused = true;
  }

  async resume(): Promise<void> {
    this.paused = false;
    this.wake?.();
    this.wake = null;
  }
}

/** Linear warm-up over the first 5% of steps, then cosine decay to 10% of the peak. */
export function warmupCosine(step: number, total: number): number {
  const warm = Math.max(1, Math.round(total * 0.05));
  if (step <= warm) return step / warm;
  const t = (step - warm) / Math.max(1, total - warm);
  return 0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * t));
}
