/**
 * The held-out split: a deterministic, evenly spread subset rather than the first documents, so that
 * eval data is not all from one end of an ordered corpus (Moby-Dick's front matter, the 1790s
 * addresses). m = floor(n * fraction) documents, at least one when fraction > 0 and n >= 2, at
 * indices floor((j + 0.5) * n / m).
 */
export function holdoutIndices(n: number, fraction: number): Set<number> {
  let m = Math.floor(n * fraction);
  if (fraction > 0 && n >= 2) m = Math.max(1, m);
  m = Math.min(m, n - 1);
  const out = new Set<number>();
  for (let j = 0; j < m; j++) out.add(Math.floor(((j + 0.5) * n) / m));
  return out;
}

/** Splits items into [train, holdout] preserving order. */
export function splitHoldout<T>(items: T[], fraction: number): [T[], T[]] {
  const held = holdoutIndices(items.length, fraction);
  const train: T[] = [];
  const hold: T[] = [];
  items.forEach((it, i) => (held.has(i) ? hold : train).push(it));
  return [train, hold];
}
