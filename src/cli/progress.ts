/**
 * The terminal's view of a run: a listener of runExperiment's events. On a TTY one progress bar
 * (step/total, loss, eval loss, tokens/s, ETA) redrawn in place, with set-up phases, evaluations,
 * checkpoints and warnings printed above it; on a pipe or in CI one plain line every
 * `train.log_every` steps plus those events, so logs stay readable.
 */
import { SingleBar } from 'cli-progress';
import type { RunEvent, RunListener } from '../runs/events';
import { fmt, formatStepLine } from '../runs/run';

export interface ProgressOptions {
  /** Print a plain line every this many steps when not on a TTY. */
  logEvery: number;
  stream?: NodeJS.WriteStream;
  /** Force plain lines (default: plain unless the stream is a TTY and CI is not set). */
  plain?: boolean;
}

export class RunProgress {
  private bar?: SingleBar;
  private steps = 0;
  private lastEval = NaN;
  private lastPhase = '';
  private readonly stream: NodeJS.WriteStream;
  private readonly plain: boolean;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.plain = opts.plain ?? (!this.stream.isTTY || !!process.env.CI);
  }

  readonly listener: RunListener = (e: RunEvent) => this.on(e);

  private line(text: string): void {
    if (this.bar) {
      // cli-progress redraws on the current line: clear it, print, redraw.
      this.stream.write('\r\x1b[K' + text + '\n');
      this.bar.render();
    } else {
      this.stream.write(text + '\n');
    }
  }

  private on(e: RunEvent): void {
    switch (e.type) {
      case 'phase': {
        if (e.phase === this.lastPhase && e.done !== undefined && e.total !== undefined && e.done < e.total) return;
        this.lastPhase = e.phase;
        const frac = e.done !== undefined && e.total ? ` ${e.done}/${e.total}` : '';
        if (e.done === undefined || e.done === e.total) this.line(`${e.phase}...${frac}`);
        return;
      }
      case 'start': {
        const r = e.run;
        this.steps = r.steps;
        this.line(`${r.startStep ? 'resuming' : 'training'} ${r.name} (${r.hash.slice(0, 12)}) on ${r.backend}: ${r.backendReason}`);
        this.line(`run folder ${r.dir}`);
        if (!this.plain && r.startStep < r.steps) {
          this.bar = new SingleBar({
            stream: this.stream,
            format: 'step {value}/{total} |{bar}| loss {loss} | eval {eval} | {tps} tok/s | ETA {eta_formatted}',
            barsize: 24,
            hideCursor: true,
            etaBuffer: 20,
          });
          this.bar.start(r.steps, r.startStep, { loss: '-', eval: '-', tps: '-' });
        }
        return;
      }
      case 'step': {
        const r = e.row;
        if (this.bar) this.bar.update(r.step, { loss: fmt(r.loss), eval: Number.isNaN(this.lastEval) ? '-' : fmt(this.lastEval), tps: Math.round(r.tokens_per_s) });
        else if (r.step % this.opts.logEvery === 0 || r.step === this.steps) this.line(formatStepLine(r, this.steps));
        return;
      }
      case 'eval': {
        this.lastEval = e.row.loss;
        const per = Object.entries(e.row.sources).map(([k, v]) => `${k} ${fmt(v.loss)}`).join(', ');
        this.line(`eval step ${e.row.step}: loss ${fmt(e.row.loss)}${per ? ` (${per})` : ''}`);
        return;
      }
      case 'checkpoint':
        this.line(`checkpoint at step ${e.step} (${e.ms.toFixed(0)} ms)`);
        return;
      case 'log':
        this.line(e.level === 'warn' ? `warning: ${e.message}` : e.message);
        return;
      case 'status':
        if (e.status !== 'running') this.stop();
        return;
    }
  }

  stop(): void {
    if (!this.bar) return;
    this.bar.stop();
    this.bar = undefined;
  }
}
