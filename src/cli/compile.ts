/** `chamlab compile FILE [--set ...] --out DIR [--shapes-only] [--json]`: ONNX graphs and a manifest. */
import type { Command } from './command';
import { parseCommandArgs, printJson } from './common';
import { UserError } from '../../dsl/errors';
import { loadSpec } from '../../dsl';
import { compileSpec } from '../model/compile';
import { prepareOutputDir } from '../files';

export const command: Command = {
  summary: 'write train_step.onnx, eval.onnx, forward.onnx and manifest.json for a spec',
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
