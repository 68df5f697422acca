/**
 * Figures of one run, or of several runs overlaid for comparison (each run one colour, named by how
 * its spec differs from the others'): loss, held-out loss per data source, learning rate, and the
 * stability signals the step graph records (block output RMS and max attention logit per layer, z
 * and max |logit|, gradient norm and update ratio). Every figure marks the step where a run diverged.
 */
import type { Layout, LayoutAxis, Shape } from 'plotly.js-dist-min';
import type { EvalRow, MetricsRow } from '../runs/layout';
import type { RunRecord } from '../runs/read';
import {
  autoAxisType,
  axis,
  baseLayout,
  colorAt,
  DASHES,
  DIVERGED_COLOR,
  ema,
  emaHalfLife,
  emptyNote,
  escapeHover,
  finiteValues,
  formatValue,
  clampMarkers,
  lossAxis,
  logTicks,
  uniformLoss,
  valueAxis,
  LOSS_UNIT,
  nonFiniteTrace,
  PALETTE,
  seriesOf,
  STEP_AXIS,
  thinFigure,
  thinTrace,
  TOKENS_AXIS,
  viridis,
  vline,
  withAlpha,
  type Figure,
  type Scatter,
  type Series,
} from './figure';
import { runLabels } from './labels';

export type RunInput = RunRecord | readonly RunRecord[];

export interface RunFigureOptions {
  /** Legend names, one per run (default: runLabels, or the spec name for a single run). */
  labels?: readonly string[];
  /** EMA half-life of the smoothed training loss, in steps (default: emaHalfLife of the longest run). */
  halfLife?: number;
  /** One colour per run (default: the palette in order); a sweep passes its variants' colours. */
  colors?: readonly string[];
  /** One line dash per run (default solid); a sweep tells seed replicates apart with it. */
  dashes?: readonly (typeof DASHES)[number][];
}

interface Labelled {
  run: RunRecord;
  label: string;
  color: string;
  dash: (typeof DASHES)[number];
}

function labelled(input: RunInput, opts: RunFigureOptions): Labelled[] {
  const runs = Array.isArray(input) ? (input as readonly RunRecord[]) : [input as RunRecord];
  const labels = opts.labels ?? runLabels(runs);
  if (labels.length !== runs.length) throw new Error(`${labels.length} labels for ${runs.length} runs`);
  return runs.map((run, i) => ({ run, label: labels[i], color: opts.colors?.[i] ?? colorAt(i), dash: opts.dashes?.[i] ?? 'solid' }));
}

/** The smoothing half-life a figure of these runs uses (what the loss figure's legend states). */
export function halfLifeFor(input: RunInput, opts: RunFigureOptions = {}): number {
  const runs = Array.isArray(input) ? (input as readonly RunRecord[]) : [input as RunRecord];
  return opts.halfLife ?? emaHalfLife(Math.max(1, ...runs.map((r) => r.spec.train.steps)));
}

/** Where a run stands, for titles: `finished`, `running, step 120 of 300`, `diverged at step 41`. */
export function runStatus(run: RunRecord): string {
  const s = run.summary;
  const done = run.metrics.length ? run.metrics[run.metrics.length - 1].step : 0;
  if (!s) return done ? `running, step ${done} of ${run.spec.train.steps}` : 'not started';
  if (s.status === 'diverged') return `diverged at step ${s.divergence?.step ?? s.step}`;
  if (s.status === 'finished') return 'finished';
  return `${s.status}, step ${s.step} of ${s.steps}`;
}

/**
 * Divergence markers: a dashed line at the step of each run's stopping divergence, or of its first
 * warning (action warn). Runs that diverged at the same step share one line, so labels never overlap.
 */
function divergenceShapes(runs: readonly Labelled[], x: 'step' | 'tokens' = 'step'): Partial<Shape>[] {
  const single = runs.length === 1;
  const at = new Map<number, { runs: Labelled[]; stopped: boolean }>();
  for (const r of runs) {
    const d = r.run.summary?.divergence;
    if (!d) continue;
    const row = r.run.metrics.find((m) => m.step === d.step);
    const pos = x === 'step' ? d.step : row?.tokens ?? d.step * tokensPerStep(r.run);
    const e = at.get(pos) ?? { runs: [], stopped: false };
    e.runs.push(r);
    e.stopped ||= r.run.summary!.status === 'diverged';
    at.set(pos, e);
  }
  // The line is in the run's colour (hover and legend say which run); labels near the right edge go left.
  const last = Math.max(1, ...runs.map((r) => r.run.metrics.at(-1)?.step ?? 0));
  return [...at].map(([pos, e]) => {
    const step = e.runs[0].run.summary!.divergence!.step;
    const what = `${e.stopped ? 'diverged' : 'divergence warning'} at step ${step}`;
    const who = e.runs.length > 1 ? `${e.runs.length} runs: ` : '';
    const color = single || e.runs.length > 1 ? DIVERGED_COLOR : e.runs[0].color;
    return vline(pos, color, who + what, 'x', 'dash', step > 0.6 * last ? 'left' : 'right');
  });
}

function tokensPerStep(run: RunRecord): number {
  return run.spec.train.batch * run.spec.data.seq_len;
}

/**
 * Dotted lines where the data stage changes (the first step of each new stage), labelled with the
 * stage's name; runs that change stage at the same step share a line. A jump in the training loss
 * at such a line is the new mixture, not instability.
 */
function stageShapes(runs: readonly Labelled[], x: 'step' | 'tokens' = 'step'): Partial<Shape>[] {
  const at = new Map<string, Partial<Shape>>();
  for (const { run } of runs)
    run.metrics.forEach((r, i) => {
      if (i === 0 || r.stage === run.metrics[i - 1].stage) return;
      const pos = x === 'step' ? r.step : r.tokens;
      at.set(`${pos}:${r.stage}`, vline(pos, '#888888', r.stage, 'x', 'dot'));
    });
  return [...at.values()];
}

/** Stage boundaries and divergences: the lines every figure over steps carries. */
function stepMarks(runs: readonly Labelled[]): Partial<Shape>[] {
  return [...stageShapes(runs), ...divergenceShapes(runs)];
}

const steps = (n: number) => `${n} step${n === 1 ? '' : 's'}`;

const hoverHead = (name: string) => `<b>${escapeHover(name)}</b><br>step %{customdata[0]} · %{customdata[1]:,} tokens<br>`;

/** A line trace of a series; x is the step, with step and tokens in customdata for the hover and the toggle. */
function line(s: Series, y: (number | null)[], name: string, valueName: string, extra: Scatter = {}): Scatter {
  return {
    type: 'scatter',
    mode: 'lines',
    name,
    x: s.steps,
    y,
    connectgaps: false,
    customdata: s.steps.map((st, i) => [st, s.tokens[i]]),
    hovertemplate: `${hoverHead(name)}${valueName} %{y:.4f}<extra></extra>`,
    ...extra,
  };
}

/** Top of the finite range of some series: where non-finite markers are drawn. */
function markerLevel(...series: (number | null)[][]): number {
  const v = series.flatMap((s) => finiteValues(s));
  return v.length ? Math.max(...v) : 1;
}

/**
 * Train loss (raw, faint) and its EMA (half-life in the legend), and held-out loss on the run's
 * mixture, vs step; buttons switch the x axis to tokens seen.
 */
export function lossFigure(input: RunInput, opts: RunFigureOptions = {}): Figure {
  const runs = labelled(input, opts);
  const single = runs.length === 1;
  const h = halfLifeFor(input, opts);
  const data: Scatter[] = [];
  // Every trace here carries [step, tokens, ...] per point in customdata: the tokens button reads it.
  const add = (t: Scatter | null) => {
    if (!t || !(t.x as number[]).length) return; // nothing recorded yet: no empty trace
    data.push(thinTrace(t));
  };
  const shapesStep: Partial<Shape>[] = [];
  const shapesTokens: Partial<Shape>[] = [];
  for (const { run, label, color, dash } of runs) {
    const train = seriesOf(run.metrics, (r: MetricsRow) => r.loss);
    const smooth = ema(train.steps, train.y, h);
    const ev = seriesOf(run.evals, (r: EvalRow) => r.loss);
    const group = single ? undefined : label;
    const evalColor = single ? PALETTE[1] : color;
    add(
      line(train, train.y, single ? 'train (raw)' : `${label}: train (raw)`, 'train loss', {
        line: { color: withAlpha(color, 0.35), width: 1 },
        legendgroup: group,
        showlegend: single,
      }),
    );
    add(
      line(train, smooth, single ? `train (EMA, half-life ${steps(h)})` : label, `train loss (EMA, half-life ${h})`, {
        line: { color, width: 2, dash },
        legendgroup: group,
      }),
    );
    add(
      line(ev, ev.y, single ? 'eval (held-out mixture)' : `${label}: eval`, 'eval loss', {
        mode: 'lines+markers',
        line: { color: evalColor, width: 1.5, dash: 'dot' },
        marker: { size: 6, color: evalColor },
        legendgroup: group,
        showlegend: single,
      }),
    );
    const level = markerLevel(train.y, ev.y);
    add(nonFiniteTrace(train, single ? 'train loss non-finite' : `${label}: train loss non-finite`, level, { legendgroup: group }));
    add(nonFiniteTrace(ev, single ? 'eval loss non-finite' : `${label}: eval loss non-finite`, level, { legendgroup: group }));
  }
  shapesStep.push(...stageShapes(runs), ...divergenceShapes(runs));
  shapesTokens.push(...stageShapes(runs, 'tokens'), ...divergenceShapes(runs, 'tokens'));
  const ys = data.flatMap((t) => finiteValues((t.y ?? []) as (number | null)[]));
  const curves = runs.map(({ run }) => finiteValues([...run.metrics.map((r) => r.loss), ...run.evals.map((r) => r.loss)].map((v) => (Number.isFinite(v) ? v : null))));
  const y = lossAxis(curves, Math.max(...runs.map(({ run }) => uniformLoss(run.spec))));
  if (y.clippedAt !== null) clampMarkers(data, y.clippedAt);
  const stepsX = data.map((t) => t.x as number[]);
  const tokensX = data.map((t) => (t.customdata as number[][]).map((c) => c[1]));
  const layout = baseLayout(single ? `Loss: ${runs[0].label} (${runStatus(runs[0].run)})` : 'Loss', {
    margin: { l: 70, r: 30, t: 80, b: 55 },
    xaxis: axis(STEP_AXIS),
    yaxis: axis(y.clippedAt === null ? `loss (${LOSS_UNIT})` : `loss (${LOSS_UNIT}), clipped at ${formatValue(y.clippedAt, 3)}`, y.axis),
    shapes: shapesStep,
    updatemenus: [
      {
        type: 'buttons',
        direction: 'right',
        x: 1,
        xanchor: 'right',
        y: 1.09,
        yanchor: 'bottom',
        pad: { t: 0, r: 0 },
        showactive: true,
        active: 0,
        font: { size: 11 },
        buttons: [
          { label: 'x: step', method: 'update', args: [{ x: stepsX }, { 'xaxis.title.text': STEP_AXIS, shapes: shapesStep }] },
          { label: 'x: tokens', method: 'update', args: [{ x: tokensX }, { 'xaxis.title.text': TOKENS_AXIS, shapes: shapesTokens }] },
        ],
      },
    ],
  });
  if (!data.length) layout.annotations = [emptyNote('no steps recorded yet')];
  return { data, layout };
}

/** Held-out loss of each data source (text, image-text, interleaved, ...) vs step. */
export function evalSourcesFigure(input: RunInput, opts: RunFigureOptions = {}): Figure {
  const runs = labelled(input, opts);
  const single = runs.length === 1;
  const data: Scatter[] = [];
  runs.forEach(({ run, label, color }) => {
    const names = [...new Set(run.evals.flatMap((r) => Object.keys(r.sources)))].sort();
    names.forEach((src, k) => {
      const kind = run.evals.find((r) => r.sources[src])?.sources[src].kind;
      const s = seriesOf(
        run.evals.filter((r) => r.sources[src]),
        (r: EvalRow) => r.sources[src].loss,
      );
      const srcName = kind && kind !== src ? `${src} (${kind})` : src;
      const name = single ? srcName : `${label}: ${srcName}`;
      const c = single ? colorAt(k) : color;
      data.push(
        line(s, s.y, name, `${escapeHover(src)} eval loss`, {
          mode: 'lines+markers',
          line: { color: c, width: 1.5, dash: single ? 'solid' : DASHES[k % DASHES.length] },
          marker: { size: 5, color: c },
          legendgroup: single ? undefined : label,
        }),
      );
      const first = !data.some((t) => t.mode === 'markers');
      const bad = nonFiniteTrace(s, `${name} non-finite`, markerLevel(s.y), {
        legendgroup: single ? 'non-finite' : label,
        showlegend: single && first,
      });
      if (bad) data.push(single && first ? { ...bad, name: 'non-finite (NaN/Inf)' } : bad);
    });
  });
  const shapes = stepMarks(runs);
  const ys = data.flatMap((t) => finiteValues((t.y ?? []) as (number | null)[]));
  const layout = baseLayout(single ? `Held-out loss per data source: ${runs[0].label}` : 'Held-out loss per data source', {
    xaxis: axis(STEP_AXIS),
    yaxis: valueAxis(`eval loss (${LOSS_UNIT})`, ys),
    shapes,
  });
  if (!data.length) layout.annotations = [emptyNote('no evaluation recorded yet')];
  return thinFigure({ data, layout });
}

/** Learning rate vs step, with the data-stage boundaries (and any divergence) marked. */
export function lrFigure(input: RunInput, opts: RunFigureOptions = {}): Figure {
  const runs = labelled(input, opts);
  const single = runs.length === 1;
  const data: Scatter[] = [];
  for (const { run, label, color, dash } of runs) {
    const s = seriesOf(run.metrics, (r: MetricsRow) => r.lr);
    if (!s.steps.length) continue;
    data.push(
      line(s, s.y, single ? 'learning rate' : label, 'lr', {
        line: { color, width: 2, dash },
        customdata: run.metrics.map((r) => [r.step, r.tokens, r.stage]),
        hovertemplate: `${hoverHead(single ? 'learning rate' : label)}lr %{y:.3g}<br>stage %{customdata[2]}<extra></extra>`,
      }),
    );
  }
  const ys = data.flatMap((t) => finiteValues((t.y ?? []) as (number | null)[]));
  const layout = baseLayout(single ? `Learning rate: ${runs[0].label}` : 'Learning rate', {
    xaxis: axis(STEP_AXIS),
    yaxis: valueAxis('learning rate', ys),
    shapes: [...stageShapes(runs), ...divergenceShapes(runs)],
    showlegend: !single,
  });
  if (!ys.length) layout.annotations = [emptyNote('no steps recorded yet')];
  return thinFigure({ data, layout });
}

/** Layer indices i for which metrics named `<prefix>.<i>` exist, ascending. */
function layerIndices(runs: readonly Labelled[], prefix: string): number[] {
  const found = new Set<number>();
  const re = new RegExp(`^${prefix.replace('.', '\\.')}\\.(\\d+)$`);
  for (const { run } of runs)
    for (const r of run.metrics.slice(0, 1).concat(run.metrics.slice(-1)))
      for (const k of Object.keys(r)) {
        const m = re.exec(k);
        if (m) found.add(Number(m[1]));
      }
  return [...found].sort((a, b) => a - b);
}

/** At most `max` layers, evenly spaced, always the first and the last. */
export function pickLayers(layers: readonly number[], max = 6): number[] {
  if (layers.length <= max) return [...layers];
  const picked = new Set<number>();
  for (let k = 0; k < max; k++) picked.add(layers[Math.round((k * (layers.length - 1)) / (max - 1))]);
  return [...picked];
}

interface Row {
  title: string;
  /** Log whenever every value is positive (quantities that span decades by nature). */
  log?: boolean;
  traces: Scatter[];
}

/**
 * Rows of subplots sharing the step axis (x axes matched). Row r uses axes x<r+1>/y<r+1>; each row
 * gets its title as a y-axis label and its own axis type.
 */
function stacked(title: string, rows: Row[], shapes: Partial<Shape>[], showlegend = true): Figure {
  const n = rows.length;
  const gap = n > 1 ? 0.08 : 0;
  const h = (1 - gap * (n - 1)) / n;
  const layout = baseLayout(title, { height: Math.max(420, 70 + 230 * n), shapes, showlegend }) as Partial<Layout> & Record<string, unknown>;
  const data: Scatter[] = [];
  rows.forEach((row, r) => {
    const id = r === 0 ? '' : String(r + 1);
    const top = 1 - r * (h + gap);
    const values = row.traces.flatMap((t) => finiteValues((t.y ?? []) as (number | null)[]));
    const type = row.log && values.length && values.every((v) => v > 0) ? 'log' : autoAxisType(values);
    const yaxis: Partial<LayoutAxis> = axis(row.title, { domain: [Math.max(0, top - h), top], type, anchor: `x${id}` as LayoutAxis['anchor'] });
    if (type === 'log') Object.assign(yaxis, logTicks(values));
    const xaxis: Partial<LayoutAxis> = axis(r === n - 1 ? STEP_AXIS : '', {
      anchor: `y${id}` as LayoutAxis['anchor'],
      showticklabels: r === n - 1,
    });
    if (r > 0) xaxis.matches = 'x';
    layout[`xaxis${id}`] = xaxis;
    layout[`yaxis${id}`] = yaxis;
    for (const t of row.traces) data.push({ ...t, xaxis: `x${id}` as Scatter['xaxis'], yaxis: `y${id}` as Scatter['yaxis'] });
  });
  if (!data.some((t) => (t.x as number[]).length)) layout.annotations = [emptyNote('not recorded')];
  return thinFigure({ data, layout });
}

/** Traces of one metric for every run (several rows, one colour per run). */
function metricTraces(runs: readonly Labelled[], key: string, valueName: string, single: boolean, color?: string, legend = true): Scatter[] {
  const out: Scatter[] = [];
  for (const { run, label, color: c, dash } of runs) {
    const s = seriesOf(run.metrics, (r: MetricsRow) => r[key]);
    if (!s.steps.length) continue;
    const name = single ? valueName : label;
    out.push(
      line(s, s.y, name, valueName, {
        line: { color: color ?? c, width: 1.5, dash },
        legendgroup: label,
        showlegend: legend && !single,
        hovertemplate: `${hoverHead(name)}${valueName} %{y:.4g}<extra></extra>`,
      }),
    );
    const bad = nonFiniteTrace(s, `${name}: ${key} non-finite`, markerLevel(s.y), { legendgroup: label, showlegend: false });
    if (bad) out.push(bad);
  }
  return out;
}

/**
 * A per-layer metric (`layer_rms.<i>`, `max_attn_logit.<i>`): for one run every layer on one axis,
 * coloured by depth; for several runs one row per layer (at most six, evenly spaced), a colour per run.
 */
function perLayerFigure(runs: readonly Labelled[], prefix: string, title: string, valueName: string, yTitle: string): Figure {
  const single = runs.length === 1;
  const layers = layerIndices(runs, prefix);
  if (single) {
    const { run } = runs[0];
    const data: Scatter[] = [];
    for (const i of layers) {
      const s = seriesOf(run.metrics, (r: MetricsRow) => r[`${prefix}.${i}`]);
      const name = `layer ${i}`;
      data.push(
        line(s, s.y, name, `${valueName}`, {
          line: { color: viridis(layers.length > 1 ? (0.85 * i) / (layers.length - 1) : 0), width: 1.5 },
          hovertemplate: `${hoverHead(name)}${valueName} %{y:.4g}<extra></extra>`,
        }),
      );
      const bad = nonFiniteTrace(s, `layer ${i} non-finite`, markerLevel(s.y), { showlegend: false });
      if (bad) data.push(bad);
    }
    const fig = stacked(`${title} per layer: ${runs[0].label}`, [{ title: yTitle, traces: data }], stepMarks(runs));
    if (!layers.length) fig.layout.annotations = [emptyNote('not recorded')];
    return fig;
  }
  const shown = pickLayers(layers);
  const rows: Row[] = shown.map((i, k) => ({
    title: `layer ${i}`,
    traces: metricTraces(runs, `${prefix}.${i}`, `layer ${i} ${valueName}`, false, undefined, k === 0),
  }));
  const note = shown.length < layers.length ? `layers ${shown.join(', ')} of ${layers.length}` : 'one panel per layer';
  const fig = stacked(`${title} (${note})`, rows.length ? rows : [{ title: yTitle, traces: [] }], stepMarks(runs));
  return fig;
}

/** Output RMS of each transformer block over steps (the Chameleon paper's early sign of divergence). */
export function layerRmsFigure(input: RunInput, opts: RunFigureOptions = {}): Figure {
  return perLayerFigure(labelled(input, opts), 'layer_rms', 'Block output RMS', 'RMS', 'RMS of block output');
}

/** Largest pre-softmax attention score of each block over steps (what QK-Norm bounds). */
export function attentionLogitFigure(input: RunInput, opts: RunFigureOptions = {}): Figure {
  return perLayerFigure(labelled(input, opts), 'max_attn_logit', 'Max attention logit', 'max attention logit', 'max pre-softmax score');
}

/** z (mean log-partition of the output softmax, what z-loss pulls to 0) and max |output logit|. */
export function logitsFigure(input: RunInput, opts: RunFigureOptions = {}): Figure {
  const runs = labelled(input, opts);
  const single = runs.length === 1;
  return stacked(
    single ? `Output logits: ${runs[0].label}` : 'Output logits',
    [
      { title: 'z = mean log Z', traces: metricTraces(runs, 'z', 'z', single, single ? PALETTE[0] : undefined) },
      { title: 'max |logit|', traces: metricTraces(runs, 'max_abs_logit', 'max |logit|', single, single ? PALETTE[1] : undefined, false) },
    ],
    stepMarks(runs),
    !single,
  );
}

/** Global gradient norm (before clipping) and update ratio ||dtheta|| / ||theta||, log axes. */
export function optimizerFigure(input: RunInput, opts: RunFigureOptions = {}): Figure {
  const runs = labelled(input, opts);
  const single = runs.length === 1;
  return stacked(
    single ? `Gradient norm and update ratio: ${runs[0].label}` : 'Gradient norm and update ratio',
    [
      { title: 'grad norm', log: true, traces: metricTraces(runs, 'grad_norm', 'grad norm', single, single ? PALETTE[0] : undefined) },
      { title: '‖Δθ‖ / ‖θ‖', log: true, traces: metricTraces(runs, 'update_ratio', 'update ratio', single, single ? PALETTE[1] : undefined, false) },
    ],
    stepMarks(runs),
    !single,
  );
}

/**
 * The stability figures, in this order: block output RMS per layer, max attention logit per layer,
 * z and max |logit|, gradient norm and update ratio.
 */
export function stabilityFigures(input: RunInput, opts: RunFigureOptions = {}): Figure[] {
  return [layerRmsFigure(input, opts), attentionLogitFigure(input, opts), logitsFigure(input, opts), optimizerFigure(input, opts)];
}
