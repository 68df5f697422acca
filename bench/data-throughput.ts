/**
 * Data pipeline throughput: tokens/s that src/data delivers for a spec (default experiments/tiny.yaml),
 * next to the training tokens/s it must feed. The pipeline must never be the bottleneck: the verdict
 * requires at least 20x the training rate.
 *
 *   node dist/bench/data-throughput.js [SPEC] [--set path=value ...] [--train-tokens-per-s N]
 *                                      [--steps N] [--cache DIR] [--json]
 *
 * Method: the pipeline is built first (tokenizers from the cache, or trained and cached; not timed).
 * "cold" times a whole run's worth of batches from step 0 as a trainer sees them, image codes
 * computed on first use included; "warm" times the same batches again from a restored cursor, once
 * every image has been encoded. Without --train-tokens-per-s the reference is the upper end of the
 * PyTorch-eager figure for a 5.6M-parameter model on these machines (1,800-3,500 tokens/s,
 * shared/reference/toolchain.md); pass the runtime's measured number to compare against chamlab's.
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { loadSpec } from '../dsl';
import { createDataPipeline } from '../src/data';

const REQUIRED_RATIO = 20;
const PYTORCH_EAGER_TOKENS_PER_S = 3500;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: {
      set: { type: 'string', multiple: true },
      'train-tokens-per-s': { type: 'string' },
      steps: { type: 'string' },
      cache: { type: 'string' },
      json: { type: 'boolean' },
    },
    allowPositionals: true,
  });
  const file = positionals[0] ?? path.join(__dirname, '..', '..', 'experiments', 'tiny.yaml');
  const { spec, file: abs, root } = loadSpec(file, { overrides: values.set ?? [] });
  const given = values['train-tokens-per-s'];
  const train = given ? Number(given) : PYTORCH_EAGER_TOKENS_PER_S;
  const steps = values.steps ? Number(values.steps) : spec.train.steps;
  if (!(train > 0)) throw new Error(`--train-tokens-per-s must be a positive number, got ${JSON.stringify(given)}`);
  if (!(Number.isInteger(steps) && steps > 0)) throw new Error(`--steps must be a positive integer, got ${JSON.stringify(values.steps)}`);
  const t0 = performance.now();
  const p = await createDataPipeline(spec, { specDir: path.dirname(abs), projectDir: root, cacheDir: values.cache });
  const buildSeconds = (performance.now() - t0) / 1000;
  const start = p.cursor();

  const time = () => {
    const t = performance.now();
    let tokens = 0;
    for (let s = 0; s < steps; s++) tokens += p.nextBatch(s).input_ids.length;
    return { tokens, seconds: (performance.now() - t) / 1000 };
  };
  const cold = time();
  p.restore(start);
  const warm = time();
  const coldRate = cold.tokens / cold.seconds;
  const warmRate = warm.tokens / warm.seconds;
  const trainSource = given ? 'given (--train-tokens-per-s)' : 'PyTorch eager, 5.6M-parameter model, upper end (toolchain.md)';
  const ratio = coldRate / train;
  const ok = ratio >= REQUIRED_RATIO;
  const result = {
    spec: spec.name,
    batch: p.batchSize,
    seq_len: p.seqLen,
    steps,
    tokens: cold.tokens,
    build_seconds: buildSeconds,
    tokenizers: { text: p.tokenizerReport.text.origin, image: p.tokenizerReport.image.origin },
    pipeline_tokens_per_s_cold: Math.round(coldRate),
    pipeline_tokens_per_s_warm: Math.round(warmRate),
    train_tokens_per_s: train,
    train_tokens_per_s_source: trainSource,
    ratio,
    required_ratio: REQUIRED_RATIO,
    ok,
  };
  if (values.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else {
    const f = (x: number) => Math.round(x).toLocaleString('en-US');
    process.stdout.write(
      [
        `data pipeline for ${spec.name}: batch ${p.batchSize} x seq ${p.seqLen}, ${steps} steps (${f(cold.tokens)} tokens)`,
        `  built in ${buildSeconds.toFixed(1)} s (text tokenizer: ${result.tokenizers.text}, image tokenizer: ${result.tokenizers.image})`,
        `  pipeline   ${f(coldRate).padStart(12)} tokens/s cold (image codes computed on first use)`,
        `             ${f(warmRate).padStart(12)} tokens/s warm`,
        `  training   ${f(train).padStart(12)} tokens/s (${trainSource})`,
        `  verdict: pipeline is ${ratio.toFixed(1)}x training; required >= ${REQUIRED_RATIO}x: ${ok ? 'OK' : 'TOO SLOW'}`,
      ].join('\n') + '\n',
    );
  }
  return ok ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (e) => {
    // Argument and spec mistakes are one line; anything else keeps its stack.
    const brief = e instanceof Error && (e.name === 'UserError' || e.message.startsWith('--'));
    process.stderr.write(`${brief ? e.message : e?.stack ?? e}\n`);
    process.exitCode = 1;
  },
);
