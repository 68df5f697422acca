/**
 * A batch of token sequences, `batch` x `seq`, row-major: what the data pipeline produces, what
 * `chamlab grad` reads from a JSON file, and what the runtime feeds a step graph. One definition for
 * all three; the runtime, the synthetic batches and `chamlab grad` need only its arrays (`TokenBatch`).
 */
export interface Batch {
  /** batch * seq token ids, row-major. */
  input_ids: Int32Array;
  /** batch * seq next-token targets; -100 where the loss ignores the position (padding). */
  labels: Int32Array;
  batch: number;
  seq: number;
  /** The step this batch is for, and the data stage that produced it. */
  step: number;
  stage: string;
  /** Further graph inputs by name (a loss mask, modality ids), shaped like input_ids. */
  extra?: Record<string, Int32Array | Float32Array>;
}

/** The arrays of a batch and their sizes: what a step graph reads. */
export type TokenBatch = Pick<Batch, 'input_ids' | 'labels' | 'batch' | 'seq' | 'extra'>;
