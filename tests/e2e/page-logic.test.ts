// The page's pure logic (no browser needed): teacher file-set checks, loss smoothing, field bounds.
import { describe, expect, it } from 'vitest';
import { checkTeacherFiles, modelFolderFiles, type PickedFile } from '../../src/ui/teacher-files';
import { emaSmooth } from '../../src/ui/smoothing';
import { fieldError } from '../../src/ui/field-bounds';
import { teacherName } from '../../src/models/teacher';
import { STUDIO_EVALUATION, studioEvaluationOf } from '../../src/worker/api';

const pick = (path: string, content = 'x'): PickedFile => ({ path, file: new File([content], path.split('/').pop()!) });
const names = async (picked: PickedFile[]) => {
  const r = await checkTeacherFiles(picked);
  if (!r.ok) throw new Error(r.message);
  return r.files.map((f) => f.name).sort();
};
const message = async (picked: PickedFile[]) => {
  const r = await checkTeacherFiles(picked);
  if (r.ok) throw new Error(`accepted ${r.files.map((f) => f.name).join(', ')}`);
  return r.message;
};

describe('teacher file checks', () => {
  const full = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];

  it('accepts loose files and keeps only the teacher files', async () => {
    expect(await names([...full, 'README.md', 'generation_config.json'].map((n) => pick(n)))).toEqual(full);
  });

  it('takes the folder of the shallowest config.json from a dropped tree', async () => {
    const picked = [
      ...full.map((n) => pick(`models/tiny/${n}`)),
      pick('models/tiny/onnx/config.json'),
      pick('models/tiny/onnx/model.safetensors'),
      pick('models/notes.txt'),
    ];
    expect(modelFolderFiles(picked).map((p) => p.path)).toEqual(full.map((n) => `models/tiny/${n}`));
    expect(await names(picked)).toEqual(full);
  });

  it('names the teacher after its folder, else after its config.json, never "config"', async () => {
    const folderOf = async (picked: PickedFile[]) => {
      const r = await checkTeacherFiles(picked);
      if (!r.ok) throw new Error(r.message);
      return r.folder;
    };
    expect(await folderOf(full.map((n) => pick(`models/SmolLM2-135M/${n}`)))).toBe('SmolLM2-135M');
    expect(await folderOf(full.map((n) => pick(n)))).toBeNull();
    expect(teacherName({ _name_or_path: 'Qwen/Qwen2.5-0.5B', architectures: ['Qwen2ForCausalLM'] })).toBe('Qwen2.5-0.5B');
    expect(teacherName({ _name_or_path: '/home/me/ckpt/run-7/', model_type: 'llama' })).toBe('run-7');
    expect(teacherName({ architectures: ['LlamaForCausalLM'], model_type: 'llama' })).toBe('LlamaForCausalLM');
    expect(teacherName({ model_type: 'gpt2' })).toBe('a gpt2 model');
    expect(teacherName(null)).toBe('dropped teacher');
  });

  it('names what is missing, in order: config, weights, tokenizer', async () => {
    expect(await message([pick('README.txt')])).toBe(
      "config.json is missing: drop the model's folder or select config.json together with the weights",
    );
    expect(await message([pick('config.json'), pick('tokenizer.json')])).toMatch(/^no \*\.safetensors weights/);
    expect(await message([pick('config.json'), pick('pytorch_model.bin'), pick('tokenizer.json')])).toBe(
      'PyTorch .bin checkpoints are not supported; convert to safetensors (found pytorch_model.bin)',
    );
    expect(await message([pick('config.json'), pick('model.safetensors')])).toMatch(/^tokenizer\.json is missing: /);
    expect(await message([pick('config.json'), pick('model.safetensors'), pick('tokenizer.model')])).toMatch(/SentencePiece tokenizer\.model/);
  });

  it('checks the shards a safetensors index names', async () => {
    const index = JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } });
    const base = [pick('config.json'), pick('tokenizer.json'), pick('model.safetensors.index.json', index)];
    expect(await message([...base, pick('model-00001-of-00002.safetensors')])).toBe(
      '1 of the 2 weight shards named by model.safetensors.index.json are missing (model-00002-of-00002.safetensors): select every shard',
    );
    expect(await names([...base, pick('model-00001-of-00002.safetensors'), pick('model-00002-of-00002.safetensors')])).toHaveLength(5);
    expect(await message([pick('config.json'), pick('tokenizer.json'), pick('model.safetensors.index.json', '{'), pick('x.safetensors')])).toBe(
      'model.safetensors.index.json is not valid JSON',
    );
  });

  it('refuses two teacher files of one name from one folder selection', async () => {
    const picked = [...full.map((n) => pick(n)), pick('model.safetensors')];
    expect(await message(picked)).toBe("two files named model.safetensors: select one model's files only");
  });
});

describe('EMA smoothing (TensorBoard)', () => {
  it('debiases the first points and follows the recurrence', () => {
    const s = emaSmooth([1, 2, 3], 0.5);
    // last = 0.5, 1.25, 2.125; divided by 1 - 0.5^n.
    expect(s[0]).toBeCloseTo(1, 12);
    expect(s[1]).toBeCloseTo(1.25 / 0.75, 12);
    expect(s[2]).toBeCloseTo(2.125 / 0.875, 12);
  });

  it('is the identity at weight 0 and a constant stays constant at any weight', () => {
    expect(emaSmooth([3, 1, 4, 1, 5], 0)).toEqual([3, 1, 4, 1, 5]);
    for (const v of emaSmooth(new Array(50).fill(2.5), 0.99)) expect(v).toBeCloseTo(2.5, 10);
  });

  it('passes non-finite values through without poisoning the average', () => {
    const s = emaSmooth([1, NaN, 1, Infinity, 1], 0.9);
    expect(Number.isNaN(s[1])).toBe(true);
    expect(s[3]).toBe(Infinity);
    expect(s[4]).toBeCloseTo(1, 12);
  });
});

describe('field bounds', () => {
  it('says why a value does not fit, or null', () => {
    const b = { min: 1, max: 10, integer: true, step: 1 };
    expect(fieldError(5, b)).toBeNull();
    expect(fieldError(2.5, b)).toBe('must be a whole number');
    expect(fieldError(0, b)).toBe('must be between 1 and 10');
    expect(fieldError(11, b)).toBe('must be between 1 and 10');
    expect(fieldError(NaN, b)).toBe('not a number');
    expect(fieldError(0.5, { ...b, min: 0, integer: false })).toBeNull();
  });
});

describe("the page address's evaluation", () => {
  it('is the studio default unless ?evaluation=DOCSxTOKENS asks for another; a bad one is named', () => {
    expect(studioEvaluationOf('')).toEqual(STUDIO_EVALUATION);
    expect(studioEvaluationOf('?other=1')).toEqual(STUDIO_EVALUATION);
    expect(studioEvaluationOf('?evaluation=2x130')).toEqual({ docs: 2, tokens: 130 });
    expect(studioEvaluationOf('?a=b&evaluation=20x512')).toEqual({ docs: 20, tokens: 512 });
    for (const bad of ['2', '2x', 'x130', '0x130', '2x1', '2x130x4', '-2x130', '2.5x130', ''])
      expect(() => studioEvaluationOf(`?evaluation=${bad}`), bad).toThrow(`?evaluation=${bad} is not DOCSxTOKENS`);
  });
});
