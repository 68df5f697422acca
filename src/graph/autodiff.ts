/**
 * Reverse-mode autodiff: topological order, walk backwards, accumulate (tinygrad's compute_gradient).
 * Only nodes that lie on a path from a requested input to the output are differentiated, and integer or
 * bool values never carry gradients. Backward nodes are built in the scope `grad/<forward scope>`, so
 * in Netron the gradient of `layers.3.attn/Softmax_40` sits under `grad/layers.3.attn`.
 */
import { GraphError, PRIMITIVES, type Tensor, fmtShape, isFloat } from './ir';

/**
 * Gradients of `y` with respect to each of `xs` (same shapes). `y` must be a scalar unless `seed`
 * (the cotangent of y, same shape) is given. An x that `y` does not depend on gets zeros.
 */
export function grad(y: Tensor, xs: readonly Tensor[], seed?: Tensor): Tensor[] {
  const g = y.graph;
  if (!isFloat(y.dtype)) throw new GraphError(`grad: output ${y.name} is ${y.dtype}, not float`);
  for (const x of xs) {
    if (x.graph !== g) throw new GraphError(`grad: ${x.name} belongs to another graph`);
    if (!isFloat(x.dtype)) throw new GraphError(`grad: cannot differentiate with respect to ${x.name} (${x.dtype})`);
  }
  if (!seed && y.shape.length !== 0) throw new GraphError(`grad: output ${y.name} has shape ${fmtShape(y.shape)}; pass a seed or reduce it to a scalar`);

  // ancestors of y, in creation order (creation order is topological: inputs exist before users)
  const seen = new Set<Tensor>();
  const stack = [y];
  while (stack.length) {
    const t = stack.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    for (const i of t.inputs) stack.push(i);
  }
  const order = [...seen].sort((a, b) => a.id - b.id);

  // forward sweep: which nodes depend on a requested x through differentiable, float paths
  const targets = new Set(xs);
  const needs = new Set<Tensor>();
  for (const t of order) {
    if (targets.has(t)) needs.add(t);
    else if (isFloat(t.dtype) && PRIMITIVES[t.op]?.vjp && t.inputs.some((i) => needs.has(i))) needs.add(t);
  }

  const grads = new Map<Tensor, Tensor>();
  if (needs.has(y)) grads.set(y, seed ?? g.scalar(1, y.dtype));
  for (let k = order.length - 1; k >= 0; k--) {
    const t = order[k];
    const gt = grads.get(t);
    if (!gt || !t.inputs.some((i) => needs.has(i))) continue;
    const prim = PRIMITIVES[t.op];
    if (!prim?.vjp) continue;
    const slash = t.name.lastIndexOf('/');
    const scope = slash > 0 ? `grad/${t.name.slice(0, slash)}` : 'grad';
    const parts = g.scope(scope, () => prim.vjp!(gt, t, t.inputs, t.attrs));
    t.inputs.forEach((x, i) => {
      const gx = parts[i];
      if (!gx || !needs.has(x)) return;
      if (gx.rank !== x.rank || gx.shape.some((d, j) => d !== x.shape[j]))
        throw new GraphError(`grad: the VJP of ${t.op} gave shape ${fmtShape(gx.shape)} for input ${i} of shape ${fmtShape(x.shape)} (a bug in its rule)`);
      const prev = grads.get(x);
      grads.set(x, prev ? g.scope(scope, () => prev.add(gx)) : gx);
    });
  }
  return xs.map((x) => grads.get(x) ?? g.zeros(x.shape, x.dtype));
}
