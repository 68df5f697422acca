/**
 * The kernel's parts without Jupyter: module resolution, specs in cells (positions and names), MIME
 * bundles and live outputs (through tslab's display writer, replaced by a recorder), the plotly
 * bundle sent once, show(spec), and kernelspec install/uninstall through the CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chamlabTarget, PACKAGE_ROOT } from '../kernel/resolution';
import { setCurrentCell } from '../kernel/context';
import { spec, specWith } from '../kernel/cell-spec';
import { displayBundle, LiveOutput } from '../kernel/display';
import { figureBundle, plotlyLoaded, PLOTLY_MIME, resetPlotlyBundle, takePlotlyBundle } from '../kernel/plotly';
import { specBundle } from '../kernel/show';
import { isUserError } from '../dsl/errors';
import { kernelSpec } from '../kernel/install';
import { SMALL_TEXT as SMALL } from './dsl-fixtures';

const REPO = path.resolve(__dirname, '..', '..');
const CLI = path.join(REPO, 'bin', 'chamlab.js');


/** A tagged-template call as the compiled cell makes it: the raw pieces of the source. */
function template(...raw: string[]): TemplateStringsArray {
  return Object.assign([...raw], { raw: [...raw] }) as unknown as TemplateStringsArray;
}

function messagesOf(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    assert.ok(isUserError(e), `expected a UserError, got ${(e as Error).stack}`);
    return (e as Error).message.split('\n');
  }
  assert.fail('expected an error');
}

test('chamlab and chamlab/... resolve to this package; other names are left alone', () => {
  assert.equal(chamlabTarget('chamlab'), PACKAGE_ROOT);
  assert.equal(chamlabTarget('chamlab/kernel'), path.join(PACKAGE_ROOT, 'dist', 'kernel', 'index.js'));
  assert.equal(chamlabTarget('chamlab/experiments/tiny.yaml'), path.join(PACKAGE_ROOT, 'experiments', 'tiny.yaml'));
  assert.equal(chamlabTarget('chamlabx'), null);
  assert.equal(chamlabTarget('yaml'), null);
  assert.ok(fs.existsSync(path.join(PACKAGE_ROOT, 'dist', 'kernel', 'index.js')));
  assert.equal(JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')).name, 'chamlab');
});

test('a spec in a cell resolves like a file: same spec and hash as the same YAML on disk', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-cellspec-'));
  fs.writeFileSync(path.join(dir, 'small.yaml'), SMALL);
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    setCurrentCell({ code: `const s = spec\`${SMALL}\`;`, executionCount: 1 });
    const fromCell = spec(template(SMALL));
    const { loadSpec } = require('../dsl') as typeof import('../dsl');
    const fromFile = loadSpec(path.join(dir, 'small.yaml'));
    assert.equal(fromCell.hash, fromFile.hash);
    assert.deepEqual(fromCell.spec, fromFile.spec);
    assert.equal(fromCell.file, 'In [1]');
    // Interpolated values and overrides.
    const lr = 0.003;
    const raw = SMALL.replace('train: { steps: 10 }\n', 'optimizer: { lr: ');
    const s2 = spec(template(raw, ' }\ntrain: { steps: 10 }\n'), lr);
    assert.equal(s2.spec.optimizer.lr, 0.003);
    const s3 = specWith({ overrides: ['train.steps=20'] })(template(SMALL));
    assert.equal(s3.spec.train.steps, 20);
    assert.throws(() => spec(template(raw, ' }\n'), undefined), /\$\{\.\.\.\} number 1 is undefined/);
  } finally {
    process.chdir(cwd);
    setCurrentCell(null);
  }
});

test('spec errors are positioned inside the cell (line and column of the cell, named after it)', () => {
  const yaml = `\nname: bad\nmodel:\n  vocab: { text: 300, image: 64 }\n  d_model: -32\n  layers: 1\n  heads: 2\n`;
  const code = `// first line\nconst x = 1;\n  const s = spec\`${yaml}\`;\n`;
  setCurrentCell({ code, executionCount: 12, cellId: 'a1b2c3' });
  try {
    const lines = messagesOf(() => spec(template(yaml)));
    // The template starts on cell line 3; `d_model: -32` is the template's line 5, so cell line 7, col 12.
    assert.ok(lines.some((l) => l.startsWith('In [12] (cell a1b2c3):7:12: model.d_model: ')), lines.join('\n'));
    assert.ok(lines.every((l) => /^In \[12\] \(cell a1b2c3\):\d+:\d+: /.test(l)), lines.join('\n'));
    // A first-line error counts the columns before the template on that line.
    const one = 'name: x\nmodel: { d_model: [1, 2 }';
    setCurrentCell({ code: `s = spec\`${one}\``, executionCount: 3 });
    const l2 = messagesOf(() => spec(template(one)));
    assert.match(l2[0], /^In \[3\]:2:\d+: YAML: /);
    // Duplicate keys on the first line of the template: column counts `s = spec\``.
    const dup = 'name: a\nname: b\n';
    setCurrentCell({ code: `s = spec\`${dup}\``, executionCount: 4 });
    assert.match(messagesOf(() => spec(template(dup)))[0], /^In \[4\]:2:1: duplicate key 'name'/);
    // A tag called from a function defined elsewhere: positions within the template itself.
    setCurrentCell({ code: 'make()', executionCount: 5 });
    assert.match(messagesOf(() => spec(template(dup)))[0], /^In \[5\] spec template:2:1: duplicate key 'name'/);
  } finally {
    setCurrentCell(null);
  }
});

test('extends in a cell resolves from the working directory and may not leave its project root', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-cellroot-'));
  fs.writeFileSync(path.join(root, '.chamlab-root'), '');
  fs.mkdirSync(path.join(root, 'nb'));
  fs.writeFileSync(path.join(root, 'base.yaml'), SMALL);
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-outside-'));
  fs.writeFileSync(path.join(outside, 'evil.yaml'), SMALL);
  const cwd = process.cwd();
  process.chdir(path.join(root, 'nb'));
  try {
    const child = '\nextends: ../base.yaml\nmodel: { layers: 3 }\n';
    setCurrentCell({ code: `spec\`${child}\``, executionCount: 2 });
    const s = spec(template(child));
    assert.equal(s.spec.model.layers, 3);
    assert.equal(s.spec.model.d_model, 32);
    assert.equal(s.root, fs.realpathSync(root));
    const evil = `\nextends: ${path.relative(path.join(root, 'nb'), path.join(outside, 'evil.yaml'))}\n`;
    setCurrentCell({ code: `spec\`${evil}\``, executionCount: 3 });
    assert.match(messagesOf(() => spec(template(evil)))[0], /^In \[3\]:2:10: extends: '.*evil\.yaml' is outside the project root/);
  } finally {
    process.chdir(cwd);
    setCurrentCell(null);
  }
});

/** Replaces tslab's kernel-wide display writer with a recorder for the duration of `fn`. */
function recordDisplays(fn: () => void): { msg: any; update: boolean }[] {
  const jupyter = require(require.resolve('tslab/dist/jupyter'));
  const seen: { msg: any; update: boolean }[] = [];
  const saved = jupyter.lastWriteDisplayData;
  jupyter.lastWriteDisplayData = (msg: any, update: boolean) => seen.push({ msg, update });
  try {
    fn();
  } finally {
    jupyter.lastWriteDisplayData = saved;
  }
  return seen;
}

test('one display_data carries several MIME types; a live output updates one display id', () => {
  const seen = recordDisplays(() => {
    displayBundle({ 'text/plain': 'hi', 'text/html': '<b>hi</b>' });
    const live = new LiveOutput();
    live.update({ 'text/plain': 'step 1' });
    live.update({ 'text/plain': 'step 2' });
  });
  assert.equal(seen.length, 3);
  assert.deepEqual(Object.keys(seen[0].msg.data).sort(), ['text/html', 'text/plain']);
  assert.equal(seen[0].update, false);
  assert.equal(seen[1].update, false);
  assert.equal(seen[2].update, true);
  assert.ok(seen[1].msg.transient.display_id);
  assert.equal(seen[1].msg.transient.display_id, seen[2].msg.transient.display_id);
  assert.equal(seen[2].msg.data['text/plain'], 'step 2');
  // Outside a kernel there is no writer: a clear error, not a silent no-op.
  assert.throws(() => displayBundle({ 'text/plain': 'x' }), /need a running chamlab kernel/);
});

test('figures: plotly JSON and HTML in one bundle; plotly.js inlined once per session; HTML is script-safe', () => {
  resetPlotlyBundle();
  const fig = { data: [{ type: 'scatter', x: [1, 2], y: [3, NaN], name: '</script><b>x' }], layout: { title: { text: 'loss' } } };
  const first = figureBundle(fig);
  const second = figureBundle(fig);
  assert.deepEqual(Object.keys(first).sort(), [PLOTLY_MIME, 'text/html', 'text/plain'].sort());
  assert.deepEqual((first[PLOTLY_MIME] as any).data, fig.data);
  const h1 = first['text/html'] as string;
  const h2 = second['text/html'] as string;
  assert.equal((h1.match(/data-chamlab-plotly=/g) ?? []).length, 1);
  assert.ok(h1.length > 1e6, 'the first figure inlines the plotly.js bundle');
  assert.equal((h2.match(/data-chamlab-plotly=/g) ?? []).length, 0);
  assert.ok(h2.length < 10_000);
  assert.ok(!h2.includes('</script><b>'), 'a trace name cannot close the script element');
  assert.equal(first['text/plain'], '<loss: 1 trace>');
  assert.equal(takePlotlyBundle(), null);
  resetPlotlyBundle();
  // An updated output never carries the bundle; it goes out on its own.
  const live = figureBundle(fig, { inlineBundle: false });
  assert.ok(!(live['text/html'] as string).includes('data-chamlab-plotly'));
  assert.equal(plotlyLoaded(), false);
  assert.ok(((takePlotlyBundle()!['text/html'] as string).match(/data-chamlab-plotly=/g) ?? []).length === 1);
  assert.equal(takePlotlyBundle(), null);
});

test('show(spec): hash, summary, parameters, FLOPs and the resolved YAML', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-show-'));
  fs.writeFileSync(path.join(dir, 'small.yaml'), SMALL);
  const { loadSpec } = require('../dsl') as typeof import('../dsl');
  const { sizeReport } = require('../src/model/size') as typeof import('../src/model/size');
  const loaded = loadSpec(path.join(dir, 'small.yaml'));
  const b = specBundle(loaded);
  const text = b['text/plain'] as string;
  const html = b['text/html'] as string;
  const n = sizeReport(loaded.spec).params.total;
  assert.ok(text.includes(loaded.hash));
  assert.ok(text.includes(`parameters: ${n.toLocaleString('en-US')}`));
  assert.ok(text.includes('FLOPs per token'));
  assert.ok(text.includes('d_model: 32'));
  assert.ok(html.includes(n.toLocaleString('en-US')));
  assert.ok(html.includes(loaded.hash.slice(0, 12)));
  assert.ok(html.includes('<details>'));
  // A spec file path works too.
  assert.equal(specBundle(path.join(dir, 'small.yaml'))['text/plain'], text);
});

test('chamlab kernel install --prefix writes a kernelspec that runs the launcher; uninstall removes only ours', () => {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-kprefix-'));
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'kernel', ...args], { encoding: 'utf8' });
  const help = run('--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--prefix DIR/);
  const r = run('install', '--prefix', prefix);
  assert.equal(r.status, 0, r.stderr);
  const file = path.join(prefix, 'share', 'jupyter', 'kernels', 'chamlab', 'kernel.json');
  const ks = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.equal(ks.display_name, 'chamlab (TypeScript)');
  assert.equal(ks.interrupt_mode, 'signal');
  assert.deepEqual(ks.argv, [process.execPath, path.join(REPO, 'dist', 'kernel', 'launcher.js'), '{connection_file}']);
  assert.deepEqual(ks, kernelSpec());
  // Installing again replaces it.
  assert.equal(run('install', '--prefix', prefix).status, 0);
  const u = run('uninstall', '--prefix', prefix);
  assert.equal(u.status, 0, u.stderr);
  assert.ok(!fs.existsSync(path.dirname(file)));
  // Nothing there: a one-line error, exit 1.
  const again = run('uninstall', '--prefix', prefix);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /^chamlab kernel uninstall: no chamlab kernel is installed in .*\n$/);
  // A kernel named chamlab that we did not write is left alone.
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ argv: ['x'], display_name: 'other' }));
  const foreign = run('uninstall', '--prefix', prefix);
  assert.equal(foreign.status, 1);
  assert.match(foreign.stderr, /chamlab did not install/);
  assert.ok(fs.existsSync(file));
  // Bad arguments.
  for (const args of [[], ['start'], ['install', '--user', '--prefix', prefix], ['install', '--bogus']]) {
    const b = run(...args);
    assert.equal(b.status, 1, `${args.join(' ')}: ${b.stderr}`);
    assert.equal(b.stderr.trim().split('\n').length, 1, b.stderr);
  }
});

test('showImages: one image as image/png, several as an HTML grid, samples with their text, code grids as tables', () => {
  const { imagesBundle } = require('../kernel/images') as typeof import('../kernel/images');
  const { PNG } = require('pngjs') as typeof import('pngjs');
  const img = (v: number) => ({ size: 6, pixels: new Float32Array(36).fill(v) });
  const one = imagesBundle(img(1));
  assert.deepEqual(Object.keys(one).sort(), ['image/png', 'text/plain']);
  const png = PNG.sync.read(Buffer.from(one['image/png'] as string, 'base64'));
  assert.deepEqual([png.width, png.height, png.data[0]], [6, 6, 255]);
  const grid = imagesBundle([img(-1), { image: img(0), caption: 'mid <grey>' }, img(1)], { columns: 3, title: 'three' });
  const html = grid['text/html'] as string;
  assert.equal((html.match(/<img /g) ?? []).length, 3);
  assert.ok(html.includes('mid &lt;grey&gt;'));
  assert.ok(html.includes('repeat(3,'));
  // Generated PNG bytes pass through unchanged.
  const bytes = PNG.sync.write(Object.assign(new PNG({ width: 2, height: 3 }), {}));
  assert.equal(imagesBundle(bytes)['image/png'], Buffer.from(bytes).toString('base64'));
  assert.throws(() => imagesBundle(new Uint8Array([1, 2, 3])), /not a PNG/);
  // A decoded sample: its text and each image, complete (codes + picture) or partial (codes only).
  const sample = { stage: 's1', sequence: 0, text: 'two plus <image 0> <image 1: partial, 2 of 4 codes>', images: [{ codes: [1, 2, 3, 4], complete: true, image: img(0.5) }, { codes: [7, 7], complete: false }] };
  const sb = imagesBundle(sample);
  const sh = sb['text/html'] as string;
  assert.ok(sh.includes('two plus &lt;image 0&gt;'));
  assert.equal((sh.match(/<img /g) ?? []).length, 1);
  assert.equal((sh.match(/<td /g) ?? []).length, 6);
  assert.match(sb['text/plain'] as string, /^\[s1 #0\] two plus/);
});

test('showTable: columns in first-seen order, numbers right-aligned and rounded, HTML escaped', () => {
  const { tableBundle } = require('../kernel/table') as typeof import('../kernel/table');
  const b = tableBundle([{ source: 'text', share: 0.123456789 }, { source: '<img>', share: 0.5, n: 1200 }], { title: 'mix' });
  assert.equal(b['text/plain'], 'mix\nsource   share      n\ntext    0.1235\n<img>      0.5  1,200');
  assert.ok((b['text/html'] as string).includes('&lt;img&gt;'));
  assert.equal(((b['text/html'] as string).match(/<tr>/g) ?? []).length, 3);
});

test('plot.*: each shows the report figure of the run or sweep, as one bundle with the plotly JSON', () => {
  const { syntheticRun, syntheticSweep } = require('./helpers/report-fixtures') as typeof import('./helpers/report-fixtures');
  const report = require('../src/report') as typeof import('../src/report');
  const { readRun } = require('../src/runs/read') as typeof import('../src/runs/read');
  const { plot } = require('../kernel/plot') as typeof import('../kernel/plot');
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-plot-'));
  const runDir = syntheticRun(out);
  const sweepDir = syntheticSweep(path.join(out, 'sw'), { sweepYaml: 'sweep:\n  grid:\n    model.qk_norm: [true, false]\n    optimizer.lr: [0.001, 0.01]' });
  const figs = (f: () => void) => recordDisplays(f).map((s) => s.msg.data[PLOTLY_MIME]).filter(Boolean);
  const same = (shown: any, fig: { data: unknown[]; layout: unknown }) => assert.deepEqual(JSON.parse(JSON.stringify(shown)), JSON.parse(JSON.stringify({ data: fig.data, layout: fig.layout })));
  const run = readRun(runDir);
  const sweep = report.loadSweep(sweepDir);
  resetPlotlyBundle();
  same(figs(() => plot.loss(runDir))[0], report.lossFigure(run));
  same(figs(() => plot.loss({ dir: runDir }))[0], report.lossFigure(run));
  same(figs(() => plot.lr(run))[0], report.lrFigure(run));
  const stability = figs(() => plot.stability(runDir));
  assert.equal(stability.length, report.stabilityFigures(run).length);
  stability.forEach((f, i) => same(f, report.stabilityFigures(run)[i]));
  same(figs(() => plot.sweep(sweepDir))[0], report.sweepLossFigure(sweep));
  same(figs(() => plot.lrSensitivity(sweepDir))[0], report.lrSensitivityFigure(sweep));
  same(figs(() => plot.heatmap(sweep))[0], report.sweepHeatmap(sweep));
  same(figs(() => plot.members(sweepDir))[0], report.membersTable(sweep));
  // A sweep's stability figures are the sweep report's: every member overlaid, styled by variant.
  const members = report.buildReport([sweepDir]).sections.flatMap((s) => s.figures).filter((f) => /^members-(layer-rms|attn-logit|logits|optimizer)$/.test(f.id));
  const shown = figs(() => plot.stability(sweepDir));
  assert.equal(shown.length, 4);
  shown.forEach((f, i) => same(f, members[i].figure));
  // plot.report: every figure of the HTML report, in order.
  const all = report.buildReport([runDir]).sections.flatMap((s) => s.figures);
  const rep = figs(() => plot.report(runDir));
  assert.equal(rep.length, all.length);
  rep.forEach((f, i) => same(f, all[i].figure));
});
