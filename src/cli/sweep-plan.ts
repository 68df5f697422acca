/** `chamlab sweep-plan FILE [--json]`: the members of the spec's sweep, each with its own hash. */
import { UserError } from '../../dsl/errors';
import { canonicalize, loadSpec, planSweep } from '../../dsl';
import type { Command } from './command';
import { parseCommandArgs, printJson } from './common';

export const command: Command = {
  summary: 'list the members of a sweep (--json: [{"hash", "overrides", "spec"}])',
  help: `usage: chamlab sweep-plan FILE [--set PATH=VALUE ...] [--json]

Lists the members of the spec's sweep, each with its overrides and its own hash.

options:
  --set PATH=VALUE    override a spec field (YAML value; repeatable), e.g. --set optimizer.lr=1e-3
  --json              print [{"hash", "overrides", "spec"}] as JSON
  -h, --help          this help

example:
  chamlab sweep-plan experiments/ablate-qknorm-lr.yaml
`,
  async run(args) {
    const { values, positionals } = parseCommandArgs('sweep-plan', args, { json: { type: 'boolean' } });
    if (positionals.length !== 1) throw new UserError('expected exactly one spec file', 'chamlab sweep-plan');
    const members = planSweep(loadSpec(positionals[0], { overrides: values.set ?? [] }));
    if (values.json) {
      printJson(members.map((m) => ({ hash: m.hash, overrides: m.overrides, spec: canonicalize(m.spec) })));
      return 0;
    }
    const lines = members.map((m, i) => {
      const ov = Object.entries(m.overrides).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join('  ');
      return `${String(i).padStart(4)}  ${m.hash.slice(0, 12)}  ${ov || '(no overrides)'}`;
    });
    process.stdout.write(`${members.length} member(s) of ${positionals[0]}\n${lines.join('\n')}\n`);
    return 0;
  },
};
