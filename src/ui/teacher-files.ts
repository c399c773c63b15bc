// Which of the files a user dropped or picked make up the teacher, and what is missing, checked on
// the page so that a wrong selection gets a plain answer before any file is sent to the engine.

/** A file and its path inside whatever was dropped ("model/config.json"), or just its name. */
export interface PickedFile {
  file: File;
  path: string;
}

/** `folder`: the name of the folder holding config.json, when the files came with paths (a dropped or picked folder). */
export type TeacherFileCheck = { ok: true; files: File[]; folder: string | null } | { ok: false; message: string };

const INDEX_SUFFIX = '.safetensors.index.json';
const TORCH_CHECKPOINT = /\.(bin|pt|pth|ckpt)$/i;

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function dirName(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

export function isTeacherFile(name: string): boolean {
  return (
    name === 'config.json' ||
    name === 'tokenizer.json' ||
    name === 'tokenizer_config.json' ||
    name.endsWith('.safetensors') ||
    name.endsWith(INDEX_SUFFIX)
  );
}

/**
 * Keeps the files of the folder holding the shallowest config.json, so a dropped parent folder or a
 * model folder with subfolders (onnx/, original/) still gives one model's files. Without any
 * config.json every file is kept, so that the check can say what is missing.
 */
export function modelFolderFiles(picked: readonly PickedFile[]): PickedFile[] {
  const configs = picked.filter((p) => baseName(p.path) === 'config.json');
  if (configs.length === 0) return [...picked];
  const depth = (p: string) => p.split('/').length;
  const root = configs.reduce((a, b) => (depth(b.path) < depth(a.path) ? b : a));
  const dir = dirName(root.path);
  return picked.filter((p) => dirName(p.path) === dir);
}

async function shardNames(index: File): Promise<string[] | string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await index.text());
  } catch {
    return `${index.name} is not valid JSON`;
  }
  const map = (parsed as { weight_map?: unknown })?.weight_map;
  if (!map || typeof map !== 'object') return `${index.name} has no weight_map`;
  return [...new Set(Object.values(map as Record<string, unknown>).map(String))];
}

/** Checks the set and returns the files the engine needs, or the message for the status line. */
export async function checkTeacherFiles(picked: readonly PickedFile[]): Promise<TeacherFileCheck> {
  const folder = modelFolderFiles(picked);
  const names = folder.map((p) => baseName(p.path));
  const has = (n: string) => names.includes(n);
  if (!has('config.json')) {
    return { ok: false, message: "config.json is missing: drop the model's folder or select config.json together with the weights" };
  }
  const weights = names.filter((n) => n.endsWith('.safetensors'));
  if (weights.length === 0) {
    const torch = names.find((n) => TORCH_CHECKPOINT.test(n));
    return {
      ok: false,
      message: torch
        ? `PyTorch .bin checkpoints are not supported; convert to safetensors (found ${torch})`
        : "no *.safetensors weights: drop the model's folder or select its .safetensors file(s) together with config.json",
    };
  }
  const index = folder.find((p) => baseName(p.path).endsWith(INDEX_SUFFIX));
  if (index) {
    const shards = await shardNames(index.file);
    if (typeof shards === 'string') return { ok: false, message: shards };
    const absent = shards.filter((s) => !has(s));
    if (absent.length > 0) {
      return {
        ok: false,
        message: `${absent.length} of the ${shards.length} weight shards named by ${baseName(index.path)} are missing (${absent.slice(0, 3).join(', ')}${absent.length > 3 ? ', …' : ''}): select every shard`,
      };
    }
  }
  if (!has('tokenizer.json')) {
    return {
      ok: false,
      message: has('tokenizer.model')
        ? 'tokenizer.json is missing (only the SentencePiece tokenizer.model was found): add tokenizer.json from the model\'s repository'
        : "tokenizer.json is missing: add it from the model's folder; the teacher's own tokenizer is needed to tokenize the training text",
    };
  }
  const teacher = folder.filter((p) => isTeacherFile(baseName(p.path)));
  const seen = new Set<string>();
  for (const p of teacher) {
    const n = baseName(p.path);
    if (seen.has(n)) return { ok: false, message: `two files named ${n}: select one model's files only` };
    seen.add(n);
  }
  const config = folder.find((p) => baseName(p.path) === 'config.json')!;
  const dir = dirName(config.path);
  return { ok: true, files: teacher.map((p) => p.file), folder: dir ? baseName(dir) : null };
}
