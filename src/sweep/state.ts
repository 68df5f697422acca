/**
 * Where each member stands, read from what the members' processes leave behind: the run folder's
 * summary.json (the run layer's), the member's outcome file (the worker's) and, for Slurm, the array
 * task's state. sweep.json is this view written down; it is never the source of truth, so a sweep
 * process killed at any moment loses nothing that the next invocation cannot read back.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isUserError } from '../../dsl/errors';
import { openAppend, readInputText, writeAll, writeFileAtomic } from '../files';
import { fromJsonLine, toJsonLine, type RunSummary } from '../runs/layout';
import { readSummary } from '../runs/read';
import type { SweepProgress } from './events';
import { memberOutcomeFile, memberRunDir, SWEEP_FILE_MAX_BYTES, SWEEP_FILES, type MemberOutcome, type SweepMemberRecord, type SweepState } from './layout';

export function readOutcome(dir: string, index: number): MemberOutcome | null {
  try {
    return fromJsonLine<MemberOutcome>(readInputText(memberOutcomeFile(dir, index), { maxBytes: SWEEP_FILE_MAX_BYTES }));
  } catch {
    // Missing, or damaged by hand: either way the run folder still says where the member stands.
    return null;
  }
}

export function writeOutcome(dir: string, o: MemberOutcome): void {
  writeFileAtomic(memberOutcomeFile(dir, o.index), toJsonLine(o) + '\n');
}

/**
 * Whether the process `pid` on this host is alive and is a chamlab worker (a reused pid running
 * something else does not count). On another host it cannot be known here: null.
 */
export function workerAlive(pid: number, host: string, marker = 'worker'): boolean | null {
  if (host !== os.hostname()) return null;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
  } catch {
    // No /proc (macOS): the signal test is all there is.
    return true;
  }
}

/** Slurm's view of one array task, when the member has one. */
export interface SlurmTaskState {
  /** `<job>_<index>` */
  task: string;
  /** First word of Slurm's state: PENDING, RUNNING, COMPLETED, CANCELLED, FAILED, TIMEOUT, ... */
  state: string;
  /** sacct's ExitCode (`code:signal`), when known. */
  exit: string | null;
}

/** Slurm states in which a task is queued or may still run (a requeued task passes through them). */
export const SLURM_ACTIVE = new Set(['PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'RESIZING', 'SUSPENDED', 'STOPPED', 'SIGNALING', 'STAGE_OUT']);

function oneLine(e: unknown): string {
  const msg = isUserError(e) ? e.message : e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0];
}

/**
 * The record of member `prev.index` as its files (and Slurm) say now. `slurm` is the task's state
 * when the sweep knows its job, undefined when Slurm is not asked.
 */
export function memberRecord(dir: string, prev: SweepMemberRecord, slurm?: SlurmTaskState | null): SweepMemberRecord {
  const rec: SweepMemberRecord = { ...prev };
  let summary: RunSummary | null = null;
  let summaryError: string | null = null;
  try {
    summary = readSummary(memberRunDir(dir, prev));
  } catch (e) {
    summaryError = oneLine(e);
  }
  const outcome = readOutcome(dir, prev.index);
  if (outcome && outcome.hash !== prev.hash) return rec; // not this member's (a hand-copied folder)
  if (summary) {
    rec.steps_done = summary.step;
    rec.final_eval_loss = summary.final_eval_loss;
    rec.best_eval_loss = summary.best_eval_loss;
    rec.diverged_at = summary.divergence?.step ?? null;
    rec.tokens_per_s = summary.tokens_per_s;
    rec.wall_s = summary.wall_s;
  }
  if (slurm !== undefined) {
    rec.slurm_task = slurm?.task ?? rec.slurm_task;
    if (slurm) rec.slurm_state = slurm.state;
    else if (rec.slurm_task) {
      // Slurm knows nothing of the task. One that never started (no worker wrote its outcome) was
      // cancelled while pending: Slurm keeps no record of that. One that ran has just left squeue
      // and is not in sacct yet (or there is no accounting): its state is not known right now.
      const ran = outcome?.slurm_task === rec.slurm_task;
      rec.slurm_state = !ran ? 'CANCELLED' : rec.slurm_state && !SLURM_ACTIVE.has(rec.slurm_state) ? rec.slurm_state : null;
    }
  }
  if (outcome?.slurm_task && !rec.slurm_task) rec.slurm_task = outcome.slurm_task;

  // Results first: a finished or diverged run stays so whatever happened to its process afterwards.
  if (summary && (summary.status === 'finished' || summary.status === 'diverged')) {
    rec.status = summary.status;
    rec.error = summary.status === 'diverged' ? summary.reason : null;
    return rec;
  }
  const live = isLive(outcome, slurm);
  if (live === 'running' || live === 'queued') {
    rec.status = live === 'running' ? 'running' : 'pending';
    rec.error = null;
    return rec;
  }
  if (outcome && outcome.status === 'failed') {
    rec.status = 'failed';
    rec.error = outcome.error;
    return rec;
  }
  if (summaryError) {
    rec.status = 'failed';
    rec.error = summaryError;
    return rec;
  }
  if (summary?.status === 'failed') {
    rec.status = 'failed';
    rec.error = summary.reason;
    return rec;
  }
  if (slurm && !SLURM_ACTIVE.has(slurm.state) && !outcome && !summary && ['FAILED', 'OUT_OF_MEMORY', 'NODE_FAIL', 'BOOT_FAIL', 'DEADLINE'].includes(slurm.state)) {
    // The task died before the worker could say anything (a bad node, no node binary, OOM at load).
    rec.status = 'failed';
    rec.error = `Slurm task ${slurm.task} ended ${slurm.state}${slurm.exit ? ` (exit ${slurm.exit})` : ''} before the member started; see ${path.join(SWEEP_FILES.slurm, `${slurm.task}.out`)}`;
    return rec;
  }
  if (summary || outcome) {
    // Started, not finished, no process left: interrupted (SIGTERM, Ctrl-C, kill -9, a cancelled task).
    rec.status = 'interrupted';
    rec.error = summary?.status === 'interrupted' ? summary.reason : outcome?.status === 'interrupted' ? outcome.error : null;
    return rec;
  }
  rec.status = 'pending';
  rec.error = null;
  return rec;
}

/** Whether a member's process is alive: from Slurm where the task is known, else from its outcome file. */
function isLive(outcome: MemberOutcome | null, slurm: SlurmTaskState | null | undefined): 'running' | 'queued' | null {
  if (slurm && SLURM_ACTIVE.has(slurm.state)) {
    if (slurm.state === 'PENDING' || slurm.state.startsWith('REQUEUE')) return outcome?.status === 'running' && outcome.slurm_task === slurm.task && workerAlive(outcome.pid, outcome.host) ? 'running' : 'queued';
    return 'running';
  }
  if (outcome?.status !== 'running') return null;
  const alive = workerAlive(outcome.pid, outcome.host);
  // On another host with no Slurm task known, trust the file: the next look settles it.
  if (alive === null) return slurm === undefined ? 'running' : null;
  return alive ? 'running' : null;
}

/** Refreshes every member of `state` (in place) and returns the indices whose record changed. */
export function refreshMembers(dir: string, state: SweepState, slurm?: Map<number, SlurmTaskState | null>): number[] {
  const changed: number[] = [];
  state.members = state.members.map((m) => {
    const next = memberRecord(dir, m, slurm ? (slurm.has(m.index) ? slurm.get(m.index)! : undefined) : undefined);
    if (JSON.stringify(next) !== JSON.stringify(m)) changed.push(m.index);
    return next;
  });
  return changed;
}

export function writeState(dir: string, state: SweepState): void {
  state.updated_at = new Date().toISOString();
  writeFileAtomic(path.join(dir, SWEEP_FILES.state), JSON.stringify(JSON.parse(toJsonLine(state)), null, 2) + '\n');
}

/** Appends one line to sweep.log (with a timestamp). */
export function appendLog(dir: string, line: string): void {
  const fd = openAppend(path.join(dir, SWEEP_FILES.log));
  try {
    writeAll(fd, Buffer.from(`${new Date().toISOString()} ${line}\n`));
  } finally {
    fs.closeSync(fd);
  }
}

/** A member's ending as one line, for the terminal and sweep.log. */
export function memberLine(m: SweepMemberRecord): string {
  const parts = [`member ${m.index} [${m.label}] ${m.status}`];
  if (m.status === 'failed' || m.status === 'interrupted') {
    if (m.error) parts.push(m.error);
    parts.push(`at step ${m.steps_done}`);
  } else {
    parts.push(`${m.steps_done} steps`);
    if (m.diverged_at !== null) parts.push(`diverged at step ${m.diverged_at}`);
    if (m.final_eval_loss !== null) parts.push(`final eval ${fmt(m.final_eval_loss)}`);
    if (m.best_eval_loss !== null) parts.push(`best ${fmt(m.best_eval_loss)}`);
  }
  if (m.tokens_per_s !== null) parts.push(`${Math.round(m.tokens_per_s)} tok/s`);
  if (m.wall_s !== null) parts.push(`${m.wall_s.toFixed(1)} s`);
  return parts.join(', ');
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toFixed(4) : String(x);
}

/** Counts and ETA. `tokens` per member: planned and done; the rate is measured by the caller. */
export function sweepProgress(
  state: SweepState,
  tokens: { planned: number[]; done: number[] },
  rate: { tokensPerS: number | null; elapsedS: number },
): SweepProgress {
  const p: SweepProgress = {
    total: state.members.length,
    done: 0,
    running: 0,
    failed: 0,
    interrupted: 0,
    pending: 0,
    tokens_done: 0,
    tokens_total: 0,
    tokens_per_s: rate.tokensPerS,
    eta_s: null,
    elapsed_s: rate.elapsedS,
  };
  let remaining = 0;
  for (const m of state.members) {
    const planned = tokens.planned[m.index] ?? 0;
    const done = Math.min(planned, tokens.done[m.index] ?? 0);
    if (m.status === 'finished' || m.status === 'diverged') {
      p.done++;
      p.tokens_done += m.status === 'finished' ? planned : done;
      p.tokens_total += m.status === 'finished' ? planned : done;
      continue;
    }
    if (m.status === 'failed') {
      p.failed++;
      continue;
    }
    if (m.status === 'running') p.running++;
    else if (m.status === 'interrupted') p.interrupted++;
    else p.pending++;
    p.tokens_done += done;
    p.tokens_total += planned;
    remaining += planned - done;
  }
  if (rate.tokensPerS && rate.tokensPerS > 0) p.eta_s = remaining / rate.tokensPerS;
  return p;
}
