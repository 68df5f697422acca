/** `chamlab info FILE [--set path=value ...] [--json]`: parameters, FLOPs and memory, without building weights. */
import type { Command } from './command';
import { parseCommandArgs, printJson } from './common';
import { UserError } from '../../dsl/errors';
import { loadSpec } from '../../dsl';
import { formatSizeReport, sizeReport } from '../model/size';

export const command: Command = {
  summary: 'parameters by group, FLOPs per token and training memory of a spec (no weights built)',
  help: `usage: chamlab info FILE [--set PATH=VALUE ...] [--json]

Parameters by group, FLOPs per token and training memory of a spec, counted without building it.

options:
  --set PATH=VALUE    override a spec field (YAML value; repeatable), e.g. --set optimizer.lr=1e-3
  --json              print the report as JSON
  -h, --help          this help

example:
  chamlab info experiments/chameleon-7b.yaml --set data.seq_len=2048
`,
  async run(args) {
    const { values, positionals } = parseCommandArgs('info', args, { json: { type: 'boolean' } });
    if (positionals.length !== 1) throw new UserError('expected one spec file: chamlab info FILE [--set ...] [--json]', 'chamlab info');
    const { spec, hash } = await loadSpec(positionals[0], { overrides: values.set ?? [] });
    const report = sizeReport(spec);
    if (values.json) printJson({ spec_hash: hash, ...report });
    else process.stdout.write(formatSizeReport(report) + '\n');
    return 0;
  },
};
