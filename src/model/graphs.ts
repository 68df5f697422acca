/**
 * From a resolved spec to the three step graphs (train step, eval, forward) of the graph compiler's
 * assembler, with the Chameleon model as the build callback, plus the loss-and-gradients graph behind
 * `chamlab grad`.
 */
import {
  buildEval,
  buildForward,
  buildTrainStep,
  grad,
  Graph,
  type AdamWConfig,
  type BuildFn,
  type Dim,
  type FloatDType,
  type StepGraph,
  type Tensor,
  type TrainStep,
} from '../graph';
import type { OptimizerSpec, Spec } from '../../dsl/schema';
import { modelDims, type ModelDims } from './config';
import { buildChameleon } from './chameleon';

export interface ModelGraphOptions {
  /** Sequences per batch (default: the spec's train.batch). */
  batch?: Dim;
  /** Tokens per sequence (default: the spec's data.seq_len). */
  seq?: number;
  dtype?: FloatDType;
  /** Attach parameter values (gradcheck, initializer embedding). */
  values?: Map<string, Float32Array | Float64Array>;
}

export function adamwConfig(o: OptimizerSpec): AdamWConfig {
  return { betas: [o.betas[0], o.betas[1]], eps: o.eps, weight_decay: o.weight_decay, grad_clip: o.grad_clip || null };
}

/** The build callback shared by the three graphs: the model, its loss, its taps and its logits. */
export function chameleonBuildFn(spec: Spec, opts: ModelGraphOptions = {}): BuildFn {
  const m = modelDims(spec.model);
  return (g, ctx) => {
    const built = buildChameleon(g, m, {
      batch: opts.batch ?? spec.train.batch,
      seq: opts.seq ?? spec.data.seq_len,
      decay: spec.optimizer.decay,
      dropout: ctx.mode === 'train' ? ctx.dropout : undefined,
      values: opts.values,
    });
    return { loss: built.loss!, metrics: built.metrics, outputs: { logits: built.logits } };
  };
}

export interface ModelGraphs {
  trainStep: TrainStep;
  eval: StepGraph;
  forward: StepGraph;
}

/** The train-step, eval and forward graphs of a spec; parameters are inputs under their HF names. */
export function buildModelGraphs(spec: Spec, opts: ModelGraphOptions = {}): ModelGraphs {
  const build = chameleonBuildFn(spec, opts);
  // update_ratio = ||p_next - p|| / ||p||: the effective step size, which blows up before a divergence.
  const trainStep = buildTrainStep({ build, optimizer: adamwConfig(spec.optimizer), dtype: opts.dtype, updateRatio: true });
  return {
    trainStep,
    eval: buildEval({ build, dtype: opts.dtype }),
    forward: buildForward({ build, dtype: opts.dtype }),
  };
}

export interface GradGraph {
  graph: Graph;
  m: ModelDims;
  loss: Tensor;
  logits: Tensor;
  params: Tensor[];
  /** Gradient output name of each parameter: `grad.<param>`. */
  gradOutputs: string[];
}

/**
 * Loss, logits and the gradient of the loss with respect to every parameter, dropout off: what
 * `chamlab grad` runs to compare with another implementation. Outputs: `loss`, `logits`,
 * `grad.<param>`, and the metric taps by name.
 */
export function buildGradGraph(spec: Spec, batch: number, seq: number, opts: { dtype?: FloatDType; values?: Map<string, Float32Array | Float64Array> } = {}): GradGraph {
  const m = modelDims(spec.model);
  const g = new Graph('grad', { dtype: opts.dtype });
  const built = buildChameleon(g, m, { batch, seq, decay: spec.optimizer.decay, values: opts.values });
  const loss = built.loss!;
  const grads = grad(loss, built.params);
  g.output('loss', loss);
  g.output('logits', built.logits);
  const gradOutputs = built.params.map((p, i) => {
    const name = `grad.${p.name}`;
    g.output(name, grads[i]);
    return name;
  });
  for (const [k, t] of Object.entries(built.metrics)) g.output(k, t);
  return { graph: g, m, loss, logits: built.logits, params: built.params, gradOutputs };
}
