/**
 * Trains a byte-level BPE from text, the standard algorithm (Sennrich et al.; GPT-2's byte variant):
 * count pre-tokenized words once, then repeatedly merge the most frequent adjacent pair, updating only
 * the words that contain it. A max-heap with lazy invalidation finds the best pair, so the cost is in
 * the words touched, not in the number of distinct pairs; this is what makes the builtin corpora
 * (~12M characters) train in seconds.
 *
 * Determinism: ties between equally frequent pairs go to the smaller (left id, right id), and the
 * word list is sorted, so the same corpus always gives the same merges.
 */
import { PRETOKENIZE_PATTERN, bytesToTokenString } from './bytelevel';
import { BpeTokenizer, baseTokens, pairKey, type Merge } from './bpe';
import { NUM_SPECIALS, type SpecialRole } from './vocab';

export interface BpeTrainOptions {
  /** Total text ids including the 5 specials and 256 byte tokens (spec.model.vocab.text). */
  vocabSize: number;
  /** Pairs seen fewer times than this are never merged (HF's min_frequency). */
  minFrequency: number;
  specials: Record<SpecialRole, string>;
  /** Called now and then with (merges done, merges wanted). */
  onProgress?: (done: number, total: number) => void;
}

/** Counts of pre-tokenized words; feed texts one at a time so a large corpus never becomes one string. */
export class WordCounter {
  readonly counts = new Map<string, number>();
  add(text: string): void {
    for (const w of text.match(PRETOKENIZE_PATTERN) ?? []) this.counts.set(w, (this.counts.get(w) ?? 0) + 1);
  }
}

export function trainBpe(words: WordCounter, opts: BpeTrainOptions): BpeTokenizer {
  const tokens = baseTokens(opts.specials);
  const wanted = Math.max(0, opts.vocabSize - tokens.length);
  const enc = new TextEncoder();
  const sorted = [...words.counts.keys()].sort();
  const seqs: Int32Array[] = [];
  const freq: number[] = [];
  for (const w of sorted) {
    const bytes = enc.encode(w);
    const ids = new Int32Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) ids[i] = NUM_SPECIALS + bytes[i];
    seqs.push(ids);
    freq.push(words.counts.get(w)!);
  }
  const lens = seqs.map((s) => s.length);

  const count = new Map<number, number>();
  const where = new Map<number, Set<number>>();
  const heap = new PairHeap();
  const bump = (key: number, w: number, by: number) => {
    const c = (count.get(key) ?? 0) + by;
    count.set(key, c);
    if (by > 0) {
      let s = where.get(key);
      if (!s) where.set(key, (s = new Set()));
      s.add(w);
    }
    if (c > 0) heap.push(c, key);
  };
  for (let w = 0; w < seqs.length; w++) {
    const s = seqs[w];
    for (let i = 0; i + 1 < s.length; i++) bump(pairKey(s[i], s[i + 1]), w, freq[w]);
  }

  const merges: Merge[] = [];
  const bytesOf: Uint8Array[] = tokens.map((_, id) => (id < NUM_SPECIALS ? new Uint8Array(0) : Uint8Array.of(id - NUM_SPECIALS)));
  while (merges.length < wanted) {
    const top = heap.popValid(count);
    if (!top || top.count < opts.minFrequency) break;
    const left = Math.floor(top.key / 16777216);
    const right = top.key % 16777216;
    const result = tokens.length;
    const bytes = new Uint8Array(bytesOf[left].length + bytesOf[right].length);
    bytes.set(bytesOf[left]);
    bytes.set(bytesOf[right], bytesOf[left].length);
    bytesOf.push(bytes);
    tokens.push(bytesToTokenString(bytes));
    merges.push({ left, right, result });

    // Word indices sorted so the update order (and the heap's pushes) never depend on Set order.
    const affected = [...(where.get(top.key) ?? [])].sort((a, b) => a - b);
    where.delete(top.key);
    for (const w of affected) {
      const s = seqs[w];
      const n = lens[w];
      const f = freq[w];
      let found = false;
      for (let i = 0; i + 1 < n; i++) if (s[i] === left && s[i + 1] === right) found = true;
      if (!found) continue; // stale entry: an earlier merge already consumed this pair here
      for (let i = 0; i + 1 < n; i++) bump(pairKey(s[i], s[i + 1]), w, -f);
      let o = 0;
      for (let i = 0; i < n; i++) {
        if (i + 1 < n && s[i] === left && s[i + 1] === right) {
          s[o++] = result;
          i++;
        } else s[o++] = s[i];
      }
      lens[w] = o;
      for (let i = 0; i + 1 < o; i++) bump(pairKey(s[i], s[i + 1]), w, f);
    }
    count.delete(top.key);
    if (opts.onProgress && merges.length % 64 === 0) opts.onProgress(merges.length, wanted);
  }
  opts.onProgress?.(merges.length, wanted);
  return new BpeTokenizer(tokens, merges, opts.specials);
}

/** Max-heap of (count, pair key): larger count first, then smaller key. Entries go stale; popValid skips them. */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  push(count: number, key: number): void {
    const c = this.counts;
    const k = this.keys;
    let i = c.length;
    c.push(count);
    k.push(key);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!better(c[i], k[i], c[p], k[p])) break;
      swap(c, k, i, p);
      i = p;
    }
  }

  popValid(current: Map<number, number>): { count: number; key: number } | undefined {
    while (this.counts.length > 0) {
      const count = this.counts[0];
      const key = this.keys[0];
      this.pop();
      if (current.get(key) === count) return { count, key };
    }
    return undefined;
  }

  private pop(): void {
    const c = this.counts;
    const k = this.keys;
    const lastC = c.pop()!;
    const lastK = k.pop()!;
    if (c.length === 0) return;
    c[0] = lastC;
    k[0] = lastK;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < c.length && better(c[l], k[l], c[m], k[m])) m = l;
      if (r < c.length && better(c[r], k[r], c[m], k[m])) m = r;
      if (m === i) break;
      swap(c, k, i, m);
      i = m;
    }
  }
}

function better(ca: number, ka: number, cb: number, kb: number): boolean {
  return ca > cb || (ca === cb && ka < kb);
}

function swap(c: number[], k: number[], i: number, j: number): void {
  const tc = c[i];
  c[i] = c[j];
  c[j] = tc;
  const tk = k[i];
  k[i] = k[j];
  k[j] = tk;
}
