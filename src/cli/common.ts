/** Argument parsing shared by the commands: node's util.parseArgs, with user-facing one-line errors. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UserError } from '../../dsl/errors';

export type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses `args` against `options`. `--set` is always accepted (repeatable, path=value).
 * Unknown flags and missing values become a UserError naming the flag.
 */
export function parseCommandArgs(command: string, args: string[], options: Options, allowPositionals = true) {
  try {
    const parsed = parseArgs({
      args,
      options: { set: { type: 'string', multiple: true }, ...options },
      allowPositionals,
      strict: true,
    });
    return { values: parsed.values as Record<string, any>, positionals: parsed.positionals };
  } catch (e) {
    throw new UserError(`${(e as Error).message.split('\n')[0]} (see 'chamlab help')`, `chamlab ${command}`);
  }
}

/** Writes JSON (stable key order is the caller's job) followed by a newline. */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}
