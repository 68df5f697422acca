/**
 * Figures of a sweep: every member's loss curve coloured by variant (seed replicates as their mean
 * with a min-max band), the learning-rate sensitivity plot of Wortsman et al. 2023 (fig. 1), and a
 * heatmap of final eval loss over any two swept keys.
 *
 * Diverged members (stopped by a divergence, or with a non-finite final loss) have no loss to plot.
 * They are drawn at a capped value, ln V (the loss of predicting uniformly over the vocabulary, which
 * is also where training starts), with an x marker: "no better than chance". Failed and pending
 * members have no result at all and are left out of the plots (the members table lists them).
 */
import * as path from 'node:path';
import type { Annotation, HeatmapData, LayoutAxis, Shape } from 'plotly.js-dist-min';
import { UserError } from '../../dsl/errors';
import type { Spec } from '../../dsl/schema';
import type { MetricsRow, EvalRow } from '../runs/layout';
import { SWEEP_FILES } from '../sweep/layout';
import {
  axis,
  autoAxisType,
  baseLayout,
  colorAt,
  DIVERGED_COLOR,
  ema,
  emaHalfLife,
  emptyNote,
  escapeHover,
  finiteValues,
  formatValue,
  clampMarkers,
  lossAxis,
  LOSS_UNIT,
  seriesOf,
  STEP_AXIS,
  thinFigure,
  withAlpha,
  type Figure,
  type Scatter,
} from './figure';
import { formatSetting, shortPaths } from './labels';
import { memberOutcome, variants, variantStyles, type MemberOutcome, type SweepMember, type SweepRecord } from './sweep';
import { readInputFile } from '../files';
import { parseStoredSpec } from '../runs/read';

export interface SweepFigureOptions {
  /** EMA half-life of the smoothed training loss, in steps (default: emaHalfLife of the longest member). */
  halfLife?: number;
}

/** Ln of the vocabulary size of the sweep's model: the capped value at which diverged members are drawn. */
export function divergedCap(sweep: SweepRecord): number {
  const specs: Spec[] = sweep.members.flatMap((m) => (m.run ? [m.run.spec] : []));
  if (!specs.length) {
    try {
      const file = path.join(sweep.dir, SWEEP_FILES.spec);
      const spec = parseStoredSpec(readInputFile(file, { maxBytes: 16 * 2 ** 20 }).toString('utf8'), file);
      if (spec?.model?.vocab) specs.push(spec);
    } catch {
      // no readable sweep.yaml: fall back to the losses themselves below
    }
  }
  const vocab = specs.map((s) => s.model.vocab.text + s.model.vocab.image).filter((v) => Number.isFinite(v) && v > 1);
  if (vocab.length) return Math.log(Math.max(...vocab));
  const losses = sweep.members.map((m) => memberOutcome(m).loss).filter((v): v is number => v !== null);
  return losses.length ? Math.max(...losses) * 1.1 : 10;
}

function stepMean(series: { step: number; value: number | null; tokens: number }[][]) {
  const at = new Map<number, { values: number[]; tokens: number }>();
  for (const s of series)
    for (const p of s) {
      if (p.value === null) continue;
      const e = at.get(p.step) ?? { values: [], tokens: p.tokens };
      e.values.push(p.value);
      at.set(p.step, e);
    }
  const steps = [...at.keys()].sort((a, b) => a - b);
  return steps.map((step) => {
    const { values, tokens } = at.get(step)!;
    return {
      step,
      tokens,
      n: values.length,
      mean: values.reduce((a, b) => a + b, 0) / values.length,
      min: Math.min(...values),
      max: Math.max(...values),
    };
  });
}

/**
 * Every member's training loss (EMA) and eval loss vs step, one colour per variant; seed replicates
 * are drawn as their mean with a min-max band. A diverged member's curve ends in an x marker.
 */
export function sweepLossFigure(sweep: SweepRecord, opts: SweepFigureOptions = {}): Figure {
  const groups = variants(sweep);
  const withRuns = sweep.members.filter((m) => m.run);
  const h = opts.halfLife ?? emaHalfLife(Math.max(1, ...withRuns.map((m) => m.run!.spec.train.steps)));
  const data: Scatter[] = [];
  const replicated = groups.some((g) => g.members.length > 1);
  const styles = variantStyles(sweep);
  groups.forEach((g) => {
    const { color, dash } = styles.get(JSON.stringify(g.variant))!;
    const members = g.members.filter((m) => m.run && m.run.metrics.length);
    if (!members.length) return;
    const label = g.label;
    const smoothed = members.map((m) => {
      const s = seriesOf(m.run!.metrics, (r: MetricsRow) => r.loss);
      const y = ema(s.steps, s.y, h);
      return s.steps.map((step, i) => ({ step, tokens: s.tokens[i], value: y[i] }));
    });
    const evals = members.map((m) => m.run!.evals.map((r: EvalRow) => ({ step: r.step, tokens: r.tokens, value: Number.isFinite(r.loss) ? r.loss : null })));
    const train = stepMean(smoothed);
    const ev = stepMean(evals);
    const n = members.length;
    const name = n > 1 ? `${label} (mean of ${n} seeds)` : label;
    if (n > 1) {
      const band = { mode: 'lines' as const, line: { width: 0, color }, hoverinfo: 'skip' as const, showlegend: false, legendgroup: label };
      data.push({ type: 'scatter', name: `${label} min`, x: train.map((p) => p.step), y: train.map((p) => p.min), ...band });
      data.push({
        type: 'scatter',
        name: `${label} max`,
        x: train.map((p) => p.step),
        y: train.map((p) => p.max),
        fill: 'tonexty',
        fillcolor: withAlpha(color, 0.18),
        ...band,
      });
    }
    data.push({
      type: 'scatter',
      mode: 'lines',
      name,
      x: train.map((p) => p.step),
      y: train.map((p) => p.mean),
      line: { color, width: 2, dash },
      legendgroup: label,
      customdata: train.map((p) => [p.step, p.tokens, p.n, p.min, p.max]),
      hovertemplate:
        `<b>${escapeHover(label)}</b><br>step %{customdata[0]} · %{customdata[1]:,} tokens<br>train loss (EMA, half-life ${h}) %{y:.4f}` +
        (n > 1 ? '<br>%{customdata[2]} seeds, min %{customdata[3]:.4f}, max %{customdata[4]:.4f}' : '') +
        '<extra></extra>',
    });
    if (ev.length)
      data.push({
        type: 'scatter',
        mode: 'lines+markers',
        name: `${label}: eval`,
        x: ev.map((p) => p.step),
        y: ev.map((p) => p.mean),
        line: { color, width: 1.2, dash: 'dot' },
        marker: { color, size: 5 },
        legendgroup: label,
        showlegend: false,
        customdata: ev.map((p) => [p.step, p.tokens, p.n, p.min, p.max]),
        error_y:
          n > 1
            ? { type: 'data', symmetric: false, array: ev.map((p) => p.max - p.mean), arrayminus: ev.map((p) => p.mean - p.min), color: withAlpha(color, 0.6), thickness: 1, width: 3 }
            : undefined,
        hovertemplate: `<b>${escapeHover(label)}</b><br>step %{customdata[0]} · %{customdata[1]:,} tokens<br>eval loss %{y:.4f}${n > 1 ? ' (mean of %{customdata[2]})' : ''}<extra></extra>`,
      });
    // Where a member diverged (its summary's divergence, else its first non-finite loss): an x at
    // the last finite point of its smoothed curve up to that step.
    const ends = members.flatMap((m, i) => {
      const d = m.run!.summary?.divergence;
      const step = d?.step ?? m.run!.metrics.find((r) => !Number.isFinite(r.loss))?.step;
      if (step === undefined) return [];
      const last = smoothed[i].filter((p) => p.value !== null && p.step <= step).at(-1);
      const what = m.status === 'diverged' || !d ? 'diverged' : 'divergence warning';
      return last ? [{ step: last.step, value: last.value!, text: `${escapeHover(m.label)}: ${what} at step ${step}` }] : [];
    });
    if (ends.length)
      data.push({
        type: 'scatter',
        mode: 'markers',
        name: `${label}: diverged`,
        x: ends.map((e) => e.step),
        y: ends.map((e) => e.value),
        text: ends.map((e) => e.text),
        marker: { symbol: 'x', size: 11, color: DIVERGED_COLOR, line: { width: 1, color: DIVERGED_COLOR } },
        legendgroup: label,
        showlegend: false,
        hovertemplate: '%{text}<extra></extra>',
      });
  });
  // Per variant, the values its curves reach (train and eval): diverging variants must not squash the rest.
  const curves = groups.map((g) => data.filter((t) => t.legendgroup === g.label && t.mode !== 'markers').flatMap((t) => finiteValues((t.y ?? []) as (number | null)[])));
  const lnV = divergedCap(sweep);
  const y = lossAxis(curves, lnV);
  if (y.clippedAt !== null) clampMarkers(data, y.clippedAt);
  const layout = baseLayout(
    `Loss of every member: ${escapeHover(sweep.state.name)} (train EMA half-life ${h} step${h === 1 ? '' : 's'} thick, eval dotted${replicated ? '; seeds: mean, min-max band' : ''})`,
    {
      xaxis: axis(STEP_AXIS),
      yaxis: axis(y.clippedAt === null ? `loss (${LOSS_UNIT})` : `loss (${LOSS_UNIT}), clipped at ${formatValue(y.clippedAt, 3)}`, y.axis),
      height: 480,
    },
  );
  if (!data.length) layout.annotations = [emptyNote('no member has recorded a step yet')];
  return thinFigure({ data, layout });
}

/** The swept learning-rate key: `optimizer.lr`, else any swept key whose last part is `lr`. */
export function lrKey(sweep: SweepRecord): string | null {
  const keys = sweep.state.keys;
  return keys.includes('optimizer.lr') ? 'optimizer.lr' : keys.find((k) => k.split('.').pop() === 'lr') ?? null;
}

/** Swept keys other than the seed, in plan order. */
function variantKeys(sweep: SweepRecord): string[] {
  return sweep.state.keys.filter((k) => k !== sweep.seedKey);
}

/** Distinct values of a key in plan order; numbers ascending. */
function valuesOf(members: readonly SweepMember[], key: string): unknown[] {
  const seen = new Map<string, unknown>();
  for (const m of members) if (key in m.record.overrides) seen.set(JSON.stringify(m.record.overrides[key]), m.record.overrides[key]);
  const vals = [...seen.values()];
  return vals.every((v) => typeof v === 'number') ? (vals as number[]).sort((a, b) => a - b) : vals;
}

/** Outcomes of several members (seeds, or other keys averaged over) as one point. */
interface Point {
  /** Mean loss of the members with a result (capped at `cap`), or the cap when all diverged; null: none. */
  y: number | null;
  min: number;
  max: number;
  diverged: number;
  ok: number;
  partial: number;
  notes: string[];
}

function combine(members: readonly SweepMember[], cap: number): Point {
  const outs: (MemberOutcome & { label: string })[] = members.map((m) => ({ ...memberOutcome(m), label: m.label }));
  const good = outs.filter((o) => (o.kind === 'ok' || o.kind === 'partial') && o.loss !== null && o.loss <= cap);
  const diverged = outs.filter((o) => o.kind === 'diverged' || ((o.kind === 'ok' || o.kind === 'partial') && o.loss !== null && o.loss > cap));
  const losses = good.map((o) => o.loss!);
  const y = losses.length ? losses.reduce((a, b) => a + b, 0) / losses.length : diverged.length ? cap : null;
  return {
    y,
    min: losses.length ? Math.min(...losses) : cap,
    max: losses.length ? Math.max(...losses) : cap,
    diverged: diverged.length,
    ok: good.filter((o) => o.kind === 'ok').length,
    partial: good.filter((o) => o.kind === 'partial').length,
    notes: outs.map((o) => `${o.label}: ${o.loss !== null ? formatValue(o.loss) + ' · ' : ''}${o.note}`),
  };
}

/**
 * Wortsman et al.'s LR sensitivity of one curve: the mean over the swept learning rates of
 * min(loss, cap) minus the best loss. Null unless every learning rate has a result.
 */
export function lrSensitivity(points: readonly (number | null)[], cap: number): number | null {
  if (!points.length || points.some((p) => p === null)) return null;
  const v = points.map((p) => Math.min(p!, cap));
  const best = Math.min(...v);
  return v.reduce((a, b) => a + b - best, 0) / v.length;
}

/**
 * Final eval loss vs learning rate (log axis), one line per variant of the other swept keys (seeds
 * averaged, min-max error bars); diverged members as x markers at the cap (ln V).
 */
export function lrSensitivityFigure(sweep: SweepRecord, opts: { key?: string } = {}): Figure {
  const key = opts.key ?? lrKey(sweep);
  if (!key || !sweep.state.keys.includes(key))
    throw new UserError(
      `sweep ${sweep.state.name} does not sweep a learning rate (swept: ${sweep.state.keys.join(', ') || 'nothing'}); the LR-sensitivity plot needs optimizer.lr among its keys`,
      sweep.dir,
    );
  const cap = divergedCap(sweep);
  const others = variantKeys(sweep).filter((k) => k !== key);
  const short = shortPaths(sweep.state.keys);
  const lrs = valuesOf(sweep.members, key) as number[];
  const groups = new Map<string, { label: string; members: SweepMember[] }>();
  for (const m of sweep.members) {
    const v = Object.fromEntries(others.map((k) => [k, m.record.overrides[k]]));
    const id = JSON.stringify(v);
    const label = others.length ? others.map((k) => `${short.get(k)}=${formatSetting(v[k])}`).join(', ') : 'all members';
    if (!groups.has(id)) groups.set(id, { label, members: [] });
    groups.get(id)!.members.push(m);
  }
  const data: Scatter[] = [];
  const lines = [...groups.values()];
  lines.forEach((g, gi) => {
    const color = colorAt(gi);
    const pts = lrs.map((lr) => combine(g.members.filter((m) => m.record.overrides[key] === lr), cap));
    // Lines are dodged by a few percent along the log axis so equal values (two capped members) do
    // not hide each other; the hover text gives the true learning rate.
    const dodge = Math.pow(10, 0.012 * (gi - (lines.length - 1) / 2));
    const sens = lrSensitivity(pts.map((p) => p.y), cap);
    const symbol = pts.map((p) => (p.y === null ? 'circle' : p.ok + p.partial === 0 ? 'x' : p.partial > 0 ? 'circle-open' : 'circle'));
    data.push({
      type: 'scatter',
      mode: 'lines+markers',
      name: sens === null ? g.label : `${g.label} (LR sensitivity ${formatValue(sens, 3)})`,
      x: lrs.map((lr) => lr * dodge),
      y: pts.map((p) => p.y),
      // a learning rate without a result (failed, pending) is skipped, not a break in the line
      connectgaps: true,
      line: { color, width: 2 },
      marker: {
        color,
        size: pts.map((p) => (p.y !== null && p.ok + p.partial === 0 ? 13 : 8)),
        symbol: symbol as NonNullable<Scatter['marker']>['symbol'],
        line: { width: 2, color },
      },
      error_y: {
        type: 'data',
        symmetric: false,
        array: pts.map((p) => (p.ok + p.partial > 1 ? p.max - p.y! : 0)),
        arrayminus: pts.map((p) => (p.ok + p.partial > 1 ? p.y! - p.min : 0)),
        color: withAlpha(color, 0.7),
        thickness: 1.2,
        width: 4,
      },
      customdata: pts.map((p, i) => [
        formatSetting(lrs[i]),
        p.y === null ? 'no result' : p.ok + p.partial === 0 ? `diverged (drawn at cap ${formatValue(cap, 3)})` : formatValue(p.y),
        p.notes.map(escapeHover).join('<br>'),
      ]),
      hovertemplate: `<b>${escapeHover(g.label)}</b><br>lr %{customdata[0]}: final eval loss %{customdata[1]}<br>%{customdata[2]}<extra></extra>`,
    });
  });
  const excluded = sweep.members.filter((m) => memberOutcome(m).kind === 'none');
  const annotations: Partial<Annotation>[] = [];
  if (excluded.length)
    annotations.push({
      text: `not shown (no result): ${excluded.map((m) => `${escapeHover(m.label)} [${m.status}]`).join('; ')}`,
      xref: 'paper',
      yref: 'paper',
      x: 0,
      y: -0.2,
      xanchor: 'left',
      yanchor: 'top',
      showarrow: false,
      font: { size: 10, color: '#777777' },
    });
  const capLine: Partial<Shape> = {
    type: 'line',
    xref: 'paper',
    yref: 'y',
    x0: 0,
    x1: 1,
    y0: cap,
    y1: cap,
    line: { color: '#999999', width: 1, dash: 'dot' },
    label: { text: `× diverged: drawn at ln V = ${formatValue(cap, 3)}`, textposition: 'start', yanchor: 'bottom', font: { size: 10, color: '#777777' } },
  };
  const ys = data.flatMap((t) => finiteValues((t.y ?? []) as (number | null)[]));
  const yType = autoAxisType(ys);
  // The cap line (and room above it) only when some point sits at the cap.
  const capped = data.some((t) => (t.marker?.symbol as string[]).includes('x'));
  const lo = Math.min(...ys, cap);
  // Linear: room above the cap for its label and the x markers.
  const yRange: Partial<LayoutAxis> = yType === 'linear' && capped ? { range: [lo - 0.06 * (cap - lo || 1), cap + 0.12 * (cap - lo || 1)] } : {};
  return {
    data,
    layout: baseLayout(`LR sensitivity: ${escapeHover(sweep.state.name)} (final eval loss vs learning rate)`, {
      xaxis: axis(`peak learning rate (${key})`, { type: 'log', tickmode: 'array', tickvals: lrs, ticktext: lrs.map((v) => formatSetting(v)) }),
      yaxis: axis(`final eval loss (${LOSS_UNIT})`, { type: yType, ...yRange }),
      shapes: capped ? [capLine] : [],
      annotations,
      height: 480,
      margin: { l: 70, r: 30, t: 60, b: excluded.length ? 95 : 55 },
    }),
  };
}

/**
 * Final eval loss over two swept keys (default: the learning rate on x when swept, else the first
 * key, and the next key on y), averaged over seeds and any other swept keys. Cells whose members all
 * diverged are red and say so; cells without a result (failed, pending) are grey with the status.
 */
export function sweepHeatmap(sweep: SweepRecord, opts: { x?: string; y?: string } = {}): Figure {
  const keys = variantKeys(sweep);
  const lr = lrKey(sweep);
  const xKey = opts.x ?? (lr && keys.includes(lr) ? lr : keys[0]);
  const yKey = opts.y ?? keys.find((k) => k !== xKey);
  if (!xKey || !yKey || xKey === yKey || !keys.includes(xKey) || !keys.includes(yKey))
    throw new UserError(
      `the heatmap needs two different swept keys (sweep ${sweep.state.name} sweeps: ${keys.join(', ') || 'nothing'}${sweep.seedKey ? ' and the seed' : ''})`,
      sweep.dir,
    );
  const cap = divergedCap(sweep);
  const short = shortPaths(sweep.state.keys);
  const xs = valuesOf(sweep.members, xKey);
  const ys = valuesOf(sweep.members, yKey);
  const rest = keys.filter((k) => k !== xKey && k !== yKey);
  // Three layers of cells: results (coloured by loss), diverged (one red), no result (grey, with the status).
  const cells = ys.map((yv) =>
    xs.map((xv) => {
      const members = sweep.members.filter(
        (m) => JSON.stringify(m.record.overrides[xKey]) === JSON.stringify(xv) && JSON.stringify(m.record.overrides[yKey]) === JSON.stringify(yv),
      );
      return { members, p: combine(members, cap) };
    }),
  );
  const kindOf = (c: (typeof cells)[number][number]) =>
    !c.members.length ? 'empty' : c.p.y === null ? 'none' : c.p.ok + c.p.partial === 0 ? 'diverged' : 'result';
  const layer = (kind: string, value: (c: (typeof cells)[number][number]) => number, label: (c: (typeof cells)[number][number]) => string) => ({
    z: cells.map((row) => row.map((c) => (kindOf(c) === kind ? value(c) : null))),
    text: cells.map((row) => row.map((c) => (kindOf(c) === kind ? label(c) : ''))),
    any: cells.some((row) => row.some((c) => kindOf(c) === kind)),
  });
  const hover = cells.map((row) => row.map((c) => c.p.notes.map(escapeHover).join('<br>') || 'no member'));
  const common: Partial<HeatmapData> = {
    type: 'heatmap',
    x: xs.map((v) => formatSetting(v)),
    y: ys.map((v) => formatSetting(v)),
    texttemplate: '%{text}',
    customdata: hover as unknown as HeatmapData['customdata'],
    hovertemplate: `${escapeHover(short.get(xKey)!)}=%{x}, ${escapeHover(short.get(yKey)!)}=%{y}<br>%{customdata}<extra></extra>`,
    hoverongaps: false,
    xgap: 2,
    ygap: 2,
  };
  const results = layer('result', (c) => c.p.y!, (c) => `${formatValue(c.p.y, 3)}${c.p.diverged ? ` (${c.p.diverged} div.)` : ''}${c.p.partial ? '*' : ''}`);
  const diverged = layer('diverged', () => 1, () => 'diverged');
  const none = layer('none', () => 1, (c) => [...new Set(c.members.map((m) => m.status))].join('/'));
  const solid = (color: string): HeatmapData['colorscale'] => [
    [0, color],
    [1, color],
  ];
  const data: Partial<HeatmapData>[] = [];
  if (results.any)
    data.push({
      ...common,
      name: 'final eval loss',
      z: results.z,
      text: results.text,
      colorscale: 'Viridis',
      reversescale: true,
      colorbar: { title: { text: `final eval loss<br>(${LOSS_UNIT})` } },
    });
  if (diverged.any) data.push({ ...common, name: 'diverged', z: diverged.z, text: diverged.text, colorscale: solid(DIVERGED_COLOR), showscale: false, textfont: { color: '#ffffff' } });
  if (none.any) data.push({ ...common, name: 'no result', z: none.z, text: none.text, colorscale: solid('#dddddd'), showscale: false, textfont: { color: '#555555' } });
  const over = [sweep.seedKey ? 'seeds' : null, ...rest.map((k) => short.get(k))].filter(Boolean);
  return {
    data,
    layout: baseLayout(
      `Final eval loss over ${escapeHover(short.get(xKey)!)} × ${escapeHover(short.get(yKey)!)}${over.length ? ` (mean over ${over.join(', ')})` : ''}${none.any || diverged.any ? '; red: diverged, grey: no result' : ''}${cells.some((r) => r.some((c) => c.p.partial)) ? '; * still running' : ''}`,
      {
        xaxis: axis(xKey, { type: 'category' }),
        yaxis: axis(yKey, { type: 'category' }),
        height: Math.max(320, 140 + 48 * ys.length),
      },
    ),
  };
}
