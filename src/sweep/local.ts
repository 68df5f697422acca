/**
 * The local executor: N worker processes (worker.ts) on this machine, one member each at a time.
 * Each gets cores/N onnxruntime threads so that N members together do not oversubscribe the cores.
 * A worker's output goes to members/<index>.log; its run events come over the IPC channel.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RunEvent } from '../runs/events';
import { prepareNativeEnv } from '../runtime/env';
import { SWEEP_FILE_MAX_BYTES, SWEEP_FILES, type MemberOutcome } from './layout';
import { readOutcome, workerAlive, writeOutcome } from './state';
import type { WorkerMessage } from './worker';
import { readInputText } from '../files';

export interface LocalOptions {
  jobs: number;
  threads: number;
  cacheDir: string;
  signal?: AbortSignal;
  /** A second abort: kill the workers at once (a second Ctrl-C). */
  killSignal?: AbortSignal;
}

export interface LocalHooks {
  onStart(index: number): void;
  onEvent(index: number, e: RunEvent): void;
  /** The worker process exited (the member's record is then read back from its files). */
  onExit(index: number): void;
}

const WORKER = path.join(__dirname, 'worker.js');

/** Runs the members `todo` (in order) with at most `jobs` workers; resolves when all have exited. */
export async function runLocal(dir: string, todo: number[], opts: LocalOptions, hooks: LocalHooks): Promise<void> {
  const queue = [...todo];
  const active = new Map<number, ChildProcess>();
  // Members still held by a worker of an earlier invocation (its sweep process killed with kill -9;
  // the worker is checkpointing): wait for it, then run the member here.
  const waiting = new Set<number>();
  let stopping = false;
  // The first worker runs alone until its set-up is done (its 'start' event): members that share a
  // tokenizer or a compiled graph then find it in the cache instead of all building it at once.
  let warm = false;

  const env = prepareNativeEnv({ ...process.env });
  return new Promise<void>((resolve) => {
    const finishIfDone = () => {
      if (active.size === 0 && (stopping || (queue.length === 0 && waiting.size === 0))) {
        clearInterval(poll);
        resolve();
      }
    };
    const start = (index: number) => {
      const log = fs.openSync(path.join(dir, SWEEP_FILES.members, `${index}.log`), 'a');
      const child = fork(WORKER, ['--sweep', dir, '--member', String(index), '--threads', String(opts.threads), '--cache-dir', opts.cacheDir], {
        env,
        stdio: ['ignore', log, log, 'ipc'],
        serialization: 'advanced',
      });
      fs.closeSync(log);
      active.set(index, child);
      let sawOutcome = false;
      child.on('message', (m: WorkerMessage) => {
        if (m.type === 'event') {
          hooks.onEvent(index, m.event);
          if (!warm && (m.event.type === 'start' || m.event.type === 'step')) {
            warm = true;
            pump();
          }
        } else if (m.type === 'outcome') sawOutcome = true;
      });
      child.on('exit', (code, signal) => {
        warm = true;
        active.delete(index);
        if (!sawOutcome) recordDeath(dir, index, child.pid ?? 0, code, signal);
        hooks.onExit(index);
        pump();
        finishIfDone();
      });
      hooks.onStart(index);
    };
    const pump = () => {
      while (!stopping && active.size < (warm ? opts.jobs : 1) && queue.length > 0) {
        const index = queue.shift()!;
        const o = readOutcome(dir, index);
        if (o?.status === 'running' && o.pid !== process.pid && workerAlive(o.pid, o.host)) waiting.add(index);
        else start(index);
      }
    };
    // Members held by a live worker of an earlier invocation go back to the queue once it exits.
    const poll = setInterval(() => {
      for (const index of [...waiting]) {
        const o = readOutcome(dir, index);
        if (!(o?.status === 'running' && workerAlive(o.pid, o.host))) {
          waiting.delete(index);
          queue.unshift(index);
        }
      }
      pump();
      finishIfDone();
    }, 250);
    opts.signal?.addEventListener('abort', () => {
      stopping = true;
      queue.length = 0;
      waiting.clear();
      // Each worker finishes its step and checkpoints (worker.ts).
      for (const child of active.values()) child.kill('SIGTERM');
      finishIfDone();
    });
    opts.killSignal?.addEventListener('abort', () => {
      for (const child of active.values()) child.kill('SIGKILL');
    });
    pump();
    finishIfDone();
  });
}

/**
 * A worker that died without reporting (a native crash, the OOM killer, SIGKILL): its run folder
 * holds whatever it checkpointed. Killed by a signal it is interrupted (rerun next time); a non-zero
 * exit without an outcome is a crash, recorded with the end of its log.
 */
function recordDeath(dir: string, index: number, pid: number, code: number | null, signal: NodeJS.Signals | null): void {
  const prev = readOutcome(dir, index);
  if (prev && prev.status !== 'running') return; // it wrote its outcome, only the message was lost
  const tail = logTail(path.join(dir, SWEEP_FILES.members, `${index}.log`));
  const killed = signal !== null;
  const o: MemberOutcome = {
    index,
    hash: prev?.hash ?? '',
    status: killed ? 'interrupted' : 'failed',
    error: killed ? `worker killed by ${signal}` : `worker exited with code ${code}${tail ? `: ${tail}` : ''}`,
    pid,
    host: prev?.host ?? os.hostname(),
    slurm_task: null,
    started_at: prev?.started_at ?? new Date().toISOString(),
    ended_at: new Date().toISOString(),
  };
  if (!prev) {
    // The worker failed before it read the plan (nothing of the member ran): record it anyway.
    o.hash = readPlanHash(dir, index);
  }
  writeOutcome(dir, o);
}

function readPlanHash(dir: string, index: number): string {
  try {
    return JSON.parse(readInputText(path.join(dir, SWEEP_FILES.plan), { maxBytes: SWEEP_FILE_MAX_BYTES })).members[index].hash;
  } catch {
    return '';
  }
}

/** The last non-empty line of a worker log, for a crash's one-line error. */
function logTail(file: string): string {
  try {
    const fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const n = Math.min(size, 4096);
    const buf = Buffer.alloc(n);
    fs.readSync(fd, buf, 0, n, size - n);
    fs.closeSync(fd);
    const lines = buf.toString('utf8').split('\n').map((l) => l.trim()).filter(Boolean);
    return (lines.find((l) => /error|failed/i.test(l)) ?? lines[lines.length - 1] ?? '').slice(0, 300);
  } catch {
    return '';
  }
}
