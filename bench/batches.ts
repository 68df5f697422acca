/**
 * The token batches both sides train on: the same arrays, in the same order, so that the two loss
 * curves can be compared step by step (a check that the benchmark times the same model, not only the
 * same sizes).
 *
 * A small learnable "language" (each token is followed by a fixed successor 85% of the time), so the
 * loss visibly falls during a benchmark. The data pipeline (src/data) has its own throughput
 * benchmark (bench/data-throughput.ts); here batches are generated up front, as a prefetching loader
 * would hand them over, and the trainer's batch-provider time is what the breakdown's "data" shows.
 */
import * as fs from 'node:fs';

export interface TokenBatch {
  input_ids: Int32Array;
  labels: Int32Array;
  batch: number;
  seq: number;
}

/** Park-Miller style LCG in [0, 1): deterministic and independent of Math.random. */
function lcg(seed: number): () => number {
  let s = (seed % 2147483647) || 1;
  return () => {
    s = (s * 48271) % 2147483647;
    return (s - 1) / 2147483646;
  };
}

export function makeBatches(count: number, batch: number, seq: number, vocab: number, seed = 1): TokenBatch[] {
  const succ = Array.from({ length: vocab }, (_, i) => (i * 5 + 1) % vocab);
  const out: TokenBatch[] = [];
  for (let step = 0; step < count; step++) {
    const rnd = lcg(seed * 1_000_003 + step + 1);
    const ids = new Int32Array(batch * seq);
    const labels = new Int32Array(batch * seq);
    for (let b = 0; b < batch; b++) {
      let tok = Math.floor(rnd() * vocab);
      for (let s = 0; s < seq; s++) {
        const next = rnd() < 0.85 ? succ[tok] : Math.floor(rnd() * vocab);
        ids[b * seq + s] = tok;
        labels[b * seq + s] = next;
        tok = next;
      }
    }
    out.push({ input_ids: ids, labels, batch, seq });
  }
  return out;
}

/** Writes batches as little-endian int32 [count, 2 (ids, labels), batch, seq] for the PyTorch worker. */
export function writeBatches(file: string, batches: readonly TokenBatch[]): void {
  const fd = fs.openSync(file, 'w');
  try {
    for (const b of batches) {
      for (const a of [b.input_ids, b.labels]) fs.writeSync(fd, new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    }
  } finally {
    fs.closeSync(fd);
  }
}
