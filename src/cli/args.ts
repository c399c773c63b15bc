// Flag parsing for the command line: `--name value`, `--name=value` and boolean `--name`. Every
// command declares its flags so that a misspelt one is an error, not silently ignored.

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface FlagSpec {
  /**
   * Takes a value (string), is a switch (boolean), or takes one or more values (list: every word up to
   * the next flag, and again each time the flag is repeated, so that a shell's glob expands into it).
   */
  type: 'string' | 'boolean' | 'list';
  help: string;
  required?: boolean;
}

export type Flags = Record<string, string | boolean | string[] | undefined>;

export function parseFlags(argv: string[], spec: Record<string, FlagSpec>, command: string): Flags {
  const out: Flags = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new UsageError(`mohawk ${command}: unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const s = spec[name];
    if (!s) throw new UsageError(`mohawk ${command}: unknown flag --${name} (known: ${Object.keys(spec).map((k) => '--' + k).join(', ')})`);
    if (s.type === 'boolean') {
      if (eq >= 0) throw new UsageError(`mohawk ${command}: --${name} takes no value`);
      out[name] = true;
      continue;
    }
    if (s.type === 'list') {
      const vals = (out[name] as string[] | undefined) ?? [];
      if (eq >= 0) vals.push(arg.slice(eq + 1));
      else while (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) vals.push(argv[++i]!);
      if (vals.length === 0 || vals.includes('')) throw new UsageError(`mohawk ${command}: --${name} needs a value`);
      out[name] = vals;
      continue;
    }
    let v: string | undefined;
    if (eq >= 0) v = arg.slice(eq + 1);
    else {
      v = argv[i + 1];
      i++;
    }
    if (v === undefined || v === '') throw new UsageError(`mohawk ${command}: --${name} needs a value`);
    out[name] = v;
  }
  for (const [name, s] of Object.entries(spec)) {
    if (s.required && out[name] === undefined) throw new UsageError(`mohawk ${command}: --${name} is required`);
  }
  return out;
}

/** A positive integer flag, or the default. */
export function intFlag(f: Flags, name: string, dflt: number, command: string, min = 1): number {
  const v = f[name];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isInteger(n) || n < min) {
    throw new UsageError(`mohawk ${command}: --${name} must be an integer ≥ ${min}, got "${String(v)}"`);
  }
  return n;
}

export function usage(command: string, summary: string, spec: Record<string, FlagSpec>): string {
  const lines = [`usage: mohawk ${command} ${summary}`, ''];
  for (const [name, s] of Object.entries(spec)) {
    lines.push(`  --${name}${s.type === 'string' ? ' VALUE' : s.type === 'list' ? ' VALUE…' : ''}`.padEnd(28) + s.help + (s.required ? ' (required)' : ''));
  }
  return lines.join('\n');
}
