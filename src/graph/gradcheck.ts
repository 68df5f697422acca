/**
 * Gradient checks: every VJP rule against finite differences, in float64, by running the compiled
 * gradient graph on onnxruntime's CPU provider (every primitive here has a double kernel there).
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
import { grad } from './autodiff';
import { type CaseInput, type CaseRng, type Dim, type GradCase, Graph, GraphError, PRIMITIVES, type Tensor, type TypedArray } from './ir';
import { crossEntropy, gather, layerNorm, rmsNorm, silu, softmax } from './ops';
import { type Feed, compileCpu } from './ort';

export const GRADCHECK_TOLERANCE = 1e-6;
const H = 1e-3;
const FLOOR = 1e-3;

/** A small, seedable PRNG (mulberry32) so a failing case reproduces from its seed. */
export class Rng implements CaseRng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
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

function sample(r: Rng, spec: CaseInput): TypedArray {
  const n = spec.shape.reduce((a, b) => a * b, 1);
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
export async function gradcheckCase(op: string, c: GradCase, r: Rng): Promise<CaseResult> {
  const g = new Graph(`gradcheck_${op}`, { dtype: 'float64' });
  const feeds: Record<string, TypedArray> = {};
  const xs: Tensor[] = c.inputs.map((spec, i) => {
    const kind = spec.kind ?? 'normal';
    const dtype = kind === 'int' ? 'int32' : kind === 'bool' ? 'bool' : 'float64';
    feeds[`x${i}`] = sample(r, spec);
    return g.input(`x${i}`, dtype, spec.shape);
  });
  const y = c.f(...xs);
  if (!y.shape.every((d) => typeof d === 'number')) throw new GraphError(`gradcheck ${op}: case ${c.name} has symbolic dims`);
  const n = (y.shape as number[]).reduce((a, b) => a * b, 1);
  const w = g.constant(Float64Array.from({ length: n }, () => r.normal()), y.shape as number[], 'float64');
  const loss = y.mul(w).sum();
  const floats = xs.filter((x) => x.dtype === 'float64');
  const grads = grad(loss, floats);
  g.output('loss', loss);
  grads.forEach((t, i) => g.output(`grad_${floats[i].name}`, t));
  // both emissions: the portable one (default) and the CPU-specialized one, where they differ
  let worst = 0;
  for (const target of ['any', 'cpu'] as const) {
    const session = await compileCpu(g, { target });
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
    const r = new Rng((opts.seed ?? 1) * 7919 + hashString(op));
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

function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
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
  const r = new Rng(opts.seed ?? 2);
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
      const n = (t.shape as number[]).reduce((a, b) => a * b, 1);
      const v = t.attrs.value as Float32Array | Float64Array | undefined;
      feeds[t.name] = v ? Float64Array.from(v) : Float64Array.from({ length: n }, () => 0.5 * r.normal());
    } else if (opts.feeds?.[t.name] !== undefined) feeds[t.name] = opts.feeds[t.name];
    else if (t.dtype === 'float64' && t.shape.every((d: Dim) => typeof d === 'number'))
      feeds[t.name] = Float64Array.from({ length: (t.shape as number[]).reduce((a, b) => a * b, 1) }, () => r.normal());
    else throw new GraphError(`gradcheckModel: input '${t.name}' (${t.dtype}) needs a feed`);
  }
  // a random direction of unit length over all parameters
  const dirs = params.map((p) => Float64Array.from({ length: (feeds[p.name] as Float64Array).length }, () => r.normal()));
  const norm = Math.sqrt(dirs.reduce((s, d) => s + d.reduce((a, b) => a + b * b, 0), 0));
  for (const d of dirs) for (let i = 0; i < d.length; i++) d[i] /= norm;

  const session = await compileCpu(g);
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

/** Sizes of the tiny reference model. */
export interface TinyConfig {
  vocab: number;
  dim: number;
  heads: number;
  hidden: number;
  batch: number;
  seq: number;
}

export const TINY: TinyConfig = { vocab: 11, dim: 8, heads: 2, hidden: 16, batch: 2, seq: 5 };

/**
 * A tiny decoder block on the primitives: embedding -> causal softmax attention -> residual ->
 * LayerNorm -> SiLU MLP -> residual -> RMSNorm -> logits -> cross-entropy. Inputs `input_ids` and
 * `targets` (int32 [batch, seq]). `drop` (train graphs) inserts dropout after attention and MLP.
 */
export function tinyModel(
  g: Graph,
  c: TinyConfig = TINY,
  drop?: (x: Tensor, p: number, salt: number) => Tensor,
): { loss: Tensor; logits: Tensor; ids: Tensor; targets: Tensor } {
  const { vocab: V, dim: D, heads: Hn, hidden: F, batch: B, seq: T } = c;
  const Dh = D / Hn;
  const init = (shape: number[], scale: number, seed: number): Float64Array => {
    const r = new Rng(seed);
    return Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => scale * r.normal());
  };
  const cast = (a: Float64Array) => (g.dtype === 'float32' ? Float32Array.from(a) : a);
  const P = (name: string, shape: number[], scale: number, seed: number, decay = true) =>
    g.param(name, shape, { value: cast(init(shape, scale, seed)), decay });
  const ones = (name: string, n: number) => g.param(name, [n], { value: cast(new Float64Array(n).fill(1)), decay: false });

  const ids = g.input('input_ids', 'int32', [B, T]);
  const targets = g.input('targets', 'int32', [B, T]);
  const E = P('embed.weight', [V, D], 0.5, 1, false);
  let x = gather(E, ids); // [B,T,D]
  x = g.scope('attn', () => {
    const Wq = P('attn.wq', [D, D], 1 / Math.sqrt(D), 2);
    const Wk = P('attn.wk', [D, D], 1 / Math.sqrt(D), 3);
    const Wv = P('attn.wv', [D, D], 1 / Math.sqrt(D), 4);
    const Wo = P('attn.wo', [D, D], 1 / Math.sqrt(D), 5);
    const heads = (t: Tensor) => t.reshape([B, T, Hn, Dh]).transpose([0, 2, 1, 3]); // [B,H,T,Dh]
    const q = heads(x.matmul(Wq));
    const k = heads(x.matmul(Wk));
    const v = heads(x.matmul(Wv));
    const causal = new Float64Array(T * T).map((_, i) => (i % T > Math.floor(i / T) ? -1e9 : 0));
    const s = q.matmul(k.mT).mul(1 / Math.sqrt(Dh)).add(g.constant(causal, [T, T], g.dtype));
    const o = softmax(s, -1).matmul(v).transpose([0, 2, 1, 3]).reshape([B, T, D]).matmul(Wo);
    return x.add(drop ? drop(o, 0.1, 1) : o);
  });
  x = layerNorm(x, ones('ln.weight', D), P('ln.bias', [D], 0.1, 6, false), 1e-5);
  x = g.scope('mlp', () => {
    const h = silu(x.matmul(P('mlp.w1', [D, F], 1 / Math.sqrt(D), 7))).matmul(P('mlp.w2', [F, D], 1 / Math.sqrt(F), 8));
    return x.add(drop ? drop(h, 0.1, 2) : h);
  });
  x = rmsNorm(x, ones('norm.weight', D), 1e-5);
  const logits = x.matmul(P('lm_head.weight', [D, V], 1 / Math.sqrt(D), 9));
  return { loss: crossEntropy(logits, targets), logits, ids, targets };
}

/** Deterministic token feeds for the tiny model. */
export function tinyFeeds(c: TinyConfig = TINY, seed = 3): { input_ids: Int32Array; targets: Int32Array } {
  const r = new Rng(seed);
  const n = c.batch * c.seq;
  return {
    input_ids: Int32Array.from({ length: n }, () => r.int(0, c.vocab - 1)),
    targets: Int32Array.from({ length: n }, () => r.int(0, c.vocab - 1)),
  };
}
