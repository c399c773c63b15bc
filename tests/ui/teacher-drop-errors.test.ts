// What the page's teacher drop says about a folder whose config.json disagrees with its weights: the
// page's own file-set check lets it through (the right files are there), the engine refuses it by
// name before reading a tensor, and the message crosses the worker boundary (comlink) intact to the
// status line (engine-actions shows the rejection's message).
import { readdirSync, readFileSync } from 'node:fs';
import { transferHandlers } from 'comlink';
import { describe, expect, it } from 'vitest';
import { checkTeacherFiles, type PickedFile } from '../../src/ui/teacher-files';
import { Engine } from '../../src/worker/engine';
import { FIXTURES_DIR } from '../helpers/fixtures';

/** The fixture's folder as a dropped folder gives it, config.json edited. */
function dropped(fixture: string, edit: (c: Record<string, unknown>) => void): PickedFile[] {
  const dir = `${FIXTURES_DIR}/${fixture}`;
  return readdirSync(dir).map((name) => {
    const bytes = readFileSync(`${dir}/${name}`);
    if (name !== 'config.json') return { path: `${fixture}/${name}`, file: new File([new Uint8Array(bytes)], name) };
    const c = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    edit(c);
    return { path: `${fixture}/${name}`, file: new File([JSON.stringify(c)], name) };
  });
}

/** A rejection as the page receives it from the worker: comlink's own serialization of a thrown error. */
async function acrossTheWorker(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof Error)) throw new Error(`the load did not fail with an Error (${String(err)})`);
  const handler = transferHandlers.get('throw')!;
  const [wire] = handler.serialize({ value: err } as never);
  try {
    handler.deserialize(structuredClone(wire));
  } catch (e) {
    return e as Error;
  }
  throw new Error('comlink did not rethrow');
}

describe('the teacher drop: a config.json that disagrees with the weights', () => {
  it('passes the page check, is refused by the engine by name, and reaches the page with its message', async () => {
    const picked = dropped('llama-gqa', (c) => (c.vocab_size = 1024));
    const check = await checkTeacherFiles(picked);
    if (!check.ok) throw new Error(check.message);
    expect(check.folder).toBe('llama-gqa');

    const engine = new Engine();
    const events: unknown[] = [];
    await engine.subscribe((e) => events.push(e));
    const err = await acrossTheWorker(engine.loadTeacherFiles(check.files, check.folder));
    expect(err.message).toBe(
      'config.json says vocab_size = 1024, but model.embed_tokens.weight in model.safetensors has 512 rows (one per token id): the config and the weights must come from the same model',
    );
    expect(err.name).toBe('ConfigMismatchError');
    // Refused while reading the files: no progress of reading the weights was ever reported.
    expect(events.some((e) => (e as { type: string }).type === 'progress')).toBe(false);

    // The same engine then loads the folder as it should be.
    const good = await checkTeacherFiles(dropped('llama-gqa', () => {}));
    if (!good.ok) throw new Error(good.message);
    const summary = await engine.loadTeacherFiles(good.files, good.folder);
    expect(summary).toMatchObject({ name: 'llama-gqa', modelType: 'llama', vocab: 512, kvHeads: 2, maxPositions: 128, positionsField: 'max_position_embeddings' });
  });
});
