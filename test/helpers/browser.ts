/**
 * Headless Chromium for tests that must see what a person sees: the HTML report, notebook HTML.
 * Debian's chromium driven by playwright-core (no downloaded browsers), a fresh profile per launch,
 * every network request aborted and recorded, console errors and page errors collected, and per
 * plotly figure on the page: its traces as plotly resolved them, the trace groups it actually drew
 * (scatter, heatmap, table), its axis types (`_fullLayout`), and a screenshot for people to look at.
 *
 * Under CI=true a missing chromium is a failure; elsewhere the test is skipped with a loud reason.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';

export const CHROMIUM = process.env.CHAMLAB_CHROMIUM ?? '/usr/bin/chromium';

/** The flags of ../shared/reference/toolchain.md ("Browser checks"). */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Why no browser can run here, or null when one can. */
export function browserMissing(): string | null {
  if (!fs.existsSync(CHROMIUM)) return `no chromium at ${CHROMIUM} (install Debian's chromium: npm run setup)`;
  try {
    require.resolve('playwright-core');
  } catch {
    return 'playwright-core is not installed (npm ci)';
  }
  return null;
}

/**
 * True when the browser can run. Otherwise fails under CI=true and skips loudly elsewhere: call it
 * first in a browser test and return when it says false.
 */
export function requireBrowser(t: TestContext): boolean {
  const why = browserMissing();
  if (!why) return true;
  if (process.env.CI === 'true') throw new Error(`browser test cannot run under CI: ${why}`);
  const msg = `SKIPPED browser check: ${why}`;
  process.stderr.write(`\n*** ${msg} ***\n`);
  t.skip(msg);
  return false;
}

/** Where tests put screenshots for people to look at: $CHAMLAB_TEST_ARTIFACTS or dist/test-artifacts. */
export function artifactPath(name: string): string {
  const dir = process.env.CHAMLAB_TEST_ARTIFACTS ?? path.resolve(__dirname, '..', '..', 'test-artifacts');
  fs.mkdirSync(dir, { recursive: true });
  return path.join(dir, name);
}

/** Runs `fn` with a fresh headless Chromium (own temporary profile), closed and removed afterwards. */
export async function withBrowser<T>(fn: (ctx: BrowserContext) => Promise<T>): Promise<T> {
  const { chromium } = await import('playwright-core');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 900 },
  });
  try {
    return await fn(ctx);
  } finally {
    await ctx.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

const PLOTS_READY = `(() => {
  if (document.body.getAttribute('data-plots') === 'pending') return false;
  return Array.from(document.querySelectorAll('.js-plotly-plot')).every((d) => d._fullLayout);
})()`;

const FIGURE_INFO = `Array.from(document.querySelectorAll('.js-plotly-plot')).map((gd) => {
  const fl = gd._fullLayout;
  const axisTypes = {};
  for (const k of Object.keys(fl)) if (/^[xy]axis\\d*$/.test(k)) axisTypes[k] = fl[k].type;
  const groups = Array.from(gd.querySelectorAll('.scatterlayer .trace'));
  const painted = groups.filter((g) =>
    Array.from(g.querySelectorAll('path.js-line, path.js-fill')).some((p) => (p.getAttribute('d') || '').length > 1) || g.querySelector('.point'),
  ).length;
  return {
    id: gd.id,
    title: (fl.title && fl.title.text) || '',
    traceTypes: gd._fullData.filter((t) => t.visible === true).map((t) => t.type),
    drawn: {
      scatter: groups.length,
      heatmap: gd.querySelectorAll('.heatmaplayer .hm').length,
      table: gd.querySelectorAll('.table').length,
    },
    paintedScatter: painted,
    axisTypes,
    legend: Array.from(gd.querySelectorAll('.legend .traces .legendtext')).map((e) => e.textContent || ''),
    width: gd.clientWidth,
    height: gd.clientHeight,
  };
})`;

export interface FigureInfo {
  /** The plot div's id. */
  id: string;
  title: string;
  /** Trace types as plotly resolved them (`_fullData`), visible ones only. */
  traceTypes: string[];
  /** Trace groups drawn in the SVG: scatter (`.scatterlayer .trace`), heatmap (`.heatmaplayer .hm`), table (`.table`). */
  drawn: { scatter: number; heatmap: number; table: number };
  /** Scatter trace groups that painted something: a line path with data or at least one point. */
  paintedScatter: number;
  /** Resolved axis types by axis name (`xaxis`, `yaxis2`, ...). */
  axisTypes: Record<string, string>;
  /** Legend entries' names as plotly shows them. */
  legend: string[];
  width: number;
  height: number;
}

export interface PageCheck {
  consoleErrors: string[];
  pageErrors: string[];
  /** Every request that would have left the machine (all of them were aborted). */
  networkRequests: string[];
  figures: FigureInfo[];
  screenshot: string | null;
  /** What `interact` returned. */
  interaction: unknown;
}

export interface CheckOptions {
  /** Write a full-page PNG here (taken before `interact`). */
  screenshot?: string;
  timeoutMs?: number;
  /** Runs after the figures are inspected (click a button, read a plot's state); its result is returned. */
  interact?: (page: Page) => Promise<unknown>;
}

/**
 * Opens a local HTML file, waits until every plotly figure on it has drawn, and reports what the
 * page did: errors, attempted network requests, and each figure (see FigureInfo).
 */
export async function checkPage(ctx: BrowserContext, file: string, opts: CheckOptions = {}): Promise<PageCheck> {
  const timeout = opts.timeoutMs ?? 60_000;
  const consoleErrors: string[] = [];
  const pageErrors: string[] = [];
  const networkRequests: string[] = [];
  const local = (u: string) => u.startsWith('file:') || u.startsWith('data:') || u.startsWith('blob:') || u === 'about:blank';
  const page = await ctx.newPage();
  const record = (url: string) => {
    if (!local(url) && !networkRequests.includes(url)) networkRequests.push(url);
  };
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (local(url)) return route.continue();
    record(url);
    return route.abort('blockedbyclient');
  });
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('request', (r) => record(r.url()));
  await page.goto('file://' + path.resolve(file), { waitUntil: 'load', timeout });
  // A page that announces its own end of drawing (the report sets body[data-plots]) is waited for;
  // then every plotly div must have its resolved layout. (Page code is a string: no DOM types here.)
  await page.waitForFunction(PLOTS_READY, undefined, { timeout });
  await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
  const figures = (await page.evaluate(FIGURE_INFO)) as FigureInfo[];
  let screenshot: string | null = null;
  if (opts.screenshot) {
    await page.screenshot({ path: opts.screenshot, fullPage: true });
    screenshot = opts.screenshot;
  }
  const interaction = opts.interact ? await opts.interact(page) : undefined;
  await page.close();
  return { consoleErrors, pageErrors, networkRequests, figures, screenshot, interaction };
}
