// `mohawk plan`: the plan `mohawk distill` would run, with the same flags, written as a versioned JSON
// file (src/mohawk/plan-file.ts) for another engine to run unchanged (issue 16). Only the teacher's
// config.json is read: the plan is checked against its positions and layers, not against a corpus.
import { writeFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { parseFlags, UsageError, type FlagSpec } from '../args';
import type { Command } from '../command';
import { parseConfig } from '../../io/config';
import { nodeDirFileSet, readText } from '../../io/files';
import { checkPlanAgainstConfig, PlanError } from '../../mohawk/plan';
import { planFile, planTeacher } from '../../mohawk/plan-file';
import { distillFlags, FIELD_FLAG, optionsFromFlags } from './distill';

const RUN_ONLY = ['data', 'out', 'token-cache', 'estimate', 'resume', 'json', 'save-every', 'log-every', 'stop-grace'] as const;
const flags: Record<string, FlagSpec> = {
  ...Object.fromEntries(Object.entries(distillFlags as Record<string, FlagSpec>).filter(([k]) => !(RUN_ONLY as readonly string[]).includes(k))),
  out: { type: 'string', help: 'the plan file to write (e.g. plan.json)', required: true },
};

export const command: Command = {
  name: 'plan',
  summary: 'write the plan distill would run as versioned JSON (for mohawk_torch)',
  synopsis: '--teacher DIR --out plan.json [the plan flags of distill: --stages, --tokens, --seq, --batch, --lr, ...]',
  flags,
  async run(argv) {
    const f = parseFlags(argv, flags, 'plan');
    let opts: ReturnType<typeof optionsFromFlags>;
    try {
      opts = optionsFromFlags(f);
    } catch (e) {
      // The flags are distill's, and so are their checks: the message names this command.
      if (e instanceof UsageError) throw new UsageError(e.message.replace(/^mohawk distill:/, 'mohawk plan:'));
      throw e;
    }
    const dir = f.teacher as string;
    const files = await nodeDirFileSet(dir).catch(() => {
      throw new UsageError(`mohawk plan: --teacher ${dir} is not a folder`);
    });
    if (!files.has('config.json')) throw new Error(`--teacher ${dir} holds no config.json`);
    const config = parseConfig(JSON.parse(await readText(files, 'config.json')));
    try {
      checkPlanAgainstConfig(opts.plan, config, FIELD_FLAG);
    } catch (e) {
      if (e instanceof PlanError) throw new UsageError(`mohawk plan: ${e.message}`);
      throw e;
    }
    const data = {
      textColumn: (f['text-column'] as string | undefined) ?? 'text',
      skipBadLines: f['skip-bad-lines'] === true,
      docs: opts.docs ?? null,
      heldOut: opts.heldOut,
      evalDocs: opts.evalDocs,
      evalTokens: opts.evalTokens,
    };
    const out = resolve(f.out as string);
    const json = planFile(opts.plan, data, planTeacher(basename(resolve(dir)), config), { by: 'mohawk plan', at: new Date() });
    await writeFile(out, `${JSON.stringify(json, null, 2)}\n`);
    const steps = json.steps as Record<string, number>;
    console.error(`plan for ${config.modelType} (${config.layers} layers): ${opts.plan.stages.map((s) => `stage ${s} ${steps[String(s)]} steps`).join(', ')}; written to ${out}`);
    return 0;
  },
};
