/** `chamlab compile FILE [--set ...] --out DIR [--shapes-only] [--json]`: ONNX graphs and a manifest. */
import type { Command } from './command';
import { parseCommandArgs, printJson } from './common';
import { UserError } from '../../dsl/errors';
import { loadSpec } from '../../dsl';
import { compileSpec } from '../model/compile';
import { prepareOutputDir } from '../files';

export const command: Command = {
  summary: 'write train_step.onnx, eval.onnx, forward.onnx and manifest.json for a spec',
  help: `usage: chamlab compile FILE --out DIR [--set PATH=VALUE ...] [--shapes-only] [--json]

Writes train_step.onnx, eval.onnx, forward.onnx and manifest.json for the spec into DIR, plus
seeded initial weights (weights.safetensors, config.json) unless --shapes-only.

options:
  --out DIR           the output folder (created if missing)
  --shapes-only       graphs and manifest only; no weights are allocated (any model size)
  --set PATH=VALUE    override a spec field (YAML value; repeatable), e.g. --set optimizer.lr=1e-3
  --json              print the written files as JSON
  -h, --help          this help

example:
  chamlab compile experiments/tiny.yaml --out build/tiny --shapes-only
`,
  async run(args) {
    const { values, positionals } = parseCommandArgs('compile', args, {
      out: { type: 'string' },
      'shapes-only': { type: 'boolean' },
      json: { type: 'boolean' },
    });
    if (positionals.length !== 1 || !values.out)
      throw new UserError('usage: chamlab compile FILE [--set ...] --out DIR [--shapes-only]', 'chamlab compile');
    prepareOutputDir(values.out, '--out');
    const { spec, hash } = await loadSpec(positionals[0], { overrides: values.set ?? [] });
    const r = compileSpec(spec, values.out, { hash, shapesOnly: !!values['shapes-only'] });
    if (values.json) {
      printJson({ dir: r.dir, seconds: r.seconds, graphs: Object.fromEntries(Object.entries(r.manifest.graphs).map(([k, g]) => [k, { file: g.file, bytes: g.bytes }])) });
    } else {
      const g = r.manifest.graphs;
      process.stdout.write(
        `compiled ${spec.name} (${r.manifest.params.length} parameter tensors) in ${r.seconds.toFixed(2)} s to ${r.dir}:\n` +
          Object.values(g).map((x) => `  ${x.file.padEnd(16)} ${(x.bytes / 1e6).toFixed(2)} MB, ${x.inputs.length} inputs, ${x.outputs.length} outputs`).join('\n') +
          `\n  manifest.json${r.manifest.weights ? `\n  ${r.manifest.weights.file} (seed ${r.manifest.weights.seed}), ${r.manifest.weights.config}` : ''}\n`,
      );
    }
    return 0;
  },
};
