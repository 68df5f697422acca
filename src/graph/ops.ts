/**
 * The functional API over primitives, and the composite ops. A composite is a plain function of
 * primitives: it gets its gradient from the primitives' rules and needs no rule of its own.
 */
import { GraphError, type Shape, type Tensor, type TensorLike, fmtShape, normAxis } from './ir';

/**
 * Sums a broadcast result back to `shape` (the adjoint of broadcasting): leading axes are summed away,
 * axes where `shape` has 1 are summed with keepdims. A no-op when the shapes already match.
 */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (g.rank === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.rank - shape.length;
  if (lead < 0) throw new GraphError(`sumTo: cannot reduce ${fmtShape(g.shape)} to ${fmtShape(shape)}`);
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  const s = axes.length ? g.sum(axes, true) : g;
  return s.rank === shape.length ? s : s.reshape(shape);
}

/**
 * Elementwise `cond ? a : b` with broadcasting; numbers take the dtype of the tensor operand (the
 * graph's float dtype when both are numbers).
 */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const g = cond.graph;
  const dtype = typeof a !== 'number' ? a.dtype : typeof b !== 'number' ? b.dtype : g.dtype;
  return g.apply('Where', [cond, g.lift(a, dtype), g.lift(b, dtype)]);
}

export const not = (x: Tensor): Tensor => x.graph.apply('Not', [x]);
export const and = (a: Tensor, b: Tensor): Tensor => a.graph.apply('And', [a, b]);

/** Concatenation along `axis`. */
export function concat(xs: Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new GraphError('concat: needs at least one tensor');
  if (xs.length === 1) return xs[0];
  return xs[0].graph.apply('Concat', xs, { axis });
}

/** Rows (or entries along `axis`) of `data` selected by integer `indices`: the embedding lookup. */
export function gather(data: Tensor, indices: Tensor, axis = 0): Tensor {
  return data.graph.apply('Gather', [data, indices], { axis });
}

/** `data` with `updates[i]` added to row `indices[i]` (repeated indices accumulate). */
export function gatherRowsAdd(data: Tensor, indices: Tensor, updates: Tensor): Tensor {
  return data.graph.apply('ScatterAddRows', [data, indices, updates]);
}

/** out[..., i, ...] = x[..., indices[..., i, ...], ...] along `axis` (ONNX GatherElements). */
export function takeAlongAxis(x: Tensor, indices: Tensor, axis: number): Tensor {
  return x.graph.apply('GatherElements', [x, indices], { axis });
}

/** `data` with `updates` written at `indices` along `axis` (ONNX ScatterElements; numpy's put_along_axis). */
export function putAlongAxis(data: Tensor, indices: Tensor, updates: Tensor, axis: number): Tensor {
  return data.graph.apply('ScatterElements', [data, indices, updates], { axis });
}

export function softmax(x: Tensor, axis = -1): Tensor {
  return x.graph.apply('Softmax', [x], { axis });
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return x.graph.apply('LogSoftmax', [x], { axis });
}

/** log(sum(exp(x))) along `axis`, stabilized by the (gradient-free) maximum. */
export function logsumexp(x: Tensor, axis = -1, keepdims = false): Tensor {
  // the shift cancels in value and gradient, so the max is a constant for autodiff's purposes:
  // subtracting it and adding it back gives exact gradients softmax(x) without a ReduceMax VJP
  const m = stopGradient(x.max([axis], true));
  const out = x.sub(m).exp().sum([axis], true).log().add(m);
  return keepdims ? out : out.reshape(x.shape.filter((_, i) => i !== normAxis(axis, x.rank)));
}

/** The same value, but autodiff treats it as a constant (emitted as Identity, which ORT removes). */
export function stopGradient(x: Tensor): Tensor {
  return x.graph.apply('StopGradient', [x]);
}

/**
 * Layer normalization over the trailing axes from `axis`: ((x - mean) / sqrt(var + eps)) * weight + bias.
 * The normalization is the fused LayerNorm primitive (ONNX LayerNormalization); weight and bias are
 * optional and composed, so their gradients are the plain Mul/Add rules.
 */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5, axis = -1): Tensor {
  let y = x.graph.apply('LayerNorm', [x], { axis, eps });
  if (weight) y = y.mul(weight);
  if (bias) y = y.add(bias);
  return y;
}

/** RMS normalization over the last axis: x / sqrt(mean(x^2) + eps) * weight. */
export function rmsNorm(x: Tensor, weight: Tensor | null, eps = 1e-5): Tensor {
  const y = x.mul(x.mul(x).mean([-1], true).add(eps).pow(-0.5));
  return weight ? y.mul(weight) : y;
}

/** x * sigmoid(x) (SwiGLU's gate). */
export const silu = (x: Tensor): Tensor => x.mul(x.sigmoid());

/**
 * GELU, tanh approximation: x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))). (The exact erf form is
 * not offered: ORT's CPU provider has no float64 Erf kernel, so it could not be gradient-checked.)
 */
export const gelu = (x: Tensor): Tensor =>
  x.mul(x.mul(x.mul(x).mul(0.044715).add(1)).mul(Math.sqrt(2 / Math.PI)).tanh().add(1)).mul(0.5);

/**
 * Mean cross-entropy of `logits` [..., V] against integer `targets` [...]: mean(logsumexp - logit[target]),
 * on the fused SoftmaxCrossEntropy primitive. With `ignoreIndex`, positions whose target equals it are
 * excluded from the mean (their count comes from the graph, so padding-heavy batches average right).
 */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: { ignoreIndex?: number } = {}): Tensor {
  if (opts.ignoreIndex === undefined) return softmaxCrossEntropy(logits, targets).mean();
  const valid = not(targets.eq(opts.ignoreIndex));
  const nll = softmaxCrossEntropy(logits, where(valid, targets, 0));
  const w = valid.cast(logits.dtype);
  return nll.mul(w).sum().div(w.sum().add(1e-12));
}

/** Per-position -log softmax(logits)[target] (no reduction). */
export function softmaxCrossEntropy(logits: Tensor, targets: Tensor): Tensor {
  return logits.graph.apply('SoftmaxCrossEntropy', [logits, targets]);
}

