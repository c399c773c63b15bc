// What the page shows of a student beside its teacher: one head's mixing matrices on a held-out
// sample, and a continuation of a prompt from each model (the student generating recurrently).
import type { Gpu } from '../gpu/runtime';
import { ssdMatrixForward } from '../kernels/ssd-matrix';
import { Decoder } from '../models/decoder';
import { greedyFull, greedyRecurrent, recurrentStudent } from '../models/generate';
import { MambaMixer } from '../models/mamba-mixer';
import type { Distiller } from './distiller';

/** One plot-ready sample of layer `layer`, head `head`: row-major L×L, causal (upper triangle 0). */
export interface MixingSample {
  layer: number;
  head: number;
  L: number;
  teacher: Float32Array;
  student: Float32Array;
}

/** The teacher's attention and the student's SSD matrix of (layer, head) on the first held-out document (at most 64 tokens). */
export async function mixingSample(gpu: Gpu, d: Distiller, layer: number, head: number): Promise<MixingSample> {
  const c = d.teacher.config;
  if (!(layer >= 0 && layer < c.layers && head >= 0 && head < c.heads)) throw new Error(`no layer ${layer}, head ${head} in this ${c.layers}×${c.heads} model`);
  if (d.spec.attentionLayers.includes(layer)) throw new Error(`layer ${layer} keeps the teacher's attention: there is no SSD matrix to compare`);
  const corpus = d.corpus;
  if (corpus.heldOutCount === 0) throw new Error('the corpus has no held-out document');
  let first = 0;
  while (first < corpus.heldOutCount && corpus.heldOutLength(first) < 8) first++;
  const doc = corpus.heldOutDoc(first < corpus.heldOutCount ? first : 0);
  await d.resident();
  const L = Math.min(64, doc.length, d.plan.seqLen);
  const ids = gpu.upload(Uint32Array.from(doc.slice(0, L)), 'sample ids');
  const teach = new Decoder(gpu, c, d.teacher.weights, { batch: 1, L, ids }, { keepLayers: true, logits: false });
  const A = gpu.buffer(c.heads * L * L * 4, 'sample attention');
  const T = gpu.buffer(d.spec.mixer.nV * L * L * 4, 'sample ssd matrix');
  const p = `layers.${layer}.mixer.`;
  const mixer = new MambaMixer(gpu, d.spec.mixer, { batch: 1, L }, { w: (n) => d.student.get(p + n), g: () => undefined });
  const s = { batch: 1, L, h: d.spec.mixer.nV, g: d.spec.mixer.nQK, n: d.spec.mixer.N };
  gpu.run([
    ...teach.ops,
    ...teach.attention(layer).probabilities(A),
    ...mixer.matrixForward(teach.normed[layer]!),
    ...ssdMatrixForward(gpu, s, { ...mixer.matrixInputs(), D: d.student.get(p + 'D'), out: T }),
  ]);
  const teacher = (await gpu.read(A)).slice(head * L * L, (head + 1) * L * L);
  const student = (await gpu.read(T)).slice(head * L * L, (head + 1) * L * L);
  teach.release();
  mixer.release();
  for (const b of [ids, A, T]) gpu.release(b);
  return { layer, head, L, teacher, student };
}

/** Greedy continuations of `prompt` (`steps` tokens) from the teacher and from the student. */
export async function continuations(gpu: Gpu, d: Distiller, prompt: string, steps = 40): Promise<{ teacher: string; student: string; studentTokensPerS: number }> {
  await d.resident();
  const tok = d.teacher.tokenizer;
  const ids = tok.encode(prompt);
  const eos = d.teacher.config.eosId;
  const t = await greedyFull(gpu, d.teacher, ids, steps, eos);
  const student = d.studentModel();
  const s = recurrentStudent(d.spec) ? await greedyRecurrent(gpu, d.spec, student.weights, ids, steps, eos) : await greedyFull(gpu, student, ids, steps, eos);
  return { teacher: tok.decode(t.ids, { skipSpecial: true }), student: tok.decode(s.ids, { skipSpecial: true }), studentTokensPerS: s.tokensPerS };
}
