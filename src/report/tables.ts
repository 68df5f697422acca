/**
 * Tables as plotly table figures, so the HTML report and a notebook cell show the same object: the
 * members of a sweep, or the runs being compared.
 */
import * as path from 'node:path';
import type { TableData } from 'plotly.js-dist-min';
import type { MemberStatus } from '../sweep/layout';
import type { RunRecord } from '../runs/read';
import { baseLayout, formatValue, type Figure } from './figure';
import { runLabels } from './labels';
import { runStatus } from './run-figures';
import type { SweepRecord } from './sweep';

const STATUS_FILL: Record<MemberStatus | 'not started', string> = {
  finished: '#dff0d8',
  running: '#d9edf7',
  interrupted: '#fcf8e3',
  diverged: '#fbe0c8',
  failed: '#f2c9c9',
  pending: '#eeeeee',
  'not started': '#eeeeee',
};

interface Column {
  name: string;
  /** Relative width. */
  width: number;
  values: string[];
}

export function tableFigure(title: string, columns: Column[], statuses: string[]): Figure {
  const rows = columns[0]?.values.length ?? 0;
  const plain = statuses.map(() => '#ffffff');
  const fills = columns.map((c) => (c.name === 'status' ? statuses.map((s) => STATUS_FILL[s as MemberStatus] ?? '#ffffff') : plain));
  const trace: Partial<TableData> = {
    type: 'table',
    columnwidth: columns.map((c) => c.width),
    header: {
      values: columns.map((c) => `<b>${c.name}</b>`),
      align: 'left',
      fill: { color: '#f0f0f0' },
      line: { color: '#d0d0d0' },
      font: { size: 12 },
      height: 28,
    },
    cells: {
      values: columns.map((c) => c.values),
      align: 'left',
      fill: { color: fills },
      line: { color: '#e0e0e0' },
      font: { size: 11 },
      height: 24,
    },
  };
  return {
    data: [trace],
    // Rows whose text wraps grow taller than `height`: leave room for two lines each.
    layout: baseLayout(title, { height: Math.min(900, 90 + 28 + 36 * Math.max(1, rows)), margin: { l: 10, r: 10, t: 50, b: 10 } }),
  };
}

/** The deepest folder that holds all of `dirs`. */
function commonParent(dirs: readonly string[]): string {
  const split = dirs.map((d) => path.dirname(d).split(path.sep));
  const out: string[] = [];
  for (let i = 0; split.every((p) => i < p.length && p[i] === split[0][i]); i++) out.push(split[0][i]);
  return out.join(path.sep) || path.sep;
}

const num = (v: number | null | undefined) => (v === null || v === undefined ? '—' : formatValue(v));
const rate = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : Math.round(v).toLocaleString('en-US'));
const html = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Every member of a sweep: overrides, status, steps, final and best eval loss, divergence, throughput, problems. */
export function membersTable(sweep: SweepRecord): Figure {
  const ms = sweep.members;
  const summary = (i: number) => ms[i].run?.summary ?? null;
  const columns: Column[] = [
    { name: '#', width: 0.4, values: ms.map((m) => String(m.record.index)) },
    { name: 'overrides', width: 3, values: ms.map((m) => html(m.label)) },
    { name: 'hash', width: 1.1, values: ms.map((m) => m.record.hash.slice(0, 12)) },
    { name: 'status', width: 1, values: ms.map((m) => m.status) },
    {
      name: 'steps',
      width: 1,
      values: ms.map((m, i) => {
        const done = summary(i)?.step ?? m.record.steps_done;
        const planned = summary(i)?.steps ?? m.run?.spec.train.steps;
        return planned ? `${done} / ${planned}` : String(done);
      }),
    },
    { name: 'final eval loss', width: 1.1, values: ms.map((m, i) => num(summary(i)?.final_eval_loss ?? m.record.final_eval_loss)) },
    {
      name: 'best eval loss (step)',
      width: 1.3,
      values: ms.map((m, i) => {
        const s = summary(i);
        const best = s?.best_eval_loss ?? m.record.best_eval_loss;
        return best === null ? '—' : s?.best_eval_step != null ? `${num(best)} (${s.best_eval_step})` : num(best);
      }),
    },
    {
      name: 'diverged at',
      width: 1,
      values: ms.map((m, i) => {
        const d = summary(i)?.divergence;
        const step = d?.step ?? m.record.diverged_at;
        if (step === null || step === undefined) return '—';
        return m.status === 'diverged' ? `step ${step}` : `step ${step} (warned)`;
      }),
    },
    { name: 'tokens/s', width: 0.9, values: ms.map((m, i) => rate(summary(i)?.tokens_per_s ?? m.record.tokens_per_s)) },
    {
      name: 'note',
      width: 3,
      values: ms.map((m, i) => html(m.record.error ?? m.problem ?? summary(i)?.reason ?? summary(i)?.divergence?.message ?? '')),
    },
  ];
  const counts = new Map<string, number>();
  for (const m of ms) counts.set(m.status, (counts.get(m.status) ?? 0) + 1);
  const tally = [...counts].map(([s, n]) => `${n} ${s}`).join(', ');
  return tableFigure(`Members of ${html(sweep.state.name)} (${ms.length}: ${tally})`, columns, ms.map((m) => m.status));
}

/** The runs being compared: legend name, spec, status, steps, eval losses, divergence, throughput, folder. */
export function runsTable(runs: readonly RunRecord[], labels: readonly string[] = runLabels(runs)): Figure {
  const base = commonParent(runs.map((r) => path.resolve(r.dir)));
  const statusOf = (r: RunRecord) => r.summary?.status ?? (r.metrics.length ? 'running' : 'not started');
  const columns: Column[] = [
    { name: 'run', width: 3, values: labels.map(html) },
    { name: 'spec (hash)', width: 1.6, values: runs.map((r) => `${html(r.spec.name)} (${r.hash.slice(0, 12)})`) },
    { name: 'status', width: 1, values: runs.map(statusOf) },
    { name: 'where', width: 1.6, values: runs.map(runStatus) },
    { name: 'final eval loss', width: 1.1, values: runs.map((r) => num(r.summary?.final_eval_loss)) },
    {
      name: 'best eval loss (step)',
      width: 1.3,
      values: runs.map((r) => (r.summary?.best_eval_loss == null ? '—' : `${num(r.summary.best_eval_loss)} (${r.summary.best_eval_step})`)),
    },
    { name: 'tokens/s', width: 0.9, values: runs.map((r) => rate(r.summary?.tokens_per_s)) },
    { name: 'folder', width: 1.8, values: runs.map((r) => html(path.relative(base, path.resolve(r.dir)) || '.')) },
  ];
  return tableFigure(`Runs compared (${runs.length}; folders under ${html(base)})`, columns, runs.map(statusOf));
}
