/**
 * What `runSweep` tells its listeners. Each member's own run events come through unchanged (wrapped
 * with the member's index), so a listener written for `runExperiment` (a live chart, a progress bar)
 * works per member; the rest is about the sweep as a whole.
 */
import type { RunEvent } from '../runs/events';
import type { SweepMemberRecord, SweepState } from './layout';

export interface SweepProgress {
  total: number;
  /** Finished or diverged (both are results). */
  done: number;
  running: number;
  failed: number;
  /** Stopped before the end (Ctrl-C, SIGTERM, a killed worker): rerun by the next invocation. */
  interrupted: number;
  /** Not started, or queued in Slurm. */
  pending: number;
  /** Training tokens done and planned over the members that can still progress or have finished. */
  tokens_done: number;
  tokens_total: number;
  /** Aggregate training throughput of this invocation: tokens trained per wall-clock second. */
  tokens_per_s: number | null;
  /** Seconds until the members still to train are done at that rate; null until it is measured. */
  eta_s: number | null;
  elapsed_s: number;
}

export type SweepEvent =
  /** The plan: the sweep folder, every member, and which of them this invocation will train. */
  | { type: 'plan'; dir: string; state: SweepState; todo: number[]; executor: 'local' | 'slurm' }
  /** A member's worker began (local), or its array task was seen running (Slurm). */
  | { type: 'member-start'; index: number; record: SweepMemberRecord }
  /** Any event of member `index`'s run, exactly as runExperiment emitted it. */
  | { type: 'member'; index: number; event: RunEvent }
  /** A member stopped: finished, diverged, failed (with its error) or interrupted. */
  | { type: 'member-end'; index: number; record: SweepMemberRecord }
  /** Overall progress, after every member change and at least every few seconds. */
  | { type: 'progress'; progress: SweepProgress }
  /** The array job that now runs the unfinished members. */
  | { type: 'slurm-submit'; job: string; indices: number[]; script: string }
  | { type: 'log'; level: 'info' | 'warn'; message: string };

export type SweepListener = (e: SweepEvent) => void;
