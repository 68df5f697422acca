/** What a report must look like in the browser: shared by the report's HTML and end-to-end tests. */
import assert from 'node:assert/strict';
import type { Figure, Report } from '../../src/report';
import type { PageCheck } from './browser';

/** Traces of each kind in a figure, as plotly will draw them. */
export function expectedGroups(f: Figure) {
  const count = (type: string) => f.data.filter((t) => (t.type ?? 'scatter') === type).length;
  return { scatter: count('scatter'), heatmap: count('heatmap'), table: count('table') };
}

/**
 * The page drew every figure of the report, completely, with the figures' own axis types; no console
 * or page error, no network request.
 */
export function assertRendered(report: Report, page: PageCheck) {
  assert.deepEqual(page.consoleErrors, []);
  assert.deepEqual(page.pageErrors, []);
  assert.deepEqual(page.networkRequests, []);
  const figures = report.sections.flatMap((s) => s.figures);
  assert.deepEqual(page.figures.map((f) => f.id), figures.map((f) => f.id));
  for (const f of figures) {
    const drawn = page.figures.find((p) => p.id === f.id)!;
    const want = expectedGroups(f.figure);
    assert.deepEqual(drawn.drawn, want, `${f.id}: drawn trace groups`);
    assert.ok(want.scatter + want.heatmap + want.table > 0, `${f.id} has traces`);
    assert.equal(drawn.paintedScatter, want.scatter, `${f.id}: every scatter trace painted a line or points`);
    assert.ok(drawn.width > 300 && drawn.height > 150, `${f.id}: plot area ${drawn.width}x${drawn.height}`);
    for (const [name, ax] of Object.entries(f.figure.layout)) {
      if (!/^[xy]axis\d*$/.test(name) || !(ax as { type?: string }).type) continue;
      assert.equal(drawn.axisTypes[name], (ax as { type: string }).type, `${f.id}.${name}`);
    }
  }
}

