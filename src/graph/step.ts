/**
 * Whole-step graphs from one model-building callback: a training step (forward, backward, clipping,
 * AdamW in one ONNX graph, since onnxruntime-node has no training API), an eval graph and a forward
 * graph. The callback is written once and sees a `StepContext` telling it which graph it builds.
 * The graphs' input and output names follow the contract with the runtime in step-names.ts.
 */
import { dropout } from './dropout';
import { type DType, type Dim, type FloatDType, Graph, GraphError, type ParamInfo, type Tensor } from './ir';
import { grad } from './autodiff';
import { type AdamWConfig, adamwScalars, adamwUpdate, clipCoef, globalNorm, sumOfSquares } from './optim';
import { ADAM_M_PREFIX, ADAM_V_PREFIX, SCALAR_INPUTS, type ScalarInput, nextName } from './step-names';

export type StepMode = 'train' | 'eval' | 'forward';

/** What the build callback gets besides the graph. */
export interface StepContext {
  mode: StepMode;
  /** int32 scalar inputs `seed` and `step` (train graphs only; null otherwise). */
  seed: Tensor | null;
  step: Tensor | null;
  /** Dropout in train graphs, identity in eval and forward graphs. `salt`: unique per dropout site. */
  dropout(x: Tensor, p: number, salt: number): Tensor;
}

/** What the build callback returns. */
export interface StepBuild {
  /** Scalar loss (required for train and eval graphs). */
  loss?: Tensor;
  /** Metrics reported every step (by name): scalars, or static 1-D tensors (per-layer values). */
  metrics?: Record<string, Tensor>;
  /** Forward-graph outputs (e.g. `{ logits }`). */
  outputs?: Record<string, Tensor>;
}

export type BuildFn = (g: Graph, ctx: StepContext) => StepBuild;

export interface StepGraphOptions {
  build: BuildFn;
  /** Graph name (default 'train_step' / 'eval' / 'forward'). */
  name?: string;
  /** Float dtype of parameters, optimizer state and lr (default float32; float64 for checks). */
  dtype?: FloatDType;
}

export interface TensorSig {
  name: string;
  dtype: DType;
  shape: Dim[];
}

/** One piece of state carried from step to step. */
export interface StateSlot {
  /** Graph input name, e.g. `adam_m.model.norm.weight`. */
  input: string;
  /** Graph output that replaces it: `next.<input>`. */
  output: string;
  param: string;
  kind: 'param' | 'adam_m' | 'adam_v';
  shape: number[];
  dtype: FloatDType;
  /** How to initialize before step 1: the parameter's initial value, or zeros. */
  init: 'param' | 'zeros';
}

export interface StepGraph {
  graph: Graph;
  params: ParamInfo[];
  /** Inputs that are neither parameters nor step state: the batch. */
  batchInputs: TensorSig[];
  /** Metric outputs besides `loss` (train graphs include `grad_norm`, and `update_ratio` on request). */
  metrics: string[];
}

export interface TrainStep extends StepGraph {
  state: StateSlot[];
  /** Scalar control inputs: `step`, `lr`, `seed`. */
  controls: TensorSig[];
}

const RESERVED = new Set<string>(['loss', 'grad_norm', 'update_ratio', ...SCALAR_INPUTS]);

function sig(t: Tensor): TensorSig {
  return { name: t.name, dtype: t.dtype, shape: [...t.shape] };
}

function checkScalar(name: string, t: Tensor | undefined, maxRank = 0): Tensor {
  if (!t) throw new GraphError(`build: returned no ${name}`);
  if (t.rank > maxRank || !t.shape.every((d) => typeof d === 'number'))
    throw new GraphError(`build: ${name} must be a ${maxRank ? 'scalar or a static 1-D tensor' : 'scalar'}, got shape [${t.shape}]`);
  return t;
}

function addMetrics(g: Graph, built: StepBuild): string[] {
  const names: string[] = [];
  for (const [name, t] of Object.entries(built.metrics ?? {})) {
    if (RESERVED.has(name)) throw new GraphError(`build: metric name '${name}' is reserved`);
    checkScalar(`metric '${name}'`, t, 1);
    g.output(name, t);
    names.push(name);
  }
  return names;
}

function batchOf(g: Graph, exclude: Set<Tensor>): TensorSig[] {
  return g.inputs.filter((t) => t.op === 'Input' && !exclude.has(t)).map(sig);
}

/**
 * The training-step graph: loss and metrics, gradients of the loss for every parameter, global norm
 * (`grad_norm`, before clipping), optional clipping, and AdamW. Names as in step-names.ts.
 */
export function buildTrainStep(
  opts: StepGraphOptions & {
    optimizer: AdamWConfig;
    /** Add the metric `update_ratio` = ||p_next - p|| / ||p|| (global L2 norms over all parameters). */
    updateRatio?: boolean;
  },
): TrainStep {
  const g = new Graph(opts.name ?? 'train_step', { dtype: opts.dtype });
  const scalar = (name: ScalarInput, dtype: DType, doc: string) => g.input(name, dtype, [], { doc });
  const step = scalar('step', 'int32', '1-based number of this update (AdamW t; dropout)');
  const lr = scalar('lr', g.dtype, 'learning rate of this step');
  const seed = scalar('seed', 'int32', 'run seed (dropout masks)');
  const ctx: StepContext = {
    mode: 'train',
    seed,
    step,
    dropout: (x, p, salt) => dropout(x, p, { seed, step, salt }),
  };
  const built = opts.build(g, ctx);
  const loss = checkScalar('loss', built.loss);
  g.output('loss', loss);
  const metrics = addMetrics(g, built);
  const params = [...g.params];
  if (params.length === 0) throw new GraphError('buildTrainStep: the model has no parameters');

  const grads = grad(loss, params);
  const cfg = opts.optimizer;
  // the clip coefficient is folded into AdamW's moment updates (no pass that rescales every gradient)
  const { norm, squares, scale, scalars } = g.scope('optimizer', () => {
    const sos = sumOfSquares(grads);
    return { ...sos, scale: cfg.grad_clip ? clipCoef(sos.norm, cfg.grad_clip) : undefined, scalars: adamwScalars(step, lr, cfg) };
  });
  g.output('grad_norm', norm);
  metrics.push('grad_norm');

  const state: StateSlot[] = [];
  const next = new Map<string, Tensor>();
  const stateInputs = new Set<Tensor>();
  params.forEach((p, i) => {
    const shape = p.shape as number[];
    const dtype = p.dtype as FloatDType;
    const m = g.input(ADAM_M_PREFIX + p.name, dtype, shape, { doc: `AdamW first moment of ${p.name}` });
    const v = g.input(ADAM_V_PREFIX + p.name, dtype, shape, { doc: `AdamW second moment of ${p.name}` });
    stateInputs.add(m).add(v);
    const upd = g.scope(`optimizer/${p.name}`, () =>
      adamwUpdate(p, grads[i], m, v, scalars, cfg, p.attrs.decay as boolean, { gradScale: scale, gradSq: squares[i] }),
    );
    for (const [kind, input, t] of [['param', p, upd.p], ['adam_m', m, upd.m], ['adam_v', v, upd.v]] as const) {
      g.output(nextName(input.name), t);
      next.set(nextName(input.name), t);
      state.push({ input: input.name, output: nextName(input.name), param: p.name, kind, shape, dtype, init: kind === 'param' ? 'param' : 'zeros' });
    }
  });
  if (opts.updateRatio) {
    // the effective step size, after clipping, bias correction and weight decay as applied
    const ratio = g.scope('metrics/update_ratio', () => {
      const deltas = params.map((p) => next.get(nextName(p.name))!.sub(p));
      return globalNorm(deltas).div(globalNorm(params).add(1e-30));
    });
    g.output('update_ratio', ratio);
    metrics.push('update_ratio');
  }
  return {
    graph: g,
    params: g.paramInfos(),
    batchInputs: batchOf(g, new Set([step, lr, seed, ...stateInputs])),
    metrics,
    state,
    controls: [step, lr, seed].map(sig),
  };
}

/** Loss and metrics without an update; dropout is off. Parameters are inputs by their own names. */
export function buildEval(opts: StepGraphOptions): StepGraph {
  const g = new Graph(opts.name ?? 'eval', { dtype: opts.dtype });
  const built = opts.build(g, { mode: 'eval', seed: null, step: null, dropout: (x) => x });
  g.output('loss', checkScalar('loss', built.loss));
  const metrics = addMetrics(g, built);
  return { graph: g, params: g.paramInfos(), batchInputs: batchOf(g, new Set()), metrics };
}

/**
 * The forward graph: the callback's `outputs` (e.g. logits); dropout is off. Batch inputs that the
 * outputs do not use (targets) are left out of the graph; `batchInputs` lists the ones that remain.
 */
export function buildForward(opts: StepGraphOptions): StepGraph {
  const g = new Graph(opts.name ?? 'forward', { dtype: opts.dtype });
  g.pruneUnusedInputs = true;
  const built = opts.build(g, { mode: 'forward', seed: null, step: null, dropout: (x) => x });
  const outs = Object.entries(built.outputs ?? {});
  if (outs.length === 0) throw new GraphError('buildForward: build returned no outputs');
  for (const [name, t] of outs) g.output(name, t);
  const used = g.usedInputs();
  return { graph: g, params: g.paramInfos(), batchInputs: batchOf(g, new Set(g.inputs.filter((t) => !used.has(t)))), metrics: [] };
}
