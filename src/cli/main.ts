/**
 * The `chamlab` command: a thin dispatcher. Each command lives in its own file under src/cli and is
 * loaded only when called, so `chamlab show` never pays for loading onnxruntime.
 */
import { isUserError, UserErrors } from '../../dsl/errors';
import type { Command } from './command';

const commands: Record<string, () => Command> = {
  validate: () => require('./validate').command,
  show: () => require('./show').command,
  'sweep-plan': () => require('./sweep-plan').command,
  schema: () => require('./schema').command,
  compile: () => require('./compile').command,
  gradcheck: () => require('./gradcheck').command,
  info: () => require('./info').command,
  init: () => require('./init').command,
  grad: () => require('./grad').command,
  data: () => require('./data').command,
  placement: () => require('./placement').command,
  demo: () => require('./demo').command,
  train: () => require('./train').command,
  sweep: () => require('./sweep').command,
  report: () => require('./report').command,
  generate: () => require('./generate').command,
  kernel: () => require('./kernel').command,
};

function loadCommand(name: string): Command | undefined {
  const load = commands[name];
  if (!load) return undefined;
  try {
    return load();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return undefined;
    throw e;
  }
}

function usage(): string {
  const lines = ['usage: chamlab <command> [options]', '', 'commands:'];
  for (const name of Object.keys(commands)) {
    const cmd = loadCommand(name);
    if (cmd) lines.push(`  ${name.padEnd(12)} ${cmd.summary}`);
  }
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 2;
  }
  const cmd = loadCommand(name);
  if (!cmd) {
    process.stderr.write(`chamlab: unknown command '${name}'; run 'chamlab help' for the list\n`);
    return 2;
  }
  const beforeDashes = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (beforeDashes.includes('--help') || beforeDashes.includes('-h')) {
    process.stdout.write(cmd.help.trimEnd() + '\n');
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (isUserError(e)) {
      const errs = e instanceof UserErrors ? e.errors : [e];
      for (const err of errs) process.stderr.write(err.message + '\n');
      return 1;
    }
    throw e;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`chamlab: internal error (please report): ${e instanceof Error ? e.stack : String(e)}\n`);
      process.exitCode = 70;
    },
  );
}
