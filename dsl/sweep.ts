/**
 * Sweep expansion: a spec with `sweep` -> member specs, each resolved on its own and hashed.
 *
 * Members are the product grid x zip x random x seeds, in this deterministic order:
 * - grid: keys in sorted order, the last key varying fastest (sorted, not as written, so that two files
 *   with the same canonical spec plan the same members in the same order);
 * - zip: index i takes the i-th value of every zipped list;
 * - random: `n` samples drawn once from the sweep's own seed (mulberry32, see `prng`), the same samples
 *   at every grid point, so grid cells are compared on common random numbers. Floats are rounded to 10
 *   significant digits so that libm differences between machines cannot change a member's hash;
 * - seeds: `n` replicates set train.seed to base + 0..n-1, or an explicit list sets it to each value.
 *
 * Each member is the unresolved tree with its values set, then resolved, so expressions that depend on
 * a swept field (`final_lr: "=optimizer.lr / 10"`) are recomputed per member, and a bad value is reported
 * at the position where it was written in the sweep. Members carry no `sweep`.
 */
import { UserError, UserErrors } from './errors';
import { fromPlain, getNode, setNode, toPlain, withoutKey, type LNode, type Loc } from './located';
import { parsePath } from './load';
import { resolveTree, type ResolveContext } from './resolve';
import type { Spec } from './schema';

export interface SweepMember {
  hash: string;
  /** Dotted path -> the value this member sets (as written, so an expression stays an expression). */
  overrides: Record<string, unknown>;
  spec: Spec;
}

/** What expandSweep needs: a resolved spec, ideally with the tree and context it came from. */
export interface SweepSource {
  spec: Spec;
  /** The unresolved tree (loadSpec keeps it); without it the resolved spec stands in for it. */
  tree?: LNode;
  context?: ResolveContext;
}

interface Assignment {
  path: string;
  node: LNode;
}

export function expandSweep(source: SweepSource): SweepMember[] {
  const virtual: Loc = { file: '<spec>', line: 1, col: 1 };
  const tree = source.tree ?? fromPlain(source.spec, virtual);
  const ctx = source.context ?? { file: '<spec>', root: process.cwd() };
  const base = withoutKey(tree, 'sweep');
  const sw = source.spec.sweep;
  if (!sw) return [member(base, [], ctx, 0)];

  const nodeAt = (p: (string | number)[], value: unknown): LNode => {
    const n = getNode(tree, p);
    return n ?? fromPlain(value, locOf(tree, p.slice(0, -1)) ?? virtual);
  };
  const axes: Assignment[][][] = [];

  for (const key of Object.keys(sw.grid).sort()) {
    axes.push(sw.grid[key].map((v, i) => [{ path: key, node: nodeAt(['sweep', 'grid', key, i], v) }]));
  }
  const zipKeys = Object.keys(sw.zip).sort();
  if (zipKeys.length) {
    const n = sw.zip[zipKeys[0]].length;
    axes.push(Array.from({ length: n }, (_, i) => zipKeys.map((k) => ({ path: k, node: nodeAt(['sweep', 'zip', k, i], sw.zip[k][i]) }))));
  }
  if (sw.random) {
    const rand = prng(sw.random.seed);
    const keys = Object.keys(sw.random.params).sort();
    const samples: Assignment[][] = [];
    for (let s = 0; s < sw.random.n; s++) {
      samples.push(
        keys.map((k) => {
          const loc = locOf(tree, ['sweep', 'random', 'params', k]) ?? virtual;
          return { path: k, node: fromPlain(sample(sw.random!.params[k], rand), loc) };
        }),
      );
    }
    axes.push(samples);
  }
  const seedLoc = locOf(tree, ['sweep', 'seeds']) ?? virtual;
  const seeds = typeof sw.seeds === 'number' ? Array.from({ length: sw.seeds }, (_, i) => source.spec.train.seed + i) : sw.seeds;
  if (typeof sw.seeds !== 'number' || sw.seeds > 1) {
    axes.push(seeds.map((s) => [{ path: 'train.seed', node: fromPlain(s, seedLoc) }]));
  }

  const members: SweepMember[] = [];
  const errors: UserError[] = [];
  let index = 0;
  for (const combo of product(axes)) {
    try {
      // The member's position in the plan (a member with two bad fields reports both under one index).
      members.push(member(base, combo.flat(), ctx, index++));
    } catch (e) {
      if (e instanceof UserErrors) errors.push(...e.errors);
      else if (e instanceof UserError) errors.push(e);
      else throw e;
      if (errors.length >= 20) break;
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new UserErrors(errors);
  return members;
}

function member(base: LNode, assignments: Assignment[], ctx: ResolveContext, index: number): SweepMember {
  let tree = base;
  const overrides: Record<string, unknown> = {};
  for (const a of assignments) {
    const next = setNode(tree, parsePath(a.path), a.node);
    if (typeof next === 'string') throw new UserError(`sweep: cannot set '${a.path}': ${next}`, `${a.node.loc.file}:${a.node.loc.line}:${a.node.loc.col}`);
    tree = next;
    overrides[a.path] = toPlain(a.node).value;
  }
  try {
    const { spec, hash } = resolveTree(tree, ctx);
    return { hash, overrides, spec };
  } catch (e) {
    const label = `sweep member ${index} (${Object.entries(overrides).map(([k, v]) => `${k}=${short(v)}`).join(', ')})`;
    const wrap = (u: UserError) => new UserError(`${label}: ${u.where ? u.message.slice(u.where.length + 2) : u.message}`, u.where);
    if (e instanceof UserErrors) throw new UserErrors(e.errors.map(wrap));
    if (e instanceof UserError) throw wrap(e);
    throw e;
  }
}

function short(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 30 ? s.slice(0, 27) + '...' : s;
}

function locOf(tree: LNode, p: (string | number)[]): Loc | undefined {
  return getNode(tree, p)?.loc;
}

function* product<T>(axes: T[][]): Generator<T[]> {
  if (axes.length === 0) {
    yield [];
    return;
  }
  const idx = axes.map(() => 0);
  if (axes.some((a) => a.length === 0)) return;
  for (;;) {
    yield idx.map((i, k) => axes[k][i]);
    let k = axes.length - 1;
    while (k >= 0 && ++idx[k] === axes[k].length) idx[k--] = 0;
    if (k < 0) return;
  }
}

type RandomParam = NonNullable<Spec['sweep']>['random'] extends infer R ? (R extends { params: Record<string, infer P> } ? P : never) : never;

function sample(param: RandomParam, rand: () => number): unknown {
  const u = rand();
  if ('uniform' in param) return round10(param.uniform[0] + u * (param.uniform[1] - param.uniform[0]));
  if ('log_uniform' in param) {
    const [lo, hi] = param.log_uniform;
    return round10(Math.exp(Math.log(lo) + u * (Math.log(hi) - Math.log(lo))));
  }
  if ('int' in param) return param.int[0] + Math.floor(u * (param.int[1] - param.int[0] + 1));
  return param.choice[Math.floor(u * param.choice.length)];
}

function round10(x: number): number {
  return Number(x.toPrecision(10));
}

/**
 * mulberry32: a small, fast 32-bit PRNG with good statistical quality for sampling hyperparameters,
 * fully determined by its seed and identical on every platform (integer arithmetic only). The seed is
 * first mixed (splitmix-style) so that seeds 0, 1, 2 give unrelated streams.
 */
export function prng(seed: number): () => number {
  let h = (Math.floor(seed) ^ Math.floor(seed / 2 ** 32)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  let a = (h ^ (h >>> 16)) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
