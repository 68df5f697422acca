/** `chamlab init FILE [--set ...] --out W.safetensors [--seed N]`: seeded initial weights under HF names. */
import type { Command } from './command';
import { parseCommandArgs, printJson, seedOption } from './common';
import { UserError } from '../../dsl/errors';
import { loadSpec } from '../../dsl';
import { modelDims } from '../model/config';
import { initWeights, MAX_WEIGHTS_IN_MEMORY_BYTES } from '../model/init';
import { configPathFor, saveWeights, writeHfConfig } from '../model/weights';
import { countParams, humanBytes } from '../model/size';
import { checkOutputFile } from '../files';

export const command: Command = {
  summary: 'write seeded initial weights (safetensors, HF Chameleon names) and a config.json beside them',
  help: `usage: chamlab init FILE --out W.safetensors [--seed N] [--set PATH=VALUE ...] [--json]

Writes seeded initial weights under HF Chameleon names, and config.json beside them.

options:
  --out FILE          the weights file (a regular file or a new one; config.json goes beside it)
  --seed N            initialization seed, 0 to 4294967295 (default: the spec's train.seed)
  --set PATH=VALUE    override a spec field (YAML value; repeatable), e.g. --set optimizer.lr=1e-3
  --json              print what was written as JSON
  -h, --help          this help

example:
  chamlab init experiments/tiny.yaml --out weights/tiny/model.safetensors --seed 1
`,
  async run(args) {
    const { values, positionals } = parseCommandArgs('init', args, {
      out: { type: 'string' },
      seed: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (positionals.length !== 1 || !values.out)
      throw new UserError('usage: chamlab init FILE [--set ...] --out W.safetensors [--seed N]', 'chamlab init');
    const { spec, hash } = await loadSpec(positionals[0], { overrides: values.set ?? [] });
    const seed = seedOption(values.seed, spec.train.seed);
    const m = modelDims(spec.model);
    const total = countParams(m).total;
    // Float32 arrays for every parameter plus the file: refuse what cannot fit rather than crash later.
    if (total * 4 > MAX_WEIGHTS_IN_MEMORY_BYTES)
      throw new UserError(`${total} parameters need ${humanBytes(total * 4)} in float32; init is for models that fit in memory`, 'chamlab init');
    // Both outputs are checked before any work: a device, a FIFO or a folder is never replaced.
    const out = checkOutputFile(values.out, '--out');
    const config = configPathFor(out);
    checkOutputFile(config, '--out');
    const weights = initWeights(m, seed);
    saveWeights(out, m, weights, { spec_hash: hash, seed: String(seed), producer: 'chamlab init' });
    writeHfConfig(config, m);
    const result = { weights: out, config, params: total, seed, spec_hash: hash };
    if (values.json) printJson(result);
    else process.stdout.write(`wrote ${total} parameters (seed ${seed}) to ${values.out}, config to ${config}\n`);
    return 0;
  },
};
