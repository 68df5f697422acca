/**
 * The run layer's cost: `runExperiment` (metrics rows, events, the progress listener, lock
 * heartbeat, summary) against the bare trainer loop on the same graphs, data and machine, in one
 * run; and checkpoint write and restore times.
 *
 *   node dist/bench/runs.js [--config tiny] [--steps N] [--rounds R] [--ckpt-config small] [--json]
 *   npm run bench -- --runs [the same options]
 *
 * Method: the bare loop is `Trainer.runStep` over the data pipeline (what a hand-written script
 * would do); the run is `runExperiment` with the spec's default logging (a row and a plain progress
 * line every step) and default eval/checkpoint intervals. Per-step wall time is the median over
 * steps of each side, measured in alternating rounds (bare, run, bare, run, ...) so that load from
 * other processes hits both alike; steps that evaluate or checkpoint are excluded from the run's
 * median and reported on their own (amortized over their default intervals). The overhead goal is
 * <= 3% of step time.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { SpecSchema, type Spec } from '../dsl/schema';
import { specHash } from '../dsl/canonical';
import { RunProgress } from '../src/cli/progress';
import { createDataPipeline } from '../src/data/pipeline';
import { modelDims } from '../src/model/config';
import { initWeights } from '../src/model/init';
import { cachedGraphs } from '../src/runs/graph-cache';
import { readCheckpoint, writeCheckpoint } from '../src/runs/checkpoint';
import { CHECKPOINT_FORMAT } from '../src/runs/layout';
import { runExperiment } from '../src/runs/run';
import { lrSchedule } from '../src/runtime/schedule';
import { Trainer } from '../src/runtime/trainer';
import { defaultCacheDir } from '../src/data/cache';
import { benchSpec, configNamed } from './configs';
import { machineInfo } from './machine';
import { median, table } from './stats';

interface Args {
  config: string;
  steps: number;
  rounds: number;
  ckptConfig: string | null;
  json: boolean;
}

function parse(argv: string[]): Args {
  const a: Args = { config: 'tiny', steps: 40, rounds: 2, ckptConfig: 'small', json: false };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--config': a.config = v; i++; break;
      case '--steps': a.steps = Number(v); i++; break;
      case '--rounds': a.rounds = Number(v); i++; break;
      case '--ckpt-config': a.ckptConfig = v === 'none' ? null : v; i++; break;
      case '--json': a.json = true; break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return a;
}

/** The bench config as a spec the run layer can train (its data: the built-in text source). */
function runnableSpec(name: string, steps: number): Spec {
  const s = benchSpec(configNamed(name), steps);
  // Default logging and checkpointing: exactly the schema's defaults for log/eval/checkpoint.
  const data = { ...s.data, stages: [{ name: 's', share: 1, weights: { t: 1 } }] };
  return SpecSchema.parse({ ...s, name: `bench-runs-${name}`, data, train: { ...s.train, steps } });
}

const log = (s: string) => process.stderr.write(s + '\n');

async function bareLoop(spec: Spec, root: string, cacheDir: string): Promise<number[]> {
  const data = await createDataPipeline(spec, { specDir: root, projectDir: root, cacheDir });
  const g = cachedGraphs(spec, cacheDir, 'cpu').compiled;
  const trainer = await Trainer.create({
    device: 'cpu',
    trainStep: g.bytes.train_step,
    evalGraph: g.bytes.eval,
    weights: initWeights(modelDims(spec.model), spec.train.seed),
    batches: (step) => data.nextBatch(step - 1),
    lr: lrSchedule(spec.optimizer, spec.train.steps),
    seed: spec.train.seed,
  });
  const ms: number[] = [];
  try {
    for (let s = 0; s < spec.train.steps; s++) {
      const t0 = performance.now();
      await trainer.runStep();
      ms.push(performance.now() - t0);
    }
  } finally {
    await trainer.release();
  }
  return ms;
}

interface RunSample {
  stepMs: number[];
  evalMs: number[];
  checkpointMs: number[];
}

async function runLayer(spec: Spec, out: string, cacheDir: string): Promise<RunSample> {
  const sink = new Writable({ write: (_c, _e, cb) => cb() }) as unknown as NodeJS.WriteStream;
  const progress = new RunProgress({ logEvery: spec.train.log_every, stream: sink, plain: true });
  const sample: RunSample = { stepMs: [], evalMs: [], checkpointMs: [] };
  let last = 0;
  let busy = false; // an eval or checkpoint happened since the last step
  await runExperiment({ spec, hash: specHash(spec), file: path.join(out, 'bench.yaml'), root: out }, {
    out,
    fresh: true,
    cacheDir,
    onEvent: (e) => {
      progress.listener(e);
      const now = performance.now();
      if (e.type === 'step') {
        // interval between consecutive steps: the step itself plus everything the run layer does
        if (last > 0 && !busy) sample.stepMs.push(now - last);
        last = now;
        busy = false;
      } else if (e.type === 'eval') {
        sample.evalMs.push(e.row.ms);
        busy = true;
      } else if (e.type === 'checkpoint') {
        sample.checkpointMs.push(e.ms);
        busy = true;
      }
    },
  });
  return sample;
}

async function checkpointTimes(name: string, dir: string): Promise<{ params: number; bytes: number; writeMs: number; readMs: number }> {
  const spec = runnableSpec(name, 1);
  const m = modelDims(spec.model);
  const cacheDir = defaultCacheDir();
  const g = cachedGraphs(spec, cacheDir, 'cpu').compiled;
  const weights = initWeights(m, 0);
  const trainer = await Trainer.create({ device: 'cpu', trainStep: g.bytes.train_step, weights, batches: () => { throw new Error('no steps'); }, lr: () => 0, seed: 0 });
  try {
    const st = await trainer.getState();
    const values = new Map([...st.values].map(([k, v]) => [k, v as Float32Array]));
    const hash = specHash(spec);
    const state = { format: CHECKPOINT_FORMAT, spec_hash: hash, step: 1, tokens: 0, data_cursor: null, loss_window: [], seed: 0, best_eval_loss: null, best_eval_step: null, divergence: null, warnings: 0 } as const;
    const writes: number[] = [];
    const reads: number[] = [];
    let bytes = 0;
    const shapes = new Map(trainer.signature.state.map((s) => [s.input, s.shape.reduce((a, b) => a * b, 1)]));
    for (let i = 0; i < 3; i++) {
      const w = writeCheckpoint(dir, m, { state: { ...state, loss_window: [] }, values }, { bos: 0, eos: 1, pad: 2 });
      writes.push(w.ms);
      bytes = w.bytes;
      const t0 = performance.now();
      readCheckpoint(w.dir, m, hash, shapes);
      reads.push(performance.now() - t0);
    }
    return { params: [...weights.values()].reduce((a, w) => a + w.length, 0), bytes, writeMs: median(writes), readMs: median(reads) };
  } finally {
    await trainer.release();
  }
}

export async function main(argv: string[]): Promise<number> {
  const args = parse(argv);
  const machine = machineInfo();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-bench-runs-'));
  fs.writeFileSync(path.join(work, '.chamlab-root'), '');
  const cacheDir = defaultCacheDir();
  try {
    const spec = runnableSpec(args.config, args.steps);
    log(`run layer vs bare trainer loop: ${args.config}, ${args.steps} steps x ${args.rounds} rounds (tokenizers from the cache; first use trains them)`);
    // one warm-up of each: tokenizer cache, graph cache, allocator
    await bareLoop({ ...spec, train: { ...spec.train, steps: 3 } }, work, cacheDir);
    const bare: number[] = [];
    const run: RunSample = { stepMs: [], evalMs: [], checkpointMs: [] };
    for (let r = 0; r < args.rounds; r++) {
      const b = await bareLoop(spec, work, cacheDir);
      bare.push(...b.slice(1));
      log(`  round ${r + 1}: bare ${median(b).toFixed(1)} ms/step`);
      const s = await runLayer(spec, path.join(work, 'runs'), cacheDir);
      run.stepMs.push(...s.stepMs);
      run.evalMs.push(...s.evalMs);
      run.checkpointMs.push(...s.checkpointMs);
      log(`  round ${r + 1}: run  ${median(s.stepMs).toFixed(1)} ms/step`);
    }
    const bareMs = median(bare);
    const runMs = median(run.stepMs);
    const overhead = (runMs - bareMs) / bareMs;
    const ckptEvery = spec.train.checkpoint_every;
    const evalEvery = spec.train.eval_every;
    const ckptAmortized = median(run.checkpointMs) / ckptEvery / bareMs;
    const evalAmortized = median(run.evalMs) / evalEvery / bareMs;
    const ckpt = args.ckptConfig ? await checkpointTimes(args.ckptConfig, path.join(work, 'ckpt')) : null;
    const result = {
      machine,
      config: args.config,
      steps: args.steps,
      rounds: args.rounds,
      bare_ms_per_step: bareMs,
      run_ms_per_step: runMs,
      overhead,
      goal: 0.03,
      checkpoint_ms: median(run.checkpointMs),
      checkpoint_amortized: ckptAmortized,
      eval_ms: median(run.evalMs),
      eval_amortized: evalAmortized,
      checkpoint_config: ckpt && { config: args.ckptConfig, ...ckpt },
    };
    if (args.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    else {
      process.stdout.write(
        '\n' +
          table(
            ['measure', args.config],
            [
              ['bare trainer loop, ms/step (median)', bareMs.toFixed(1)],
              ['runExperiment, ms/step (median, steps without eval/checkpoint)', runMs.toFixed(1)],
              ['run-layer overhead (goal <= 3%)', `${(overhead * 100).toFixed(2)}%`],
              [`checkpoint write, ms (amortized over checkpoint_every ${ckptEvery})`, `${median(run.checkpointMs).toFixed(0)} (${(ckptAmortized * 100).toFixed(2)}%)`],
              [`evaluation, ms (amortized over eval_every ${evalEvery}; requested work, not overhead)`, `${median(run.evalMs).toFixed(0)} (${(evalAmortized * 100).toFixed(2)}%)`],
            ],
          ) +
          '\n',
      );
      if (ckpt)
        process.stdout.write(
          '\n' +
            table(
              ['checkpoint', args.ckptConfig!],
              [
                ['parameters', ckpt.params.toLocaleString('en-US')],
                ['bytes on disk (weights + moments + state)', (ckpt.bytes / 2 ** 20).toFixed(1) + ' MiB'],
                ['write (fsync, SHA-256), ms', ckpt.writeMs.toFixed(0)],
                ['restore (verify SHA-256, read), ms', ckpt.readMs.toFixed(0)],
              ],
            ) +
            '\n',
        );
      process.stdout.write(`\nmachine: ${machine.cpu}, ${machine.cores} cores, load ${machine.loadavg_1m}, commit ${machine.commit}\n`);
    }
    return 0;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (e) => {
      process.stderr.write(`bench/runs: ${e instanceof Error ? e.stack : e}\n`);
      process.exitCode = 1;
    },
  );
}
