/**
 * One process trains in a run folder at a time: sweeps, Slurm requeues and impatient users all start
 * members twice. The lock is a file created with O_EXCL holding the owner's pid, host and start
 * time; the owner refreshes its modification time (a heartbeat) while it trains.
 *
 * A lock is stale, and is taken over, when its process is gone: on the same host when the pid no
 * longer exists; from another host (a shared filesystem on a cluster) when its heartbeat is older
 * than STALE_AFTER_MS. Taking over renames the stale file away first and checks that what it
 * renamed is the stale lock it read, so two processes that both find a stale lock cannot both win.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserError } from '../../dsl/errors';
import { readInputFile } from '../files';

/** A foreign host's lock whose heartbeat is older than this is treated as abandoned. */
export const STALE_AFTER_MS = 10 * 60_000;
/** How often the owner refreshes the heartbeat (at most; it is refreshed from the training loop). */
export const HEARTBEAT_MS = 10_000;

interface LockInfo {
  pid: number;
  host: string;
  started_at: string;
}

export class RunLock {
  private lastBeat = 0;

  private constructor(readonly file: string, private readonly token: string) {}

  /** Takes the lock on `dir` or throws a UserError naming the process that holds it. */
  static acquire(dir: string, lockName: string): RunLock {
    const file = path.join(dir, lockName);
    const info: LockInfo = { pid: process.pid, host: os.hostname(), started_at: new Date().toISOString() };
    const token = JSON.stringify(info);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.writeFileSync(file, token + '\n', { flag: 'wx' });
        const lock = new RunLock(file, token);
        lock.lastBeat = Date.now();
        return lock;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new UserError(`cannot create the run lock: ${(e as Error).message}`, file);
      }
      const held = readLock(file);
      if (held && !isStale(file, held.info)) {
        throw new UserError(
          `another process is training in this run folder (pid ${held.info.pid} on ${held.info.host}, since ${held.info.started_at}); ` +
            'wait for it, or stop it and run the same command again',
          path.dirname(file),
        );
      }
      // Stale (or unreadable garbage): move it aside, then make sure we moved what we judged.
      const aside = `${file}.stale.${process.pid}`;
      try {
        fs.renameSync(file, aside);
      } catch {
        continue; // someone else took it over first: try again from the top
      }
      const moved = readSmall(aside);
      if (held && moved !== held.raw) {
        // We moved a fresh lock that another process had just created: put it back and refuse.
        try {
          fs.linkSync(aside, file);
        } catch {
          /* it was replaced again meanwhile; theirs stands */
        }
        fs.rmSync(aside, { force: true });
        throw new UserError('another process took over this run folder just now; wait for it or run the command again', path.dirname(file));
      }
      fs.rmSync(aside, { force: true });
    }
    throw new UserError('could not take the run lock (it keeps changing hands); is something else starting this run?', path.dirname(file));
  }

  /** Refreshes the heartbeat (cheap; at most every HEARTBEAT_MS). */
  beat(): void {
    const now = Date.now();
    if (now - this.lastBeat < HEARTBEAT_MS) return;
    this.lastBeat = now;
    try {
      const t = new Date(now);
      fs.utimesSync(this.file, t, t);
    } catch {
      /* the folder was removed under us: the next write will say so */
    }
  }

  /** Releases the lock if it is still ours. */
  release(): void {
    try {
      if (readSmall(this.file)?.trim() === this.token) fs.rmSync(this.file, { force: true });
    } catch {
      /* already gone */
    }
  }
}

/** A lock file's text, or null when it cannot be read (or is not a small regular file: a FIFO must not block us). */
function readSmall(file: string): string | null {
  try {
    return readInputFile(file, { maxBytes: 64 * 1024 }).toString('utf8');
  } catch {
    return null;
  }
}

function readLock(file: string): { info: LockInfo; raw: string } | null {
  const raw = readSmall(file);
  if (raw === null) return null;
  try {
    const info = JSON.parse(raw) as LockInfo;
    if (Number.isInteger(info.pid) && typeof info.host === 'string') return { info, raw };
  } catch {
    /* torn or foreign: stale */
  }
  return null;
}

function isStale(file: string, info: LockInfo): boolean {
  if (info.host === os.hostname()) {
    if (info.pid === process.pid) return false;
    try {
      process.kill(info.pid, 0);
      return false;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ESRCH';
    }
  }
  try {
    return Date.now() - fs.statSync(file).mtimeMs > STALE_AFTER_MS;
  } catch {
    return true;
  }
}
