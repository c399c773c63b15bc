// Greedy continuations of a prompt. The teacher re-reads the whole sequence for every new token
// (attention has no cache here); the student runs recurrently: one chunked pass over the prompt sets
// each layer's conv window and SSD state, then every token costs the same, whatever came before.
import type { Gpu } from '../gpu/runtime';
import { Decoder, type Mixer } from './decoder';
import type { EvalModel } from './evaluate';
import type { Weights } from './layers';
import { MambaStepper } from './mamba-stepper';
import type { StudentSpec } from './student';

export interface Continuation {
  ids: number[];
  tokensPerS: number;
  /** Whether each token cost O(1) (the recurrent path). */
  recurrent: boolean;
}

function argmaxRow(logits: Float32Array, row: number, vocab: number): number {
  let best = 0;
  let bv = -Infinity;
  for (let j = 0; j < vocab; j++) {
    const v = logits[row * vocab + j]!;
    if (v > bv) {
      bv = v;
      best = j;
    }
  }
  return best;
}

/** Re-runs the model over the growing sequence for each token. */
export async function greedyFull(gpu: Gpu, model: EvalModel, prompt: number[], steps: number, stopId: number | null): Promise<Continuation> {
  const c = model.config;
  const seq = [...prompt];
  const out: number[] = [];
  const t0 = performance.now();
  for (let k = 0; k < steps && seq.length < c.maxPositions; k++) {
    const ids = gpu.upload(Uint32Array.from(seq), 'generation ids');
    const dec = new Decoder(gpu, c, model.weights, { batch: 1, L: seq.length, ids }, { mixer: model.mixer });
    gpu.run(dec.ops);
    const next = argmaxRow(await gpu.read(dec.logits!, seq.length * c.vocab), seq.length - 1, c.vocab);
    dec.release();
    gpu.release(ids);
    if (next === stopId) break;
    seq.push(next);
    out.push(next);
  }
  return { ids: out, tokensPerS: out.length / Math.max((performance.now() - t0) / 1000, 1e-9), recurrent: false };
}

/** Whether a student can generate recurrently: no kept attention (no KV cache) and no learned positions. */
export function recurrentStudent(spec: StudentSpec): boolean {
  return spec.attentionLayers.length === 0 && spec.config.positions !== 'learned';
}

/** The student, token by token from its recurrent state (students that `recurrentStudent` accepts). */
export async function greedyRecurrent(
  gpu: Gpu,
  spec: StudentSpec,
  weights: Weights,
  prompt: number[],
  steps: number,
  stopId: number | null,
): Promise<Continuation> {
  const c = spec.config;
  if (!recurrentStudent(spec) || prompt.length === 0) {
    throw new Error('recurrent generation needs a pure Mamba student without learned positions');
  }
  const steppers: MambaStepper[] = [];
  for (let l = 0; l < c.layers; l++) {
    const p = `layers.${l}.mixer.`;
    steppers.push(new MambaStepper(gpu, spec.mixer, { w: (n) => weights.get(p + n) }, 1));
  }
  const P = prompt.length;
  const promptIds = gpu.upload(Uint32Array.from(prompt), 'prompt ids');
  const prefill = new Decoder(gpu, c, weights, { batch: 1, L: P, ids: promptIds }, {
    mixer: (l): Mixer => ({ forward: (u, out) => steppers[l]!.prefill(u, out, P) }),
  });
  gpu.run(prefill.ops);
  let next = argmaxRow(await gpu.read(prefill.logits!, P * c.vocab), P - 1, c.vocab);
  prefill.release();
  const tok = gpu.buffer(4, 'generation token');
  const stepDec = new Decoder(gpu, c, weights, { batch: 1, L: 1, ids: tok }, {
    mixer: (l): Mixer => ({ forward: (u, out) => steppers[l]!.step(u, out) }),
  });
  const out: number[] = [];
  const t0 = performance.now();
  for (let k = 0; k < steps; k++) {
    if (next === stopId) break;
    out.push(next);
    if (k === steps - 1) break;
    gpu.write(tok, Uint32Array.of(next));
    gpu.run(stepDec.ops);
    next = argmaxRow(await gpu.read(stepDec.logits!, c.vocab), 0, c.vocab);
  }
  stepDec.release();
  return { ids: out, tokensPerS: out.length / Math.max((performance.now() - t0) / 1000, 1e-9), recurrent: true };
}
