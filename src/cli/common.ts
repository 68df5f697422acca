/** Argument parsing shared by the commands: node's util.parseArgs, with user-facing one-line errors. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UserError } from '../../dsl/errors';
import { LIMITS } from '../../dsl/schema';

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

/**
 * An integer option: `dflt` when absent, else an integer in [min, max] (a UserError naming the flag).
 */
export function intOption(v: string | undefined, dflt: number, min: number, name: string, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return dflt;
  const n = v.trim() === '' ? NaN : Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UserError(max === Number.MAX_SAFE_INTEGER ? `expected an integer >= ${min}, got ${JSON.stringify(v)}` : `must be an integer from ${min} to ${max}, got '${v}'`, name);
  }
  return n;
}

/** `--seed N`: the range every generator takes (dsl's LIMITS.seed). */
export function seedOption(v: string | undefined, dflt: number): number {
  return intOption(v, dflt, 0, '--seed', LIMITS.seed);
}

/** Writes JSON (stable key order is the caller's job) followed by a newline. */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}
