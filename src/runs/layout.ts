/**
 * The run folder: what a run writes, where, and in which format. One definition, read by the run
 * layer that writes it and by everything that reads it (sweeps, reports, generation, notebooks).
 *
 *   <out>/<name>/<hash12>/
 *     spec.yaml          the resolved spec (every default filled), its full hash in the header
 *     graphs/            train_step.onnx, eval.onnx, forward.onnx, manifest.json
 *     tokenizers/        tokenizer.json (BPE, HF format), vq.json (image codebook; absent for text-only)
 *     metrics.jsonl      one MetricsRow per step
 *     eval.jsonl         one EvalRow per evaluation
 *     checkpoints/       step-<8 digits>/ folders, `latest` and `best` pointer files
 *     summary.json       RunSummary
 *     run.log            human-readable log, appended
 *     run.lock           held while a process trains here (pid, host, start time)
 *
 * Numbers in JSON: a non-finite value (a diverged loss) is written as the string "NaN", "Infinity"
 * or "-Infinity" (JSON has no such numbers; JSON.stringify would turn them into null) and read back
 * as the number. Finite numbers round-trip exactly (shortest round-trip decimal), which is what
 * makes "bit for bit" comparable in the files themselves.
 */
import * as path from 'node:path';
import type { SourceSpec } from '../../dsl/schema';

export const RUN_FORMAT = 'chamlab.run/1';
export const CHECKPOINT_FORMAT = 'chamlab.checkpoint/1';

export const RUN_FILES = {
  spec: 'spec.yaml',
  graphs: 'graphs',
  tokenizers: 'tokenizers',
  metrics: 'metrics.jsonl',
  eval: 'eval.jsonl',
  checkpoints: 'checkpoints',
  summary: 'summary.json',
  log: 'run.log',
  lock: 'run.lock',
} as const;

/** Files inside one checkpoint folder. */
export const CHECKPOINT_FILES = {
  /** Parameters under HF Chameleon names (loads as an HF checkpoint together with config.json). */
  model: 'model.safetensors',
  config: 'config.json',
  /** Every other state input of the step graph (adam_m.<p>, adam_v.<p>). */
  optimizer: 'optimizer.safetensors',
  /** CheckpointState: step, data cursor, divergence window, seeds. */
  state: 'state.json',
  /** CheckpointManifest: SHA-256 of every file above; written last, so its presence marks a complete checkpoint. */
  manifest: 'manifest.json',
} as const;

/** Pointer files in checkpoints/: each holds the name of one checkpoint folder and a newline. */
export const LATEST_POINTER = 'latest';
export const BEST_POINTER = 'best';

/** Tokenizer files inside tokenizers/. */
export const TOKENIZER_FILES = { text: 'tokenizer.json', image: 'vq.json' } as const;

/** The folder of a run: `<out>/<name>/<first 12 hex digits of the hash>`. */
export function runFolder(out: string, name: string, hash: string): string {
  return path.join(out, name, hash.slice(0, 12));
}

/** `step-00000100`: zero-padded so that names sort in step order. */
export function checkpointName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

/** The step of a checkpoint folder name, or null when the name is not one. */
export function checkpointStep(name: string): number | null {
  const m = /^step-(\d{8,})$/.exec(name);
  return m ? Number(m[1]) : null;
}

export type RunStatus = 'running' | 'finished' | 'diverged' | 'interrupted' | 'failed';
export type SourceKind = SourceSpec['kind'];

/**
 * One row of metrics.jsonl: the update just made. Besides the fixed fields, every metric tap of the
 * step graph by its output name: `ce`, `z`, `max_abs_logit`, `grad_norm`, `update_ratio`,
 * `layer_rms.<i>`, `max_attn_logit.<i>` (i = 0..layers-1).
 */
export interface MetricsRow {
  /** 1-based update number. */
  step: number;
  /** Training tokens seen after this step (batch x seq_len x step). */
  tokens: number;
  loss: number;
  lr: number;
  /** Data stage that produced this step's batch. */
  stage: string;
  /** Timing (TIMING_FIELDS): this step's tokens over its graph run time. */
  tokens_per_s: number;
  /** Timing: wall time of the graph run, ms. */
  ms: number;
  [metric: string]: number | string;
}

/**
 * Fields that measure time rather than compute results: they differ between two runs of one spec.
 * Everything else in metrics.jsonl and eval.jsonl is bit-identical across interruptions, sweeps and
 * executors on one backend.
 */
export const TIMING_FIELDS = ['tokens_per_s', 'ms'] as const;

/** One held-out evaluation of one data source (dropout off, the same batches every time). */
export interface SourceEval {
  kind: SourceKind;
  loss: number;
  ce: number;
}

/** One row of eval.jsonl. */
export interface EvalRow {
  /** Completed updates when evaluated (0: before the first update). */
  step: number;
  tokens: number;
  /** Held-out loss over the run's overall mixture (loss includes z-loss; ce is the cross-entropy). */
  loss: number;
  ce: number;
  /** Every other metric of the eval graph on the overall mixture (z, max_abs_logit, layer_rms.<i>, ...). */
  metrics: Record<string, number>;
  /** The same loss per data source (held-out documents of that source only), by source name. */
  sources: Record<string, SourceEval>;
  /** Timing: wall time of the whole evaluation, ms. */
  ms: number;
}

export interface DivergenceRecord {
  step: number;
  kind: 'non-finite' | 'loss_above' | 'spike';
  loss: number;
  message: string;
}

/** summary.json: where a run stands. Rewritten atomically on every status change and checkpoint. */
export interface RunSummary {
  format: typeof RUN_FORMAT;
  name: string;
  /** Full hash of the resolved spec. */
  hash: string;
  status: RunStatus;
  /** Why the run is diverged, interrupted or failed (one line); null otherwise. */
  reason: string | null;
  /** Completed updates recorded in metrics.jsonl. */
  step: number;
  /** Planned updates (train.steps). */
  steps: number;
  tokens: number;
  /** The divergence that stopped the run (status diverged), or the first one warned about (action warn). */
  divergence: DivergenceRecord | null;
  /** How many steps raised a divergence warning (action warn). */
  warnings: number;
  final_eval_loss: number | null;
  best_eval_loss: number | null;
  best_eval_step: number | null;
  /** Mean training throughput (tokens over graph time) of the last process that trained. */
  tokens_per_s: number | null;
  /** Wall time spent training in this folder, over every process that did. */
  wall_s: number;
  /** Name of the newest complete checkpoint folder. */
  last_checkpoint: string | null;
  chamlab_version: string;
  /** What ran the graphs, and what the spec asked for. */
  backend: 'cpu' | 'webgpu';
  device: 'cpu' | 'gpu' | 'auto';
  /** Processes that have trained in this folder (1 for an uninterrupted run). */
  attempts: number;
  started_at: string;
  updated_at: string;
}

/** state.json of a checkpoint: everything besides tensors that a resume needs. */
export interface CheckpointState {
  format: typeof CHECKPOINT_FORMAT;
  spec_hash: string;
  /** Completed updates. */
  step: number;
  tokens: number;
  /** The data pipeline's cursor (its stream RNG states and positions); restores the batch sequence. */
  data_cursor: unknown;
  /** The divergence monitor's trailing loss window. */
  loss_window: number[];
  /** train.seed: init, data order and dropout masks (hashed from seed and step inside the graph). */
  seed: number;
  /** Best held-out loss so far and its step, so best-by-eval tracking resumes too. */
  best_eval_loss: number | null;
  best_eval_step: number | null;
  /** Divergence bookkeeping so the summary resumes exactly. */
  divergence: DivergenceRecord | null;
  warnings: number;
}

export interface CheckpointManifest {
  format: typeof CHECKPOINT_FORMAT;
  spec_hash: string;
  step: number;
  files: Record<string, { sha256: string; bytes: number }>;
}

/** JSON text of a value with non-finite numbers written as strings (see the module comment). */
export function toJsonLine(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
}

/** Fields whose values are always strings: a stage or source named "NaN" stays a name. */
const STRING_FIELDS = new Set(['stage', 'name', 'kind', 'message', 'reason', 'status', 'hash', 'spec_hash', 'format']);

/** Parses JSON written by toJsonLine, turning "NaN", "Infinity" and "-Infinity" back into numbers. */
export function fromJsonLine<T = unknown>(text: string): T {
  return JSON.parse(text, (k, v) => {
    if (typeof v !== 'string' || STRING_FIELDS.has(k)) return v;
    return v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v;
  }) as T;
}
