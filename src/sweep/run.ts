/**
 * `runSweep`: a sweep spec -> its members, each an ordinary run (runExperiment in a worker process),
 * on this machine or on a Slurm cluster, with the sweep folder kept current. The CLI's `chamlab
 * sweep` and notebooks both call this.
 *
 * Every invocation starts from what the folders say: members finished or diverged (here, by an
 * earlier sweep, or by `chamlab train`) are results and are not trained again; interrupted ones are
 * resumed from their checkpoint; failed ones are rerun only with `retryFailed`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isUserError, UserError } from '../../dsl/errors';
import { defaultCacheDir } from '../data/cache';
import { fromJsonLine, toJsonLine } from '../runs/layout';
import { readSummary } from '../runs/read';
import type { SweepEvent, SweepListener, SweepProgress } from './events';
import { memberRunDir, readSweepState, SWEEP_FILE_MAX_BYTES, SWEEP_FILES, type SweepLock, type SweepMemberRecord, type SweepState } from './layout';
import { runLocal } from './local';
import { openSweepFolder, planSweepInput, readPlan, type SweepInput } from './plan';
import { isActive, onPath, queryTasks, requireSlurm, submitArray, type SlurmOptions } from './slurm';
import { appendLog, memberLine, memberRecord, refreshMembers, sweepProgress, workerAlive, writeState, type SlurmTaskState } from './state';
import { readInputText } from '../files';

/** How long the Slurm wait goes on for sacct to record the end of tasks that ran (it lags squeue). */
const SACCT_LAG_BOUND_MS = 30_000;

export interface SweepOptions {
  /** Where run folders and the sweep folder go (default 'runs', like runExperiment). */
  out?: string;
  /** `path=value` overrides applied to the sweep spec before planning (like --set). */
  overrides?: string[];
  executor?: 'local' | 'slurm';
  /** Local worker processes (default: the machine's cores). */
  jobs?: number;
  /** onnxruntime intra-op threads per local worker (default: cores / jobs, at least 1). */
  threads?: number;
  /** Rerun members whose last attempt failed (crashed); diverged members are results and are never rerun. */
  retryFailed?: boolean;
  /** Tokenizer and compiled-graph cache that every member shares (default $CHAMLAB_CACHE or ~/.cache/chamlab). */
  cacheDir?: string;
  slurm?: SlurmOptions;
  /** Abort: local workers finish their step and checkpoint; a Slurm wait stops (the job keeps running). */
  signal?: AbortSignal;
  /** A second abort: kill local workers at once. */
  killSignal?: AbortSignal;
  onEvent?: SweepListener;
}

export interface SweepResult {
  dir: string;
  state: SweepState;
  /** Every member finished or diverged. */
  ok: boolean;
  /** The invocation was stopped (signal) before the members it ran were done. */
  interrupted: boolean;
  /** Slurm: the array job submitted by this invocation, null if none was needed. */
  slurmJob: string | null;
}

export async function runSweep(input: SweepInput, options: SweepOptions = {}): Promise<SweepResult> {
  const executor = options.executor ?? 'local';
  const emit = (e: SweepEvent) => options.onEvent?.(e);
  if (executor === 'slurm') requireSlurm();
  const planned = planSweepInput(input, options.overrides ?? []);
  const { dir, state, created } = openSweepFolder(options.out ?? 'runs', planned, executor);
  const release = takeLock(dir);
  try {
    if (created) appendLog(dir, `created: ${state.members.length} members of ${planned.file ?? state.name}${planned.overrides.length ? ` with ${planned.overrides.join(' ')}` : ''}`);
    const first = await refreshWithSlurm(dir, state);
    if (typeof first.slurm === 'object') {
      // Without Slurm's answer a queued member would look pending and be started twice.
      throw new UserError(`cannot ask Slurm about this sweep's earlier job: ${first.slurm.error}`, dir);
    }
    // Members queued or running in a Slurm job (an earlier invocation's) are that job's; a member
    // running in a local worker of an earlier invocation (its sweep process killed) is waited for.
    const todo = state.members
      .filter((m) => !slurmActive(m))
      .filter((m) => m.status === 'pending' || m.status === 'interrupted' || m.status === 'running' || (m.status === 'failed' && options.retryFailed))
      .map((m) => m.index);
    const plan = readPlan(dir);
    const plannedTokens = plan.members.map((m) => {
      const s = m.spec as { train: { steps: number; batch: number }; data: { seq_len: number } };
      return s.train.steps * s.train.batch * s.data.seq_len;
    });
    const tracker = new ProgressTracker(dir, state, plannedTokens);
    writeState(dir, state);
    emit({ type: 'plan', dir, state, todo, executor });
    const counts = countBy(state.members);
    appendLog(dir, `${executor}: ${todo.length} of ${state.members.length} members to train (${counts})`);

    const result: SweepResult = { dir, state, ok: false, interrupted: false, slurmJob: null };
    if (executor === 'local') await driveLocal(dir, state, todo, options, tracker, emit);
    else result.slurmJob = await driveSlurm(dir, state, todo, options, tracker, emit);
    result.interrupted = !!options.signal?.aborted;
    result.ok = state.members.every((m) => m.status === 'finished' || m.status === 'diverged');
    writeState(dir, state);
    emit({ type: 'progress', progress: tracker.progress() });
    appendLog(dir, `${result.interrupted ? 'stopped' : 'done'}: ${countBy(state.members)}`);
    return result;
  } finally {
    release();
  }
}

function slurmActive(m: SweepMemberRecord): boolean {
  return m.slurm_state !== null && isActive({ task: m.slurm_task ?? '', state: m.slurm_state, exit: null });
}

function countBy(members: SweepMemberRecord[]): string {
  const c: Record<string, number> = {};
  for (const m of members) c[m.status] = (c[m.status] ?? 0) + 1;
  return Object.entries(c).map(([k, v]) => `${v} ${k}`).join(', ');
}

async function driveLocal(dir: string, state: SweepState, todo: number[], options: SweepOptions, tracker: ProgressTracker, emit: (e: SweepEvent) => void) {
  const cores = os.availableParallelism();
  const jobs = options.jobs ?? cores;
  if (!Number.isInteger(jobs) || jobs < 1) throw new UserError(`--jobs must be a positive integer, got ${jobs}`, 'chamlab sweep');
  const threads = options.threads ?? Math.max(1, Math.floor(cores / jobs));
  state.executor = 'local';
  if (todo.length === 0) return;
  appendLog(dir, `local: ${jobs} worker(s), ${threads} thread(s) each`);
  let lastProgress = 0;
  await runLocal(
    dir,
    todo,
    { jobs, threads, cacheDir: path.resolve(options.cacheDir ?? defaultCacheDir()), signal: options.signal, killSignal: options.killSignal },
    {
      onStart(index) {
        const m = state.members[index];
        m.status = 'running';
        m.error = null;
        m.slurm_task = null;
        m.slurm_state = null;
        writeState(dir, state);
        appendLog(dir, `member ${index} [${m.label}] started`);
        emit({ type: 'member-start', index, record: { ...m } });
      },
      onEvent(index, event) {
        emit({ type: 'member', index, event });
        if (event.type === 'step') {
          tracker.step(index, event.row.tokens);
          state.members[index].steps_done = event.row.step;
          const now = Date.now();
          if (now - lastProgress > 1000) {
            lastProgress = now;
            emit({ type: 'progress', progress: tracker.progress() });
          }
        }
      },
      onExit(index) {
        const m = memberRecord(dir, state.members[index]);
        state.members[index] = m;
        tracker.settle(index);
        writeState(dir, state);
        appendLog(dir, memberLine(m));
        emit({ type: 'member-end', index, record: { ...m } });
        emit({ type: 'progress', progress: tracker.progress() });
      },
    },
  );
}

async function driveSlurm(dir: string, state: SweepState, todo: number[], options: SweepOptions, tracker: ProgressTracker, emit: (e: SweepEvent) => void): Promise<string | null> {
  const slurm = options.slurm ?? {};
  state.executor = 'slurm';
  let job: string | null = null;
  // A local worker of an earlier invocation still checkpointing a member: let it finish first (a
  // task started now would find the member's run locked).
  for (let waited = 0; state.members.some((m) => m.status === 'running' && !slurmActive(m)); waited++) {
    if (waited === 0) emit({ type: 'log', level: 'info', message: 'waiting for local workers of an earlier invocation to stop' });
    await sleep(250, options.signal);
    if (options.signal?.aborted) return null;
    refreshMembers(dir, state);
  }
  if (todo.length > 0) {
    const cacheDir = path.resolve(options.cacheDir ?? defaultCacheDir());
    const sub = await submitArray(dir, state, todo, cacheDir, slurm);
    job = sub.job;
    state.slurm_job = job;
    for (const i of todo) {
      const m = state.members[i];
      m.slurm_task = `${job}_${i}`;
      m.slurm_state = 'PENDING';
      m.status = 'pending';
      m.error = null;
    }
    writeState(dir, state);
    appendLog(dir, `slurm: submitted job ${job} (array ${todo.join(',')}), script ${path.relative(dir, sub.script)}`);
    emit({ type: 'slurm-submit', job, indices: todo, script: sub.script });
  }
  if (slurm.wait === false) return job;
  // Wait for every member that has a live task: those just submitted and those an earlier
  // invocation's job still runs.
  await waitSlurm(dir, state, tracker, slurm.pollMs ?? 1000, options.signal, emit);
  return job;
}

/** Polls Slurm and the run folders until no member has a queued or running task. */
async function waitSlurm(dir: string, state: SweepState, tracker: ProgressTracker, pollMs: number, signal: AbortSignal | undefined, emit: (e: SweepEvent) => void) {
  const tails = new Map<number, MetricsTail>();
  let quietSince: number | null = null;
  let slurmTrouble = false;
  for (;;) {
    const before = state.members.map((m) => m.status);
    const refreshed = await refreshWithSlurm(dir, state);
    const changed = refreshed.changed;
    if (typeof refreshed.slurm === 'object') {
      // A controller that does not answer for a moment must not end the wait: keep polling.
      if (!slurmTrouble) emit({ type: 'log', level: 'warn', message: `Slurm did not answer (${refreshed.slurm.error}); still waiting` });
      slurmTrouble = true;
    } else slurmTrouble = false;
    for (const m of state.members) {
      if (m.status === 'running' || before[m.index] === 'running') {
        let tail = tails.get(m.index);
        if (!tail) tails.set(m.index, (tail = new MetricsTail(memberRunDir(dir, m))));
        for (const row of tail.read()) {
          emit({ type: 'member', index: m.index, event: { type: 'step', row } });
          tracker.step(m.index, row.tokens);
          m.steps_done = Math.max(m.steps_done, row.step);
        }
      }
    }
    for (const i of changed) {
      const m = state.members[i];
      if (m.status === 'running' && before[i] !== 'running') {
        appendLog(dir, `member ${i} [${m.label}] started (Slurm task ${m.slurm_task})`);
        emit({ type: 'member-start', index: i, record: { ...m } });
      } else if (m.status !== 'running' && m.status !== 'pending' && (before[i] === 'running' || before[i] === 'pending')) {
        tracker.settle(i);
        const ended = m.slurm_state !== null && !slurmActive(m);
        appendLog(dir, `${memberLine(m)}${ended ? ` (Slurm ${m.slurm_state})` : ''}`);
        emit({ type: 'member-end', index: i, record: { ...m } });
      }
    }
    if (changed.length) writeState(dir, state);
    emit({ type: 'progress', progress: tracker.progress() });
    const active = state.members.some((m) => m.slurm_state !== null && isActive({ task: '', state: m.slurm_state, exit: null }));
    if (!active && !slurmTrouble) {
      // sacct records a task's end up to ~1.3 s after squeue forgets it on a quiet machine, several
      // seconds later on a loaded one: wait while a task that ran has no known end state yet (with
      // accounting), up to a bound, so that sweep.json ends with Slurm's state of every task.
      quietSince ??= Date.now();
      const unknown = refreshed.accounting && state.members.some((m) => m.slurm_task !== null && m.slurm_state === null && m.status !== 'pending');
      const quiet = Date.now() - quietSince;
      if (quiet > 2500 && (!unknown || quiet > SACCT_LAG_BOUND_MS)) return;
    } else quietSince = null;
    if (signal?.aborted) {
      appendLog(dir, `stopped waiting; job ${state.slurm_job} keeps running`);
      return;
    }
    await sleep(pollMs, signal);
  }
}

/**
 * Refreshes every member from its files, with Slurm's view for those that have a task (when the
 * Slurm client is here). Returns the changed indices, and `slurm`: whether Slurm answered (false:
 * it was asked and failed, e.g. an unreachable controller; the members' files were read anyway).
 */
export async function refreshWithSlurm(
  dir: string,
  state: SweepState,
): Promise<{ changed: number[]; slurm: 'answered' | 'not-asked' | { error: string }; accounting: boolean }> {
  const jobs = [...new Set(state.members.map((m) => m.slurm_task?.split('_')[0]).filter((j): j is string => !!j))];
  if (jobs.length === 0 || !onPath('squeue')) return { changed: refreshMembers(dir, state), slurm: 'not-asked', accounting: false };
  let found: { tasks: Map<string, SlurmTaskState>; accounting: boolean };
  try {
    found = await queryTasks(jobs);
  } catch (e) {
    if (!isUserError(e)) throw e;
    return { changed: refreshMembers(dir, state), slurm: { error: e.message }, accounting: false };
  }
  const byIndex = new Map<number, SlurmTaskState | null>();
  for (const m of state.members) if (m.slurm_task) byIndex.set(m.index, found.tasks.get(m.slurm_task) ?? null);
  return { changed: refreshMembers(dir, state, byIndex), slurm: 'answered', accounting: found.accounting };
}

/** Measured throughput of this invocation and the resulting ETA. */
class ProgressTracker {
  private readonly start = Date.now();
  private readonly done: number[];
  private trained = 0;
  constructor(private readonly dir: string, private readonly state: SweepState, private readonly planned: number[]) {
    this.done = state.members.map((m) => this.tokensOnDisk(m));
  }
  private tokensOnDisk(m: SweepMemberRecord): number {
    try {
      return readSummary(memberRunDir(this.dir, m))?.tokens ?? 0;
    } catch {
      return 0;
    }
  }
  /** A step row of member i: tokens after it. */
  step(i: number, tokens: number) {
    if (tokens > this.done[i]) this.trained += tokens - this.done[i];
    this.done[i] = tokens;
  }
  /** Member i stopped: its tokens are what its run folder says. */
  settle(i: number) {
    this.done[i] = Math.max(this.done[i], this.tokensOnDisk(this.state.members[i]));
  }
  progress(): SweepProgress {
    const elapsedS = (Date.now() - this.start) / 1000;
    const rate = this.trained > 0 && elapsedS > 0 ? this.trained / elapsedS : null;
    return sweepProgress(this.state, { planned: this.planned, done: this.done }, { tokensPerS: rate, elapsedS });
  }
}

/** New complete rows of a growing metrics.jsonl. */
class MetricsTail {
  private offset = 0;
  constructor(private readonly dir: string) {}
  read(): import('../runs/layout').MetricsRow[] {
    const file = path.join(this.dir, 'metrics.jsonl');
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return [];
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size < this.offset) this.offset = 0; // rewritten (a resume cut a torn line): read again
      if (size === this.offset) return [];
      const buf = Buffer.alloc(size - this.offset);
      fs.readSync(fd, buf, 0, buf.length, this.offset);
      const text = buf.toString('utf8');
      const end = text.lastIndexOf('\n');
      if (end < 0) return [];
      this.offset += Buffer.byteLength(text.slice(0, end + 1));
      const rows = [];
      for (const line of text.slice(0, end).split('\n')) {
        if (!line.trim()) continue;
        try {
          rows.push(fromJsonLine<import('../runs/layout').MetricsRow>(line));
        } catch {
          // a torn line: the run layer repairs it on resume
        }
      }
      return rows;
    } finally {
      fs.closeSync(fd);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done);
  });
}

/**
 * sweep.lock: one process drives a sweep folder at a time. A lock left by a dead process (kill -9)
 * is taken over; one held by a live process is refused.
 */
function takeLock(dir: string): () => void {
  const file = path.join(dir, SWEEP_FILES.lock);
  const mine: SweepLock = { pid: process.pid, host: os.hostname(), started_at: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, toJsonLine(mine) + '\n');
      fs.closeSync(fd);
      return () => {
        try {
          const held = fromJsonLine<SweepLock>(readInputText(file, { maxBytes: SWEEP_FILE_MAX_BYTES }));
          if (held.pid === mine.pid && held.host === mine.host) fs.rmSync(file, { force: true });
        } catch {
          // gone already
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let held: SweepLock | null = null;
    try {
      held = fromJsonLine<SweepLock>(readInputText(file, { maxBytes: SWEEP_FILE_MAX_BYTES }));
    } catch {
      held = null; // torn or empty: its writer died while writing it
    }
    const alive = held ? workerAlive(held.pid, held.host, '') : false;
    if (held && alive !== false)
      throw new UserError(
        alive === null
          ? `another process (pid ${held.pid} on ${held.host}) drives this sweep; if it is gone, delete ${SWEEP_FILES.lock}`
          : `another process (pid ${held.pid}, since ${held.started_at}) drives this sweep; wait for it, or stop it first`,
        dir,
      );
    fs.rmSync(file, { force: true });
  }
  throw new UserError(`cannot take ${SWEEP_FILES.lock}; another process keeps taking it`, dir);
}

/** `chamlab sweep status DIR`: every member as its files and Slurm say now. */
export async function sweepStatus(dir: string): Promise<{ state: SweepState; slurm: 'known' | 'no-client' | 'not-used' | { error: string } }> {
  const state = readSweepState(dir);
  if (!state) throw new UserError(`not a sweep folder (no ${SWEEP_FILES.state}); a sweep folder is <out>/<name>/<sweep-hash12>`, dir);
  const usesSlurm = state.members.some((m) => m.slurm_task);
  const r = await refreshWithSlurm(dir, state);
  const slurm = !usesSlurm ? 'not-used' : typeof r.slurm === 'object' ? r.slurm : onPath('squeue') ? 'known' : 'no-client';
  // Keep sweep.json current unless a live sweep process does that already.
  if (!lockHeldByLiveProcess(dir)) writeState(dir, state);
  return { state, slurm };
}

function lockHeldByLiveProcess(dir: string): boolean {
  try {
    const held = fromJsonLine<SweepLock>(readInputText(path.join(dir, SWEEP_FILES.lock), { maxBytes: SWEEP_FILE_MAX_BYTES }));
    return workerAlive(held.pid, held.host, '') !== false;
  } catch {
    return false;
  }
}
