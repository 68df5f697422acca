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
  const all: Options = { set: { type: 'string', multiple: true }, ...options };
  const help = ` (see 'chamlab ${command} --help')`;
  try {
    const parsed = parseArgs({ args: joinNegativeValues(args, all), options: all, allowPositionals, strict: true });
    return { values: parsed.values as Record<string, any>, positionals: parsed.positionals };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const flag = /Option '(-[^' ]+)/.exec(err.message)?.[1] ?? '';
    let message = err.message.split('\n')[0];
    if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && /argument missing/.test(message)) message = `${flag} needs a value`;
    else if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && /ambiguous/.test(message)) {
      const value = args[args.indexOf(flag) + 1] ?? '';
      message = `the value of ${flag}, '${value}', looks like an option; write ${flag}=${value}`;
    } else if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') message = `unknown option '${/'([^']+)'/.exec(message)?.[1] ?? ''}'`;
    else if (err.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') message = message.replace(/^Unexpected argument/, 'unexpected argument');
    throw new UserError(message + help, `chamlab ${command}`);
  }
}

/**
 * `--seed -1` as `--seed=-1`: a value that reads as a negative number is the option's value, so that
 * the option's own check can say what is wrong with it (parseArgs would call it ambiguous).
 */
function joinNegativeValues(args: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const name = a.startsWith('--') ? a.slice(2) : undefined;
    const next = args[i + 1];
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
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
