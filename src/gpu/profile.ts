// Where a step's GPU time goes, by op label. While a profiler is attached (gpu.profiler) and the
// device has timestamp-query, every op a Step records gets a compute pass of its own whose start and
// end the GPU stamps; after the step runs its stamps are read back and summed per label. The passes'
// boundaries cost a little, so a profiled step runs somewhat slower than an unprofiled one: read the
// shares, not the total. Ops past a step's capacity share one unstamped pass and are counted apart.
export interface OpTime {
  label: string;
  /** GPU milliseconds summed over every run of the op. */
  ms: number;
  count: number;
  /** Of all the timed ops' milliseconds. */
  share: number;
}

export class OpProfiler {
  private readonly totals = new Map<string, { ns: number; count: number }>();
  private readonly reading = new Set<Promise<void>>();
  /** Ops recorded past a step's capacity: run, not timed. */
  untimed = 0;

  /** `capacity`: ops timed per step (two stamps each; WebGPU allows 4096 queries in a set). */
  constructor(readonly capacity = 2048) {}

  /** A step's stamps (Step calls this when it starts recording under a profiler). */
  stepTimer(device: GPUDevice): StepTimer {
    return new StepTimer(this, device);
  }

  /** @internal A step's durations, once read back. */
  add(labels: readonly string[], stamps: BigUint64Array): void {
    labels.forEach((label, i) => {
      const t = this.totals.get(label) ?? { ns: 0, count: 0 };
      // A pass whose end reads before its start (a timer that wrapped or was reset) counts as 0.
      const ns = stamps[2 * i + 1]! > stamps[2 * i]! ? Number(stamps[2 * i + 1]! - stamps[2 * i]!) : 0;
      this.totals.set(label, { ns: t.ns + ns, count: t.count + 1 });
    });
  }

  /** @internal */
  track(p: Promise<void>): void {
    this.reading.add(p);
    void p.finally(() => this.reading.delete(p));
  }

  /** Per label, the most time first; waits for the steps still being read back. */
  async report(): Promise<OpTime[]> {
    await Promise.all([...this.reading]);
    const all = [...this.totals].map(([label, t]) => ({ label, ms: t.ns / 1e6, count: t.count }));
    const sum = all.reduce((a, t) => a + t.ms, 0);
    return all.map((t) => ({ ...t, share: sum > 0 ? t.ms / sum : 0 })).sort((a, b) => b.ms - a.ms);
  }
}

/** One step's timestamps: a query pair per op, resolved and read back after the step is submitted. */
export class StepTimer {
  private readonly labels: string[] = [];
  private querySet: GPUQuerySet | null = null;
  private resolved: GPUBuffer | null = null;
  private staging: GPUBuffer | null = null;

  constructor(
    private readonly profiler: OpProfiler,
    private readonly device: GPUDevice,
  ) {}

  /** The timestampWrites of the next op's own pass, or null when the step has used its capacity. */
  next(label: string): GPUComputePassTimestampWrites | null {
    if (this.labels.length >= this.profiler.capacity) {
      this.profiler.untimed++;
      return null;
    }
    this.querySet ??= this.device.createQuerySet({ type: 'timestamp', count: 2 * this.profiler.capacity, label: 'op profile' });
    const i = this.labels.push(label) - 1;
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Before the encoder finishes: copies the stamps to a buffer the CPU can map. */
  resolve(enc: GPUCommandEncoder): void {
    if (!this.querySet || this.labels.length === 0) return;
    const bytes = 16 * this.labels.length;
    this.resolved = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, label: 'op profile resolve' });
    this.staging = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'op profile read' });
    enc.resolveQuerySet(this.querySet, 0, 2 * this.labels.length, this.resolved, 0);
    enc.copyBufferToBuffer(this.resolved, 0, this.staging, 0, bytes);
  }

  /** After submit: reads the stamps back into the profiler and frees what the step made. */
  collect(): void {
    const { staging, resolved, querySet } = this;
    if (!staging) {
      querySet?.destroy();
      return;
    }
    const done = staging.mapAsync(GPUMapMode.READ).then(
      () => {
        this.profiler.add(this.labels, new BigUint64Array(staging.getMappedRange().slice(0)));
        staging.unmap();
      },
      () => undefined, // a lost device: the run reports that, not the profile
    );
    this.profiler.track(
      done.finally(() => {
        staging.destroy();
        resolved?.destroy();
        querySet?.destroy();
      }),
    );
  }
}
