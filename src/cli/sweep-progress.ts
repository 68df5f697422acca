/**
 * The terminal's view of a sweep (a listener of runSweep's events): one line per member as it
 * ends, and a progress line with done/running/failed counts, throughput and ETA, redrawn in place on
 * a TTY and printed every 30 s elsewhere. Used by `chamlab sweep` and `chamlab demo`.
 */
import * as path from 'node:path';
import type { SweepEvent, SweepProgress } from '../sweep/events';
import { memberLine } from '../sweep/state';

/** The terminal view: one line per member as it ends, and a progress line (redrawn in place on a TTY). */
export class SweepProgressView {
  private readonly tty = !!process.stderr.isTTY;
  private last = '';
  private lastPrinted = 0;
  on(e: SweepEvent) {
    switch (e.type) {
      case 'plan': {
        const todo = e.todo.length;
        const total = e.state.members.length;
        this.print(`${e.state.name}: ${total} members, ${total - todo} already done or left as they are, ${todo} to train (${e.executor}); ${path.relative(process.cwd(), e.dir) || '.'}`);
        break;
      }
      case 'slurm-submit':
        this.print(`submitted Slurm job ${e.job}: array ${e.indices.join(',')}`);
        break;
      case 'member-end':
        this.print(memberLine(e.record));
        break;
      case 'log':
        this.print(e.message);
        break;
      case 'progress':
        this.progress(e.progress);
        break;
      default:
        break;
    }
  }
  private progress(p: SweepProgress) {
    const line =
      `[${p.done}/${p.total} done, ${p.running} running, ${p.failed} failed${p.interrupted ? `, ${p.interrupted} interrupted` : ''}, ${p.pending} pending]` +
      (p.tokens_per_s ? ` ${fmtRate(p.tokens_per_s)} tok/s` : '') +
      (p.eta_s !== null && p.running + p.pending + p.interrupted > 0 ? `, ETA ${fmtTime(p.eta_s)}` : '') +
      `, ${fmtTime(p.elapsed_s)} elapsed`;
    this.last = line;
    if (this.tty) process.stderr.write(`\r\x1b[K${line}`);
    else if (Date.now() - this.lastPrinted > 30_000) {
      // Logs (CI, nohup): a progress line every 30 s is enough.
      this.lastPrinted = Date.now();
      process.stderr.write(line + '\n');
    }
  }
  private print(line: string) {
    if (this.tty) process.stderr.write(`\r\x1b[K${line}\n${this.last}`);
    else process.stderr.write(line + '\n');
  }
  end() {
    if (this.tty && this.last) process.stderr.write('\r\x1b[K');
    this.last = '';
  }
}

function fmtRate(x: number): string {
  return x >= 10_000 ? `${(x / 1000).toFixed(0)}k` : x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0);
}

export function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

