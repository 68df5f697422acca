/**
 * Seeded randomness for the data pipeline. Everything random here (k-means++ seeding, shuffles,
 * image-first rotation, tie-breaking) draws from these generators, never from Math.random, so a seed
 * fixes every batch. A generator's whole state is four uint32s, which is what makes the pipeline's
 * cursor a small JSON object.
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

/** A random permutation of 0..n-1 fixed by the seed parts. */
export function permutation(n: number, ...seed: Array<string | number>): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  Rng.from(...seed).shuffle(p);
  return p;
}

/** Hex SHA-256 of a string or bytes: cache keys and fingerprints. */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
