/**
 * Specs written in a cell:
 *
 *   const s = spec`
 *   name: tiny
 *   model: { d_model: 64, layers: 2, heads: 2 }
 *   `;
 *
 * The text goes through the loader files go through (dsl's loadSpecText: the same YAML rules,
 * `extends`, validation and hash), so a mistake is reported as the same one-line errors, positioned
 * at the line and column inside the cell and named after it: `In [3]:4:12: model.heads: ...`.
 * `extends` and relative data paths resolve from the notebook's folder (the kernel's working
 * directory), and may not leave its project root.
 *
 * The text is the template's raw source (as String.raw gives it), so that its positions are those of
 * the cell; `${...}` values are written into it as YAML: numbers, booleans and strings as they are,
 * arrays and objects as JSON (flow YAML). Columns after a `${...}` on the same line count the
 * substituted text.
 */
import { loadSpecText, type LoadedSpec } from '../dsl/spec-file';
import { cellName, currentCell } from './context';

export interface CellSpecOptions {
  /** `path=value` overrides applied after the text, like the CLI's --set. */
  overrides?: string[];
}

/** The spec tag: spec`yaml...`. */
export function spec(strings: TemplateStringsArray, ...values: unknown[]): LoadedSpec {
  return specFromTemplate(strings, values, {});
}

/** The same with overrides: specWith({ overrides: ['optimizer.lr=3e-3'] })`yaml...`. */
export function specWith(opts: CellSpecOptions): (strings: TemplateStringsArray, ...values: unknown[]) => LoadedSpec {
  return (strings, ...values) => specFromTemplate(strings, values, opts);
}

function specFromTemplate(strings: TemplateStringsArray, values: unknown[], opts: CellSpecOptions): LoadedSpec {
  const raw = strings.raw;
  let text = raw[0];
  for (let i = 0; i < values.length; i++) text += yamlValue(values[i], i) + raw[i + 1];
  const where = locateInCell(raw);
  return loadSpecText(text, { name: where.name, line: where.line, col: where.col, overrides: opts.overrides });
}

/** `${value}` as YAML text. */
function yamlValue(v: unknown, i: number): string {
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (typeof v === 'string') return v;
  if (v === null) return 'null';
  if (Array.isArray(v) || (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype)) return JSON.stringify(v);
  throw new TypeError(`spec\`...\`: the value of \${...} number ${i + 1} is ${v === undefined ? 'undefined' : `a ${typeof v}`}; interpolate numbers, strings, booleans, arrays or plain objects`);
}

/**
 * Where the template's text starts in the current cell. The template's raw first piece, with the
 * backtick before it and what follows it in the source, is searched for in the cell; when the cell
 * does not hold it (the tag was called from a function defined in another cell), positions count
 * from the template's own start.
 */
function locateInCell(raw: readonly string[]): { name: string; line: number; col: number } {
  const cell = currentCell();
  if (!cell) return { name: '<spec>', line: 1, col: 1 };
  const needle = '`' + raw[0] + (raw.length > 1 ? '${' : '`');
  const at = cell.code.indexOf(needle);
  if (at < 0) return { name: `${cellName(cell)} spec template`, line: 1, col: 1 };
  const before = cell.code.slice(0, at + 1);
  const line = before.split('\n').length;
  const col = at + 1 - before.lastIndexOf('\n');
  return { name: cellName(cell), line, col };
}
