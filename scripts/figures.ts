/**
 * Writes every figure of a chamlab report as its own PNG, for documents that show figures from real
 * runs (docs/findings.md). Headless Chromium (Debian's, through playwright-core) opens the report
 * offline and screenshots each plot.
 *
 *   node dist/scripts/figures.js REPORT.html OUT_DIR PREFIX [--only 1,3,5]
 *
 * Files: OUT_DIR/PREFIX-<n>-<title slug>.png, n counting the report's figures from 1; prints each
 * path with the figure's title.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { withBrowser } from '../test/helpers/browser';

async function main(): Promise<number> {
  const [report, outDir, prefix, ...rest] = process.argv.slice(2);
  if (!report || !outDir || !prefix) {
    process.stderr.write('usage: node dist/scripts/figures.js REPORT.html OUT_DIR PREFIX [--only 1,3,5]\n');
    return 2;
  }
  const onlyArg = rest[0] === '--only' ? rest[1] : undefined;
  const only = onlyArg ? new Set(onlyArg.split(',').map(Number)) : null;
  fs.mkdirSync(outDir, { recursive: true });
  await withBrowser(async (ctx) => {
    const page = await ctx.newPage();
    await page.route('**/*', (route) => (route.request().url().startsWith('file:') ? route.continue() : route.abort()));
    await page.setViewportSize({ width: 1100, height: 900 });
    await page.goto('file://' + path.resolve(report));
    await page.waitForFunction("Array.from(document.querySelectorAll('.js-plotly-plot')).every((d) => d._fullLayout)", null, { timeout: 60_000 });
    const plots = await page.$$('.js-plotly-plot');
    for (let i = 0; i < plots.length; i++) {
      if (only && !only.has(i + 1)) continue;
      const title = await plots[i].evaluate((d) => ((d as any)._fullLayout.title?.text as string) ?? '');
      const slug = title.replace(/<[^>]+>/g, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 48) || 'figure';
      const file = path.join(outDir, `${prefix}-${i + 1}-${slug}.png`);
      await plots[i].screenshot({ path: file });
      process.stdout.write(`${file}  ${title.replace(/<[^>]+>/g, '')}\n`);
    }
  });
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (e) => {
    process.stderr.write(`figures: ${e instanceof Error ? e.message : e}\n`);
    process.exitCode = 1;
  },
);
