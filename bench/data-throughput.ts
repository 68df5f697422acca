/**
 * Data pipeline throughput: tokens/s that src/data delivers for a spec (default experiments/tiny.yaml),
 * next to the training tokens/s it must feed. The pipeline must never be the bottleneck: the verdict
 * requires at least 20x the training rate.
 *
 *   node dist/bench/data-throughput.js [SPEC] [--set path=value ...] [--train-tokens-per-s N]
 *                                      [--train-steps N] [--steps N] [--cache DIR] [--json]
 *
 * Method: the pipeline is built first (tokenizers from the cache, or trained and cached; not timed).
 * "cold" times a whole run's worth of batches from step 0 as a trainer sees them, image codes
 * computed on first use included; "warm" times the same batches again from a restored cursor, once
 * every image has been encoded. The training rate is measured in the same run: the spec's own
 * train-step graph on the CPU trainer, fed by this pipeline (median of --train-steps timed steps
 * after 2 warm-up steps). --train-tokens-per-s N replaces the measurement with a given number.
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { loadSpec } from '../dsl';
import { createDataPipeline, type DataPipeline } from '../src/data';
import type { Spec } from '../dsl/schema';

const REQUIRED_RATIO = 20;

/** chamlab's training tokens/s for the spec on the CPU (median step, graph run and host work). */
async function measureTraining(spec: Spec, data: DataPipeline, timedSteps: number): Promise<number> {
  const { buildModelGraphs, initWeights, modelDims } = await import('../src/model');
  const { toOnnx } = await import('../src/graph');
  const { Trainer, lrSchedule } = await import('../src/runtime');
  const graphs = buildModelGraphs(spec);
  const trainer = await Trainer.create({
    device: 'cpu',
    trainStep: toOnnx(graphs.trainStep.graph, { params: 'inputs' }),
    weights: initWeights(modelDims(spec.model), spec.train.seed),
    batches: (step) => data.nextBatch(step - 1),
    lr: lrSchedule(spec.optimizer, spec.train.steps),
    seed: spec.train.seed,
  });
  try {
    const times: number[] = [];
    for (let i = 0; i < 2 + timedSteps; i++) {
      const t = performance.now();
      const m = await trainer.runStep();
      if (i >= 2) times.push((performance.now() - t) / 1000 / m.tokens);
    }
    times.sort((a, b) => a - b);
    return 1 / times[Math.floor(times.length / 2)];
  } finally {
    await trainer.release();
  }
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: {
      set: { type: 'string', multiple: true },
      'train-tokens-per-s': { type: 'string' },
      'train-steps': { type: 'string' },
      steps: { type: 'string' },
      cache: { type: 'string' },
      json: { type: 'boolean' },
    },
    allowPositionals: true,
  });
  const file = positionals[0] ?? path.join(__dirname, '..', '..', 'experiments', 'tiny.yaml');
  const { spec, file: abs, root } = loadSpec(file, { overrides: values.set ?? [] });
  const given = values['train-tokens-per-s'];
  const steps = values.steps ? Number(values.steps) : spec.train.steps;
  const trainSteps = values['train-steps'] ? Number(values['train-steps']) : 5;
  if (given !== undefined && !(Number(given) > 0)) throw new Error(`--train-tokens-per-s must be a positive number, got ${JSON.stringify(given)}`);
  if (!(Number.isInteger(trainSteps) && trainSteps > 0)) throw new Error(`--train-steps must be a positive integer, got ${JSON.stringify(values['train-steps'])}`);
  if (!(Number.isInteger(steps) && steps > 0)) throw new Error(`--steps must be a positive integer, got ${JSON.stringify(values.steps)}`);
  const t0 = performance.now();
  const p = await createDataPipeline(spec, { specDir: path.dirname(abs), projectDir: root, cacheDir: values.cache });
  const buildSeconds = (performance.now() - t0) / 1000;
  const start = p.cursor();
  // Measured before the pipeline timing and on its own batches; the cursor is restored afterwards.
  const train = given ? Number(given) : await measureTraining(spec, p, trainSteps);
  p.restore(start);

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
  const trainSource = given ? 'given (--train-tokens-per-s)' : `chamlab train step on the CPU, measured (median of ${trainSteps} steps)`;
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
    train_tokens_per_s: Math.round(train),
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
