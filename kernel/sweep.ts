/**
 * `await sweep(spec)`: runSweep with one output that updates in place while the members train:
 * members done, running and pending, the sweep's tokens/s and time left, and the report's sweep loss
 * figure of the members so far. The sweep folder and every member's run folder are the ordinary
 * ones, so `chamlab sweep` continues or reports it, and vice versa.
 *
 * A kernel interrupt stops the sweep as Ctrl-C does `chamlab sweep`: local workers finish their
 * step and checkpoint; the cell then ends with one line that says how to continue. A second
 * interrupt kills the workers at once (their runs resume from their last checkpoints).
 */
import * as path from 'node:path';
import { loadSweep, sweepLossFigure } from '../src/report';
import { runSweep, type SweepOptions, type SweepResult } from '../src/sweep';
import type { SweepProgress } from '../src/sweep/events';
import type { SweepInput } from '../src/sweep/plan';
import { KernelInterrupt, onInterrupt } from './context';
import { displayBundle, escapeHtml, LiveOutput, type MimeBundle } from './display';
import { figureHtml, PLOTLY_MIME, takePlotlyBundle, type PlotlyFigure } from './plotly';
import { defaultRunsDir } from './train';

export interface KernelSweepOptions extends Omit<SweepOptions, 'signal' | 'killSignal'> {
  /** Least time between two redraws of the live output, ms (default 2000: each reads every member's folder). */
  refreshMs?: number;
}

const clock = (s: number | null): string => {
  if (s === null || !Number.isFinite(s) || s < 0) return '–';
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
};

function statusLine(p: SweepProgress | null, phase: string): string {
  if (!p) return phase;
  const parts = [`${p.done}/${p.total} members done`, `${p.running} running`, `${p.pending} pending`];
  if (p.failed) parts.push(`${p.failed} failed`);
  if (p.interrupted) parts.push(`${p.interrupted} interrupted`);
  if (p.tokens_per_s) parts.push(`${(p.tokens_per_s / 1000).toFixed(1)}k tokens/s`);
  parts.push(`${clock(p.elapsed_s)} elapsed, ${clock(p.eta_s)} left`);
  return parts.join(' · ');
}

function bundle(name: string, dir: string | null, line: string, p: SweepProgress | null, chart: PlotlyFigure | null): MimeBundle {
  const rel = dir ? path.relative(process.cwd(), dir) : '';
  const where = dir ? (rel && !rel.startsWith('..') ? rel : dir) : '';
  const head =
    `<div style="font:13px sans-serif"><b>${escapeHtml(name)}</b>${where ? ` · <code>${escapeHtml(where)}</code>` : ''}</div>` +
    `<progress max="${Math.max(1, p?.total ?? 1)}" value="${p?.done ?? 0}" style="width:100%;height:14px"></progress>` +
    `<div class="chamlab-sweep-status" style="font:13px monospace">${escapeHtml(line)}</div>`;
  const out: MimeBundle = { 'text/plain': `${name}: ${line}`, 'text/html': `<div class="chamlab-sweep">${head}${chart ? figureHtml(chart) : ''}</div>` };
  if (chart) out[PLOTLY_MIME] = { data: chart.data, layout: { ...(chart.layout ?? {}), title: { text: `${escapeHtml(name)}: ${escapeHtml(line)}` } } };
  return out;
}

/** Runs a sweep (spec from a cell, spec file, ...) and shows it live; resolves with runSweep's result. */
export async function sweep(source: SweepInput, opts: KernelSweepOptions = {}): Promise<SweepResult> {
  const { refreshMs = 2000, ...sweepOpts } = opts;
  const out = sweepOpts.out ?? defaultRunsDir();
  const b = takePlotlyBundle();
  if (b) displayBundle(b);
  const output = new LiveOutput();
  let name = typeof source === 'string' ? path.basename(source) : 'sweep';
  let dir = null as string | null;
  let progress = null as SweepProgress | null;
  let phase = 'planning';
  let lastDraw = 0;
  const draw = (force: boolean) => {
    if (!force && Date.now() - lastDraw < refreshMs) return;
    lastDraw = Date.now();
    let chart: PlotlyFigure | null = null;
    if (dir) {
      const rec = loadSweep(dir);
      name = rec.state.name;
      if (rec.members.some((m) => m.run && m.run.metrics.length > 0)) chart = sweepLossFigure(rec);
    }
    output.update(bundle(name, dir, statusLine(progress, phase), progress, chart));
  };
  draw(true);

  const stop = new AbortController();
  const kill = new AbortController();
  let interrupts = 0;
  const release = onInterrupt(() => {
    interrupts++;
    if (interrupts === 1) {
      phase = 'interrupt: members finish their step and checkpoint';
      stop.abort();
    } else kill.abort();
    return true;
  });
  let result: SweepResult;
  try {
    result = await runSweep(source, {
      ...sweepOpts,
      out,
      signal: stop.signal,
      killSignal: kill.signal,
      onEvent: (e) => {
        if (e.type === 'plan') {
          dir = e.dir;
          name = e.state.name;
          phase = `${e.todo.length} members to train`;
          draw(true);
        } else if (e.type === 'progress') {
          progress = e.progress;
          draw(false);
        } else if (e.type === 'member-end') draw(true);
      },
    });
  } finally {
    release();
  }
  dir = result.dir;
  draw(true);
  if (result.interrupted) {
    const rel = path.relative(process.cwd(), result.dir) || result.dir;
    throw new KernelInterrupt(`sweep interrupted (${progress ? `${progress.done} of ${progress.total} members done` : 'members stopped'}); ${rel} continues where it stopped: run this cell again`);
  }
  return result;
}
