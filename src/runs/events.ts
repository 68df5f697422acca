/**
 * What `runExperiment` tells its listeners while it works. One loop, many listeners: the terminal
 * progress bar, a sweep's progress and a notebook's live chart all consume these same events.
 */
import type { CheckpointState, EvalRow, MetricsRow, RunStatus, RunSummary } from './layout';

export interface RunInfo {
  dir: string;
  name: string;
  hash: string;
  /** Planned updates. */
  steps: number;
  /** Updates already done when this process started (resume), 0 for a fresh run. */
  startStep: number;
  /** Tokens per update (batch x seq_len). */
  tokensPerStep: number;
  /** train.log_every: how often a plain log line is due. */
  logEvery: number;
  backend: 'cpu' | 'webgpu';
  /** Why this backend (device 'auto' says which it chose and why). */
  backendReason: string;
}

export type RunEvent =
  /** Set-up work before the first step (tokenizers, graphs, data), with progress where it is known. */
  | { type: 'phase'; phase: string; done?: number; total?: number }
  | { type: 'start'; run: RunInfo }
  | { type: 'step'; row: MetricsRow }
  | { type: 'eval'; row: EvalRow }
  | { type: 'checkpoint'; step: number; dir: string; ms: number; state: Pick<CheckpointState, 'step' | 'tokens'> }
  | { type: 'status'; status: RunStatus; summary: RunSummary }
  | { type: 'log'; level: 'info' | 'warn'; message: string };

export type RunListener = (e: RunEvent) => void;
