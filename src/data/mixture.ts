/**
 * Choosing which source the next document comes from, so that realized token shares track the
 * declared ones. Deficit sampling: each source is owed w_s * T tokens after T tokens in total; the
 * next document comes from the source most in deficit (w_s * T - t_s). The realized share of every
 * source then stays within one document's length of its target at all times, instead of drifting
 * like independent draws would (with ~100-token documents, i.i.d. draws miss a 30% share by about
 * 1.5 points over 100k tokens; deficit sampling by under 0.2). Exact ties (at the start of a stage)
 * are broken with the seeded generator.
 *
 * Image-first rotation uses the same idea, softened to keep each decision random: a pair is
 * image-first with probability p + (p * n - f) / 2 (clamped to [0, 1]) after n pairs of which f were
 * image-first. The expectation is p, the count never strays far from p * n, and a model cannot learn
 * a fixed alternation.
 */
import type { Rng } from './prng';

export function chooseSource(weights: Array<[string, number]>, drawn: Record<string, number>, rng: Rng): string {
  let total = 0;
  for (const [n] of weights) total += drawn[n] ?? 0;
  let best = -Infinity;
  let ties: string[] = [];
  for (const [n, w] of weights) {
    const deficit = w * total - (drawn[n] ?? 0);
    if (deficit > best + 1e-9) {
      best = deficit;
      ties = [n];
    } else if (Math.abs(deficit - best) <= 1e-9) ties.push(n);
  }
  return ties.length === 1 ? ties[0] : ties[rng.int(ties.length)];
}

export function imageFirstDraw(p: number, pairs: number, imageFirst: number, rng: Rng): boolean {
  const q = Math.min(1, Math.max(0, p + (p * pairs - imageFirst) / 2));
  return rng.next() < q;
}
