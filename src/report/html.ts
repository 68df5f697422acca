/**
 * The offline HTML report: one self-contained file (plotly.js inlined once, every figure as JSON
 * beside it, a Content-Security-Policy that forbids every network request) that opens anywhere,
 * years later. Its figures are the functions of this folder, called on the folders given:
 *
 *   one run folder       loss, held-out loss per source, learning rate, stability
 *   several run folders  the same figures with the runs overlaid, plus a table of the runs
 *   one sweep folder     members table, members' loss curves, LR sensitivity (when the learning rate
 *                        is swept), heatmap (two or more swept keys), and the members' stability
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../../dsl/errors';
import { writeFileAtomic } from '../files';
import { chamlabVersion } from '../version';
import { readRun, isRunFolder, type RunRecord } from '../runs/read';
import { RUN_FILES } from '../runs/layout';
import { isSweepFolder, SWEEP_FILES } from '../sweep/layout';
import { DASHES, formatValue, type Figure } from './figure';
import { runLabels } from './labels';
import { evalSourcesFigure, halfLifeFor, lossFigure, lrFigure, runStatus, stabilityFigures, type RunFigureOptions } from './run-figures';
import { loadSweep, variants, variantStyles, type SweepRecord } from './sweep';
import { lrKey, lrSensitivityFigure, sweepHeatmap, sweepLossFigure } from './sweep-figures';
import { membersTable, runsTable } from './tables';

export interface ReportFigure {
  id: string;
  /** One sentence under the figure: what it shows and how to read it. */
  caption: string;
  figure: Figure;
}

export interface ReportSection {
  title: string;
  figures: ReportFigure[];
  /** Figures left out because they have nothing to draw yet, and why. */
  notes: string[];
}

export interface Report {
  kind: 'run' | 'runs' | 'sweep';
  title: string;
  /** Header lines: label -> value (plain text). */
  header: [string, string][];
  /** One entry per run (or sweep member with a folder): name, hash, status, folder. */
  runs: { label: string; name: string; hash: string; status: string; dir: string }[];
  sections: ReportSection[];
  version: string;
  createdAt: string;
}

export interface ReportOptions {
  /** Output file (default: report.html in the run or sweep folder, or in the current folder for several runs). */
  out?: string;
  /** The time stamped into the header (default: now). */
  date?: Date;
}

export interface WrittenReport {
  file: string;
  report: Report;
  bytes: number;
}

type Target = { kind: 'sweep'; dir: string } | { kind: 'runs'; dirs: string[] };

/** What the folders are: one sweep, or one or more runs. Anything else is a UserError saying what to pass. */
function classify(dirs: readonly string[]): Target {
  if (!dirs.length) throw new UserError('give a run folder, a sweep folder, or several run folders', 'chamlab report');
  for (const d of dirs) {
    if (!fs.existsSync(d)) throw new UserError('no such folder', d);
    if (!fs.statSync(d).isDirectory()) throw new UserError('not a folder: give a run folder or a sweep folder', d);
  }
  const sweeps = dirs.filter((d) => isSweepFolder(d));
  if (sweeps.length) {
    if (dirs.length > 1) throw new UserError('a sweep folder is reported on its own: give it alone, or give run folders to compare', sweeps[0]);
    return { kind: 'sweep', dir: dirs[0] };
  }
  for (const d of dirs) {
    if (isRunFolder(d)) continue;
    const inside = findRunFolders(d).slice(0, 3);
    const hint = inside.length
      ? `; run folders inside it: ${inside.join(', ')}${inside.length === 3 ? ', ...' : ''}`
      : `; a run folder holds ${RUN_FILES.spec} and ${RUN_FILES.metrics}, a sweep folder ${SWEEP_FILES.state}`;
    throw new UserError(`neither a run folder nor a sweep folder${hint}`, d);
  }
  return { kind: 'runs', dirs: [...dirs] };
}

/** Run folders one or two levels below `dir` (`<out>/<name>/<hash>`), for the error message. */
function findRunFolders(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string, depth: number) => {
    let names: string[];
    try {
      names = fs.readdirSync(d).sort();
    } catch {
      return;
    }
    for (const n of names) {
      const p = path.join(d, n);
      if (!fs.statSync(p, { throwIfNoEntry: false })?.isDirectory()) continue;
      if (isRunFolder(p) || isSweepFolder(p)) out.push(p);
      else if (depth < 2) visit(p, depth + 1);
    }
  };
  visit(dir, 1);
  return out;
}

export function defaultReportPath(dirs: readonly string[]): string {
  return dirs.length === 1 ? path.join(dirs[0], 'report.html') : path.resolve('report.html');
}

const has = (f: Figure) => f.data.length > 0;

function section(title: string, items: { id: string; caption: string; figure: Figure; empty: string }[]): ReportSection {
  const figures: ReportFigure[] = [];
  const notes: string[] = [];
  for (const it of items) {
    if (has(it.figure)) figures.push({ id: it.id, caption: it.caption, figure: it.figure });
    else notes.push(it.empty);
  }
  return { title, figures, notes };
}

const STABILITY_CAPTIONS = [
  ['layer-rms', 'Output RMS of each transformer block. Chameleon found a rising norm of block outputs to precede divergence; QK-Norm and the norm placement keep it bounded.'],
  ['attn-logit', 'Largest pre-softmax attention score of each block. Without QK-Norm these grow with the learning rate until the softmax saturates (attention entropy collapse).'],
  ['logits', 'z: mean log-partition of the output softmax (z-loss pulls it towards 0); max |logit|: the largest output logit, whose drift signals an unstable output layer.'],
  ['optimizer', 'Global gradient L2 norm before clipping, and the update ratio ‖Δθ‖/‖θ‖ (the effective step size), both on log axes; spikes here usually precede a loss spike.'],
] as const;

function runSections(runs: RunRecord[], opts: RunFigureOptions & { labels: readonly string[] }, prefix: string): ReportSection[] {
  const h = halfLifeFor(runs, opts);
  const stability = stabilityFigures(runs, opts);
  return [
    section('Loss', [
      {
        id: `${prefix}loss`,
        caption: `Training loss per step (faint: raw; solid: EMA with a half-life of ${h} step${h === 1 ? '' : 's'}, 2.5% of the planned steps) and held-out loss on the training mixture (dotted). Dotted grey lines mark where the data stage changes (a jump there is the new mixture). The buttons switch the x axis between steps and tokens seen. Red crosses mark non-finite values; a dashed line marks a divergence.`,
        figure: lossFigure(runs, opts),
        empty: 'Loss: no step recorded yet.',
      },
      {
        id: `${prefix}eval-sources`,
        caption: 'Held-out loss of each data source on its own (the same held-out documents at every evaluation, dropout off).',
        figure: evalSourcesFigure(runs, opts),
        empty: 'Held-out loss per source: no evaluation recorded yet.',
      },
    ]),
    section('Learning rate', [
      {
        id: `${prefix}lr`,
        caption: 'The learning rate each step used (warmup and decay); dotted lines mark where the data stage changes.',
        figure: lrFigure(runs, opts),
        empty: 'Learning rate: no step recorded yet.',
      },
    ]),
    section(
      'Stability',
      stability.map((figure, i) => ({
        id: `${prefix}${STABILITY_CAPTIONS[i][0]}`,
        caption: STABILITY_CAPTIONS[i][1],
        figure,
        empty: `${STABILITY_CAPTIONS[i][0]}: not recorded yet.`,
      })),
    ),
  ];
}

function statusOf(r: RunRecord): string {
  return r.summary?.status ?? (r.metrics.length ? 'running' : 'not started');
}

function runHeader(r: RunRecord): [string, string][] {
  const s = r.summary;
  const rows: [string, string][] = [
    ['spec', r.spec.name + (r.spec.description ? ` — ${r.spec.description}` : '')],
    ['hash', r.hash],
    ['status', runStatus(r) + (s?.reason ? ` (${s.reason})` : '')],
    ['steps', `${s?.step ?? r.metrics.at(-1)?.step ?? 0} of ${r.spec.train.steps}, ${(s?.tokens ?? r.metrics.at(-1)?.tokens ?? 0).toLocaleString('en-US')} tokens`],
  ];
  if (s) {
    rows.push(['eval loss', `final ${formatValue(s.final_eval_loss)}, best ${formatValue(s.best_eval_loss)}${s.best_eval_step !== null ? ` at step ${s.best_eval_step}` : ''}`]);
    if (s.divergence) rows.push(['divergence', `${s.divergence.message}${s.warnings > 1 ? ` (${s.warnings} warnings)` : ''}`]);
    rows.push([
      'trained',
      `on ${s.backend} (device ${s.device}), ${s.tokens_per_s !== null ? `${Math.round(s.tokens_per_s).toLocaleString('en-US')} tokens/s, ` : ''}${formatValue(s.wall_s, 3)} s wall, ${s.attempts} process${s.attempts === 1 ? '' : 'es'}, chamlab ${s.chamlab_version}`,
    ]);
    rows.push(['started / updated', `${s.started_at} / ${s.updated_at}`]);
  }
  rows.push(['folder', path.resolve(r.dir)]);
  return rows;
}

function sweepReport(sweep: SweepRecord): Omit<Report, 'version' | 'createdAt'> {
  const st = sweep.state;
  const withRuns = sweep.members.filter((m) => m.run && m.run.metrics.length);
  const counts = new Map<string, number>();
  for (const m of sweep.members) counts.set(m.status, (counts.get(m.status) ?? 0) + 1);
  const sections: ReportSection[] = [
    section('Members', [{ id: 'members', caption: 'Every member of the sweep, in plan order.', figure: membersTable(sweep), empty: '' }]),
    section('Loss', [
      {
        id: 'sweep-loss',
        caption:
          'Every variant of the swept keys: training loss smoothed by an EMA (thick) and held-out loss (thin, dotted, with markers). On a grid the learning rate (or the first key) sets the colour, dark to light in increasing order, and the second key the dash. Seed replicates are drawn as their mean with a min–max band; an x marks where a member diverged.',
        figure: sweepLossFigure(sweep),
        empty: 'Loss: no member has recorded a step yet.',
      },
    ]),
  ];
  const key = lrKey(sweep);
  const others: ReportFigure[] = [];
  if (key)
    others.push({
      id: 'lr-sensitivity',
      caption:
        'Final held-out loss against the peak learning rate (log axis), one line per variant of the other swept keys, seeds averaged with min–max error bars (Wortsman et al. 2023, fig. 1). Diverged members are drawn as large x markers at ln V, the loss of a uniform guess; open circles are members still running (their latest eval). The legend states each line’s LR sensitivity: the mean over learning rates of min(loss, ln V) minus the best loss.',
      figure: lrSensitivityFigure(sweep),
    });
  const variantKeys = st.keys.filter((k) => k !== sweep.seedKey);
  if (variantKeys.length >= 2)
    others.push({
      id: 'heatmap',
      caption: 'Final held-out loss over two swept keys (mean over seeds and any further keys); darker is worse. Cells whose members all diverged are red, cells without a result (failed, pending) grey.',
      figure: sweepHeatmap(sweep),
    });
  if (others.length) sections.push({ title: 'Sensitivity', figures: others, notes: [] });
  if (withRuns.length) {
    // Each member in its variant's style (as in the loss figure); where the style does not use dashes,
    // seed replicates are told apart by them.
    const styles = variantStyles(sweep);
    const style = new Map(
      variants(sweep).flatMap((g) =>
        g.members.map((m, k) => {
          const st = styles.get(JSON.stringify(g.variant))!;
          return [m, { color: st.color, dash: st.dash === 'solid' ? DASHES[k % DASHES.length] : st.dash }] as const;
        }),
      ),
    );
    const opts = {
      labels: withRuns.map((m) => m.label),
      colors: withRuns.map((m) => style.get(m)!.color),
      dashes: withRuns.map((m) => style.get(m)!.dash),
    };
    for (const s of runSections(withRuns.map((m) => m.run!), opts, 'members-').slice(1)) sections.push({ ...s, title: `${s.title} of every member` });
  }
  return {
    kind: 'sweep',
    title: `Sweep ${st.name}`,
    header: [
      ['sweep', st.name],
      ['hash', st.hash],
      ['swept', st.keys.join(', ') || '(nothing)'],
      ['members', `${st.members.length}: ${[...counts].map(([s, n]) => `${n} ${s}`).join(', ')}`],
      ['executor', st.executor + (st.slurm_job ? ` (Slurm job ${st.slurm_job})` : '')],
      ['created / updated', `${st.created_at} / ${st.updated_at}`],
      ['folder', sweep.dir],
    ],
    runs: sweep.members.flatMap((m) => (m.run ? [{ label: m.label, name: m.run.spec.name, hash: m.run.hash, status: m.status, dir: m.run.dir }] : [])),
    sections,
  };
}

/** Reads the folders and builds every figure of their report. */
export function buildReport(dirs: readonly string[], opts: Pick<ReportOptions, 'date'> = {}): Report {
  const target = classify(dirs);
  const meta = { version: chamlabVersion(), createdAt: (opts.date ?? new Date()).toISOString() };
  if (target.kind === 'sweep') return { ...sweepReport(loadSweep(target.dir)), ...meta };
  const runs = target.dirs.map((d) => readRun(d));
  const labels = runLabels(runs);
  const single = runs.length === 1;
  const sections = runSections(runs, { labels }, '');
  if (!single) sections.unshift(section('Runs', [{ id: 'runs', caption: 'The runs compared, named by the settings in which their specs differ.', figure: runsTable(runs, labels), empty: '' }]));
  return {
    kind: single ? 'run' : 'runs',
    title: single ? `Run ${runs[0].spec.name}` : `${runs.length} runs compared`,
    header: single ? runHeader(runs[0]) : [['runs', String(runs.length)]],
    runs: runs.map((r, i) => ({ label: labels[i], name: r.spec.name, hash: r.hash, status: statusOf(r), dir: path.resolve(r.dir) })),
    sections,
    ...meta,
  };
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** JSON that is safe inside <script>: no "</script>", no HTML comment openers, no JS line separators. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v))
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

let plotlySource: string | null = null;

/** plotly.js from the plotly.js-dist-min dependency, checked to be safe to inline in a <script>. */
function plotlyJs(): string {
  if (plotlySource) return plotlySource;
  const text = fs.readFileSync(require.resolve('plotly.js-dist-min'), 'utf8');
  if (/<\/script|<script/i.test(text)) throw new Error('plotly.min.js contains a <script> tag: it cannot be inlined as is');
  plotlySource = text;
  return text;
}

const CSS = `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #222; background: #f6f6f4; }
header { background: #fff; border-bottom: 1px solid #ddd; padding: 18px 28px 14px; }
h1 { font-size: 20px; margin: 0 0 10px; }
h2 { font-size: 16px; margin: 28px 0 8px; }
main { padding: 0 28px 40px; max-width: 1280px; }
table.meta { border-collapse: collapse; font-size: 13px; }
table.meta th { text-align: left; font-weight: 600; padding: 2px 16px 2px 0; color: #555; vertical-align: top; white-space: nowrap; }
table.meta td { padding: 2px 0; }
table.runs { border-collapse: collapse; font-size: 12px; margin-top: 10px; }
table.runs th, table.runs td { text-align: left; padding: 3px 12px 3px 0; border-bottom: 1px solid #eee; }
code, .hash { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
.figure { background: #fff; border: 1px solid #e2e2e2; border-radius: 4px; margin: 10px 0 18px; padding: 6px; }
.figure p { margin: 4px 8px 6px; color: #555; font-size: 12.5px; }
.note { color: #777; font-style: italic; margin: 4px 0; }
nav { margin-top: 12px; font-size: 13px; }
nav a { color: #2b5d8a; text-decoration: none; }
footer { color: #888; font-size: 12px; padding: 0 28px 24px; }
`;

/** The report as one HTML document (see the module comment). */
export function renderReportHtml(report: Report): string {
  const figures = report.sections.flatMap((s) => s.figures);
  const headerRows = report.header
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td${k === 'hash' ? ' class="hash"' : ''}>${esc(v)}</td></tr>`)
    .join('\n');
  const runRows =
    report.kind !== 'runs'
      ? ''
      : `<table class="runs"><tr><th>run</th><th>spec</th><th>hash</th></tr>\n${report.runs
          .map((r) => `<tr><td>${esc(r.label)}</td><td>${esc(r.name)}</td><td class="hash">${esc(r.hash)}</td></tr>`)
          .join('\n')}</table>`;
  const shown = report.sections.filter((s) => s.figures.length || s.notes.length);
  const anchor = (i: number) => `section-${i + 1}`;
  const nav = `<nav>${shown.map((s, i) => `<a href="#${anchor(i)}">${esc(s.title)}</a>`).join(' · ')}</nav>`;
  const body = shown
    .map(
      (s, i) =>
        `<section id="${anchor(i)}"><h2>${esc(s.title)}</h2>\n` +
        s.figures.map((f) => `<div class="figure"><div class="plot" id="${esc(f.id)}"></div><p>${esc(f.caption)}</p></div>`).join('\n') +
        s.notes.map((n) => `<p class="note">${esc(n)}</p>`).join('\n') +
        '</section>',
    )
    .join('\n');
  const payload = scriptJson(figures.map((f) => ({ id: f.id, data: f.figure.data, layout: f.figure.layout })));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:">
<meta name="generator" content="chamlab ${esc(report.version)}">
<title>${esc(report.title)} · chamlab report</title>
<style>${CSS}</style>
</head>
<body data-plots="pending">
<header>
<h1>${esc(report.title)}</h1>
<table class="meta">
${headerRows}
<tr><th>report</th><td>written by chamlab ${esc(report.version)} on ${esc(report.createdAt)}</td></tr>
</table>
${runRows}
${nav}
</header>
<main>
${body}
</main>
<footer>Offline report: plotly.js is inlined and the page makes no network request. Hover for values; drag to zoom, double-click to reset; the camera icon saves a PNG.</footer>
<script type="application/json" id="chamlab-figures">${payload}</script>
<script>${plotlyJs()}</script>
<script>
(function () {
  var figures = JSON.parse(document.getElementById('chamlab-figures').textContent);
  var config = { responsive: true, displaylogo: false, toImageButtonOptions: { format: 'png', scale: 2 } };
  Promise.all(figures.map(function (f) { return Plotly.newPlot(document.getElementById(f.id), f.data, f.layout, config); })).then(
    function () { document.body.setAttribute('data-plots', 'done'); },
    function (e) { document.body.setAttribute('data-plots', 'error'); console.error('chamlab report: a figure failed to draw', e); }
  );
})();
</script>
</body>
</html>
`;
}

/** Builds the report of `dirs` and writes it atomically (default: report.html in the run or sweep folder). */
export function writeReport(dirs: readonly string[], opts: ReportOptions = {}): WrittenReport {
  const report = buildReport(dirs, opts);
  const file = path.resolve(opts.out ?? defaultReportPath(dirs));
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new UserError('is a folder; give --out a file name such as report.html', file);
  const html = renderReportHtml(report);
  writeFileAtomic(file, html);
  return { file, report, bytes: Buffer.byteLength(html) };
}
