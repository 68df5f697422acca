/**
 * Synthetic batches from a learnable "language": each token is followed by a fixed successor with
 * probability `keep`, else by a uniform random token. A model can learn it, so the loss must fall,
 * and it needs no corpus or tokenizer: the runtime's tests, the benchmark (`npm run bench`, which
 * trains chamlab and PyTorch on the same batches) and the GPU check train on it.
 *
 * A pure function of (seed, step), drawn from the one seeded generator (src/random.ts), so a resumed
 * run or the other side of a benchmark sees exactly the same batches.
 */
import { Rng } from '../random';
import type { TokenBatch } from './batch';

export interface BigramOptions {
  vocab: number;
  batch: number;
  seq: number;
  /** Probability that a token is followed by its successor (default 0.8). */
  keep?: number;
  /** The successor of each token (default (token * 5 + 1) mod vocab). */
  successor?: (token: number) => number;
  /** Selects an independent stream of batches (default 0). */
  seed?: number;
}

/** The batch provider of the bigram language: step -> batch, the same batch for the same step. */
export function bigramBatches(o: BigramOptions): (step: number) => TokenBatch {
  const { vocab: V, batch: B, seq: S } = o;
  const keep = o.keep ?? 0.8;
  const succ = Int32Array.from({ length: V }, (_, t) => (o.successor ? o.successor(t) : (t * 5 + 1) % V));
  const seed = o.seed ?? 0;
  return (step: number): TokenBatch => {
    const rng = Rng.from('bigram', seed, step);
    const input_ids = new Int32Array(B * S);
    const labels = new Int32Array(B * S);
    for (let b = 0; b < B; b++) {
      let tok = rng.int(V);
      for (let s = 0; s < S; s++) {
        const next = rng.next() < keep ? succ[tok] : rng.int(V);
        input_ids[b * S + s] = tok;
        labels[b * S + s] = next;
        tok = next;
      }
    }
    return { input_ids, labels, batch: B, seq: S };
  };
}
