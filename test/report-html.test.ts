/**
 * The HTML report and `chamlab report`: one self-contained file (plotly.js inlined once, no network),
 * its header, default paths, user errors, --open; and in headless Chromium with every network request
 * blocked: no console errors, every figure drew all its traces, the axis types are the figures'
 * own, and a screenshot is written for people to look at (dist/test-artifacts/report-*.png).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isUserError } from '../dsl/errors';
import { buildReport, writeReport, type Report } from '../src/report';
import type { Page } from 'playwright-core';
import { artifactPath, checkPage, requireBrowser, withBrowser, type PageCheck } from './helpers/browser';
import { assertRendered } from './helpers/report-render';
import { mixedSweep, syntheticRun } from './helpers/report-fixtures';

const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO, 'bin', 'chamlab.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-report-html-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function chamlab(args: string[], env: NodeJS.ProcessEnv = process.env, cwd = tmp) {
  const r = spawnSync(process.execPath, [BIN, 'report', ...args], { cwd, encoding: 'utf8', env, timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const plotlyVersion = JSON.parse(fs.readFileSync(require.resolve('plotly.js-dist-min/package.json'), 'utf8')).version;

test('a run report: one file, plotly.js inlined once, no external reference, header with name, hash, version, date', () => {
  const dir = syntheticRun(path.join(tmp, 'one'));
  const { file, report } = writeReport([dir], { date: new Date('2026-03-04T05:06:07Z') });
  assert.equal(file, path.join(path.resolve(dir), 'report.html'));
  const html = fs.readFileSync(file, 'utf8');
  assert.equal(html.split(`plotly.js v${plotlyVersion}`).length - 1, 1, 'plotly.js exactly once');
  assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|@import/i);
  assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
  assert.match(html, new RegExp(`written by chamlab ${pkg.version.replace(/\./g, '\\.')} on 2026-03-04T05:06:07.000Z`));
  const spec = fs.readFileSync(path.join(dir, 'spec.yaml'), 'utf8');
  const hash = /^# hash: ([0-9a-f]{64})$/m.exec(spec)![1];
  assert.ok(html.includes(hash), 'the full spec hash is in the header');
  assert.ok(html.includes('<title>Run tiny'));
  assert.deepEqual(
    report.sections.map((s) => s.title),
    ['Loss', 'Learning rate', 'Stability'],
  );
  assert.equal(report.sections.flatMap((s) => s.figures).length, 7);
});

test('report of several runs and of a sweep: sections, default paths', () => {
  const a = syntheticRun(path.join(tmp, 'cmp'), ['model.qk_norm=true']);
  const b = syntheticRun(path.join(tmp, 'cmp'), ['model.qk_norm=false']);
  const runs = buildReport([a, b]);
  assert.equal(runs.kind, 'runs');
  assert.equal(runs.sections[0].title, 'Runs');
  assert.deepEqual(runs.runs.map((r) => r.label), ['qk_norm=true', 'qk_norm=false']);
  const sweep = buildReport([mixedSweep(path.join(tmp, 'sw'))]);
  assert.equal(sweep.kind, 'sweep');
  assert.deepEqual(
    sweep.sections.map((s) => s.title),
    ['Members', 'Loss', 'Sensitivity', 'Learning rate of every member', 'Stability of every member'],
  );
  assert.deepEqual(sweep.sections[2].figures.map((f) => f.id), ['lr-sensitivity', 'heatmap']);
});

test('a run that crashed before its first step: every figure becomes a note, the report still writes', () => {
  const dir = syntheticRun(path.join(tmp, 'empty'), [], { steps: 0, status: 'failed', reason: 'Error: no data' });
  fs.rmSync(path.join(dir, 'eval.jsonl'));
  const { report } = writeReport([dir]);
  assert.equal(report.sections.flatMap((s) => s.figures).length, 0);
  assert.deepEqual(report.sections.flatMap((s) => s.notes).slice(0, 2), ['Loss: no step recorded yet.', 'Held-out loss per source: no evaluation recorded yet.']);
  assert.ok(report.header.some(([k, v]) => k === 'status' && /failed.*no data/.test(v)));
});

test('bad folders: one-line user errors that say what to pass', () => {
  const missing = path.join(tmp, 'nope');
  assert.throws(() => buildReport([missing]), (e: unknown) => isUserError(e) && /no such folder/.test((e as Error).message));
  const parent = path.join(tmp, 'parent');
  syntheticRun(parent);
  assert.throws(
    () => buildReport([parent]),
    (e: unknown) => isUserError(e) && /neither a run folder nor a sweep folder; run folders inside it: .*tiny/.test((e as Error).message),
  );
  const sw = mixedSweep(path.join(tmp, 'sw-mix'));
  const run = syntheticRun(path.join(tmp, 'sw-mix-run'));
  assert.throws(() => buildReport([sw, run]), (e: unknown) => isUserError(e) && /reported on its own/.test((e as Error).message));
});

test('chamlab report: --out, exit codes, one-line errors, --open with and without xdg-open', () => {
  const dir = syntheticRun(path.join(tmp, 'cli'));
  const out = path.join(tmp, 'cli-out', 'r.html');
  const r = chamlab([dir, '--out', out]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^report: .*r\.html \(Run tiny, 7 figures, \d+\.\d MB\)\n$/);
  assert.ok(fs.statSync(out).size > 1e6);
  const bad = chamlab([path.join(tmp, 'nope')]);
  assert.equal(bad.code, 1);
  assert.equal(bad.err.trim().split('\n').length, 1, bad.err);
  assert.doesNotMatch(bad.err, /\n\s+at /);
  assert.equal(chamlab([]).code, 1);
  const help = spawnSync(process.execPath, [BIN, 'report', '--help'], { encoding: 'utf8' });
  assert.match(help.stdout, /^usage: chamlab report DIR\.\.\. \[--out FILE\] \[--open\]/);
  // --open: a fake xdg-open on PATH records what it was asked to open
  const bin = path.join(tmp, 'fakebin');
  fs.mkdirSync(bin, { recursive: true });
  const log = path.join(tmp, 'opened.txt');
  fs.writeFileSync(path.join(bin, 'xdg-open'), `#!/bin/sh\necho "$1" > ${log}\n`, { mode: 0o755 });
  const opened = chamlab([dir, '--open'], { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}` });
  assert.equal(opened.code, 0, opened.err);
  const deadline = Date.now() + 10_000;
  while (!fs.existsSync(log) && Date.now() < deadline) spawnSync('sleep', ['0.1']);
  assert.equal(fs.readFileSync(log, 'utf8').trim(), path.join(path.resolve(dir), 'report.html'));
  // no xdg-open: the path is printed and the command still succeeds
  const empty = path.join(tmp, 'emptybin');
  fs.mkdirSync(empty, { recursive: true });
  const none = chamlab([dir, '--open'], { ...process.env, PATH: empty });
  assert.equal(none.code, 0, none.err);
  assert.match(none.out, /no xdg-open on this machine: open .*report\.html in a browser/);
});

test('in headless Chromium, offline: run, live run, comparison and a sweep with diverged and failed members draw every figure', async (t) => {
  if (!requireBrowser(t)) return;
  // Clicking "x: tokens" on the loss figure switches its x axis (title and data) to tokens seen.
  const toggle = async (page: Page) => {
    await page.locator('#loss .updatemenu-button').nth(1).click();
    return page.evaluate(`(() => { const gd = document.getElementById('loss'); return { title: gd._fullLayout.xaxis.title.text, x: gd.data[0].x.slice(0, 2) }; })()`);
  };
  const cases: { name: string; dirs: string[]; check?: (r: Report, p: PageCheck) => void; interact?: (page: Page) => Promise<unknown> }[] = [
    {
      name: 'run-diverged',
      dirs: [syntheticRun(path.join(tmp, 'b-div'), ['model.qk_norm=false'], { nanAt: 17, status: 'finished' })],
      interact: toggle,
      check: (_r, p) => {
        assert.equal(p.figures.find((f) => f.id === 'optimizer')!.axisTypes.yaxis, 'log');
        assert.deepEqual(p.interaction, { title: 'tokens seen', x: [128, 256] });
      },
    },
    { name: 'run-live', dirs: [syntheticRun(path.join(tmp, 'b-live'), [], { steps: 12, status: null, torn: true })] },
    // crashed after its step-0 evaluation: only eval points to draw
    { name: 'run-empty', dirs: [syntheticRun(path.join(tmp, 'b-empty'), [], { steps: 0, status: 'failed' })] },
    {
      name: 'runs',
      dirs: [
        syntheticRun(path.join(tmp, 'b-cmp'), ['model.qk_norm=true', 'optimizer.lr=1e-4']),
        syntheticRun(path.join(tmp, 'b-cmp'), ['model.qk_norm=false', 'optimizer.lr=0.03'], { nanAt: 30, status: 'diverged' }),
      ],
      check: (_r, p) => {
        assert.equal(p.figures.find((f) => f.id === 'lr')!.axisTypes.yaxis, 'log');
        assert.ok(p.figures.find((f) => f.id === 'loss')!.legend.some((l) => l.startsWith('qk_norm=false, lr=0.03')));
      },
    },
    {
      name: 'sweep',
      dirs: [mixedSweep(path.join(tmp, 'b-sweep'))],
      check: (r, p) => {
        const statuses = new Set(r.runs.map((m) => m.status));
        assert.ok(statuses.has('diverged') && statuses.has('failed'), [...statuses].join());
        assert.equal(p.figures.find((f) => f.id === 'lr-sensitivity')!.axisTypes.xaxis, 'log');
        assert.deepEqual(p.figures.find((f) => f.id === 'heatmap')!.drawn.heatmap, 2);
        assert.equal(p.figures.find((f) => f.id === 'members')!.drawn.table, 1);
      },
    },
  ];
  await withBrowser(async (ctx) => {
    for (const c of cases) {
      const { file, report } = writeReport(c.dirs, { out: path.join(tmp, `${c.name}.html`) });
      const shot = artifactPath(`report-${c.name}.png`);
      const page = await checkPage(ctx, file, { screenshot: shot, interact: c.interact });
      assertRendered(report, page);
      c.check?.(report, page);
      assert.ok(fs.statSync(shot).size > 20_000, `${shot} is a real screenshot`);
      t.diagnostic(`screenshot: ${shot}`);
    }
    // The network block is real: a page that asks for a remote image is caught and recorded.
    const probe = path.join(tmp, 'probe.html');
    fs.writeFileSync(probe, '<!doctype html><body><img src="http://192.0.2.1/x.png"></body>');
    const seen = await checkPage(ctx, probe);
    assert.deepEqual(seen.networkRequests, ['http://192.0.2.1/x.png']);
  });
});
