import type { FlagSpec } from './args';

/** One subcommand of `mohawk`. `run` resolves to the process exit status. */
export interface Command {
  name: string;
  /** One line for `mohawk --help`. */
  summary: string;
  /** Shape of the arguments after the name, for the usage line. */
  synopsis: string;
  flags: Record<string, FlagSpec>;
  run(argv: string[]): Promise<number>;
}
