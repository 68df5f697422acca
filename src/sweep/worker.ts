/**
 * The one code path that trains a sweep member, for both executors: a worker process started by the
 * local executor, or a Slurm array task (task i runs member i). It reads the member's spec from the
 * sweep folder's plan, calls `runExperiment` (which resumes an interrupted run exactly and skips a
 * finished one), and records the outcome in members/<index>.json.
 *
 *   node worker.js --sweep DIR --member I [--threads N] [--cache-dir DIR]
 *   node worker.js --sweep DIR --member-from-slurm ...     (I = $SLURM_ARRAY_TASK_ID)
 *
 * SIGTERM or SIGINT (Ctrl-C, scancel, Slurm preemption or time limit) and the loss of the parent
 * process (the local executor killed with kill -9) stop the member gracefully: the run layer finishes
 * the current step and checkpoints, and the member is `interrupted`, to be resumed by the next
 * invocation. Further signals are ignored while that happens (only SIGKILL cuts it short).
 */
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { isUserError } from '../../dsl/errors';
import type { RunEvent } from '../runs/events';
import { runExperiment } from '../runs/run';
import type { MemberOutcome } from './layout';
import { planMember, readPlan } from './plan';
import { writeOutcome } from './state';

export interface MemberOptions {
  /** onnxruntime intra-op threads for this member. */
  threads?: number;
  cacheDir?: string;
  signal?: AbortSignal;
  onEvent?: (e: RunEvent) => void;
  /** `<job>_<index>` when running as a Slurm array task. */
  slurmTask?: string | null;
}

/** Exit codes of the worker process, read by the local executor (Slurm shows them too). */
export const WORKER_EXIT = { result: 0, failed: 3, interrupted: 4 } as const;

/** Trains member `index` of the sweep in `dir` and records its outcome. Never throws for a member's own failure. */
export async function runMember(dir: string, index: number, opts: MemberOptions = {}): Promise<MemberOutcome> {
  const plan = readPlan(dir);
  const member = planMember(dir, plan, index);
  const outcome: MemberOutcome = {
    index,
    hash: member.hash,
    status: 'running',
    error: null,
    pid: process.pid,
    host: os.hostname(),
    slurm_task: opts.slurmTask ?? null,
    started_at: new Date().toISOString(),
    ended_at: null,
  };
  writeOutcome(dir, outcome);
  try {
    const res = await runExperiment(
      { spec: member.spec, hash: member.hash, file: member.file },
      { out: member.runsOut, threads: opts.threads, cacheDir: opts.cacheDir, signal: opts.signal, onEvent: opts.onEvent },
    );
    outcome.status = res.summary.status;
    outcome.error = res.summary.status === 'finished' ? null : res.summary.reason;
  } catch (e) {
    outcome.status = opts.signal?.aborted ? 'interrupted' : 'failed';
    outcome.error = errorLine(e);
  }
  outcome.ended_at = new Date().toISOString();
  writeOutcome(dir, outcome);
  return outcome;
}

/** A failure as one line: a user error's message, else the error with where it was thrown. */
export function errorLine(e: unknown): string {
  if (isUserError(e)) return e.message.split('\n')[0];
  if (e instanceof Error) {
    const at = e.stack?.split('\n').find((l) => l.trim().startsWith('at '))?.trim();
    return `${e.name}: ${e.message.split('\n')[0]}${at ? ` (${at})` : ''}`;
  }
  return String(e);
}

/** What the worker process sends its parent (local executor), structured-clone serialized (NaN survives). */
export type WorkerMessage = { type: 'event'; event: RunEvent } | { type: 'outcome'; outcome: MemberOutcome };

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      sweep: { type: 'string' },
      member: { type: 'string' },
      'member-from-slurm': { type: 'boolean' },
      threads: { type: 'string' },
      'cache-dir': { type: 'string' },
    },
    strict: true,
  });
  if (!values.sweep) throw new Error('worker: --sweep DIR is required');
  let index: number;
  let slurmTask: string | null = null;
  if (values['member-from-slurm']) {
    const id = process.env.SLURM_ARRAY_TASK_ID;
    const job = process.env.SLURM_ARRAY_JOB_ID;
    if (id === undefined || job === undefined) throw new Error('worker: --member-from-slurm outside a Slurm array task (no SLURM_ARRAY_TASK_ID)');
    index = Number(id);
    slurmTask = `${job}_${id}`;
  } else index = Number(values.member);
  if (!Number.isInteger(index) || index < 0) throw new Error(`worker: bad member index ${values.member}`);
  const threads = values.threads !== undefined ? Number(values.threads) : slurmThreads();

  const stop = new AbortController();
  const onSignal = (sig: string) => {
    if (stop.signal.aborted) return;
    process.stderr.write(`worker ${process.pid}: ${sig}: stopping member ${index} after this step (checkpoint)\n`);
    stop.abort(new Error(`stopped by ${sig}`));
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  // A parent killed with kill -9 makes a send fail (EPIPE) before 'disconnect' arrives: with a
  // callback the failure is handed to it instead of crashing the worker mid-checkpoint.
  const send = process.send ? (m: WorkerMessage) => process.connected && process.send!(m, undefined, {}, () => {}) : null;
  // The local executor gone (kill -9): nobody drives the sweep any more; stop cleanly so that the
  // next invocation resumes from this checkpoint.
  process.on('disconnect', () => onSignal('parent gone'));

  const outcome = await runMember(values.sweep, index, {
    threads,
    cacheDir: values['cache-dir'],
    signal: stop.signal,
    slurmTask,
    onEvent: send ? (event) => send({ type: 'event', event }) : undefined,
  });
  if (send) send({ type: 'outcome', outcome });
  if (outcome.status === 'failed') process.stderr.write(`member ${index} failed: ${outcome.error}\n`);
  return outcome.status === 'finished' || outcome.status === 'diverged'
    ? WORKER_EXIT.result
    : outcome.status === 'interrupted'
      ? WORKER_EXIT.interrupted
      : WORKER_EXIT.failed;
}

/** Threads for a Slurm task: the CPUs Slurm gave it, else 1 (what a task gets without --cpus-per-task). */
function slurmThreads(): number | undefined {
  const n = Number(process.env.SLURM_CPUS_PER_TASK ?? process.env.SLURM_CPUS_ON_NODE);
  if (process.env.SLURM_JOB_ID === undefined) return undefined;
  return Number.isInteger(n) && n > 0 ? n : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      // Exit when done even if a native handle lingers; the outcome is on disk and sent.
      process.exitCode = code;
      if (process.connected) process.disconnect();
      setImmediate(() => process.exit(code));
    },
    (e) => {
      process.stderr.write(`worker: ${e instanceof Error ? e.stack : String(e)}\n`);
      process.exit(WORKER_EXIT.failed);
    },
  );
}
