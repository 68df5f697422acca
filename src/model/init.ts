/**
 * Seeded, deterministic initialization from the spec (`model.init`).
 *
 * - normal:        every matrix (embedding, q/k/v/o, gate/up/down, lm_head) ~ N(0, std^2).
 * - scaled_normal: the same, except the projections that write into the residual stream (o_proj,
 *                  down_proj) get std / sqrt(2 * layers) (GPT-2): 2 * layers of them add up in the
 *                  residual, so this keeps its variance at initialization independent of depth.
 * - RMSNorm gains = 1; QK-Norm weight = 1, bias = 0 (LayerNorm starts as plain standardization).
 *
 * Each parameter draws from its own stream, seeded by (seed, parameter name): adding a layer or
 * toggling QK-Norm leaves every other parameter's initial values unchanged, which makes ablations
 * start from the same point. The generator is src/random.ts's xoshiro128** with splitmix32 seeding
 * and Box-Muller normals; no Math.random anywhere.
 */
import { Rng } from '../random';
import type { ModelDims } from './config';
import { numel } from '../graph/ir';
import { paramTable, type ParamEntry } from './params';
import type { Weights } from './weights';

/** FNV-1a over the UTF-8 bytes of `s`, then mixed with the seed. */
function hashName(seed: number, s: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The standard deviation of a parameter's normal init, or null for constant-initialized ones. */
export function initStd(p: ParamEntry, m: ModelDims): number | null {
  switch (p.role) {
    case 'gain':
    case 'bias':
      return null;
    case 'output_proj':
      return m.init.scheme === 'scaled_normal' ? m.init.std / Math.sqrt(2 * m.layers) : m.init.std;
    case 'embedding':
    case 'matrix':
      return m.init.std;
  }
}

/** One parameter's initial values. */
export function initParam(p: ParamEntry, m: ModelDims, seed: number): Float32Array {
  const out = new Float32Array(numel(p.shape));
  if (p.role === 'gain') return out.fill(1);
  if (p.role === 'bias') return out;
  const std = initStd(p, m)!;
  const rng = Rng.fromSeed(hashName(seed, p.name));
  for (let i = 0; i < out.length; i++) out[i] = std * rng.normal();
  return out;
}

/**
 * Initial weights are built in memory as float32: a model beyond this (4 G parameters) is refused by
 * the commands that build them (init, compile without --shapes-only) before anything is allocated.
 */
export const MAX_WEIGHTS_IN_MEMORY_BYTES = 2 ** 34;

/** Every parameter, in the table's order. Allocates the whole model: meant for models that fit in memory. */
export function initWeights(m: ModelDims, seed: number): Weights {
  const w: Weights = new Map();
  for (const p of paramTable(m)) w.set(p.name, initParam(p, m, seed));
  return w;
}

export { Rng };
