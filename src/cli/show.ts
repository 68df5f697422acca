/** `chamlab show FILE [--set path=value ...] [--json]`: the resolved spec and its hash. */
import { stringify } from 'yaml';
import { UserError } from '../../dsl/errors';
import { canonicalize, loadSpec } from '../../dsl';
import type { Command } from './command';
import { parseCommandArgs, printJson } from './common';

export const command: Command = {
  summary: 'print the resolved spec (--json: {"spec", "hash"})',
  help: `usage: chamlab show FILE [--set PATH=VALUE ...] [--json]

Prints the resolved spec (defaults filled, expressions evaluated, extends flattened) and its hash.

options:
  --set PATH=VALUE    override a spec field (YAML value; repeatable), e.g. --set optimizer.lr=1e-3
  --json              print {"spec", "hash"} as JSON
  -h, --help          this help

example:
  chamlab show experiments/tiny.yaml --set train.steps=10
`,
  async run(args) {
    const { values, positionals } = parseCommandArgs('show', args, { json: { type: 'boolean' } });
    if (positionals.length !== 1) throw new UserError('expected exactly one spec file', 'chamlab show');
    const { spec, hash } = loadSpec(positionals[0], { overrides: values.set ?? [] });
    if (values.json) printJson({ spec: canonicalize(spec), hash });
    else process.stdout.write(`# hash: ${hash}\n${stringify(spec, { lineWidth: 0 })}`);
    return 0;
  },
};
