/**
 * `chamlab demo`: validates and shows every shipped experiment.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isUserError, UserErrors } from '../../dsl/errors';
import { loadSpec, planSweep } from '../../dsl';
import { summarizeSpec } from '../../dsl/summary';
import type { Command } from './command';
import { parseCommandArgs } from './common';

/** The package's experiments/ folder (dist/src/cli -> package root). */
export function experimentsDir(): string {
  for (let dir = __dirname; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'experiments'))) return path.join(dir, 'experiments');
  }
  return path.resolve('experiments');
}

export function shippedExperiments(): string[] {
  const dir = experimentsDir();
  return fs
    .readdirSync(dir)
    .filter((f) => /\.(ya?ml|ts)$/.test(f) && !f.endsWith('.d.ts'))
    .sort()
    .map((f) => path.join(dir, f));
}

export const command: Command = {
  summary: 'validate and summarize the shipped experiments',
  async run(args) {
    parseCommandArgs('demo', args, {}, false);
    let failed = 0;
    for (const file of shippedExperiments()) {
      const rel = path.relative(process.cwd(), file) || file;
      try {
        const loaded = loadSpec(file);
        const members = planSweep(loaded);
        process.stdout.write(`\n${loaded.spec.name}  ${rel}  ${loaded.hash.slice(0, 12)}\n`);
        if (loaded.spec.description) process.stdout.write(`  ${loaded.spec.description}\n`);
        for (const line of summarizeSpec(loaded.spec)) process.stdout.write(`  ${line}\n`);
        if (loaded.spec.sweep) {
          for (const m of members) {
            const ov = Object.entries(m.overrides).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ');
            process.stdout.write(`    ${m.hash.slice(0, 12)}  ${ov.length > 100 ? ov.slice(0, 97) + '...' : ov}\n`);
          }
        }
      } catch (e) {
        if (!isUserError(e)) throw e;
        failed++;
        for (const err of e instanceof UserErrors ? e.errors : [e]) process.stderr.write(err.message + '\n');
      }
    }
    process.stdout.write(failed ? `\n${failed} experiment(s) failed to validate\n` : '\nall shipped experiments validate\n');
    return failed ? 1 : 0;
  },
};
