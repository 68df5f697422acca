/**
 * Gradient checks: every VJP rule of the graph compiler's primitive table against finite differences,
 * in float64, by running the compiled gradient graph on onnxruntime's CPU provider (every primitive
 * has a double kernel there) through `graphSession` (run.ts). They live in the runtime because they
 * run graphs; the rules and their cases live with the primitives (src/graph/primitives.ts).
 *
 * Per op: each case from the primitive table builds y = f(inputs) on random inputs (random shapes,
 * broadcasting included), takes L = sum(y * r) for a fixed random r, and compares the gradient graph's
 * dL/dx with a fourth-order central difference (f(x-2h), f(x-h), f(x+h), f(x+2h), h = 1e-3), whose
 * truncation error (~h^4) and rounding error (~1e-16/h) both stay far below the 1e-6 bar.
 * Per model: the directional derivative along a random unit direction of all parameters.
 *
 * Relative error of an element: |analytic - numeric| / max(|analytic|, |numeric|, 1e-3); the floor
 * keeps exact zeros (masked entries) from dividing by rounding noise.
 */
// From the graph compiler's index: importing it registers every primitive (primitives.ts).
import { type CaseInput, type CaseRng, type GradCase, Graph, GraphError, PRIMITIVES, type Tensor, type TypedArray, grad, isStatic, numel } from '../graph';
import { Rng } from '../random';
import { type Feed, graphSession } from './run';

export const GRADCHECK_TOLERANCE = 1e-6;
const H = 1e-3;
const FLOOR = 1e-3;

/**
 * The draws of gradient checks: the one seeded generator (src/random.ts) with the helpers that case
 * generators use, so a failing case reproduces from its seed.
 */
export class CaseDraws implements CaseRng {
  constructor(readonly rng: Rng) {}
  /** Uniform in [0, 1). */
  next(): number {
    return this.rng.next();
  }
  normal(): number {
    return this.rng.normal();
  }
  int(lo: number, hi: number): number {
    return lo + this.rng.int(hi - lo + 1);
  }
  shape(rank: number, maxDim = 4): number[] {
    return Array.from({ length: rank }, () => this.int(1, maxDim));
  }
  bcast(s: number[]): number[] {
    const drop = this.int(0, Math.max(0, s.length - 1));
    const out = s.slice(drop).map((d) => (this.next() < 0.5 ? 1 : d));
    // keep at least one broadcast axis so the VJP's reduction path is exercised
    if (out.length === s.length && out.every((d, i) => d === s[i]) && out.length > 0) out[0] = 1;
    return out;
  }
}

function sample(r: CaseDraws, spec: CaseInput): TypedArray {
  const n = numel(spec.shape);
  switch (spec.kind ?? 'normal') {
    case 'int':
      return Int32Array.from({ length: n }, () => r.int(0, (spec.max ?? 2) - 1));
    case 'bool':
      return Uint8Array.from({ length: n }, () => (r.next() < 0.5 ? 1 : 0));
    case 'positive':
      return Float64Array.from({ length: n }, () => 0.5 + 1.5 * r.next());
    case 'nonzero':
      return Float64Array.from({ length: n }, () => (r.next() < 0.5 ? -1 : 1) * (0.2 + 1.8 * r.next()));
    case 'distinct': {
      // a permutation of evenly spaced values: no ties, and gaps far wider than the FD stencil
      const perm = Array.from({ length: n }, (_, i) => i);
      for (let i = n - 1; i > 0; i--) {
        const j = r.int(0, i);
        [perm[i], perm[j]] = [perm[j], perm[i]];
      }
      return Float64Array.from(perm, (k) => (k - n / 2) * 0.1);
    }
    default:
      return Float64Array.from({ length: n }, () => r.normal());
  }
}

const relErr = (a: number, n: number) => Math.abs(a - n) / Math.max(Math.abs(a), Math.abs(n), FLOOR);

/** Fourth-order central difference of `f` at 0 along one coordinate, with step H. */
async function fd(f: (t: number) => Promise<number>): Promise<number> {
  const [m2, m1, p1, p2] = await Promise.all([f(-2 * H), f(-H), f(H), f(2 * H)]);
  return (8 * (p1 - m1) - (p2 - m2)) / (12 * H);
}

export interface CaseResult {
  op: string;
  case: string;
  max_rel_err: number;
}

/** Checks one case of one primitive; returns the max relative error over all float inputs. */
export async function gradcheckCase(op: string, c: GradCase, r: CaseDraws): Promise<CaseResult> {
  const g = new Graph(`gradcheck_${op}`, { dtype: 'float64' });
  const feeds: Record<string, TypedArray> = {};
  const xs: Tensor[] = c.inputs.map((spec, i) => {
    const kind = spec.kind ?? 'normal';
    const dtype = kind === 'int' ? 'int32' : kind === 'bool' ? 'bool' : 'float64';
    feeds[`x${i}`] = sample(r, spec);
    return g.input(`x${i}`, dtype, spec.shape);
  });
  const y = c.f(...xs);
  if (!isStatic(y.shape)) throw new GraphError(`gradcheck ${op}: case ${c.name} has symbolic dims`);
  const w = g.constant(Float64Array.from({ length: numel(y.shape) }, () => r.normal()), y.shape, 'float64');
  const loss = y.mul(w).sum();
  const floats = xs.filter((x) => x.dtype === 'float64');
  const grads = grad(loss, floats);
  g.output('loss', loss);
  grads.forEach((t, i) => g.output(`grad_${floats[i].name}`, t));
  // both emissions: the portable one (default) and the CPU-specialized one, where they differ
  let worst = 0;
  for (const target of ['any', 'cpu'] as const) {
    const session = await graphSession(g, { target });
    try {
      const base = await session.run(feeds);
      for (const x of floats) {
        const analytic = base[`grad_${x.name}`] as Float64Array;
        const data = feeds[x.name] as Float64Array;
        for (let k = 0; k < data.length; k++) {
          const numeric = await fd(async (t) => {
            const moved = Float64Array.from(data);
            moved[k] += t;
            const out = await session.run({ ...feeds, [x.name]: moved });
            return (out.loss as Float64Array)[0];
          });
          worst = Math.max(worst, relErr(analytic[k], numeric));
        }
      }
    } finally {
      await session.release();
    }
  }
  return { op, case: c.name, max_rel_err: worst };
}

export interface OpReport {
  op: string;
  max_rel_err: number;
  cases: number;
  worst_case: string;
  /** Set when the op is differentiable but has no gradcheck cases: a failure. */
  error?: string;
}

/**
 * Checks every differentiable primitive in the table (or those in `only`). Ops without a VJP are not
 * listed; a differentiable op without `cases` is reported with an error and fails the check.
 */
export async function gradcheckOps(opts: { seed?: number; only?: string[] } = {}): Promise<OpReport[]> {
  const reports: OpReport[] = [];
  const names = Object.keys(PRIMITIVES).filter((k) => PRIMITIVES[k].vjp && (!opts.only || opts.only.includes(k)));
  if (opts.only) for (const k of opts.only) if (!PRIMITIVES[k]) throw new GraphError(`gradcheck: unknown op '${k}'`);
  for (const op of names) {
    const prim = PRIMITIVES[op];
    const r = new CaseDraws(Rng.from('gradcheck', opts.seed ?? 1, op));
    if (!prim.cases) {
      reports.push({ op, max_rel_err: Infinity, cases: 0, worst_case: '', error: 'no gradcheck cases (add `cases` to its table entry)' });
      continue;
    }
    let worst: CaseResult = { op, case: '', max_rel_err: 0 };
    const cases = prim.cases(r);
    for (const c of cases) {
      const res = await gradcheckCase(op, c, r);
      if (!(res.max_rel_err <= worst.max_rel_err)) worst = res;
    }
    reports.push({ op, max_rel_err: worst.max_rel_err, cases: cases.length, worst_case: worst.case });
  }
  return reports;
}

export interface ModelCheckResult {
  max_rel_err: number;
  /** grad . d from the gradient graph */
  analytic: number;
  /** d/dt L(theta + t d) by finite differences */
  numeric: number;
  params: number;
}

/**
 * Whole-model check: builds `build(g)` (a scalar loss) in a float64 graph, and compares the gradient
 * graph's directional derivative along a random unit direction d over all parameters with the finite
 * difference of L(theta + t d). Parameters without a value get N(0, 0.5^2) values; batch inputs come
 * from `feeds` (required for integer inputs) or N(0, 1). This is the hook for the real model: pass a
 * callback that builds it (in a float64 graph) and returns its loss.
 */
export async function gradcheckModel(
  build: (g: Graph) => Tensor,
  opts: { seed?: number; feeds?: Record<string, Feed> } = {},
): Promise<ModelCheckResult> {
  const r = Rng.from('gradcheck-model', opts.seed ?? 2);
  const g = new Graph('gradcheck_model', { dtype: 'float64' });
  const loss = build(g);
  if (loss.rank !== 0) throw new GraphError(`gradcheckModel: the loss must be a scalar, got shape [${loss.shape}]`);
  if (loss.dtype !== 'float64') throw new GraphError('gradcheckModel: build the model in the given float64 graph (params default to its dtype)');
  const params = [...g.params];
  const grads = grad(loss, params);
  g.output('loss', loss);
  grads.forEach((t, i) => g.output(`grad/${params[i].name}`, t));

  const feeds: Record<string, Feed> = {};
  for (const t of g.graphInputs()) {
    if (t.op === 'Param') {
      const v = t.attrs.value as Float32Array | Float64Array | undefined;
      feeds[t.name] = v ? Float64Array.from(v) : Float64Array.from({ length: numel(t.shape as number[]) }, () => 0.5 * r.normal());
    } else if (opts.feeds?.[t.name] !== undefined) feeds[t.name] = opts.feeds[t.name];
    else if (t.dtype === 'float64' && isStatic(t.shape)) feeds[t.name] = Float64Array.from({ length: numel(t.shape) }, () => r.normal());
    else throw new GraphError(`gradcheckModel: input '${t.name}' (${t.dtype}) needs a feed`);
  }
  // a random direction of unit length over all parameters
  const dirs = params.map((p) => Float64Array.from({ length: (feeds[p.name] as Float64Array).length }, () => r.normal()));
  const norm = Math.sqrt(dirs.reduce((s, d) => s + d.reduce((a, b) => a + b * b, 0), 0));
  for (const d of dirs) for (let i = 0; i < d.length; i++) d[i] /= norm;

  const session = await graphSession(g);
  try {
    const base = await session.run(feeds);
    let analytic = 0;
    params.forEach((p, i) => {
      const gp = base[`grad/${p.name}`] as Float64Array;
      for (let k = 0; k < gp.length; k++) analytic += gp[k] * dirs[i][k];
    });
    const numeric = await fd(async (t) => {
      const moved: Record<string, Feed> = { ...feeds };
      params.forEach((p, i) => {
        const v = Float64Array.from(feeds[p.name] as Float64Array);
        for (let k = 0; k < v.length; k++) v[k] += t * dirs[i][k];
        moved[p.name] = v;
      });
      return ((await session.run(moved)).loss as Float64Array)[0];
    });
    const count = dirs.reduce((s, d) => s + d.length, 0);
    return { max_rel_err: relErr(analytic, numeric), analytic, numeric, params: count };
  } finally {
    await session.release();
  }
}
