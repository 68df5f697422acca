/**
 * Building blocks shared by every figure: the figure type (a plain plotly `{data, layout}` object,
 * displayable by plotly.js in the HTML report and by the notebook kernel alike), colours, axes,
 * non-finite values, EMA smoothing and hover text.
 *
 * Non-finite numbers (a diverged loss is NaN or Infinity in metrics.jsonl) never reach plotly: a
 * series carries them as `null` (a gap in the line, `connectgaps` off) and the steps where they
 * occurred become an explicit marker trace, so a divergence is visible rather than silently dropped.
 */
import type { Annotation, Data, Layout, LayoutAxis, ScatterData, Shape } from 'plotly.js-dist-min';
import type { Spec } from '../../dsl/schema';

/** A plotly figure: what `Plotly.newPlot(div, fig.data, fig.layout)` takes. Plain JSON. */
export interface Figure {
  data: Data[];
  layout: Partial<Layout>;
}

export type Scatter = Partial<ScatterData>;

/** Tableau 10: distinct, colour-blind-friendlier than plotly's default cycle. */
export const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#b07aa1', '#76b7b2', '#edc948', '#ff9da7', '#9c755f', '#bab0ac'];
/** Dash styles that tell apart lines sharing a colour (data sources, layers of several runs). */
export const DASHES = ['solid', 'dot', 'dash', 'dashdot', 'longdash', 'longdashdot'] as const;

export function colorAt(i: number): string {
  return PALETTE[i % PALETTE.length];
}

/** `#rrggbb` -> `rgba(r,g,b,alpha)` (bands and faint raw curves). */
export function withAlpha(hex: string, alpha: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}

/** Viridis at t in [0, 1]: layers coloured by depth (dark = first block, yellow = last). */
export function viridis(t: number): string {
  const stops = [
    [68, 1, 84],
    [65, 68, 135],
    [42, 120, 142],
    [34, 168, 132],
    [122, 209, 81],
    [253, 231, 37],
  ];
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const c = stops[i].map((a, k) => Math.round(a + (stops[i + 1][k] - a) * f));
  return `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

/** The colour plotly uses for a marker of a non-finite value or a divergence (with symbol 'x'). */
export const DIVERGED_COLOR = '#b2182b';

export const finiteOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** How a non-finite number is written in hover text and tables. */
export function formatValue(v: unknown, digits = 4): string {
  if (v === null || v === undefined) return '—';
  if (typeof v !== 'number') return String(v);
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf';
  if (Number.isInteger(v) && Math.abs(v) < 1e6) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2).replace(/\.?0+e/, 'e');
  return Number(v.toPrecision(digits)).toString();
}

/** One numeric series of a run: y is null where the value is missing or non-finite. */
export interface Series {
  steps: number[];
  tokens: number[];
  y: (number | null)[];
  /** Steps whose value was NaN or +-Infinity, and what it was. */
  nonFinite: { step: number; tokens: number; value: number }[];
}

export function seriesOf<R extends { step: number; tokens: number }>(rows: readonly R[], value: (r: R) => unknown): Series {
  const s: Series = { steps: [], tokens: [], y: [], nonFinite: [] };
  for (const r of rows) {
    const v = value(r);
    if (typeof v !== 'number') continue; // metric not recorded in this row
    s.steps.push(r.step);
    s.tokens.push(r.tokens);
    s.y.push(finiteOrNull(v));
    if (!Number.isFinite(v)) s.nonFinite.push({ step: r.step, tokens: r.tokens, value: v });
  }
  return s;
}

export function finiteValues(ys: readonly (number | null)[]): number[] {
  return ys.filter((v): v is number => v !== null);
}

/**
 * The EMA half-life (in steps) for a run of `plannedSteps` updates: 2.5% of the run, at least one
 * step. Scaled to the run so a 300-step tiny run and a 100k-step run are smoothed alike relative to
 * their length; the figures state it.
 */
export function emaHalfLife(plannedSteps: number): number {
  return Math.max(1, Math.round(plannedSteps * 0.025));
}

/**
 * Exponential moving average with half-life `h` steps, bias-corrected (the first values are not
 * pulled towards 0) and aware of gaps between steps (the decay is per step, not per row).
 * Non-finite or missing inputs give null and leave the average where it was.
 */
export function ema(steps: readonly number[], ys: readonly (number | null)[], halfLife: number): (number | null)[] {
  const decay = Math.pow(0.5, 1 / halfLife);
  let num = 0;
  let den = 0;
  let last: number | null = null;
  return ys.map((y, i) => {
    if (y === null) return null;
    const a = last === null ? 0 : Math.pow(decay, steps[i] - last);
    num = a * num + (1 - decay) * y;
    den = a * den + (1 - decay);
    last = steps[i];
    return num / den;
  });
}

/**
 * Log when every finite value is positive and they span at least two decades (a diverging gradient
 * norm, learning rates of a sweep); linear otherwise.
 */
export function autoAxisType(values: readonly number[]): 'log' | 'linear' {
  const v = values.filter((x) => Number.isFinite(x));
  if (!v.length || v.some((x) => x <= 0)) return 'linear';
  return Math.max(...v) / Math.min(...v) >= 100 ? 'log' : 'linear';
}

/** ln V: the loss of a uniform guess over the vocabulary, which is where training starts. */
export function uniformLoss(spec: Spec): number {
  return Math.log(spec.model.vocab.text + spec.model.vocab.image);
}

/** Headroom above ln V that loss curves drawn together may use before the axis is clipped. */
export const LOSS_HEADROOM = 1.15;

/**
 * The y axis of loss curves drawn together, given each curve's finite values. When some curves stay
 * below LOSS_HEADROOM x ln V and others leave it (runs that diverged), the axis is linear and clipped
 * there: the stable curves keep their resolution and the diverging ones exit through the top.
 * Otherwise log when the values span two decades, else linear.
 */
export function lossAxis(curves: readonly number[][], lnV: number): { axis: Partial<LayoutAxis>; clippedAt: number | null } {
  const top = lnV * LOSS_HEADROOM;
  const nonEmpty = curves.filter((c) => c.length);
  const stable = nonEmpty.filter((c) => Math.max(...c) <= top);
  if (stable.length && stable.length < nonEmpty.length) {
    const lo = Math.min(...stable.flat());
    return { axis: { type: 'linear', range: [lo - 0.04 * (top - lo), top] }, clippedAt: top };
  }
  const all = nonEmpty.flat();
  const type = autoAxisType(all);
  return { axis: { type, ...(type === 'log' ? logTicks(all) : {}) }, clippedAt: null };
}

/** Marker traces (non-finite values, divergence crosses) moved down to `top` so they stay in view. */
export function clampMarkers(data: Scatter[], top: number): void {
  for (const t of data) if (t.mode === 'markers' && Array.isArray(t.y)) t.y = (t.y as number[]).map((y) => Math.min(y, top * 0.995));
}

/**
 * Tick settings of a log axis over `values`: powers of ten as 10^k, and only one tick per decade when
 * the values span two decades or more (plotly would otherwise label every digit, 2 3 4 ... 9).
 */
export function logTicks(values: readonly number[]): Partial<LayoutAxis> {
  const v = values.filter((x) => x > 0 && Number.isFinite(x));
  const decades = v.length ? Math.log10(Math.max(...v) / Math.min(...v)) : 0;
  return decades >= 2 ? { exponentformat: 'power', dtick: 1 } : { exponentformat: 'power', dtick: 'D2' };
}

/** An axis of the automatic type for `values` (see autoAxisType), with log ticks when log. */
export function valueAxis(title: string, values: readonly number[], extra: Partial<LayoutAxis> = {}): Partial<LayoutAxis> {
  const type = autoAxisType(values);
  return axis(title, { type, ...(type === 'log' ? logTicks(values) : {}), ...extra });
}

export function axis(title: string, extra: Partial<LayoutAxis> = {}): Partial<LayoutAxis> {
  return { title: { text: title }, automargin: true, zeroline: false, ...extra };
}

export const STEP_AXIS = 'step (optimizer updates)';
export const TOKENS_AXIS = 'tokens seen';
export const LOSS_UNIT = 'nats/token';

/** The layout every figure starts from. */
export function baseLayout(title: string, extra: Partial<Layout> = {}): Partial<Layout> {
  return {
    title: { text: title, x: 0.01, xanchor: 'left', font: { size: 15 } },
    height: 420,
    margin: { l: 70, r: 30, t: 60, b: 55 },
    hovermode: 'closest',
    legend: { font: { size: 11 } },
    paper_bgcolor: '#ffffff',
    plot_bgcolor: '#ffffff',
    font: { family: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif', size: 12 },
    ...extra,
  };
}

/** What a figure with nothing to draw shows instead (a run that has not reached its first step). */
export function emptyNote(text: string): Partial<Annotation> {
  return { text, xref: 'paper', yref: 'paper', x: 0.5, y: 0.5, showarrow: false, font: { size: 14, color: '#777777' } };
}

/**
 * A vertical dashed line across the whole plot at step x (divergences, stage boundaries), labelled at
 * its top; `side` 'left' puts the label left of the line (for lines near the right edge).
 */
export function vline(x: number, color: string, label: string, xref = 'x', dash: 'dash' | 'dot' = 'dash', side: 'left' | 'right' = 'right'): Partial<Shape> {
  return {
    type: 'line',
    xref: xref as Shape['xref'],
    yref: 'paper',
    x0: x,
    x1: x,
    y0: 0,
    y1: 1,
    line: { color, width: 1.5, dash },
    label: { text: label, textposition: 'end', textangle: 0, xanchor: side === 'right' ? 'left' : 'right', font: { size: 10, color } },
  };
}

/**
 * Markers for the non-finite values of a series: red crosses at `y` (the top of the series' finite
 * range, or 1 when it has none), with the value itself in the hover text.
 */
export function nonFiniteTrace(s: Series, name: string, y: number, extra: Scatter = {}): Scatter | null {
  if (!s.nonFinite.length) return null;
  return {
    type: 'scatter',
    mode: 'markers',
    name,
    x: s.nonFinite.map((p) => p.step),
    y: s.nonFinite.map(() => y),
    customdata: s.nonFinite.map((p) => [p.step, p.tokens, formatValue(p.value)]),
    marker: { symbol: 'x', size: 10, color: DIVERGED_COLOR, line: { width: 1, color: DIVERGED_COLOR } },
    hovertemplate: `${escapeHover(name)}<br>step %{customdata[0]}: %{customdata[2]}<extra></extra>`,
    ...extra,
  };
}

/** Plotly hover templates treat `%{...}` specially and accept a small HTML subset; keep labels literal. */
export function escapeHover(s: string): string {
  return s.replace(/%\{/g, '%\u200b{').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Number of traces of a figure that draw something (used by tests and the report's empty-figure check). */
export function traceCount(fig: Figure): number {
  return fig.data.length;
}

/**
 * Most points one scatter trace keeps. Longer curves (a 100k-step run) are thinned for display:
 * the step range is cut into MAX_POINTS / 2 buckets and each keeps its lowest and highest value, so
 * spikes survive; the first point of every gap (a non-finite value) is kept too, so gaps stay gaps.
 */
export const MAX_POINTS = 4000;

/** Indices of `y` to keep (all of them when there are at most `max`). */
export function thinIndices(y: readonly (number | null)[], max = MAX_POINTS): number[] {
  const n = y.length;
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const keep = new Set<number>([0, n - 1]);
  const buckets = Math.max(1, Math.floor(max / 2) - 1);
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor((b * n) / buckets);
    const hi = Math.floor(((b + 1) * n) / buckets);
    let min = -1;
    let mx = -1;
    for (let i = lo; i < hi; i++) {
      const v = y[i];
      if (v === null) {
        if (i === 0 || y[i - 1] !== null) keep.add(i);
        continue;
      }
      if (min < 0 || v < y[min]!) min = i;
      if (mx < 0 || v > y[mx]!) mx = i;
    }
    if (min >= 0) keep.add(min);
    if (mx >= 0) keep.add(mx);
  }
  return [...keep].sort((a, b) => a - b);
}

/** A scatter trace with at most MAX_POINTS points: every per-point array is thinned alike. */
export function thinTrace<T extends Scatter>(t: T, max = MAX_POINTS): T {
  const x = t.x as unknown[] | undefined;
  if (!Array.isArray(x) || x.length <= max) return t;
  const n = x.length;
  const y = (t.y as (number | null)[]) ?? [];
  const keep = thinIndices(y.length === n ? y : x.map(() => 0), max);
  const pick = <V>(a: V): V => (Array.isArray(a) && a.length === n ? (keep.map((i) => a[i]) as V) : a);
  const out: T = { ...t, x: pick(t.x), y: pick(t.y), customdata: pick(t.customdata), text: pick(t.text) };
  if (t.marker) out.marker = { ...t.marker, symbol: pick(t.marker.symbol), size: pick(t.marker.size) };
  if (t.error_y) out.error_y = { ...t.error_y, array: pick(t.error_y.array), arrayminus: pick(t.error_y.arrayminus) };
  return out;
}

/** A figure whose scatter traces are thinned (see MAX_POINTS); other traces are left as they are. */
export function thinFigure(fig: Figure, max = MAX_POINTS): Figure {
  return { ...fig, data: fig.data.map((t) => ((t.type ?? 'scatter') === 'scatter' ? thinTrace(t as Scatter, max) : t)) };
}
