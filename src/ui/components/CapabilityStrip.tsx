import { useUi } from '../store';
import { mib } from '../../util/format';

function Flag({ name, on, testId }: { name: string; on: boolean; testId: string }) {
  return (
    <span className={`cap flag ${on ? 'on' : 'off'}`} data-testid={testId} data-value={on ? 'yes' : 'no'}>
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
      <Flag name="subgroups" on={gpu.subgroups} testId="cap-subgroups" />
      <Flag name="shader-f16" on={gpu.shaderF16} testId="cap-f16" />
      <Flag name="timestamp-query" on={gpu.timestamps} testId="cap-timestamps" />
      <span className="cap" data-testid="cap-binding">
        max storage binding <b>{mib(gpu.limits.maxStorageBufferBindingSize)}</b>
      </span>
      <span className="cap" data-testid="cap-buffer">
        max buffer <b>{mib(gpu.limits.maxBufferSize)}</b>
      </span>
    </section>
  );
}
