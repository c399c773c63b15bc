// A random MOHAWK student (every canonical tensor of studentShapes), scaled so that activations stay
// of order one through a few layers: linear weights with variance 1/fan-in, norms near 1, mixer decays
// around 1/2 per token.
import type { ArchConfig } from '../../src/io/config';
import type { MixerShape } from '../../src/models/mamba-mixer-shape';
import { studentShapes } from '../../src/models/student';
import { randn } from './gpu';

export interface RandomStudent {
  spec: { config: ArchConfig; mixer: MixerShape; attentionLayers: number[] };
  shapes: Map<string, number[]>;
  tensors: Map<string, Float32Array>;
}

export function randomStudent(config: ArchConfig, mixer: MixerShape, attentionLayers: number[], seed: number): RandomStudent {
  const spec = { config, mixer, attentionLayers };
  const shapes = studentShapes(spec);
  const tensors = new Map<string, Float32Array>();
  let k = 0;
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const r = randn(n, seed * 7919 + ++k);
    let v: Float32Array;
    if (/norm.*\.weight$/.test(name)) v = r.map((x) => 1 + 0.2 * x);
    else if (name.endsWith('conv1d.weight')) v = r.map((x) => 0.6 * x);
    else if (name.endsWith('mixer.D')) v = r.map((x) => 1 + 0.5 * x);
    else if (name.endsWith('bias') || name.endsWith('z_bias')) v = r.map((x) => 0.2 * x);
    else if (name === 'embed' || name === 'pos') v = r;
    else v = r.map((x) => x * Math.sqrt(3 / shape[shape.length - 1]!));
    tensors.set(name, v);
  }
  return { spec, shapes, tensors };
}
