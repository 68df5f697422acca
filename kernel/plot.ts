/**
 * plot.*: the report's figures of runs and sweeps, displayed in a cell (each one output holding the
 * plotly JSON and its HTML rendering, plotly.ts). Every figure is src/report's; this module only
 * reads the folders and picks the figure.
 *
 *   plot.loss(run)             training loss (raw and smoothed) and held-out loss
 *   plot.lr(run)               the learning-rate schedule as trained
 *   plot.stability(run)        the stability diagnostics: output-norm growth (layer RMS), attention
 *                              logits, logits, gradient norm and update ratio; of a sweep: every
 *                              member overlaid, styled by variant (the sweep report's figures)
 *   plot.sweep(sweep)          every member's loss
 *   plot.lrSensitivity(sweep)  final loss against learning rate per variant
 *   plot.heatmap(sweep)        final loss over two swept keys
 *   plot.members(sweep)        the members table
 *   plot.report(dirs)          every figure of `chamlab report` for runs or a sweep, by section, with captions
 *
 * A run is a run folder path, a RunRecord (readRun), what `train` returned, or a list of them (drawn
 * together); a sweep is a sweep folder path, a SweepRecord (loadSweep) or what runSweep returned.
 */
import { readRun, type RunRecord } from '../src/runs/read';
import { readSweepState } from '../src/sweep/layout';
import {
  buildReport,
  loadSweep,
  lossFigure,
  lrFigure,
  lrSensitivityFigure,
  membersTable,
  stabilityFigures,
  sweepHeatmap,
  sweepLossFigure,
  type RunFigureOptions,
  type SweepRecord,
} from '../src/report';
import { displayBundle, escapeHtml } from './display';
import { showFigure } from './figures';

export type RunLike = string | RunRecord | { dir: string };
export type SweepLike = string | SweepRecord | { dir: string };

function toRun(r: RunLike): RunRecord {
  if (typeof r === 'string') return readRun(r);
  if ('metrics' in r && 'spec' in r) return r;
  return readRun(r.dir);
}

function toRuns(r: RunLike | readonly RunLike[]): RunRecord | RunRecord[] {
  return Array.isArray(r) ? (r as readonly RunLike[]).map(toRun) : toRun(r as RunLike);
}

/** A sweep (folder with sweep.json, SweepRecord or runSweep's result) rather than a run. */
function isSweep(x: unknown): x is SweepLike {
  if (typeof x === 'string') return readSweepState(x) !== null;
  if (!x || typeof x !== 'object' || Array.isArray(x)) return false;
  if ('members' in x && 'state' in x) return true;
  return 'state' in x && 'dir' in x && readSweepState((x as { dir: string }).dir) !== null;
}

/** The report's figures whose ids are listed, in the report's order. */
function reportFigures(dir: string, ids: (id: string) => boolean) {
  return buildReport([dir]).sections.flatMap((s) => s.figures.filter((f) => ids(f.id)));
}

const STABILITY_IDS = ['layer-rms', 'attn-logit', 'logits', 'optimizer'];

function toSweep(s: SweepLike): SweepRecord {
  if (typeof s === 'string') return loadSweep(s);
  if ('members' in s && 'state' in s) return s as SweepRecord;
  return loadSweep(s.dir);
}

export const plot = {
  loss(run: RunLike | readonly RunLike[], opts: RunFigureOptions = {}): void {
    showFigure(lossFigure(toRuns(run), opts));
  },
  lr(run: RunLike | readonly RunLike[], opts: RunFigureOptions = {}): void {
    showFigure(lrFigure(toRuns(run), opts));
  },
  stability(what: RunLike | readonly RunLike[] | SweepLike, opts: RunFigureOptions = {}): void {
    if (isSweep(what)) {
      const dir = typeof what === 'string' ? what : what.dir;
      for (const f of reportFigures(dir, (id) => STABILITY_IDS.some((s) => id === `members-${s}`))) showFigure(f.figure);
      return;
    }
    for (const fig of stabilityFigures(toRuns(what as RunLike | readonly RunLike[]), opts)) showFigure(fig);
  },
  sweep(sweep: SweepLike): void {
    showFigure(sweepLossFigure(toSweep(sweep)));
  },
  lrSensitivity(sweep: SweepLike, opts: { key?: string } = {}): void {
    showFigure(lrSensitivityFigure(toSweep(sweep), opts));
  },
  heatmap(sweep: SweepLike, opts: { x?: string; y?: string } = {}): void {
    showFigure(sweepHeatmap(toSweep(sweep), opts));
  },
  members(sweep: SweepLike): void {
    showFigure(membersTable(toSweep(sweep)));
  },
  /** Every figure of the HTML report of these folders (one run, several runs, or one sweep), with its section and caption. */
  report(dirs: string | readonly string[]): void {
    const report = buildReport(typeof dirs === 'string' ? [dirs] : dirs);
    for (const s of report.sections) {
      displayBundle({ 'text/html': `<h3>${escapeHtml(s.title)}</h3>`, 'text/markdown': `### ${s.title}`, 'text/plain': s.title });
      for (const f of s.figures) {
        showFigure(f.figure);
        displayBundle({ 'text/html': `<p style="font-size:12px;color:#555">${escapeHtml(f.caption)}</p>`, 'text/plain': f.caption });
      }
      for (const n of s.notes) displayBundle({ 'text/plain': n });
    }
  },
};
