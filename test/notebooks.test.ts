/**
 * Every example notebook in notebooks/, executed through real Jupyter with the chamlab kernel on the
 * small budgets the notebooks declare (CHAMLAB_NOTEBOOK_BUDGET=small), run folders in a fresh
 * folder (CHAMLAB_RUNS_DIR). A notebook passes when nbconvert finishes, no cell reported an error
 * (tslab reports them as stderr text), its last cell (which asserts what the notebook showed)
 * printed "checks passed", and its HTML conversion draws every figure with its traces in headless
 * Chromium with the network blocked. The committed copy must hold the outputs of a passing run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { assertNoCellErrors, executeNotebook, installTestKernel, notebookToHtml, REPO, requireJupyter, stdoutOf, type Notebook } from './helpers/notebook';
import { artifactPath, checkPage, requireBrowser, withBrowser } from './helpers/browser';

const NOTEBOOKS = path.join(REPO, 'notebooks');
const PLOTLY = 'application/vnd.plotly.v1+json';

const notebooks = fs
  .readdirSync(NOTEBOOKS)
  .filter((f) => f.endsWith('.ipynb'))
  .sort();

const codeCells = (nb: Notebook) => nb.cells.map((c, i) => ({ c, i })).filter(({ c }) => c.cell_type === 'code');
const lastCodeCell = (nb: Notebook) => codeCells(nb).at(-1)!.i;
const plotOutputs = (nb: Notebook) => nb.cells.flatMap((c) => (c.outputs ?? []).filter((o) => o.data && PLOTLY in o.data));

test('notebooks/ holds the example notebooks', () => {
  assert.ok(notebooks.length >= 1, 'no notebooks');
});

for (const name of notebooks) {
  test(`notebook ${name}: committed with the outputs of a passing run`, () => {
    const nb = JSON.parse(fs.readFileSync(path.join(NOTEBOOKS, name), 'utf8')) as Notebook;
    assert.equal((nb.metadata.kernelspec as { name: string }).name, 'chamlab');
    assertNoCellErrors(nb, `committed ${name}`);
    const last = lastCodeCell(nb);
    assert.match(stdoutOf(nb, last), /checks passed/, `committed ${name}: its last cell did not pass`);
  });

  test(`notebook ${name}: executes through Jupyter on its small budget and every figure renders`, async (t) => {
    if (!requireJupyter(t)) return;
    const { env } = installTestKernel();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), `chamlab-${path.basename(name, '.ipynb')}-`));
    const runEnv = { ...env, CHAMLAB_NOTEBOOK_BUDGET: 'small', CHAMLAB_RUNS_DIR: path.join(work, 'runs') };
    const r = executeNotebook(path.join(NOTEBOOKS, name), { env: runEnv, timeout: 600, output: path.join(work, name) });
    process.stderr.write(`# ${name}: executed in ${r.seconds.toFixed(1)} s\n`);
    assert.equal(r.status, 0, `nbconvert failed:\n${r.stderr.slice(-3000)}`);
    assertNoCellErrors(r.nb, name);
    assert.match(stdoutOf(r.nb, lastCodeCell(r.nb)), /checks passed/);

    const plots = plotOutputs(r.nb);
    if (plots.length === 0) return;
    if (!requireBrowser(t)) return;
    const html = notebookToHtml(r.file, env);
    assert.equal((fs.readFileSync(html, 'utf8').match(/data-chamlab-plotly=/g) ?? []).length, 1, 'plotly.js is in the page exactly once');
    const check = await withBrowser((ctx) => checkPage(ctx, html, { screenshot: artifactPath(`notebook-${path.basename(name, '.ipynb')}.png`) }));
    assert.deepEqual(check.networkRequests, [], 'the page needs no network');
    assert.deepEqual(check.pageErrors, []);
    assert.equal(check.figures.length, plots.length, 'every figure output drew a plotly figure');
    for (const [k, f] of check.figures.entries()) {
      const traces = ((plots[k].data![PLOTLY] as { data: unknown[] }).data ?? []).length;
      const drawn = f.drawn.scatter + f.drawn.heatmap + f.drawn.table;
      assert.ok(f.traceTypes.length >= 1 && f.traceTypes.length <= traces, `figure ${k} (${f.title}): ${f.traceTypes.length} visible traces of ${traces}`);
      assert.ok(drawn >= 1, `figure ${k} (${f.title}) drew nothing`);
      if (f.drawn.scatter > 0) assert.ok(f.paintedScatter >= 1, `figure ${k} (${f.title}): no line painted`);
    }
  });
}
