/**
 * The token batches both sides train on: the same arrays, in the same order, so that the two loss
 * curves can be compared step by step (a check that the benchmark times the same model, not only the
 * same sizes).
 *
 * They come from the synthetic bigram language of src/data/synthetic.ts (each token is followed by a
 * fixed successor 85% of the time), so the loss visibly falls during a benchmark. The data pipeline
 * has its own throughput benchmark (bench/data-throughput.ts); here batches are generated up front,
 * as a prefetching loader would hand them over, and the trainer's batch-provider time is what the
 * breakdown's "data" shows.
 */
import * as fs from 'node:fs';
import type { TokenBatch } from '../src/data/batch';
import { bigramBatches } from '../src/data/synthetic';

/** `count` batches: those of steps 1..count. */
export function makeBatches(count: number, batch: number, seq: number, vocab: number, seed = 1): TokenBatch[] {
  const next = bigramBatches({ vocab, batch, seq, keep: 0.85, seed });
  return Array.from({ length: count }, (_, i) => next(i + 1));
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
