/**
 * Seeded randomness for the data pipeline. Everything random here (k-means++ seeding, shuffles,
 * image-first rotation, tie-breaking) draws from these generators, never from Math.random, so a seed
 * fixes every batch. A generator's whole state is four uint32s, which is what makes the pipeline's
 * cursor a small JSON object.
 */
import { createHash } from 'node:crypto';
import { Rng, seedWords } from '../random';

export { Rng, seedWords };

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
