/**
 * Dropout whose mask is a pure function of (seed, step, salt, flat element index), computed inside the
 * graph. ORT's own random nodes are seeded per session and advance per run, so a resumed run would
 * draw different masks; this one replays exactly in any fresh session and on any device.
 *
 * The hash may only use int32 Add, Sub, Mul (wrapping modulo 2^32) and Div: opset 17 has no bitwise
 * And/Xor/shift on int32, and int32 Mod falls back to the CPU under WebGPU. With Add and Mul alone every
 * mixing step is (nearly) affine modulo 2^32, so the usual xorshift-multiply finalizers degrade into
 * visibly correlated masks (measured: masks of consecutive steps agreed far more often than chance).
 * The nonlinearity therefore comes from squaring, as in Widynski's counter-based "Squares" generator:
 *   y = ctr * key,  z = y + key,  x = swap(y*y + y),  x = swap(x*x + z),  out = x*x + y
 * where swap exchanges the 16-bit halves (hi = trunc(x / 2^16), lo = x - hi * 2^16, lo * 2^16 + hi).
 * The key is the same construction applied to the scalars (seed, step, salt), made odd. An element is
 * kept when `out` (a uniform int32) is at least -2^31 + p * 2^32: no float conversion is involved, so
 * CPU and GPU masks are bit-identical. `dropoutMaskReference` runs the same code on JS numbers, and
 * test/graph-dropout.test.ts checks keep rates, independence across steps, seeds, salts and neighbours,
 * and bit-exact agreement between graph and reference.
 */
import { GraphError, type Tensor, numel } from './ir';
import { where } from './ops';

const C_SEED = 0x9e3779b1 | 0;
const C_STEP = 0x85ebca77 | 0;
const C_SALT = 0xc2b2ae3d | 0;

/** int32 arithmetic with wraparound, on graph tensors or on JS numbers: one hash, two backends. */
interface Int32Ops<T> {
  add(a: T, b: T | number): T;
  sub(a: T, b: T): T;
  mul(a: T, b: T | number): T;
  /** Truncating division by a positive constant. */
  div(a: T, d: number): T;
}

const numOps: Int32Ops<number> = {
  add: (a, b) => (a + b) | 0,
  sub: (a, b) => (a - b) | 0,
  mul: (a, b) => Math.imul(a, b),
  div: (a, d) => Math.trunc(a / d) | 0,
};

const tensorOps: Int32Ops<Tensor> = {
  add: (a, b) => a.add(b),
  sub: (a, b) => a.sub(b),
  mul: (a, b) => a.mul(b),
  div: (a, d) => a.div(d),
};

/** Exchanges the 16-bit halves (a rotation for non-negative values; a bijection-like mix otherwise). */
function swapHalves<T>(o: Int32Ops<T>, x: T): T {
  const hi = o.div(x, 65536);
  const lo = o.sub(x, o.mul(hi, 65536));
  return o.add(o.mul(lo, 65536), hi);
}

/** The Squares-style counter hash: two squaring rounds and a final square. */
function squares<T>(o: Int32Ops<T>, ctr: T, key: T | number): T {
  const y = o.mul(ctr, key);
  const z = o.add(y, key);
  let x = swapHalves(o, o.add(o.mul(y, y), y));
  x = swapHalves(o, o.add(o.mul(x, x), z));
  return o.add(o.mul(x, x), y);
}

/** The per-(seed, step, salt) key: an odd int32. */
function dropoutKey<T>(o: Int32Ops<T>, seed: T, step: T, salt: number, one: T): T {
  const k0 = o.add(o.add(o.mul(seed, C_SEED), o.mul(step, C_STEP)), Math.imul(salt, C_SALT));
  const k = squares(o, one, o.add(o.mul(k0, 2), 1));
  return o.add(o.mul(k, 2), 1);
}

export interface DropoutOptions {
  /** int32 scalar tensor: the run's seed (a graph input). */
  seed: Tensor;
  /** int32 scalar tensor: the step number (a graph input), so masks change every step. */
  step: Tensor;
  /** A different integer per dropout site (layer and position in the block), so sites differ. */
  salt: number;
  /**
   * Largest element counter (default 2^31, the int32 range). A tensor with more elements hashes the
   * index over its trailing axes only and folds the index over the leading axes into the key.
   * Exposed so tests can exercise that path on small tensors.
   */
  counterLimit?: number;
}

/** Keep threshold for drop probability p: keep iff hash >= threshold. */
export function dropoutThreshold(p: number): number {
  return Math.min(2 ** 31 - 1, Math.round(-(2 ** 31) + p * 2 ** 32));
}

/**
 * Where the counter splits: the first axis k with prod(shape[k:]) < limit. k = 0 (the whole flat
 * index, one key) for every tensor below the limit.
 */
function counterSplit(shape: readonly number[], limit: number): number {
  let k = 0;
  while (k < shape.length && numel(shape.slice(k)) >= limit) k++;
  if (k === shape.length || numel(shape.slice(0, k)) >= 2 ** 31)
    throw new GraphError(`dropout: shape [${shape}] cannot be indexed with int32 counters`);
  return k;
}

/** Inverted dropout: elements are zeroed with probability p and the rest scaled by 1/(1-p). */
export function dropout(x: Tensor, p: number, opts: DropoutOptions): Tensor {
  if (!(p >= 0 && p < 1)) throw new GraphError(`dropout: p must be in [0, 1), got ${p}`);
  if (p === 0) return x;
  const g = x.graph;
  for (const [k, t] of [['seed', opts.seed], ['step', opts.step]] as const)
    if (t.dtype !== 'int32' || t.rank !== 0) throw new GraphError(`dropout: ${k} must be an int32 scalar, got ${t.dtype}[${t.shape}]`);
  if (!Number.isInteger(opts.salt)) throw new GraphError(`dropout: salt must be an integer, got ${opts.salt}`);
  if (!x.shape.every((d) => typeof d === 'number')) throw new GraphError(`dropout: needs a static shape, got [${x.shape}]`);
  const shape = x.shape as number[];
  const k = counterSplit(shape, opts.counterLimit ?? 2 ** 31);
  return g.scope(`dropout_${opts.salt}`, () => {
    let key = dropoutKey(tensorOps, opts.seed, opts.step, opts.salt, g.scalar(1, 'int32'));
    if (k > 0) {
      // one key per leading index, broadcast over the trailing axes
      const lead = g.apply('Iota', [], { shape: shape.map((d, i) => (i < k ? d : 1)) });
      key = tensorOps.add(tensorOps.mul(squares(tensorOps, lead, key), 2), 1);
    }
    const idx = g.apply('Iota', [], { shape: shape.map((d, i) => (i < k ? 1 : d)) });
    // p > 0, so the threshold is above INT32_MIN and `>= t` is `> t - 1`
    const keep = squares(tensorOps, idx, key).gt(dropoutThreshold(p) - 1);
    return x.mul(where(keep, g.scalar(1 / (1 - p), x.dtype), 0));
  });
}

/**
 * The keep mask (1 = kept, row-major) that `dropout` computes for a tensor of `shape` (or `n` flat
 * elements), in TypeScript.
 */
export function dropoutMaskReference(
  shape: number | number[],
  p: number,
  seed: number,
  step: number,
  salt: number,
  counterLimit = 2 ** 31,
): Uint8Array {
  const dims = typeof shape === 'number' ? [shape] : shape;
  const k = counterSplit(dims, counterLimit);
  const inner = numel(dims.slice(k));
  const outer = numel(dims.slice(0, k));
  const key = dropoutKey(numOps, seed | 0, step | 0, salt, 1);
  const t = dropoutThreshold(p);
  const out = new Uint8Array(inner * outer);
  for (let o = 0; o < outer; o++) {
    const kb = k > 0 ? numOps.add(numOps.mul(squares(numOps, o, key), 2), 1) : key;
    for (let i = 0; i < inner; i++) out[o * inner + i] = squares(numOps, i, kb) >= t ? 1 : 0;
  }
  return out;
}
