/**
 * The Slurm executor: the unfinished members go to the cluster as one job array (`sbatch --array`)
 * whose task i runs member i through worker.ts, the same code path as the local executor. The batch
 * script starts the worker as a job step (`srun`), so that `scancel --signal=TERM <job>_<i>` reaches
 * it like preemption and time limits do; the worker checkpoints and the member is resumed later.
 * Tasks are submitted with --requeue: a requeued task resumes its member from its checkpoint, and
 * the run folder's lock keeps two tasks from training one member.
 *
 * Every Slurm command runs with a timeout: a client whose controller is unreachable hangs 9-60 s.
 * Slurm's own view of a task comes from squeue (while it is queued or running) and sacct (after it
 * ended, if the cluster has accounting); an array index that neither knows was cancelled while
 * pending (Slurm keeps no record of that).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../../dsl/errors';
import { prepareOutputDir, writeFileAtomic } from '../files';
import { SWEEP_FILES, type SweepState } from './layout';
import { SLURM_ACTIVE, type SlurmTaskState } from './state';

export interface SlurmOptions {
  partition?: string;
  /** Slurm's --time (e.g. 30, 1:00:00, 2-00:00:00). */
  time?: string;
  cpusPerTask?: number;
  gpusPerTask?: number;
  /** At most this many tasks at once (the array's `%` limit). */
  maxParallel?: number;
  /** Further sbatch arguments, passed through as given (e.g. --account=lab, --qos=short). */
  args?: string[];
  /** Wait for the array to finish, showing progress (default true). */
  wait?: boolean;
  /** Poll interval while waiting, ms (default 1000). */
  pollMs?: number;
}

const TIMEOUT_MS = 20_000;

export const SLURM_INSTALL_HINT =
  "--executor slurm needs Slurm's client commands (sbatch, squeue, sacct) on PATH, talking to your cluster: " +
  'on the cluster\'s login node they are there already; elsewhere install them (Debian/Ubuntu: apt-get install slurm-client) and set ' +
  'SLURM_CONF to the cluster\'s slurm.conf. For a single-node cluster on this machine: scripts/slurm-local.sh start';

/** Runs a Slurm client command with a timeout; its stdout. */
export function slurmCommand(cmd: string, args: string[], timeoutMs = TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: unknown };
      if (e.code === 'ENOENT') return reject(new UserError(`${cmd} not found. ${SLURM_INSTALL_HINT}`, 'chamlab sweep'));
      if (e.killed)
        return reject(
          new UserError(`${cmd} did not answer within ${timeoutMs / 1000} s: is the Slurm controller up and SLURM_CONF (${process.env.SLURM_CONF ?? 'unset'}) right?`, 'chamlab sweep'),
        );
      const msg = String(stderr || e.message).trim().split('\n')[0];
      reject(Object.assign(new UserError(`${cmd} failed: ${msg}`, 'chamlab sweep'), { stderr: String(stderr) }));
    });
  });
}

/** Whether a command is on PATH (without running it). */
export function onPath(cmd: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      fs.accessSync(path.join(dir, cmd), fs.constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}

/** Refuses, with what to do, when sbatch is missing. */
export function requireSlurm(): void {
  if (!onPath('sbatch')) throw new UserError(`sbatch not found on PATH. ${SLURM_INSTALL_HINT}`, 'chamlab sweep');
}

/** Slurm's --array list for member indices: ranges where consecutive (0-3,7,9-10), with the % limit. */
export function arraySpec(indices: number[], maxParallel?: number): string {
  const sorted = [...indices].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',') + (maxParallel ? `%${maxParallel}` : '');
}

/** The batch script: the worker for member $SLURM_ARRAY_TASK_ID, as a job step. */
export function batchScript(dir: string, state: SweepState, cacheDir: string, opts: SlurmOptions): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const worker = path.join(__dirname, 'worker.js');
  const cpus = opts.cpusPerTask ?? 1;
  return [
    '#!/bin/sh',
    `# chamlab sweep ${state.name} (${state.hash.slice(0, 12)}): array task i trains member i of ${q(dir)}.`,
    '# The worker runs as a job step, so that scancel --signal, preemption and time limits reach it;',
    '# on SIGTERM it checkpoints, and the member resumes from there when rerun or requeued.',
    `exec srun --ntasks=1 --cpus-per-task=${cpus} ${q(process.execPath)} ${q(worker)} --sweep ${q(dir)} --member-from-slurm --threads ${cpus} --cache-dir ${q(cacheDir)}`,
    '',
  ].join('\n');
}

/** Submits the members `indices` as one array job; returns its job id and the script's path. */
export async function submitArray(dir: string, state: SweepState, indices: number[], cacheDir: string, opts: SlurmOptions): Promise<{ job: string; script: string }> {
  requireSlurm();
  const slurmDir = path.join(dir, SWEEP_FILES.slurm);
  prepareOutputDir(slurmDir);
  const n = fs.readdirSync(slurmDir).filter((f) => /^submit-\d+\.sh$/.test(f)).length;
  const script = path.join(slurmDir, `submit-${n + 1}.sh`);
  writeFileAtomic(script, batchScript(dir, state, cacheDir, opts));
  fs.chmodSync(script, 0o755);
  const args = [
    '--parsable',
    `--array=${arraySpec(indices, opts.maxParallel)}`,
    `--job-name=chamlab-${state.name}`,
    '--requeue',
    // A requeued task appends to its output instead of truncating it.
    '--open-mode=append',
    `--output=${path.join(slurmDir, '%A_%a.out')}`,
    '--ntasks=1',
    `--cpus-per-task=${opts.cpusPerTask ?? 1}`,
  ];
  if (opts.partition) args.push(`--partition=${opts.partition}`);
  if (opts.time) args.push(`--time=${opts.time}`);
  if (opts.gpusPerTask) args.push(`--gpus-per-task=${opts.gpusPerTask}`);
  args.push(...(opts.args ?? []), script);
  const out = (await slurmCommand('sbatch', args)).trim();
  // --parsable prints "jobid" or "jobid;cluster".
  const job = out.split('\n').pop()!.split(';')[0].trim();
  if (!/^\d+$/.test(job)) throw new UserError(`sbatch printed ${JSON.stringify(out)}, not a job id`, 'chamlab sweep');
  return { job, script };
}

/** Expands `7_[0-3,5%2]` / `7_4` into member indices. */
export function parseArrayTaskId(id: string): { job: string; indices: number[] } | null {
  const m = /^(\d+)_(?:(\d+)|\[([^\]]+)\])$/.exec(id.trim());
  if (!m) return null;
  if (m[2] !== undefined) return { job: m[1], indices: [Number(m[2])] };
  const indices: number[] = [];
  for (const part of m[3].split('%')[0].split(',')) {
    const r = /^(\d+)(?:-(\d+))?(?::(\d+))?$/.exec(part);
    if (!r) continue;
    const a = Number(r[1]);
    const b = r[2] !== undefined ? Number(r[2]) : a;
    const step = r[3] !== undefined ? Number(r[3]) : 1;
    for (let i = a; i <= b; i += step) indices.push(i);
  }
  return { job: m[1], indices };
}

/**
 * Slurm's state of every task of the given array jobs, by `<job>_<index>`. Tasks Slurm knows
 * nothing of are absent. `accounting` is false when sacct is unavailable (no slurmdbd).
 */
export async function queryTasks(jobs: string[]): Promise<{ tasks: Map<string, SlurmTaskState>; accounting: boolean }> {
  const tasks = new Map<string, SlurmTaskState>();
  if (jobs.length === 0) return { tasks, accounting: true };
  const list = jobs.join(',');
  let accounting = true;
  try {
    const out = await slurmCommand('sacct', ['-n', '-X', '-P', '-j', list, '-o', 'JobID,State,ExitCode']);
    for (const line of out.split('\n')) {
      const [id, state, exit] = line.split('|');
      const parsed = id ? parseArrayTaskId(id) : null;
      if (!parsed) continue;
      for (const i of parsed.indices) {
        const task = `${parsed.job}_${i}`;
        tasks.set(task, { task, state: firstWord(state), exit: exit || null });
      }
    }
  } catch (e) {
    if (!(e instanceof UserError) || !/accounting storage is disabled|not found/i.test(e.message)) throw e;
    accounting = false;
  }
  // squeue is current for queued and running tasks; sacct lags it by up to a second or so.
  let queued = '';
  try {
    queued = await slurmCommand('squeue', ['-h', '-r', '-j', list, '-o', '%i|%T']);
  } catch (e) {
    // One job id squeue has forgotten (300 s after it ended) is an error, not an empty list.
    if (!(e instanceof UserError) || !/Invalid job id/i.test(e.message)) throw e;
  }
  for (const line of queued.split('\n')) {
    const [id, state] = line.split('|');
    const parsed = id ? parseArrayTaskId(id) : null;
    if (!parsed) continue;
    for (const i of parsed.indices) {
      const task = `${parsed.job}_${i}`;
      const prev = tasks.get(task);
      tasks.set(task, { task, state: firstWord(state), exit: prev?.exit ?? null });
    }
  }
  return { tasks, accounting };
}

/** "CANCELLED by 0" -> CANCELLED. */
export function firstWord(s: string | undefined): string {
  return (s ?? '').trim().split(/\s+/)[0].replace(/\+$/, '').toUpperCase();
}

export function isActive(t: SlurmTaskState | null | undefined): boolean {
  return !!t && SLURM_ACTIVE.has(t.state);
}

/** Cancels jobs (used when a submission must be undone). */
export async function cancelJobs(jobs: string[]): Promise<void> {
  if (jobs.length) await slurmCommand('scancel', jobs);
}
