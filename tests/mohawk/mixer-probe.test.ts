import { readFileSync } from 'node:fs';
import { it } from 'vitest';
import { nodeDirFileSet } from '../../src/io/files';
import { loadTeacher } from '../../src/models/teacher';
import { TokenStream } from '../../src/mohawk/token-stream';
import { heldOutSample, runMixerLab, DEFAULT_MIXER_LAB } from '../../src/mohawk/mixer-lab';
import { CORPUS_FILE, TEACHER_DIR } from '../helpers/data';
import { testGpu } from '../helpers/gpu';

it('probe', async () => {
  const gpu = await testGpu();
  const teacher = await loadTeacher(gpu, await nodeDirFileSet(TEACHER_DIR), 'stories260K');
  const corpus = TokenStream.fromText(readFileSync(CORPUS_FILE, 'utf8'), teacher.tokenizer);
  const P = JSON.parse(process.env.PROBE ?? '{}');
  const o = { ...DEFAULT_MIXER_LAB, ...P };
  const ids = await heldOutSample(corpus, o.samples, o.seqLen);
  const curves = new Map<string, string[]>();
  const t0 = Date.now();
  const r = await runMixerLab(gpu, teacher, ids, o, { onProgress: (p) => { const k = `${p.family}/${p.states}`; if (!curves.has(k)) curves.set(k, [`t=${((Date.now() - t0) / 1000).toFixed(0)}`]); curves.get(k)!.push(p.distance.toFixed(3)); } });
  for (const [k, c] of curves) console.log(k, c.join(' '));
  for (const row of r.rows) console.log(row.family.padEnd(9), row.states, row.distance.toFixed(4), JSON.stringify(Object.fromEntries(Object.entries(row.layers).map(([k, v]) => [k, +v.toFixed(3)]))));
  console.log('norm', r.targetNorm, r.seconds);
}, 3_600_000);
