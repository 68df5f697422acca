/**
 * The training loop: one compiled step graph (forward, backward, clipping, AdamW) run once per step,
 * with parameters and optimizer state resident on the device between steps.
 *
 * Every step feeds `step` (1-based update number), `lr` (from the schedule) and `seed` as graph
 * inputs. Dropout masks are a function of (seed, step, position) inside the graph, so a run restored
 * with `setState` at step k computes steps k+1.. bit for bit as the unbroken run did (same backend).
 *
 * The loop knows nothing about specs or run folders: callers (the CLI, sweeps, notebooks) hand it
 * graphs, weights, a batch provider and a schedule, and get metrics per step.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { TokenBatch } from '../data/batch';
import { numel } from '../graph/ir';
import type { Backend } from './device';
import { DivergenceMonitor, type Divergence, type DivergenceSpec } from './divergence';
import { placementReport, type PlacementReport } from './placement';
import { ResidentState } from './resident-state';
import type { LrSchedule } from './schedule';
import { onnxValueNames } from './onnx-util';
import { createSession, ort } from './session';
import { fedInput } from '../graph/step-names';
import { stepSignature, type StepSignature, type ValueInfo } from './signature';

/** Gives the batch for a 1-based step; must be a pure function of the step for exact resumes. */
export type BatchProvider = (step: number) => TokenBatch | Promise<TokenBatch>;

export interface TrainerOptions {
  device: Backend;
  /** train_step.onnx bytes (inputs: batch, state, step/lr/seed; outputs: loss, metrics, next.*). */
  trainStep: Uint8Array;
  /** eval.onnx bytes (inputs: batch and parameters; outputs: loss, metrics); optional. */
  evalGraph?: Uint8Array;
  /** Initial parameters by graph input name. Optimizer state not given here starts at zero. */
  weights: ReadonlyMap<string, Float32Array>;
  batches: BatchProvider;
  lr: LrSchedule;
  /** Run seed, fed as the int32 `seed` input (reduced mod 2^32). */
  seed: number;
  divergence?: DivergenceSpec;
  /** Extra ORT session options (benchmarks); the tuned defaults otherwise. */
  sessionOverrides?: InferenceSession.SessionOptions;
}

export interface StepMetrics {
  /** The update just made (1-based). */
  step: number;
  lr: number;
  loss: number;
  /** Every other scalar output (metrics, grad_norm) by name. */
  metrics: Record<string, number>;
  tokens: number;
  /** Wall time of the graph run (inputs in, loss and metrics out), ms. */
  ms: number;
  /** Wall time of the batch provider, ms. */
  dataMs: number;
  divergence?: Divergence;
}

/** Everything a checkpoint needs to continue a run exactly. */
export interface TrainState {
  /** Completed updates. */
  step: number;
  /** Every state input of the step graph by name: parameters, `adam_m.<p>`, `adam_v.<p>`. */
  values: Map<string, Float32Array | Int32Array>;
  /** The divergence monitor's loss window, so spike detection resumes identically. */
  lossWindow: number[];
}

export interface TrainResult {
  /** Completed updates when the loop ended. */
  step: number;
  stopped: 'done' | 'diverged';
  divergence?: Divergence;
  /** Warnings raised by divergence with action 'warn'. */
  warnings: Divergence[];
  /** Mean tokens per second over the loop's steps (graph time only). */
  tokensPerSec: number;
}

export class Trainer {
  /** Completed updates. */
  step = 0;
  readonly signature: StepSignature;
  private readonly monitor: DivergenceMonitor;
  private evalSession?: InferenceSession;

  private constructor(
    readonly opts: TrainerOptions,
    private readonly session: InferenceSession,
    private readonly state: ResidentState,
  ) {
    this.signature = stepSignature(session);
    this.monitor = new DivergenceMonitor(opts.divergence ?? { action: 'stop', loss_above: null, spike_factor: null });
  }

  static async create(opts: TrainerOptions): Promise<Trainer> {
    const session = await createSession(opts.trainStep, opts.device, {
      resident: stateOutputNames(opts.trainStep),
      overrides: opts.sessionOverrides,
    });
    const state = new ResidentState(opts.device, stepSignature(session).state);
    const t = new Trainer(opts, session, state);
    try {
      state.load(initialState(t.signature, opts.weights));
      if (opts.evalGraph) t.evalSession = await createSession(opts.evalGraph, opts.device, { overrides: opts.sessionOverrides });
    } catch (e) {
      // Bad weights or a bad eval graph: free the native session (and GPU memory) before reporting.
      await t.release();
      throw e;
    }
    return t;
  }

  /** Runs one update; returns its metrics (divergence is reported, not acted on, here). */
  async runStep(): Promise<StepMetrics> {
    const step = this.step + 1;
    const t0 = performance.now();
    const batch = await this.opts.batches(step);
    const dataMs = performance.now() - t0;
    const lr = this.opts.lr(step);
    const feeds: Record<string, Tensor> = {
      ...batchFeeds(this.signature.batch, batch),
      ...scalarFeeds(this.signature, { step, lr, seed: this.opts.seed }),
      ...this.state.feeds(),
    };
    const t1 = performance.now();
    const out = await this.session.run(feeds, this.state.fetches(this.signature.report));
    const values = scalarOutputs(out, this.signature.report);
    const ms = performance.now() - t1;
    this.state.advance(out);
    this.step = step;
    const { loss, ...metrics } = values;
    if (loss === undefined) throw new Error("the step graph has no 'loss' output");
    const m: StepMetrics = { step, lr, loss, metrics, tokens: batch.batch * batch.seq, ms, dataMs };
    const d = this.monitor.check(step, loss, metrics.grad_norm !== undefined ? { grad_norm: metrics.grad_norm } : {});
    if (d) m.divergence = d;
    return m;
  }

  /**
   * Runs updates until `until` (a step number) or divergence with action 'stop'. `onStep` sees every
   * step's metrics as they come (stream them to a log, a plot, a progress bar).
   */
  async train(until: number, onStep?: (m: StepMetrics) => void | Promise<void>): Promise<TrainResult> {
    const warnings: Divergence[] = [];
    let tokens = 0;
    let ms = 0;
    const action = this.opts.divergence?.action ?? 'stop';
    while (this.step < until) {
      const m = await this.runStep();
      tokens += m.tokens;
      ms += m.ms;
      await onStep?.(m);
      if (m.divergence) {
        if (action === 'stop') return { step: this.step, stopped: 'diverged', divergence: m.divergence, warnings, tokensPerSec: rate(tokens, ms) };
        warnings.push(m.divergence);
      }
    }
    return { step: this.step, stopped: 'done', warnings, tokensPerSec: rate(tokens, ms) };
  }

  /**
   * The loop as a lazy async iterator (a step runs only when the consumer asks for the next one):
   * `for await (const m of trainer.steps(100)) ...`. Ends after a divergence with action 'stop'.
   */
  async *steps(until: number): AsyncGenerator<StepMetrics> {
    const action = this.opts.divergence?.action ?? 'stop';
    while (this.step < until) {
      const m = await this.runStep();
      yield m;
      if (m.divergence && action === 'stop') return;
    }
  }

  /** Reads parameters and optimizer state back to the host (through the read-back graph on webgpu). */
  async getState(): Promise<TrainState> {
    return { step: this.step, values: await this.state.read(), lossWindow: this.monitor.snapshot() };
  }

  /** Restores a state from getState (or a checkpoint); the next runStep makes update state.step + 1. */
  setState(s: TrainState): void {
    this.state.load(s.values);
    this.step = s.step;
    this.monitor.restore(s.lossWindow);
  }

  /** Parameters only (the state inputs that are also keys of the initial weights). */
  async getParams(): Promise<Map<string, Float32Array>> {
    const all = await this.state.read();
    const out = new Map<string, Float32Array>();
    for (const name of this.opts.weights.keys()) out.set(name, all.get(name) as Float32Array);
    return out;
  }

  /**
   * Mean loss and metrics of the eval graph over `batches`, with the current parameters (fed from
   * where they live: GPU-resident tensors go straight into the eval session).
   */
  async evaluate(batches: readonly TokenBatch[]): Promise<Record<string, number>> {
    if (!this.evalSession) throw new Error('evaluate: the trainer was created without an eval graph');
    const sig = stepSignature(this.evalSession);
    const sums: Record<string, number> = {};
    for (const batch of batches) {
      const feeds: Record<string, Tensor> = scalarFeeds(sig, { step: this.step, lr: 0, seed: this.opts.seed });
      const dataInputs: ValueInfo[] = [];
      for (const i of sig.batch) {
        const t = this.state.get(i.name);
        if (t) feeds[i.name] = t;
        else dataInputs.push(i);
      }
      Object.assign(feeds, batchFeeds(dataInputs, batch));
      const out = await this.evalSession.run(feeds);
      for (const [k, v] of Object.entries(scalarOutputs(out, sig.report))) sums[k] = (sums[k] ?? 0) + v;
    }
    for (const k of Object.keys(sums)) sums[k] /= batches.length;
    return sums;
  }

  /** Which provider runs each node of the step graph (and the eval graph), for a verbose flag. */
  async placement(): Promise<{ train: PlacementReport; eval?: PlacementReport }> {
    const train = await placementReport(this.opts.trainStep, this.opts.device);
    const evalReport = this.opts.evalGraph ? await placementReport(this.opts.evalGraph, this.opts.device) : undefined;
    return { train, eval: evalReport };
  }

  async release(): Promise<void> {
    await this.state.release();
    await this.session.release();
    await this.evalSession?.release();
  }
}

/**
 * Outputs that carry state (`next.X` where X is an input), read from the bytes: on webgpu their
 * placement (GPU-resident) must be given when the session is created.
 */
function stateOutputNames(bytes: Uint8Array): string[] {
  const { inputs, outputs } = onnxValueNames(bytes);
  const ins = new Set(inputs);
  return outputs.filter((o) => {
    const input = fedInput(o);
    return input !== undefined && ins.has(input);
  });
}

const rate = (tokens: number, ms: number) => (ms > 0 ? (tokens * 1000) / ms : 0);

/**
 * Initial state: parameters from `weights`; a state input that is not a parameter starts at zero
 * only when its name is `<prefix>.<parameter>` (optimizer moments such as `adam_m.<p>`), so a
 * misspelt parameter name is an error rather than a silently zeroed weight.
 */
export function initialState(sig: StepSignature, weights: ReadonlyMap<string, Float32Array>): Map<string, Float32Array | Int32Array> {
  const values = new Map<string, Float32Array | Int32Array>();
  const stateNames = new Set(sig.state.map((p) => p.input));
  const unknown = [...weights.keys()].filter((k) => !stateNames.has(k));
  if (unknown.length) throw new Error(`weights name tensors the step graph does not take: ${unknown.slice(0, 5).join(', ')}`);
  for (const p of sig.state) {
    const w = weights.get(p.input);
    if (w) {
      values.set(p.input, w);
      continue;
    }
    const dot = p.input.indexOf('.');
    const owner = dot > 0 ? p.input.slice(dot + 1) : '';
    if (!weights.has(owner)) throw new Error(`no initial value for state input ${p.input} (not a parameter, nor <prefix>.<parameter>)`);
    const n = numel(p.shape);
    values.set(p.input, p.dtype === 'int32' ? new Int32Array(n) : new Float32Array(n));
  }
  return values;
}

/** Batch arrays as input tensors; symbolic dims 'batch'/'seq' (or any rank-2 input) take the batch's sizes. */
export function batchFeeds(inputs: readonly ValueInfo[], batch: TokenBatch): Record<string, Tensor> {
  const { Tensor } = ort();
  const feeds: Record<string, Tensor> = {};
  for (const i of inputs) {
    const data = i.name === 'input_ids' ? batch.input_ids : i.name === 'labels' ? batch.labels : batch.extra?.[i.name];
    if (!(data instanceof Int32Array || data instanceof Float32Array))
      throw new Error(`the batch has no array '${i.name}' (the graph's inputs: ${inputs.map((x) => x.name).join(', ')})`);
    const dims = i.shape.map((d, axis) => {
      if (typeof d === 'number') return d;
      if (i.shape.length === 2) return axis === 0 ? batch.batch : batch.seq;
      if (d === 'batch') return batch.batch;
      if (d === 'seq') return batch.seq;
      throw new Error(`input ${i.name}: cannot size symbolic dim '${d}' from a batch`);
    });
    const n = numel(dims);
    if (data.length !== n)
      throw new Error(`batch '${i.name}' has ${data.length} values; the graph wants [${i.shape}] = [${dims}] (${n})`);
    const want = i.dtype === 'int32' ? Int32Array : Float32Array;
    if (!(data instanceof want)) throw new Error(`batch '${i.name}' is a ${data.constructor.name}; the graph wants ${i.dtype}`);
    feeds[i.name] = new Tensor(i.dtype as 'int32', data, dims);
  }
  return feeds;
}

/** step/lr/seed tensors in the dtypes the graph declares. */
export function scalarFeeds(sig: StepSignature, v: { step: number; lr: number; seed: number }): Record<string, Tensor> {
  const { Tensor } = ort();
  const feeds: Record<string, Tensor> = {};
  for (const [name, dtype] of Object.entries(sig.scalars)) {
    // The seed is a uint32 identity reinterpreted as int32: any spec seed maps to one graph seed.
    const x = name === 'seed' ? v.seed | 0 : name === 'step' ? v.step : v.lr;
    if (dtype === 'int32') feeds[name] = new Tensor('int32', Int32Array.of(x), []);
    else if (dtype === 'float32') feeds[name] = new Tensor('float32', Float32Array.of(x), []);
    else if (dtype === 'int64') feeds[name] = new Tensor('int64', BigInt64Array.of(BigInt(Math.trunc(x))), []);
    else if (dtype === 'float64') feeds[name] = new Tensor('float64', Float64Array.of(x), []);
    else throw new Error(`input ${name}: unsupported dtype ${dtype}`);
  }
  return feeds;
}

/** Reads one number per reported output (scalars; a vector output reports its mean). */
function scalarOutputs(out: InferenceSession.ReturnType, names: readonly string[]): Record<string, number> {
  const r: Record<string, number> = {};
  for (const name of names) {
    const t = out[name];
    if (!t) continue;
    if (t.location === 'gpu-buffer') throw new Error(`output ${name} came back on the GPU; report outputs must be placed on 'cpu'`);
    const d = t.data as Float32Array | Int32Array;
    let s = 0;
    for (let i = 0; i < d.length; i++) s += Number(d[i]);
    r[name] = d.length === 1 ? Number(d[0]) : s / d.length;
  }
  return r;
}
