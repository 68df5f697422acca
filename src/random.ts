/**
 * The one seeded generator of chamlab's host-side randomness (data mixing and shuffles, k-means++,
 * model initialization). Never Math.random: a seed fixes every batch and every initial weight, and a
 * generator's whole state is four uint32s, which keeps the data cursor a small JSON object.
 */
import { createHash } from 'node:crypto';

/** xoshiro128** (Blackman and Vigna): fast, 2^128-1 period, state serializable as four numbers. */
export class Rng {
  private s: Uint32Array;

  constructor(state: ArrayLike<number>) {
    if (state.length !== 4) throw new Error('Rng state must be four uint32s');
    this.s = Uint32Array.from(state);
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1; // all-zero is a fixed point
  }

  /** A generator whose state derives from any list of seed parts (numbers and strings). */
  static from(...parts: Array<string | number>): Rng {
    return new Rng(seedWords(parts));
  }

  /**
   * A generator from one 32-bit seed, expanded by splitmix32 (model init seeds one stream per
   * parameter from a hash of its name).
   */
  static fromSeed(seed: number): Rng {
    const st = { s: seed | 0 };
    return new Rng([splitmix32(st), splitmix32(st), splitmix32(st), splitmix32(st)]);
  }

  /** The four state words (a pending Box-Muller spare from normal() is not part of it). */
  state(): number[] {
    return Array.from(this.s);
  }

  /** Uniform uint32. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform in (0, 1) with 53 random bits, never exactly 0 (a log in Box-Muller). */
  uniform53(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo + 0.5) / 9007199254740992;
  }

  private spare: number | null = null;

  /** Standard normal by Box-Muller, both values of each pair used. */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniform53()));
    const t = 2 * Math.PI * this.uniform53();
    this.spare = r * Math.sin(t);
    return r * Math.cos(t);
  }

  /** Uniform integer in [0, n), unbiased (rejection sampling). */
  int(n: number): number {
    if (!(n >= 1 && n <= 4294967296)) throw new Error(`Rng.int: bad range ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    let x = this.nextU32();
    while (x >= limit) x = this.nextU32();
    return x % n;
  }

  /** Fisher-Yates in place. */
  shuffle<T>(a: T[] | Int32Array | Uint32Array): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Four uint32 seed words from a SHA-256 of the parts: distinct part lists give independent streams. */
export function seedWords(parts: Array<string | number>): number[] {
  const h = createHash('sha256').update(JSON.stringify(parts)).digest();
  return [h.readUInt32LE(0), h.readUInt32LE(4), h.readUInt32LE(8), h.readUInt32LE(12)];
}

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}
