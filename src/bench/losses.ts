// Distillation and language-model losses over a large vocabulary (Llama 3's 128256), forward alone
// and forward with the logits' gradient. Bytes: each logit tensor read once per pass that must
// read it (the softmax statistics, then the gradient) and the gradient written once.
import { crossEntropy, softCrossEntropy } from '../kernels/losses';
import type { BenchCase, BenchSize } from './case';

export function lossCases(size: BenchSize): BenchCase[] {
  const [rows, vocab] = size === 'full' ? [1024, 128256] : [5, 5000];
  const n = rows * vocab;
  const shape = `${rows}x${vocab}`;
  const soft = (grad: boolean): BenchCase => ({
    group: 'loss',
    name: grad ? 'softCrossEntropy fwd+grad' : 'softCrossEntropy fwd',
    shape,
    setup: (gpu, data) => ({
      ops: softCrossEntropy(gpu, {
        student: data.uniform(n, -8, 8),
        teacher: data.uniform(n, -8, 8),
        rows,
        vocab,
        temperature: 2,
        rowLoss: data.out(rows),
        loss: data.out(1),
        dStudent: grad ? data.out(n) : undefined,
      }),
      bytes: (grad ? 20 : 8) * n,
    }),
  });
  return [
    soft(false),
    soft(true),
    {
      group: 'loss',
      name: 'crossEntropy fwd+grad',
      shape,
      setup: (gpu, data) => ({
        ops: crossEntropy(gpu, { logits: data.uniform(n, -8, 8), targets: data.ids(rows, vocab), rows, vocab, rowLoss: data.out(rows), loss: data.out(1), dLogits: data.out(n) }),
        bytes: 12 * n,
      }),
    },
  ];
}
