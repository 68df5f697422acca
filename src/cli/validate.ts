/** `chamlab validate FILE...`: exit 0 when every spec (and every member of its sweep) resolves. */
import { isUserError, UserError, UserErrors } from '../../dsl/errors';
import { loadSpec, planSweep } from '../../dsl';
import type { Command } from './command';
import { parseCommandArgs } from './common';

export const command: Command = {
  summary: 'check spec files; one file:line:col: message per error',
  help: `usage: chamlab validate FILE... [--set PATH=VALUE ...] [--quiet]

Checks spec files (and every member of their sweeps); one file:line:col: message per error, exit 1
if any fails.

options:
  --set PATH=VALUE    override a spec field (YAML value; repeatable), e.g. --set optimizer.lr=1e-3
  -q, --quiet         print nothing for files that are fine
  -h, --help          this help

example:
  chamlab validate experiments/tiny.yaml experiments/ablate-qknorm-lr.yaml
`,
  async run(args) {
    const { values, positionals } = parseCommandArgs('validate', args, { quiet: { type: 'boolean', short: 'q' } });
    if (positionals.length === 0) throw new UserError('expected at least one spec file', 'chamlab validate');
    const errors: UserError[] = [];
    for (const file of positionals) {
      try {
        const loaded = loadSpec(file, { overrides: values.set ?? [] });
        const members = planSweep(loaded);
        if (!values.quiet) {
          const sweep = loaded.spec.sweep ? `, ${members.length} sweep members` : '';
          process.stdout.write(`${file}: ok ${loaded.hash.slice(0, 12)}${sweep}\n`);
        }
      } catch (e) {
        if (!isUserError(e)) throw e;
        errors.push(...(e instanceof UserErrors ? e.errors : [e]));
      }
    }
    if (errors.length === 0) return 0;
    throw errors.length === 1 ? errors[0] : new UserErrors(errors);
  },
};
