/**
 * chamlab side of the benchmark: the spec's train-step graph from src/model (what `chamlab compile`
 * emits), run by src/runtime's Trainer (state resident between steps, tuned session options), timed
 * per step and split into graph run, host work and data.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import type { Spec } from '../dsl/schema';
import { toOnnx } from '../src/graph/onnx';
import { modelDims, type ModelDims } from '../src/model/config';
import { buildModelGraphs } from '../src/model/graphs';
import { initWeights } from '../src/model/init';
import { configPathFor, saveWeights, writeHfConfig } from '../src/model/weights';
import type { Backend } from '../src/runtime/device';
import { lrSchedule } from '../src/runtime/schedule';
import { Trainer } from '../src/runtime/trainer';
import type { TokenBatch } from '../src/data/batch';
import { makeBatches, writeBatches } from './batches';

/** One step's wall time and where it went (ms). */
export interface StepTiming {
  /** runStep from call to return. */
  wall: number;
  /** The ORT session run (feeds in, loss and metrics out): the Trainer's own `ms`. */
  graph: number;
  /** The batch provider. */
  data: number;
  /** Everything else in runStep: building feeds, swapping resident state, divergence check. */
  host: number;
  /**
   * CPU time of this process during the step, all threads (ms). On a shared machine wall time
   * includes waiting for a core; CPU time is the work done (plus any spin-waiting of idle threads).
   */
  cpu: number;
  /** System (kernel) part of `cpu` (ms): page faults and thread wake-ups show up here. */
  sys: number;
  /** Minor page faults of this process during the step (first touch of fresh or copy-on-write pages). */
  faults: number;
  loss: number;
}

export interface ChamlabRun {
  spec: Spec;
  dims: ModelDims;
  /** Graph build (model + autodiff + optimizer) and ONNX emission, seconds. */
  buildSeconds: number;
  /** ORT session creation (graph optimizations, kernel setup) plus state upload, seconds. */
  sessionSeconds: number;
  onnxBytes: Uint8Array;
  /** Names of decayed parameters (for the PyTorch optimizer's groups). */
  decayed: string[];
  batches: TokenBatch[];
  trainer: Trainer;
  step(): Promise<StepTiming>;
  /** Writes weights (safetensors), HF config.json and the batches for the PyTorch worker. */
  exportForTorch(dir: string): { weights: string; config: string; batches: string };
  release(): Promise<void>;
}

export interface ChamlabOptions {
  device: Backend;
  /** Total steps the run may take (warm-up included): batches are made for this many. */
  steps: number;
  sessionOverrides?: InferenceSession.SessionOptions;
}

/** Builds the train step for `spec`, creates the Trainer and returns a stepper that times each step. */
export async function startChamlab(spec: Spec, opts: ChamlabOptions): Promise<ChamlabRun> {
  if (os.endianness() !== 'LE') throw new Error('the benchmark writes little-endian batch files; this host is big-endian');
  const dims = modelDims(spec.model);
  const t0 = performance.now();
  const graphs = buildModelGraphs(spec);
  const onnxBytes = toOnnx(graphs.trainStep.graph);
  const buildSeconds = (performance.now() - t0) / 1000;
  const weights = initWeights(dims, spec.train.seed);
  const batches = makeBatches(opts.steps, spec.train.batch, spec.data.seq_len, dims.vocab);
  const t1 = performance.now();
  const trainer = await Trainer.create({
    device: opts.device,
    trainStep: onnxBytes,
    weights,
    batches: (step) => batches[(step - 1) % batches.length],
    lr: lrSchedule(spec.optimizer, spec.train.steps),
    seed: spec.train.seed,
    // A benchmark must not stop on a loss spike: it would end the timing early.
    divergence: { action: 'warn', loss_above: null, spike_factor: null },
    sessionOverrides: opts.sessionOverrides,
  });
  const sessionSeconds = (performance.now() - t1) / 1000;
  const decayed = graphs.trainStep.params.filter((p) => p.decay).map((p) => p.name);
  return {
    spec,
    dims,
    buildSeconds,
    sessionSeconds,
    onnxBytes,
    decayed,
    batches,
    trainer,
    async step() {
      const c0 = process.cpuUsage();
      const f0 = process.resourceUsage().minorPageFault;
      const s = performance.now();
      const m = await trainer.runStep();
      const wall = performance.now() - s;
      const c = process.cpuUsage(c0);
      const faults = process.resourceUsage().minorPageFault - f0;
      return { wall, graph: m.ms, data: m.dataMs, host: Math.max(0, wall - m.ms - m.dataMs), cpu: (c.user + c.system) / 1000, sys: c.system / 1000, faults, loss: m.loss };
    },
    exportForTorch(dir) {
      const weightsFile = path.join(dir, 'weights.safetensors');
      saveWeights(weightsFile, dims, weights, { producer: 'chamlab bench' });
      const config = configPathFor(weightsFile);
      writeHfConfig(config, dims);
      const batchFile = path.join(dir, 'batches.i32');
      writeBatches(batchFile, batches);
      return { weights: weightsFile, config, batches: batchFile };
    },
    release: () => trainer.release(),
  };
}

/** A fresh private temporary folder, removed by the caller. */
export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
