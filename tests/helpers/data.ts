// The real data the tests use: the copies committed in public/ (provenance in public/PROVENANCE.md),
// so a clone tests the same bytes wherever ../shared happens to be.
import { fileURLToPath } from 'node:url';

export const TEACHER_DIR = fileURLToPath(new URL('../../public/teacher/stories260K', import.meta.url));
export const CORPUS_FILE = fileURLToPath(new URL('../../public/corpus/tinystories-2MiB.txt', import.meta.url));
