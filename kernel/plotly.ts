/**
 * A plotly figure as cell output, in one display_data bundle with two renderings:
 *
 *   application/vnd.plotly.v1+json  the figure itself; JupyterLab (with its plotly renderer) and
 *                                   VS Code draw it natively and prefer it
 *   text/html                       a <div> and a script that draws the figure with plotly.js, for
 *                                   the classic Notebook and nbconvert's HTML, which render HTML only
 *
 * The HTML needs plotly.js in the page. The bundle (plotly.js-dist-min, ~5 MB) goes into the page
 * once per kernel session, i.e. once per notebook run: the first figure carries it inline; every
 * later figure finds `window.Plotly` already there (scripts of outputs run in page order), or, while
 * the page is still loading, queues itself until the bundle has run. An updated output (the live
 * chart of `train`) never carries it: its content is replaced, so the bundle would vanish with it;
 * the bundle then goes out as an output of its own, just before.
 *
 * Figures are src/report's plain plotly objects; nothing here defines one.
 */
import * as fs from 'node:fs';
import { escapeHtml, scriptJson, type MimeBundle } from './display';

export const PLOTLY_MIME = 'application/vnd.plotly.v1+json';

/** What src/report builds (its Figure): plain data, layout and config objects as plotly.js takes them. */
export interface PlotlyFigure {
  data: readonly object[];
  layout?: object;
  config?: object;
}

/** The layout fields read here. */
type LayoutFields = { height?: unknown; title?: unknown };

let bundleSent = false;
let counter = 0;

/** Whether this kernel session has already put plotly.js into the notebook. */
export function plotlyLoaded(): boolean {
  return bundleSent;
}

/** Forget that the bundle was sent (tests; a notebook session never needs it). */
export function resetPlotlyBundle(): void {
  bundleSent = false;
}

/** The plotly.js bundle as one inline <script>, followed by a script that draws the queued figures. */
export function plotlyBundleHtml(): string {
  const file = require.resolve('plotly.js-dist-min/plotly.min.js');
  const js = fs.readFileSync(file, 'utf8');
  // Inside a <script> element only `</script` (or `<script` after `<!--`) would end or derail it.
  if (/<\/?script/i.test(js)) throw new Error(`${file} contains "<script" or "</script" and cannot be inlined`);
  const version = (JSON.parse(fs.readFileSync(require.resolve('plotly.js-dist-min/package.json'), 'utf8')) as { version: string }).version;
  // Shadow CommonJS and AMD globals a page may define (the classic Notebook loads require.js), so
  // the bundle sets window.Plotly instead of registering itself as a module.
  return (
    `<script type="text/javascript" data-chamlab-plotly="${escapeHtml(version)}">(function(){var module,exports,define;\n${js}\n}).call(window);</script>\n` +
    `<script type="text/javascript">(function(){var q=window.__chamlabPlotlyQueue||[];window.__chamlabPlotlyQueue=[];q.forEach(function(f){f();});})();</script>\n`
  );
}

/** The HTML rendering of one figure (without the bundle). */
export function figureHtml(fig: PlotlyFigure): string {
  const id = `chamlab-plot-${process.pid}-${++counter}`;
  const layout = (fig.layout ?? {}) as LayoutFields;
  const height = typeof layout.height === 'number' ? layout.height : 420;
  const config = { responsive: true, displaylogo: false, ...(fig.config ?? {}) };
  return (
    `<div id="${id}" class="chamlab-plot" style="width:100%;min-height:${height}px">` +
    `<div class="chamlab-plot-missing" style="color:#a00;font:13px sans-serif">plotly.js is loaded by the first plot of this notebook run; run the notebook from the top to see this plot.</div></div>\n` +
    `<script type="text/javascript">(function(){var fig=${scriptJson({ data: fig.data, layout: fig.layout ?? {}, config })};` +
    `function draw(){var el=document.getElementById(${scriptJson(id)});if(!el)return;var m=el.querySelector('.chamlab-plot-missing');if(m)m.remove();window.Plotly.newPlot(el,fig.data,fig.layout,fig.config);}` +
    `if(window.Plotly){draw();}else{(window.__chamlabPlotlyQueue=window.__chamlabPlotlyQueue||[]).push(draw);}})();</script>`
  );
}

/** A short text for front ends that show neither (a terminal, `jupyter nbconvert --to markdown`). */
export function figureText(fig: PlotlyFigure): string {
  const t = ((fig.layout ?? {}) as LayoutFields).title;
  const title = typeof t === 'string' ? t : typeof (t as { text?: unknown })?.text === 'string' ? (t as { text: string }).text : 'figure';
  return `<${title}: ${fig.data.length} trace${fig.data.length === 1 ? '' : 's'}>`;
}

/**
 * The output bundle of a figure. `inlineBundle` says whether this output may carry plotly.js when
 * the session has not sent it yet (false for outputs that will be replaced).
 */
export function figureBundle(fig: PlotlyFigure, { inlineBundle = true } = {}): MimeBundle {
  let html = figureHtml(fig);
  if (inlineBundle && !bundleSent) {
    html = plotlyBundleHtml() + html;
    bundleSent = true;
  }
  return {
    [PLOTLY_MIME]: { data: fig.data, layout: fig.layout ?? {}, ...(fig.config ? { config: fig.config } : {}) },
    'text/html': html,
    'text/plain': figureText(fig),
  };
}

/** A bundle holding only plotly.js, or null when the session has already sent it. */
export function takePlotlyBundle(): MimeBundle | null {
  if (bundleSent) return null;
  bundleSent = true;
  return { 'text/html': plotlyBundleHtml(), 'text/plain': '' };
}
