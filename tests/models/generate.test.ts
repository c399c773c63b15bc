// Greedy continuations: the teacher's agrees with the float64 reference, and the student's recurrent
// O(1)-per-token path agrees with re-running its chunked forward over the whole sequence.
import { describe, expect, it } from 'vitest';
import { nodeDirFileSet } from '../../src/io/files';
import { openCheckpoint } from '../../src/io/safetensors';
import { greedyFull, greedyRecurrent } from '../../src/models/generate';
import { defaultMixer, initialStudent, ParamSet, studentMixers, studentShapes, type StudentSpec } from '../../src/models/student';
import { loadTeacher } from '../../src/models/teacher';
import { greedyGenerate, loadLlama } from '../../src/ref/llama';
import { TEACHER_DIR } from '../helpers/data';
import { testGpu } from '../helpers/gpu';

describe('greedy generation', () => {
  it('teacher: the reference continuation; student: recurrent equals full re-forward', async () => {
    const gpu = await testGpu();
    const files = await nodeDirFileSet(TEACHER_DIR);
    const teacher = await loadTeacher(gpu, files, 'stories260K');
    const prompt = [1, 403, 407, 261, 378];
    const t = await greedyFull(gpu, teacher, prompt, 12, 2);
    const ref = greedyGenerate((await loadLlama(await openCheckpoint(files), teacher.config)).model, prompt, 12, 2);
    expect(t.ids).toEqual(ref);

    const spec: StudentSpec = { config: teacher.config, mixer: defaultMixer(teacher.config, 4), attentionLayers: [] };
    const student = new ParamSet(gpu, studentShapes(spec), await initialStudent(spec, teacher.source, 3), 'student');
    const full = await greedyFull(gpu, { config: spec.config, weights: student, mixer: studentMixers(gpu, spec, student) }, prompt, 12, null);
    const rec = await greedyRecurrent(gpu, spec, student, prompt, 12, null);
    expect(rec.recurrent).toBe(true);
    expect(rec.ids).toEqual(full.ids);
    expect(rec.ids).toHaveLength(12);
    student.release();
    teacher.release();
  }, 120_000);
});
