/**
 * src/report's figures on hand-made run and sweep folders (test/helpers/report-fixtures.ts, written
 * with the run layout's own toJsonLine): the right traces, names, axis types, non-finite handling,
 * divergence marks, and sweep aggregation (seed bands, LR sensitivity, heatmap, members table).
 * Folders written by the real run layer are covered by report-e2e.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isUserError } from '../dsl/errors';
import { readRun } from '../src/runs/read';
import { RUN_FILES } from '../src/runs/layout';
import {
  attentionLogitFigure,
  autoAxisType,
  ema,
  emaHalfLife,
  evalSourcesFigure,
  loadSweep,
  lossFigure,
  lrFigure,
  lrSensitivity,
  lrSensitivityFigure,
  membersTable,
  optimizerFigure,
  overridesLabel,
  runLabels,
  shortPaths,
  stabilityFigures,
  sweepHeatmap,
  sweepLossFigure,
  type Figure,
} from '../src/report';
import { pickLayers } from '../src/report/run-figures';
import { MAX_POINTS, thinIndices } from '../src/report/figure';
import { mixedSweep as mixedSweepIn, syntheticRun, syntheticSweep } from './helpers/report-fixtures';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-report-figures-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

/** The divergence lines of a figure (dashed; stage boundaries are dotted). */
const divergenceLines = (f: Figure) => (f.layout.shapes ?? []).filter((s) => s.line?.dash === 'dash');
const names = (f: Figure) => f.data.map((t) => (t as { name?: string }).name);
const trace = (f: Figure, name: string) => {
  const t = f.data.find((d) => (d as { name?: string }).name === name) as any;
  assert.ok(t, `no trace named ${JSON.stringify(name)} in ${JSON.stringify(names(f))}`);
  return t;
};

/** Every number anywhere in a figure is finite (plotly gets null, never NaN or Infinity). */
function assertFinite(value: unknown, where = 'figure') {
  if (typeof value === 'number') assert.ok(Number.isFinite(value), `${where} holds ${value}`);
  else if (Array.isArray(value)) value.forEach((v, i) => assertFinite(v, `${where}[${i}]`));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) assertFinite(v, `${where}.${k}`);
}

test('labels: dotted paths shorten to their last part when unambiguous; values read like a paper', () => {
  const short = shortPaths(['model.qk_norm', 'optimizer.lr', 'model.dropout.after_ffn', 'a.weight', 'b.weight']);
  assert.equal(short.get('model.qk_norm'), 'qk_norm');
  assert.equal(short.get('optimizer.lr'), 'lr');
  assert.equal(short.get('model.dropout.after_ffn'), 'after_ffn');
  assert.equal(short.get('a.weight'), 'a.weight');
  assert.equal(overridesLabel({ 'model.qk_norm': false, 'optimizer.lr': 0.03 }), 'qk_norm=false, lr=0.03');
  assert.equal(overridesLabel({ 'optimizer.lr': 3e-4 }), 'lr=3e-4');
  assert.equal(overridesLabel({}), '(base)');
});

test('EMA: bias-corrected, reaches halfway after one half-life, skips non-finite values', () => {
  for (const v of ema([1, 2, 3], [5, 5, 5], 4)) assert.ok(Math.abs(v! - 5) < 1e-12);
  const steps = Array.from({ length: 2000 }, (_, i) => i + 1);
  const ys = steps.map((s) => (s <= 1000 ? 0 : 1));
  const h = 10;
  const out = ema(steps, ys, h);
  assert.ok(Math.abs(out[1000 + h - 1]! - 0.5) < 1e-9, `after ${h} steps: ${out[1000 + h - 1]}`);
  const gap = ema([1, 2, 3], [1, null, 3], 1);
  assert.equal(gap[1], null);
  assert.ok(gap[2]! > 1 && gap[2]! < 3);
  assert.equal(emaHalfLife(300), 8);
  assert.equal(emaHalfLife(20), 1);
  assert.equal(autoAxisType([1e-4, 0.3]), 'log');
  assert.equal(autoAxisType([3, 8]), 'linear');
  assert.equal(autoAxisType([0, 100]), 'linear');
});

test('loss figure of one run: raw, EMA with its half-life, eval; step/tokens toggle; hover with step and value', () => {
  const run = readRun(syntheticRun(path.join(tmp, 'one')));
  const fig = lossFigure(run);
  assert.deepEqual(names(fig), ['train (raw)', 'train (EMA, half-life 1 step)', 'eval (held-out mixture)']);
  assert.equal(fig.layout.yaxis?.type, 'linear');
  assert.match(String((fig.layout.xaxis?.title as { text: string }).text), /^step/);
  assert.match(String((fig.layout.yaxis?.title as { text: string }).text), /nats\/token/);
  const raw = trace(fig, 'train (raw)');
  assert.equal(raw.x.length, 40);
  assert.match(raw.hovertemplate, /step %\{customdata\[0\]\}/);
  assert.match(raw.hovertemplate, /%\{y/);
  const [byStep, byTokens] = fig.layout.updatemenus![0].buttons!;
  assert.equal(byStep.label, 'x: step');
  const tokensX = (byTokens.args![0] as { x: number[][] }).x;
  assert.equal(tokensX.length, fig.data.length);
  const perStep = run.spec.train.batch * run.spec.data.seq_len;
  assert.deepEqual(tokensX[0], raw.x.map((s: number) => s * perStep));
  assertFinite(fig);
});

test('a diverged run: NaN is a gap plus a marker, the divergence step is marked on every figure', () => {
  // divergence action warn: the run goes on after the NaN (and stays NaN), status finished
  const dir = syntheticRun(path.join(tmp, 'nan'), ['model.qk_norm=false'], { nanAt: 17, status: 'finished' });
  const run = readRun(dir);
  assert.ok(Number.isNaN(run.metrics[20].loss), 'fixture has NaN rows');
  const fig = lossFigure(run);
  const raw = trace(fig, 'train (raw)');
  assert.equal(raw.y[15], run.metrics[15].loss);
  assert.equal(raw.y[16], null);
  assert.equal(raw.connectgaps, false);
  const bad = trace(fig, 'train loss non-finite');
  assert.deepEqual(bad.x, Array.from({ length: 24 }, (_, i) => 17 + i));
  assert.deepEqual(trace(fig, 'eval loss non-finite').x, [20, 30, 40]);
  assert.equal(bad.marker.symbol, 'x');
  assert.ok(bad.y.every((y: number) => Number.isFinite(y)));
  const shapes = divergenceLines(fig);
  assert.equal(shapes.length, 1);
  const stage = fig.layout.shapes!.find((s) => s.line?.dash === 'dot')!;
  assert.equal(stage.label?.text, 'stage2', 'the stage boundary is on the loss figure too');
  assert.equal(shapes[0].x0, 17);
  assert.match(String(shapes[0].label?.text), /^divergence warning at step 17$/);
  // the tokens toggle moves the divergence line to the same step's token count
  const tokenShapes = (fig.layout.updatemenus![0].buttons![1].args![1] as { shapes: Figure['layout']['shapes'] }).shapes!;
  const perStep = run.spec.train.batch * run.spec.data.seq_len;
  assert.deepEqual(tokenShapes.map((s) => s.x0), fig.layout.shapes!.map((s) => (s.x0 as number) * perStep));
  for (const f of [fig, evalSourcesFigure(run), lrFigure(run), ...stabilityFigures(run)]) {
    assertFinite(f);
    if (f !== fig && f.layout.shapes?.length) assert.ok(f.layout.shapes.some((s) => s.x0 === 17));
  }
  for (const f of stabilityFigures(run)) assert.ok(f.layout.shapes!.some((s) => s.x0 === 17), `${(f.layout.title as { text: string }).text} marks the divergence`);
  assert.ok(trace(attentionLogitFigure(run), 'layer 0 non-finite'));
});

test('per-source eval loss, learning rate with stage boundaries', () => {
  const run = readRun(syntheticRun(path.join(tmp, 'src')));
  const ev = evalSourcesFigure(run);
  assert.deepEqual(names(ev).sort(), ['image_text (image-text)', 'interleaved', 'quality (text)', 'text']);
  assert.equal(trace(ev, 'text').x[0], 0, 'the step-0 evaluation is shown');
  const lr = lrFigure(run);
  assert.deepEqual(names(lr), ['learning rate']);
  assert.equal(lr.layout.yaxis?.type, 'linear');
  const stages = lr.layout.shapes!.map((s) => s.label?.text);
  assert.deepEqual(stages, ['stage2']);
});

test('stability figures: per layer (coloured by depth), z and max|logit|, grad norm and update ratio on log axes', () => {
  const run = readRun(syntheticRun(path.join(tmp, 'stab')));
  const figs = stabilityFigures(run);
  assert.equal(figs.length, 4);
  const [rms, attn, logits, opt] = figs;
  assert.deepEqual(names(rms), ['layer 0', 'layer 1']);
  assert.deepEqual(names(attn), ['layer 0', 'layer 1']);
  assert.notEqual((rms.data[0] as any).line.color, (rms.data[1] as any).line.color);
  assert.deepEqual(names(logits), ['z', 'max |logit|']);
  assert.deepEqual(logits.data.map((t: any) => t.yaxis), ['y', 'y2']);
  assert.equal((logits.layout as any).xaxis2.matches, 'x');
  assert.deepEqual(names(opt), ['grad norm', 'update ratio']);
  assert.equal(opt.layout.yaxis?.type, 'log');
  assert.equal((opt.layout as any).yaxis2.type, 'log');
  assert.deepEqual(pickLayers(Array.from({ length: 32 }, (_, i) => i)), [0, 6, 12, 19, 25, 31]);
});

test('several runs: named by how their specs differ, one colour each, overlaid in every figure', () => {
  const a = readRun(syntheticRun(path.join(tmp, 'cmp'), ['model.qk_norm=true', 'optimizer.lr=1e-4']));
  const b = readRun(syntheticRun(path.join(tmp, 'cmp'), ['model.qk_norm=false', 'optimizer.lr=0.03'], { nanAt: 30, status: 'diverged' }));
  // final_lr follows lr (an expression in tiny.yaml), so it differs too
  const [la, lb] = ['qk_norm=true, lr=1e-4, final_lr=1e-5', 'qk_norm=false, lr=0.03, final_lr=0.003'];
  assert.deepEqual(runLabels([a, b]), [la, lb]);
  const loss = lossFigure([a, b]);
  assert.ok(names(loss).includes(lb));
  assert.ok(names(loss).includes(`${la}: eval`));
  assert.notEqual(trace(loss, la).line.color, trace(loss, lb).line.color);
  assert.equal(divergenceLines(loss).length, 1);
  assert.equal(divergenceLines(loss)[0].label?.text, 'diverged at step 30');
  assert.equal(divergenceLines(loss)[0].line?.color, trace(loss, lb).line.color, "in the diverged run's colour");
  assert.equal(lrFigure([a, b]).layout.yaxis?.type, 'log', 'learning rates 300x apart');
  const rms = stabilityFigures([a, b])[0];
  assert.equal(rms.data.filter((t: any) => t.yaxis === 'y2').length, 2, 'layer 1 panel: one line per run');
  const opt = optimizerFigure([a, b]);
  assert.ok(opt.layout.shapes!.some((s) => s.x0 === 30));
  // same spec twice: told apart by folder
  const labels = runLabels([a, a]);
  assert.notEqual(labels[0], undefined);
  assert.match(labels[0], /\(/);
});

test('a run still training: complete rows only (torn last line left out), no summary yet', () => {
  const dir = syntheticRun(path.join(tmp, 'live'), [], { steps: 12, status: null, torn: true });
  assert.ok(!fs.existsSync(path.join(dir, RUN_FILES.summary)));
  const run = readRun(dir);
  const fig = lossFigure(run);
  assert.equal(trace(fig, 'train (raw)').x.length, 12);
  assert.match(String((fig.layout.title as { text: string }).text), /running, step 12 of 40/);
  for (const f of stabilityFigures(run)) assert.ok(f.data.length > 0);
});

/** The fixture's mixed sweep, with member 5 not started yet. */
const mixedSweep = (name: string) => mixedSweepIn(path.join(tmp, name), { pending: 5 });

test('loadSweep: members with their runs, statuses, variants without the seed; failed and pending kept', () => {
  const sweep = loadSweep(mixedSweep('load'));
  assert.equal(sweep.members.length, 12);
  assert.equal(sweep.seedKey, 'train.seed');
  assert.deepEqual(sweep.members.map((m) => m.status), [
    'finished', 'finished', 'finished', 'failed', 'finished', 'pending', 'finished', 'finished', 'finished', 'finished', 'diverged', 'diverged',
  ]);
  assert.equal(sweep.members[3].run?.metrics.length, 0, 'the failed member wrote its spec only');
  assert.equal(sweep.members[5].run, null);
  assert.equal(sweep.members[0].label, 'qk_norm=true, lr=0.001, seed=0');
  assert.equal(sweep.members[0].variantLabel, 'qk_norm=true, lr=0.001');
  const table = membersTable(sweep);
  const cells = (table.data[0] as any).cells.values as string[][];
  const header = ((table.data[0] as any).header.values as string[]).map((h) => h.replace(/<\/?b>/g, ''));
  const col = (n: string) => cells[header.indexOf(n)];
  assert.deepEqual(col('status'), sweep.members.map((m) => m.status));
  assert.equal(col('note')[3], 'RangeError: out of memory');
  assert.equal(col('diverged at')[10], 'step 17');
  assert.equal(col('steps')[10], '17 / 40');
  assert.equal(col('hash')[0], sweep.members[0].record.hash.slice(0, 12));
});

test('sweep loss: a style per variant (colour by lr, dash by the other key), seeds as mean + min-max band, an x where a member diverged', () => {
  const sweep = loadSweep(mixedSweep('loss'));
  const fig = sweepLossFigure(sweep);
  const mean = trace(fig, 'qk_norm=true, lr=0.001 (mean of 2 seeds)');
  const upper = trace(fig, 'qk_norm=true, lr=0.001 max');
  const lower = trace(fig, 'qk_norm=true, lr=0.001 min');
  assert.equal(upper.fill, 'tonexty');
  assert.equal(fig.data.indexOf(lower) + 1, fig.data.indexOf(upper), 'the band fills down to the min trace just before it');
  assert.ok(mean.y.every((y: number, i: number) => lower.y[i] <= y + 1e-12 && y <= upper.y[i] + 1e-12));
  // one seed failed: a single curve, not a mean
  assert.ok(names(fig).includes('qk_norm=true, lr=0.01'));
  const x = trace(fig, 'qk_norm=false, lr=0.1: diverged');
  assert.equal(x.marker.symbol, 'x');
  assert.deepEqual(x.x, [16, 16], 'both seeds: at their last finite smoothed point');
  // a grid: the learning rate sets the colour (in order), qk_norm the dash
  const other = trace(fig, 'qk_norm=false, lr=0.001 (mean of 2 seeds)');
  assert.equal(mean.line.color, other.line.color);
  assert.notEqual(mean.line.dash, other.line.dash);
  assert.notEqual(other.line.color, trace(fig, 'qk_norm=false, lr=0.1 (mean of 2 seeds)').line.color);
  assertFinite(fig);
});

test('LR sensitivity: log lr axis, one line per other key, diverged at the ln V cap, failed listed, sensitivity in the legend', () => {
  const sweep = loadSweep(mixedSweep('lrs'));
  const fig = lrSensitivityFigure(sweep);
  assert.equal(fig.layout.xaxis?.type, 'log');
  assert.deepEqual(fig.layout.xaxis?.tickvals, [0.001, 0.01, 0.1]);
  assert.equal(fig.data.length, 2);
  const off = fig.data.find((t: any) => t.name.startsWith('qk_norm=false')) as any;
  const on = fig.data.find((t: any) => t.name.startsWith('qk_norm=true')) as any;
  const lnV = Math.log(sweep.members[0].run!.spec.model.vocab.text + sweep.members[0].run!.spec.model.vocab.image);
  // dodged a little along the log axis (so coinciding markers of two lines stay visible), true lr in the hover
  [0.001, 0.01, 0.1].forEach((lr, i) => assert.ok(Math.abs(off.x[i] / lr - 1) < 0.05 && off.x[i] !== on.x[i]));
  assert.deepEqual(off.customdata.map((c: string[]) => c[0]), ['0.001', '0.01', '0.1']);
  assert.equal(off.y[2], lnV);
  assert.equal(off.marker.symbol[2], 'x');
  assert.equal(off.marker.symbol[0], 'circle');
  assert.match(off.name, /LR sensitivity/);
  assert.ok(fig.layout.shapes!.some((s) => s.y0 === lnV), 'the cap is drawn');
  assert.match(String(fig.layout.annotations![0].text), /qk_norm=true, lr=0.01, seed=1 \[failed\]/);
  // seeds averaged: qk_norm=true lr=0.001 has two finished seeds, error bars span them
  const pair = sweep.members.filter((m) => m.variantLabel === 'qk_norm=true, lr=0.001').map((m) => m.run!.summary!.final_eval_loss!);
  assert.ok(Math.abs(on.y[0] - (pair[0] + pair[1]) / 2) < 1e-12);
  assert.ok(Math.abs(on.error_y.array[0] - (Math.max(...pair) - on.y[0])) < 1e-12);
  assert.equal(lrSensitivity([3, 3.5, null], 8), null);
  assert.ok(Math.abs(lrSensitivity([3, 4, 9], 8)! - (0 + 1 + 5) / 3) < 1e-12);
  assertFinite(fig);
});

test('heatmap: any two keys on category axes; diverged cells red, no-result cells grey', () => {
  const sweep = loadSweep(mixedSweep('heat'));
  const fig = sweepHeatmap(sweep);
  assert.equal(fig.layout.xaxis?.type, 'category');
  assert.equal(fig.layout.yaxis?.type, 'category');
  const [res, div] = fig.data as any[];
  assert.equal(res.name, 'final eval loss');
  assert.deepEqual(res.x, ['0.001', '0.01', '0.1']);
  assert.deepEqual(res.y, ['true', 'false']);
  assert.equal(div.name, 'diverged');
  assert.equal(div.z[1][2], 1);
  assert.equal(res.z[1][2], null);
  assert.equal(div.text[1][2], 'diverged');
  // swapped axes on request
  const swapped = sweepHeatmap(sweep, { x: 'model.qk_norm', y: 'optimizer.lr' });
  assert.deepEqual((swapped.data[0] as any).x, ['true', 'false']);
  assertFinite(fig);
});

test('sweeps without a learning rate or a second key: a one-line UserError, not a broken figure', () => {
  const dir = syntheticSweep(path.join(tmp, 'seeds-only'), { sweepYaml: 'sweep:\n  seeds: 3\n' });
  const sweep = loadSweep(dir);
  assert.throws(() => lrSensitivityFigure(sweep), (e: unknown) => isUserError(e) && /does not sweep a learning rate/.test((e as Error).message));
  assert.throws(() => sweepHeatmap(sweep), (e: unknown) => isUserError(e) && /two different swept keys/.test((e as Error).message));
  const fig = sweepLossFigure(sweep);
  assert.ok(names(fig).includes('(base) (mean of 3 seeds)'));
});

test('a member whose run folder is damaged is reported, not fatal', () => {
  const dir = mixedSweep('damaged');
  const sweep0 = loadSweep(dir);
  const victim = sweep0.members[0].run!.dir;
  fs.writeFileSync(path.join(victim, RUN_FILES.metrics), 'not json\n{"step": 2}\n');
  const sweep = loadSweep(dir);
  assert.equal(sweep.members[0].run, null);
  assert.match(sweep.members[0].problem!, /line 1 is not JSON/);
  const note = ((membersTable(sweep).data[0] as any).cells.values as string[][]).at(-1)![0];
  assert.match(note, /not JSON/);
  assert.ok(sweepLossFigure(sweep).data.length > 0);
});

test('long runs are thinned for display: spikes and gaps survive, the tokens toggle stays aligned', () => {
  const y: (number | null)[] = Array.from({ length: 10_000 }, (_, i) => 3 + Math.sin(i / 50));
  y[5000] = 40;
  for (let i = 7000; i < 7010; i++) y[i] = null;
  const keep = thinIndices(y);
  assert.ok(keep.length <= MAX_POINTS, `${keep.length} points kept`);
  for (const i of [0, 5000, 7000, 9999]) assert.ok(keep.includes(i), `keeps ${i}`);
  assert.deepEqual(keep, [...keep].sort((a, b) => a - b));
  const run = readRun(syntheticRun(path.join(tmp, 'long'), ['train.steps=10000', 'train.eval_every=1000']));
  const fig = lossFigure(run);
  const raw = trace(fig, 'train (raw)');
  assert.ok(raw.x.length <= MAX_POINTS && raw.x.length > MAX_POINTS / 2, `${raw.x.length}`);
  assert.equal(raw.x.length, raw.customdata.length);
  const tokensX = (fig.layout.updatemenus![0].buttons![1].args![0] as { x: number[][] }).x;
  fig.data.forEach((t: any, i) => assert.equal(tokensX[i].length, t.x.length));
  assert.ok(stabilityFigures(run).every((f) => f.data.every((t: any) => t.x.length <= MAX_POINTS)));
});
