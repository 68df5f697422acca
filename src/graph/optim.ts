/**
 * Optimizer pieces as graph functions: global gradient norm, clipping by global norm, and AdamW with
 * bias correction and decoupled weight decay, following torch.optim.AdamW and
 * torch.nn.utils.clip_grad_norm_ exactly so runs compare with PyTorch. `adamwReference` is the same
 * update in plain TypeScript (float64), for tests and for anyone who wants to check a step by hand.
 */
import { GraphError, type Tensor } from './ir';
import { where } from './ops';

export interface AdamWConfig {
  /** (beta1, beta2), e.g. [0.9, 0.95]. */
  betas: [number, number];
  eps: number;
  /** Decoupled weight decay coefficient (applied to parameters created with `decay: true`). */
  weight_decay: number;
  /** Clip the global gradient L2 norm to this value; null/undefined/0 disables clipping. */
  grad_clip?: number | null;
}

/** sqrt(sum over all tensors of sum(g^2)), one ReduceSumSquare pass per tensor (no squares kept). */
export function globalNorm(grads: readonly Tensor[]): Tensor {
  if (grads.length === 0) throw new GraphError('globalNorm: no gradients');
  return grads.map((g) => g.sumSquares()).reduce((a, b) => a.add(b)).sqrt();
}

/** The global norm and each gradient's elementwise square (AdamW's v update reuses the squares). */
export function sumOfSquares(grads: readonly Tensor[]): { norm: Tensor; squares: Tensor[] } {
  if (grads.length === 0) throw new GraphError('globalNorm: no gradients');
  const squares = grads.map((g) => g.mul(g));
  let total: Tensor | null = null;
  for (const sq of squares) {
    const s = sq.sum();
    total = total ? total.add(s) : s;
  }
  return { norm: total!.sqrt(), squares };
}

/** torch's clip coefficient min(1, maxNorm / (norm + 1e-6)), as a scalar tensor. */
export function clipCoef(norm: Tensor, maxNorm: number): Tensor {
  if (!(maxNorm > 0)) throw new GraphError(`clip: max norm must be positive, got ${maxNorm}`);
  const coef = norm.add(1e-6).reciprocal().mul(maxNorm);
  return where(coef.lt(1), coef, 1);
}

/**
 * Scales all gradients by min(1, maxNorm / (norm + 1e-6)) (torch's clip_grad_norm_), one scale for
 * all, so the direction is kept. `norm` is the global norm, computed if not given.
 */
export function clipByGlobalNorm(grads: readonly Tensor[], maxNorm: number, norm?: Tensor): Tensor[] {
  const scale = clipCoef(norm ?? globalNorm(grads), maxNorm);
  return grads.map((g) => g.mul(scale));
}

/** Per-step scalars shared by every parameter's update (computed once per graph). */
export interface AdamWScalars {
  /** lr / (1 - beta1^t) * sqrt(1 - beta2^t): the step size once eps is rescaled (see adamwUpdate) */
  alpha: Tensor;
  /** eps * sqrt(1 - beta2^t) */
  epsHat: Tensor;
  /** 1 - lr * weight_decay (decoupled decay factor) */
  decayFactor: Tensor;
}

/** Bias-correction scalars from `step` (int32 or float scalar, 1-based t) and `lr` (float scalar). */
export function adamwScalars(step: Tensor, lr: Tensor, cfg: AdamWConfig): AdamWScalars {
  const [b1, b2] = cfg.betas;
  if (!(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1)) throw new GraphError(`adamw: betas must be in [0, 1), got [${cfg.betas}]`);
  const t = step.cast(lr.dtype);
  // 1 - beta^t with beta^t = exp(t * ln beta); a beta of 0 makes the correction 1
  const bc = (b: number) => (b === 0 ? null : t.mul(Math.log(b)).exp().rsub(1));
  const bc1 = bc(b1);
  const sqrtBc2 = bc(b2)?.sqrt() ?? null;
  const stepSize = bc1 ? lr.div(bc1) : lr;
  return {
    alpha: sqrtBc2 ? stepSize.mul(sqrtBc2) : stepSize,
    epsHat: sqrtBc2 ? sqrtBc2.mul(cfg.eps) : lr.graph.scalar(cfg.eps, lr.dtype),
    decayFactor: lr.mul(-cfg.weight_decay).add(1),
  };
}

/**
 * One AdamW update of one parameter (torch.optim.AdamW):
 *   p <- p * (1 - lr*wd)               (only when `decay`)
 *   m <- b1*m + (1-b1)*g;  v <- b2*v + (1-b2)*g^2
 *   p <- p - lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 * Per-element passes are the optimizer's whole cost, so scalars are folded: the last line is
 * p - alpha * m / (sqrt(v) + epsHat) with alpha = lr*sqrt(1-b2^t)/(1-b1^t) and epsHat = eps*sqrt(1-b2^t)
 * (the same value), and a clip coefficient `gradScale` enters the moment updates as a scalar factor
 * instead of a pass that rescales g. `gradSq` (g*g, already computed for the global norm) is reused.
 */
export function adamwUpdate(
  p: Tensor,
  g: Tensor,
  m: Tensor,
  v: Tensor,
  s: AdamWScalars,
  cfg: AdamWConfig,
  decay: boolean,
  opts: { gradScale?: Tensor; gradSq?: Tensor } = {},
): { p: Tensor; m: Tensor; v: Tensor } {
  const [b1, b2] = cfg.betas;
  const c1 = opts.gradScale ? opts.gradScale.mul(1 - b1) : 1 - b1;
  const c2 = opts.gradScale ? opts.gradScale.mul(opts.gradScale).mul(1 - b2) : 1 - b2;
  const m2 = m.mul(b1).add(g.mul(c1));
  const v2 = v.mul(b2).add((opts.gradSq ?? g.mul(g)).mul(c2));
  const base = decay && cfg.weight_decay !== 0 ? p.mul(s.decayFactor) : p;
  return { p: base.sub(m2.div(v2.sqrt().add(s.epsHat)).mul(s.alpha)), m: m2, v: v2 };
}

/** The same AdamW step in float64 TypeScript; returns new arrays. */
export function adamwReference(
  p: ArrayLike<number>,
  g: ArrayLike<number>,
  m: ArrayLike<number>,
  v: ArrayLike<number>,
  opts: { lr: number; step: number; decay: boolean } & AdamWConfig,
): { p: Float64Array; m: Float64Array; v: Float64Array } {
  const [b1, b2] = opts.betas;
  const n = p.length;
  const P = new Float64Array(n);
  const M = new Float64Array(n);
  const V = new Float64Array(n);
  const bc1 = 1 - b1 ** opts.step;
  const bc2 = 1 - b2 ** opts.step;
  for (let i = 0; i < n; i++) {
    let pi = p[i];
    if (opts.decay) pi *= 1 - opts.lr * opts.weight_decay;
    M[i] = b1 * m[i] + (1 - b1) * g[i];
    V[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    P[i] = pi - (opts.lr / bc1) * (M[i] / (Math.sqrt(V[i]) / Math.sqrt(bc2) + opts.eps));
  }
  return { p: P, m: M, v: V };
}

/** torch's clip coefficient for a given global norm (TypeScript, for tests). */
export function clipCoefReference(norm: number, maxNorm: number): number {
  return Math.min(1, maxNorm / (norm + 1e-6));
}
