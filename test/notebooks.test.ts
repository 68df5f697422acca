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
import { renderedPlots, requireChromium, withPage } from './helpers/browser';

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
    if (!requireChromium(t)) return;
    const html = notebookToHtml(r.file, env);
    assert.equal((fs.readFileSync(html, 'utf8').match(/data-chamlab-plotly=/g) ?? []).length, 1, 'plotly.js is in the page exactly once');
    const { rendered, blocked } = await withPage(html, async (page, blocked) => ({ rendered: await renderedPlots(page), blocked }));
    assert.deepEqual(blocked, [], 'the page needs no network');
    assert.equal(rendered.length, plots.length, 'one drawn figure per figure output');
    for (const [k, p] of rendered.entries()) {
      const expected = ((plots[k].data![PLOTLY] as { data: unknown[] }).data ?? []).length;
      assert.ok(!p.empty, `figure ${k} (${p.title}) did not render`);
      assert.equal(p.traces, expected, `figure ${k} (${p.title}): traces`);
      assert.ok(p.drawn > 0, `figure ${k} (${p.title}) drew nothing`);
    }
  });
}
