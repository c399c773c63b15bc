// `mohawk`: the studio's engine on the command line (Node, Dawn). Scripts depend on these commands,
// their flags and their --json output: change them only as the issues say.
import { UsageError, usage } from './args';
import type { Command } from './command';

// Each file in commands/ exports one `command`: adding a command touches no shared list.
const modules = import.meta.glob<{ command: Command }>('./commands/*.ts', { eager: true });
const commands: Command[] = Object.values(modules)
  .map((m) => m.command)
  .sort((a, b) => a.name.localeCompare(b.name));

function help(): string {
  return ['usage: mohawk COMMAND [--flags]', '', ...commands.map((c) => `  ${c.name.padEnd(10)}${c.summary}`), '', 'mohawk COMMAND --help for its flags.'].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name ? 0 : 2;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    console.error(`mohawk: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(usage(cmd.name, cmd.synopsis, cmd.flags));
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`${e.message}\n\n${usage(cmd.name, cmd.synopsis, cmd.flags)}`);
      return 2;
    }
    console.error(`mohawk ${name}: ${e instanceof Error ? e.message : String(e)}`);
    if (process.env.MOHAWK_DEBUG && e instanceof Error) console.error(e.stack);
    return 1;
  }
}
