/**
 * showTable(rows): rows of values as an HTML table (and aligned text), for results that are numbers
 * to read rather than curves to look at: a stage's declared and realized mixture, a run's summary.
 */
import { displayBundle, escapeHtml, type MimeBundle } from './display';

export interface ShowTableOptions {
  title?: string;
  /** Columns in order (default: every key of every row, in first-seen order). */
  columns?: string[];
  /** Significant digits of non-integer numbers (default 4). */
  digits?: number;
}

function cellText(v: unknown, digits: number): string {
  if (typeof v === 'number') return Number.isInteger(v) ? v.toLocaleString('en-US') : Number.isFinite(v) ? String(Number(v.toPrecision(digits))) : String(v);
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function tableBundle(rows: ReadonlyArray<Record<string, unknown>>, opts: ShowTableOptions = {}): MimeBundle {
  const digits = opts.digits ?? 4;
  const columns = opts.columns ?? [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cells = rows.map((r) => columns.map((c) => cellText(r[c], digits)));
  const numeric = columns.map((c) => rows.every((r) => r[c] === undefined || r[c] === null || typeof r[c] === 'number'));
  const th = columns.map((c, i) => `<th style="text-align:${numeric[i] ? 'right' : 'left'}">${escapeHtml(c)}</th>`).join('');
  const trs = cells.map((row) => `<tr>${row.map((v, i) => `<td style="text-align:${numeric[i] ? 'right' : 'left'}">${escapeHtml(v)}</td>`).join('')}</tr>`).join('');
  const html = `<div class="chamlab-table">${opts.title ? `<div style="font-weight:bold">${escapeHtml(opts.title)}</div>` : ''}<table><thead><tr>${th}</tr></thead><tbody>${trs}</tbody></table></div>`;
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const line = (vals: string[]) => vals.map((v, i) => (numeric[i] ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join('  ').trimEnd();
  const text = [...(opts.title ? [opts.title] : []), line(columns), ...cells.map(line)].join('\n');
  return { 'text/html': html, 'text/plain': text };
}

/** Displays rows as a table. */
export function showTable(rows: ReadonlyArray<Record<string, unknown>>, opts: ShowTableOptions = {}): void {
  displayBundle(tableBundle(rows, opts));
}
