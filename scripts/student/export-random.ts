// Random MOHAWK students of the fixture teachers (tests/fixtures), exported as the studio exports
// them, for checking scripts/student_torch.py against `mohawk eval` (scripts/student/check.sh):
//   (bundled by scripts/student/check.sh, which runs it from the repository root) OUT
// writes OUT/<case>/ (model.safetensors, config.json, tokenizer files), with data.txt (the fixture's
// two held-out stories), ids.json (their token ids, ≤ 24 each, as `mohawk eval --max-tokens 24` reads
// them) and, for Llama-family teachers, reference.json (the float64 student's mean NLL, src/ref/student.ts).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LLAMA_FAMILY, parseConfig } from '../../src/io/config';
import { encodeDocuments } from '../../src/io/corpus';
import { TeacherTokenizer } from '../../src/io/tokenizer';
import { exportStudentFiles, studentConfigJson } from '../../src/models/student-files';
import { studentMeanNllRef } from '../../src/ref/student';
import { randomStudent } from '../../tests/helpers/student';

const out = process.argv[2];
if (!out) throw new Error('usage: node <bundle of scripts/student/export-random.ts> OUT (run from the repository root)');
// The bundle runs from elsewhere: the fixtures are found from the working directory.
const FIXTURES_DIR = join(process.cwd(), 'tests', 'fixtures');
const cases: [string, string, number[]][] = [
  ['llama-gqa', 'llama-gqa', []],
  ['llama-gqa-hybrid', 'llama-gqa', [1]],
  ['gpt2', 'gpt2', []],
  ['gpt_neox', 'gpt_neox', [0]],
  ['phi', 'phi', []],
  // Attention kept in the sliding layer: its window (8) is narrower than the 24-token documents.
  ['gemma3-hybrid', 'gemma3', [0]],
  // Kept attention layers that read what only these families have: q/k/v biases (qwen2), q/k norms
  // (qwen3), a sliding window of 8 (mistral) and llama3 RoPE scaling.
  ['qwen2-hybrid', 'qwen2', [0]],
  ['qwen3-hybrid', 'qwen3', [1]],
  ['mistral-swa-hybrid', 'mistral-swa', [0]],
  ['llama3-rope-hybrid', 'llama3-rope', [1]],
];
for (const [name, fixture, attentionLayers] of cases) {
  const dir = join(FIXTURES_DIR, fixture);
  const teacherJson = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const c = parseConfig(teacherJson);
  const mixer = { d: c.dModel, dInner: c.dModel, nV: c.heads, nQK: c.heads, N: c.headDim, outBias: c.biases.attention, chunk: 8 };
  const s = randomStudent(c, mixer, attentionLayers, name.length);
  const configJson = studentConfigJson(teacherJson, { mixer, attentionLayers, provenance: { random: true, fixture } });
  const tokenizerFiles = ['tokenizer.json', 'tokenizer_config.json'].map((f) => ({ name: f, bytes: readFileSync(join(dir, f)) }));
  const files = exportStudentFiles({ configJson, tensors: s.tensors, shapes: s.shapes, tokenizerFiles });
  const target = join(out, name);
  mkdirSync(target, { recursive: true });
  for (const f of files) writeFileSync(join(target, f.name), f.bytes);
  const texts: string[] = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')).texts;
  writeFileSync(join(target, 'data.txt'), texts.join('\n<|endoftext|>\n'));
  const tok = TeacherTokenizer.fromJson(JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')), { bosId: c.bosId, eosId: c.eosId });
  const ids = encodeDocuments(tok, texts, { maxTokens: 24 });
  writeFileSync(join(target, 'ids.json'), JSON.stringify(ids));
  if (LLAMA_FAMILY.includes(c.modelType)) writeFileSync(join(target, 'reference.json'), JSON.stringify({ mean_nll: studentMeanNllRef(s.spec, s.tensors, ids) }));
  console.log(target);
}
