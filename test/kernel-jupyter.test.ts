/**
 * The kernel through real Jupyter: notebooks in a folder that has no node_modules import chamlab and
 * its helpers, specs in cells load with `extends` from the notebook's folder, figures come out as
 * one bundle of plotly JSON + HTML, spec and library errors print as positioned one-line errors (a
 * cell's errors seen through jupyter_client), and
 * the executed notebook converted to HTML draws every figure in headless Chromium with the network
 * blocked (plotly.js inlined once).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  assertNoCellErrors,
  drive,
  executeNotebook,
  installTestKernel,
  makeNotebook,
  notebookToHtml,
  outputsOf,
  requireJupyter,
  streams,
  stdoutOf,
  writeNotebook,
} from './helpers/notebook';
import { checkPage, requireBrowser, withBrowser } from './helpers/browser';
import { SMALL_TEXT as BASE } from './dsl-fixtures';

const IMPORTS = `import * as chamlab from 'chamlab';
import { spec, show, showFigure } from 'chamlab/kernel';`;

function folder(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-nb-'));
  fs.writeFileSync(path.join(dir, '.chamlab-root'), '');
  fs.writeFileSync(path.join(dir, 'base.yaml'), BASE);
  return dir;
}

test('a notebook anywhere imports chamlab, loads a spec from a cell, shows it and its figures; HTML draws them offline', async (t) => {
  if (!requireJupyter(t)) return;
  const { env } = installTestKernel();
  const dir = folder();
  assert.ok(!fs.existsSync(path.join(dir, 'node_modules')));
  const nbFile = path.join(dir, 'figures.ipynb');
  writeNotebook(
    nbFile,
    makeNotebook([
      `${IMPORTS}\nconsole.log('loadSpec is a', typeof chamlab.loadSpec, '; model exports', Object.keys(chamlab.model).length > 0);`,
      "const s = spec`\nextends: base.yaml\nmodel: { layers: 2 }\n`;\nshow(s);\nconsole.log('layers', s.spec.model.layers, 'hash', s.hash.slice(0, 12));",
      "showFigure({ data: [{ type: 'scatter', x: [1, 2, 3], y: [1, 4, 9], name: 'a' }, { type: 'scatter', x: [1, 2, 3], y: [2, 3, 4], name: 'b' }], layout: { title: { text: 'first' } } });",
      "showFigure({ data: [{ type: 'heatmap', z: [[1, 2], [3, 4]] }], layout: { title: { text: 'second' } } });",
      // The type checker sees chamlab's declarations: a wrong use is a compile error, not undefined at runtime.
      "const n: number = chamlab.specHash({} as any).length; console.log('typed', n > 0);",
    ]),
  );
  const r = executeNotebook(nbFile, { env, timeout: 120 });
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  assertNoCellErrors(r.nb, 'figures.ipynb');
  assert.match(stdoutOf(r.nb, 0), /loadSpec is a function ; model exports true/);
  const { loadSpec } = require('../dsl') as typeof import('../dsl');
  fs.writeFileSync(path.join(dir, 'child.yaml'), 'extends: base.yaml\nmodel: { layers: 2 }\n');
  const expected = loadSpec(path.join(dir, 'child.yaml'));
  assert.match(stdoutOf(r.nb, 1), new RegExp(`layers 2 hash ${expected.hash.slice(0, 12)}`));
  const shown = outputsOf(r.nb, 1).find((o) => o.output_type === 'display_data')!;
  assert.ok((shown.data!['text/plain'] as string[]).join('').includes(expected.hash));
  for (const cell of [2, 3]) {
    const outs = outputsOf(r.nb, cell).filter((o) => o.output_type === 'display_data');
    assert.equal(outs.length, 1, `cell ${cell}: one output`);
    assert.deepEqual(Object.keys(outs[0].data!).sort(), ['application/vnd.plotly.v1+json', 'text/html', 'text/plain']);
    assert.equal(typeof outs[0].data!['application/vnd.plotly.v1+json'], 'object');
  }
  assert.match(stdoutOf(r.nb, 4), /typed true/);

  if (!requireBrowser(t)) return;
  const html = notebookToHtml(r.file, env);
  const page = fs.readFileSync(html, 'utf8');
  assert.equal((page.match(/data-chamlab-plotly=/g) ?? []).length, 1, 'plotly.js is in the page once');
  const check = await withBrowser((ctx) => checkPage(ctx, html));
  assert.deepEqual(check.networkRequests, [], 'the page needs no network');
  assert.deepEqual(check.pageErrors, []);
  assert.deepEqual(
    check.figures.map((f) => [f.title, f.traceTypes, f.drawn.scatter, f.drawn.heatmap]),
    [
      ['first', ['scatter', 'scatter'], 2, 0],
      ['second', ['heatmap'], 0, 1],
    ],
  );
  assert.equal(check.figures[0].paintedScatter, 2);
});

test('errors that end a cell: a spec error prints positioned one-line errors, a library UserError its line, a bug its stack, a type error its diagnostic', (t) => {
  if (!requireJupyter(t)) return;
  const { env } = installTestKernel();
  const dir = folder();
  const [imports, badSpec, badCall, bug, typeError, after] = drive(dir, env, [
    { code: IMPORTS },
    { code: "// a comment\nconst bad = spec`\nextends: base.yaml\nmodel:\n  d_model: -32\n  qk_nrom: true\n`;" },
    { code: "chamlab.loadSpec('missing.yaml');" },
    { code: "throw new TypeError('a bug');" },
    { code: 'const wrong: number = chamlab.specHash;' },
    { code: "console.log('still working');" },
  ]);
  assert.equal(imports.reply.status, 'ok', streams(imports, 'stderr'));
  const err = streams(badSpec, 'stderr');
  assert.equal(badSpec.reply.status, 'error');
  const lines = err.trim().split('\n');
  assert.deepEqual(
    lines.map((l) => l.replace(/: .*$/, '')),
    ['In [2]:5:12', 'In [2]:6:3'],
    err,
  );
  assert.match(lines[0], /model\.d_model: must be > 0, got -32/);
  assert.match(lines[1], /unknown key 'qk_nrom' in model \(did you mean 'qk_norm'\?\)/);
  assert.doesNotMatch(err, /\n\s+at /);
  assert.equal(badCall.reply.status, 'error');
  assert.equal(streams(badCall, 'stderr'), 'missing.yaml:1:1: no such file\n');
  assert.equal(bug.reply.status, 'error');
  assert.match(streams(bug, 'stderr'), /TypeError: a bug\n\s+at /);
  // Cells are type-checked against chamlab's declarations before they run.
  assert.equal(typeError.reply.status, 'error');
  assert.match(streams(typeError, 'stderr'), /1:7 - Type '.*' is not assignable to type 'number'/);
  assert.equal(streams(after, 'stdout'), 'still working\n');
});
