/**
 * `await train(spec, { steps })`: runExperiment with one output that updates in place while it
 * trains: a progress bar with the step, loss, tokens/s and time left, and the live loss chart (the
 * report's loss figure of the run so far). The run lands in a normal run folder, `<out>/<name>/<hash12>`
 * (out: `runs` beside the notebook, or $CHAMLAB_RUNS_DIR), so the CLI resumes or inspects it and a
 * run the CLI started continues here: the same spec is the same folder.
 *
 * A kernel interrupt (Jupyter's stop button, or `i i`) aborts the run the way Ctrl-C does in a
 * terminal: the current step finishes, a checkpoint is written, the run is marked interrupted, and
 * the cell then ends with one line that says how to continue. A second interrupt leaves the cell at
 * once (tslab's own interrupt); the run still stops at its next step with a checkpoint.
 *
 * Every listener sees the same events (src/runs/events.ts); this one only draws them.
 */
import * as path from 'node:path';
import { readRun, type RunRecord } from '../src/runs/read';
import type { RunEvent, RunInfo } from '../src/runs/events';
import type { MetricsRow, RunSummary } from '../src/runs/layout';
import { fmt, runExperiment, type RunOptions, type RunResult, type RunSource } from '../src/runs/run';
import { KernelInterrupt, onInterrupt } from './context';
import { displayBundle, escapeHtml, LiveOutput, type MimeBundle } from './display';
import { figureHtml, PLOTLY_MIME, takePlotlyBundle, type PlotlyFigure } from './plotly';
import { liveLossFigure } from './report-figures';

export interface TrainOptions extends Omit<RunOptions, 'signal'> {
  /** Sets train.steps (part of the hash: a 200-step run and a 2000-step run are two runs). */
  steps?: number;
  /** Least time between two redraws of the live output, ms (default 1000). */
  refreshMs?: number;
}

/** The default folder for run folders: $CHAMLAB_RUNS_DIR, or `runs` in the kernel's working directory. */
export function defaultRunsDir(): string {
  return process.env.CHAMLAB_RUNS_DIR || 'runs';
}

const clock = (s: number): string => {
  if (!Number.isFinite(s) || s < 0) return '–';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
};
const rate = (x: number): string => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)}k` : x.toFixed(0));

/** What the live output draws, kept from the events (and, on resume, the rows already in the folder). */
class LiveRun {
  phase = 'starting';
  info: RunInfo | null = null;
  record: RunRecord | null = null;
  summary: RunSummary | null = null;
  last: MetricsRow | null = null;
  /** Wall clock and step at the first step of this process, for tokens/s and the time left. */
  private firstAt: { t: number; step: number } | null = null;
  readonly t0 = Date.now();

  onEvent(e: RunEvent): boolean {
    switch (e.type) {
      case 'phase':
        this.phase = e.total ? `${e.phase} ${e.done ?? 0}/${e.total}` : e.phase;
        return false;
      case 'start':
        this.info = e.run;
        this.phase = 'training';
        this.record = readRun(e.run.dir);
        this.record.metrics = this.record.metrics.filter((r) => r.step <= e.run.startStep);
        this.record.evals = this.record.evals.filter((r) => r.step <= e.run.startStep);
        return true;
      case 'step':
        this.record?.metrics.push(e.row);
        this.last = e.row;
        if (!this.firstAt) this.firstAt = { t: Date.now(), step: e.row.step - 1 };
        return false;
      case 'eval':
        this.record?.evals.push(e.row);
        return true;
      case 'checkpoint':
        this.record?.checkpoints.push(path.basename(e.dir));
        return false;
      case 'status':
        this.summary = e.summary;
        if (this.record) this.record.summary = e.summary;
        return e.status !== 'running';
      case 'log':
        return false;
    }
  }

  /** Updates per second of this process (from the wall clock, set-up excluded). */
  private stepsPerSecond(): number | null {
    if (!this.firstAt || !this.last) return null;
    const dt = (Date.now() - this.firstAt.t) / 1000;
    const n = this.last.step - this.firstAt.step;
    return dt > 0 && n > 0 ? n / dt : null;
  }

  statusLine(): string {
    const s = this.summary;
    const info = this.info;
    if (!info || !this.last) {
      if (s && s.status !== 'running') return `${s.name}: ${s.status} at step ${s.step} of ${s.steps}${s.reason ? ` (${s.reason})` : ''}`;
      return `${this.phase}… (${clock((Date.now() - this.t0) / 1000)})`;
    }
    const r = this.last;
    const sps = this.stepsPerSecond();
    const left = sps ? (info.steps - r.step) / sps : NaN;
    const evalLoss = this.record?.evals.at(-1);
    const parts = [
      `step ${r.step}/${info.steps}`,
      `loss ${fmt(r.loss)}`,
      ...(evalLoss ? [`eval ${fmt(evalLoss.loss)}`] : []),
      `${rate(r.tokens_per_s)} tokens/s`,
      `stage ${r.stage}`,
      `lr ${fmt(r.lr)}`,
      s && s.status !== 'running' ? s.status : `${clock((Date.now() - this.t0) / 1000)} elapsed, ${clock(left)} left`,
    ];
    return parts.join(' · ');
  }

  bundle(chart: PlotlyFigure | null): MimeBundle {
    const info = this.info;
    const s = this.summary;
    const name = info?.name ?? s?.name ?? '';
    const hash = (info?.hash ?? s?.hash ?? '').slice(0, 12);
    const done = this.last?.step ?? s?.step ?? 0;
    const steps = info?.steps ?? s?.steps ?? 0;
    const line = this.statusLine();
    const dir = info?.dir ?? this.record?.dir ?? '';
    const rel = path.relative(process.cwd(), dir);
    const where = rel && !rel.startsWith('..') ? rel : dir;
    const head =
      `<div style="font:13px sans-serif"><b>${escapeHtml(name)}</b> <code>${escapeHtml(hash)}</code>` +
      (info ? ` · ${escapeHtml(info.backend)} · <code>${escapeHtml(where)}</code>` : '') +
      `</div>` +
      `<progress max="${Math.max(1, steps)}" value="${done}" style="width:100%;height:14px"></progress>` +
      `<div class="chamlab-train-status" style="font:13px monospace">${escapeHtml(line)}</div>`;
    const out: MimeBundle = { 'text/plain': `${name} ${hash}: ${line}` };
    if (chart) {
      // JupyterLab and VS Code show only the plotly rendering of this output: the status goes in its title.
      const titled: PlotlyFigure = { ...chart, layout: { ...(chart.layout ?? {}), title: { text: `${escapeHtml(name)}: ${escapeHtml(line)}` } } };
      out[PLOTLY_MIME] = { data: titled.data, layout: titled.layout };
      out['text/html'] = `<div class="chamlab-train">${head}${figureHtml(chart)}</div>`;
    } else {
      out['text/html'] = `<div class="chamlab-train">${head}</div>`;
    }
    return out;
  }
}

/**
 * Trains `source` (a spec from a cell, a spec file, a builder's resolved spec) and shows it live.
 * Resolves with runExperiment's result; an interrupt rejects with a KernelInterrupt after the run
 * has checkpointed.
 */
export async function train(source: RunSource, opts: TrainOptions = {}): Promise<RunResult> {
  const { steps, refreshMs = 1000, ...runOpts } = opts;
  if (steps !== undefined && (!Number.isInteger(steps) || steps < 1)) throw new TypeError(`train: steps must be a positive integer, got ${steps}`);
  const overrides = [...(runOpts.overrides ?? []), ...(steps !== undefined ? [`train.steps=${steps}`] : [])];
  const out = runOpts.out ?? defaultRunsDir();

  const bundle = takePlotlyBundle();
  if (bundle) displayBundle(bundle);
  const live = new LiveRun();
  const output = new LiveOutput();
  let lastDraw = 0;
  const draw = () => {
    lastDraw = Date.now();
    output.update(live.bundle(live.record && live.record.metrics.length > 0 ? liveLossFigure(live.record) : null));
  };
  draw();

  const controller = new AbortController();
  let interrupts = 0;
  const release = onInterrupt(() => {
    interrupts++;
    if (interrupts > 1) return false;
    live.phase = 'interrupt: finishing the current step and writing a checkpoint';
    controller.abort();
    return true;
  });
  let result: RunResult;
  try {
    result = await runExperiment(source, {
      ...runOpts,
      overrides,
      out,
      signal: controller.signal,
      onEvent: (e) => {
        const important = live.onEvent(e);
        if (important || Date.now() - lastDraw >= refreshMs) draw();
      },
    });
  } finally {
    release();
  }
  // A finished run is not trained again: no events came, so draw it from its folder.
  if (result.skipped) live.record = readRun(result.dir);
  live.summary = result.summary;
  draw();
  if (result.summary.status === 'interrupted') {
    const rel = path.relative(process.cwd(), result.dir) || result.dir;
    throw new KernelInterrupt(
      `interrupted at step ${result.summary.step} of ${result.summary.steps}; ${rel} resumes from its last checkpoint: run this cell again, or in a terminal: chamlab train ${path.join(rel, 'spec.yaml')} --out ${path.relative(process.cwd(), path.resolve(out)) || '.'}`,
    );
  }
  return result;
}
