/**
 * The long fuzz run: `npm run fuzz -- [--iterations N | --scale F] [--seed S] [--kind K ...] [--only I] [--jobs J] [--keep]`.
 * Defaults: ten times the CI counts, a seed from the clock (printed), two drivers. Exit 1 on any failure.
 */
import { parseArgs } from 'node:util';
import { KINDS } from './generators';
import { formatFailures, formatTable, runSuite } from './suite';

async function cli(): Promise<number> {
  const { values } = parseArgs({
    options: {
      iterations: { type: 'string' },
      scale: { type: 'string' },
      seed: { type: 'string' },
      kind: { type: 'string', multiple: true },
      only: { type: 'string' },
      jobs: { type: 'string' },
      keep: { type: 'boolean' },
    },
  });
  const seed = values.seed !== undefined ? Number(values.seed) : Date.now() % 2 ** 31;
  const iterations = values.iterations !== undefined ? Number(values.iterations) : undefined;
  const scale = values.scale !== undefined ? Number(values.scale) : iterations === undefined ? 10 : undefined;
  const planned = Object.entries(KINDS).filter(([k]) => !values.kind?.length || values.kind.includes(k));
  const total = planned.reduce((n, [, k]) => n + (values.only !== undefined ? 1 : iterations ?? Math.round(k.count * (scale ?? 1))), 0);
  process.stdout.write(`fuzz: seed ${seed}, ${total} inputs over ${planned.map(([k]) => k).join(', ')}\n`);
  let done = 0;
  let failed = 0;
  const { results, seconds } = await runSuite({
    seed,
    iterations,
    scale,
    kinds: values.kind,
    only: values.only !== undefined ? Number(values.only) : undefined,
    jobs: values.jobs !== undefined ? Number(values.jobs) : 2,
    keep: values.keep,
    onResult: (r) => {
      done++;
      if (r.failures.length) failed++;
      if (process.stderr.isTTY) process.stderr.write(`\r${done}/${total} inputs, ${failed} failed`);
    },
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  process.stdout.write(`${formatTable(results)}\n${seconds.toFixed(0)} s\n`);
  if (failed) process.stdout.write(`\n${formatFailures(results, 50)}\n`);
  return failed ? 1 : 0;
}

// `node --test dist/test/` runs every .js under test/ as a test file: then this is not the command.
if (require.main === module && !process.env.NODE_TEST_CONTEXT) cli().then((code) => (process.exitCode = code));
