import { useUi } from '../store';
import { mib } from '../../util/format';

/** What each feature buys, and what its absence costs in this build (the tooltips). */
const FEATURE_NOTES: Record<string, { on: string; off: string }> = {
  subgroups: {
    on: 'Subgroup operations are enabled. The kernels of this build do not depend on them yet.',
    off: 'No subgroup operations. The kernels of this build do not depend on them, so nothing is lost today.',
  },
  'shader-f16': {
    on: 'Half-precision shader arithmetic is enabled. This build keeps weights and arithmetic in f32.',
    off: 'No half-precision shaders. This build keeps weights and arithmetic in f32, so nothing is lost today; f16/bf16 checkpoints are converted to f32 on load.',
  },
  'timestamp-query': {
    on: 'GPU timestamps: kernel timings are measured on the GPU itself.',
    off: 'No GPU timestamps: timings (bench, tokens/s) are taken by the wall clock, which adds queue latency to each.',
  },
};

function Flag({ name, on, testId }: { name: string; on: boolean; testId: string }) {
  const note = FEATURE_NOTES[name];
  return (
    <span className={`cap flag ${on ? 'on' : 'off'}`} data-testid={testId} data-value={on ? 'yes' : 'no'} title={note ? (on ? note.on : note.off) : undefined}>
      {name} <b>{on ? 'yes' : 'no'}</b>
    </span>
  );
}

export function CapabilityStrip() {
  const gpu = useUi((s) => s.gpu);
  const error = useUi((s) => s.gpuError);
  const pending = useUi((s) => s.gpuPending);

  if (pending) {
    return (
      <section className="caps" data-testid="adapter" data-state="pending">
        <span className="cap">Asking the browser for a WebGPU adapter…</span>
      </section>
    );
  }
  if (!gpu) {
    return (
      <section className="caps caps-error" data-testid="adapter" data-state="unavailable" title={error ?? undefined}>
        <span className="cap">
          <b>No usable WebGPU adapter</b>: nothing can be trained in this browser. Chrome or Edge 113+ with a supported GPU is
          needed; the status line says why.
        </span>
      </section>
    );
  }
  const name = [gpu.vendor, gpu.architecture].filter(Boolean).join(' · ') || 'unknown adapter';
  return (
    <section className="caps" data-testid="adapter" data-state="ready">
      <span className="cap adapter" data-testid="adapter-name" title={gpu.description}>
        Adapter <b>{name}</b>
        {gpu.description ? <span className="muted"> ({gpu.description})</span> : null}
      </span>
      {gpu.software ? (
        <span
          className="cap warn"
          data-testid="cap-software"
          title="The browser gave a CPU implementation of WebGPU (no usable GPU, or the GPU is blocklisted). Results are correct, but training runs hundreds of times slower than on a GPU: keep plans tiny, or check chrome://gpu."
        >
          <b>CPU adapter</b>: training runs on the processor, hundreds of times slower than on a GPU
        </span>
      ) : null}
      <Flag name="subgroups" on={gpu.subgroups} testId="cap-subgroups" />
      <Flag name="shader-f16" on={gpu.shaderF16} testId="cap-f16" />
      <Flag name="timestamp-query" on={gpu.timestamps} testId="cap-timestamps" />
      <span className="cap" data-testid="cap-binding" title="The largest buffer one kernel can bind: a student's single tensor, stage 1's attention matrices and stage 3's logits must each fit in it.">
        max storage binding <b>{mib(gpu.limits.maxStorageBufferBindingSize)}</b>
      </span>
      <span className="cap" data-testid="cap-buffer" title="The largest buffer the GPU will make.">
        max buffer <b>{mib(gpu.limits.maxBufferSize)}</b>
      </span>
    </section>
  );
}
