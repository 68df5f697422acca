/**
 * The sweep folder: one definition of its files and format, for the sweep layer that writes it and
 * for reports and notebooks that read it.
 *
 *   <out>/<name>/<sweep-hash12>/
 *     sweep.yaml   the sweep spec as resolved (with its `sweep` section), full hash in the header
 *     sweep.json   SweepState: every member, its run folder and where it stands (rewritten atomically)
 *     sweep.log    one line per member event, appended
 *     plan.json    SweepPlan: every member's resolved spec, written once; workers train from it
 *     members/     <index>.json: MemberOutcome, written by the worker process that runs the member
 *     slurm/       batch scripts (submit-<n>.sh) and the array tasks' output (<job>_<task>.out)
 *     sweep.lock   held while a `chamlab sweep` process drives this folder (pid, host, start time)
 *
 * Where a member stands is read from its run folder (summary.json, written by the run layer) and its
 * outcome file; sweep.json is that view, kept current by whoever drives or inspects the sweep, so
 * that reports can read one file. A member's record changes only through those sources.
 *
 * Members are ordinary runs: each lives in its own run folder (src/runs/layout.ts), keyed by the
 * member's hash, so a member finished by an earlier sweep or by `chamlab train` is reused.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../../dsl/errors';
import { fromJsonLine, type RunStatus } from '../runs/layout';
import { readInputFile } from '../files';

export const SWEEP_FORMAT = 'chamlab.sweep/1';

export const SWEEP_PLAN_FORMAT = 'chamlab.sweep-plan/1';

export const SWEEP_FILES = {
  spec: 'sweep.yaml',
  state: 'sweep.json',
  log: 'sweep.log',
  plan: 'plan.json',
  members: 'members',
  slurm: 'slurm',
  lock: 'sweep.lock',
} as const;

/** `<out>/<name>/<first 12 hex digits of the sweep spec's hash>`. */
export function sweepFolder(out: string, name: string, sweepHash: string): string {
  return path.join(out, name, sweepHash.slice(0, 12));
}

/** pending: not started yet; the rest are the member run's own status. */
export type MemberStatus = 'pending' | RunStatus;

export interface SweepMemberRecord {
  /** Position in the plan (planSweep order). */
  index: number;
  /** The member's resolved-spec hash (its run folder's key). */
  hash: string;
  /** Dotted path -> value this member sets. */
  overrides: Record<string, unknown>;
  /** The overrides in one line for legends and tables: `model.qk_norm=false, optimizer.lr=0.03`. */
  label: string;
  /** The member's run folder, relative to the sweep folder. */
  run_dir: string;
  status: MemberStatus;
  /** A crash's one-line error (status failed), else null. */
  error: string | null;
  steps_done: number;
  final_eval_loss: number | null;
  best_eval_loss: number | null;
  /** Step of the divergence that stopped the member, or of the first one warned about. */
  diverged_at: number | null;
  tokens_per_s: number | null;
  /** Slurm array task id (`<job>_<index>`) when the member ran (or runs) through Slurm. */
  slurm_task: string | null;
  /** Slurm's own state of that task (first word: PENDING, RUNNING, COMPLETED, CANCELLED, FAILED, ...) when known. */
  slurm_state: string | null;
  /** Wall time spent training this member, over every process that did (the run's summary). */
  wall_s: number | null;
}

export interface SweepState {
  format: typeof SWEEP_FORMAT;
  name: string;
  /** Full hash of the sweep spec (the file with its sweep section, resolved). */
  hash: string;
  /** The swept dotted paths, in plan order (grid keys, zip keys, random keys, train.seed). */
  keys: string[];
  /** The spec file the sweep was planned from (absolute), null for a spec given as an object. */
  file: string | null;
  /** The `--set` overrides applied to the file before planning, in order. */
  overrides: string[];
  /** The executor of the latest invocation. */
  executor: 'local' | 'slurm';
  /** The Slurm job id of the latest array submission, else null. */
  slurm_job: string | null;
  created_at: string;
  updated_at: string;
  members: SweepMemberRecord[];
}

/** plan.json: what each member trains, fixed when the sweep folder is created. */
export interface SweepPlan {
  format: typeof SWEEP_PLAN_FORMAT;
  /** The sweep spec's full hash (the folder's key). */
  hash: string;
  /** The spec file (absolute): relative data paths in the member specs are relative to its folder. */
  file: string | null;
  /** Where member run folders go (the runs' `out`), relative to the sweep folder. */
  runs_out: string;
  members: Array<{ index: number; hash: string; overrides: Record<string, unknown>; spec: unknown }>;
}

/**
 * members/<index>.json: what the worker process running a member says about it. `running` while it
 * works (with its pid and host, so a later invocation can tell a live worker from a dead one), then
 * the run's final status, or `failed` with the error when the member crashed.
 */
export interface MemberOutcome {
  index: number;
  hash: string;
  status: 'running' | RunStatus;
  error: string | null;
  pid: number;
  host: string;
  slurm_task: string | null;
  started_at: string;
  ended_at: string | null;
}

/** sweep.lock: the process driving the sweep folder. */
export interface SweepLock {
  pid: number;
  host: string;
  started_at: string;
}

/** One member's overrides as a legend label. */
export function memberLabel(overrides: Record<string, unknown>): string {
  const parts = Object.entries(overrides).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return parts.length ? parts.join(', ') : '(base)';
}

/** Files of a sweep folder (plan, state, outcomes, lock) are JSON of modest size; larger is not ours. */
export const SWEEP_FILE_MAX_BYTES = 64 * 2 ** 20;

/** Reads sweep.json of a sweep folder; null when `dir` has none. */
export function readSweepState(dir: string): SweepState | null {
  const file = path.join(dir, SWEEP_FILES.state);
  if (!fs.existsSync(file)) return null;
  // A regular file only (a FIFO would block the reader), of a sane size: src/files.ts.
  const text = readInputFile(file, { maxBytes: SWEEP_FILE_MAX_BYTES, where: file, shown: 'the file' }).toString('utf8');
  let s: SweepState;
  try {
    s = fromJsonLine<SweepState>(text);
  } catch (e) {
    throw new UserError(`not JSON (${(e as Error).message}); rerun the sweep command to rewrite it`, file);
  }
  if (s?.format !== SWEEP_FORMAT || !Array.isArray(s.members))
    throw new UserError(`not a chamlab sweep state (format ${JSON.stringify(s?.format)}, expected ${SWEEP_FORMAT})`, file);
  // Fields added to the format after its first files were written read as unknown.
  s.file ??= null;
  s.overrides ??= [];
  for (const m of s.members) {
    m.slurm_state ??= null;
    m.wall_s ??= null;
  }
  return s;
}

export function isSweepFolder(dir: string): boolean {
  return fs.existsSync(path.join(dir, SWEEP_FILES.state));
}

/** members/<index>.json of a sweep folder. */
export function memberOutcomeFile(sweepDir: string, index: number): string {
  return path.join(sweepDir, SWEEP_FILES.members, `${index}.json`);
}

/** A member's run folder as an absolute path. */
export function memberRunDir(sweepDir: string, m: SweepMemberRecord): string {
  return path.resolve(sweepDir, m.run_dir);
}
