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
 * start from the same point. The generator is xoshiro128** with splitmix32 seeding and Box-Muller
 * normals; no Math.random anywhere.
 */
import type { ModelDims } from './config';
import { numel, paramTable, type ParamInfo } from './params';
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

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** xoshiro128**: a small, well-tested 32-bit generator (Blackman and Vigna). */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | null = null;

  constructor(seed: number) {
    const st = { s: seed | 0 };
    this.a = splitmix32(st);
    this.b = splitmix32(st);
    this.c = splitmix32(st);
    this.d = splitmix32(st);
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform in (0, 1): 53 random bits, never exactly 0 (log in Box-Muller). */
  uniform(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo + 0.5) / 9007199254740992;
  }

  /** Standard normal by Box-Muller, both values of each pair used. */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniform()));
    const t = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(t);
    return r * Math.cos(t);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** The standard deviation of a parameter's normal init, or null for constant-initialized ones. */
export function initStd(p: ParamInfo, m: ModelDims): number | null {
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
export function initParam(p: ParamInfo, m: ModelDims, seed: number): Float32Array {
  const out = new Float32Array(numel(p.shape));
  if (p.role === 'gain') return out.fill(1);
  if (p.role === 'bias') return out;
  const std = initStd(p, m)!;
  const rng = new Rng(hashName(seed, p.name));
  for (let i = 0; i < out.length; i++) out[i] = std * rng.normal();
  return out;
}

/** Every parameter, in the table's order. Allocates the whole model: meant for models that fit in memory. */
export function initWeights(m: ModelDims, seed: number): Weights {
  const w: Weights = new Map();
  for (const p of paramTable(m)) w.set(p.name, initParam(p, m, seed));
  return w;
}
