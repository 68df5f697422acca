/**
 * Legend names: what tells one run or sweep member from the others. A sweep member is named by its
 * overrides (`qk_norm=false, lr=0.03`), several runs by the fields in which their resolved specs
 * differ. Dotted paths are shortened to their last part when that is unambiguous among the paths
 * shown together (`model.qk_norm` -> `qk_norm`, but `data.sources.text.weight` stays distinct from
 * `data.stages.0.weight` as `text.weight`/`0.weight`).
 */
import type { RunRecord } from '../runs/read';
import { formatValue } from './figure';

/** Shortest dotted suffix of each path that no other path in `paths` shares. */
export function shortPaths(paths: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const parts = paths.map((p) => p.split('.'));
  paths.forEach((p, i) => {
    const mine = parts[i];
    for (let n = 1; n <= mine.length; n++) {
      const suffix = mine.slice(-n).join('.');
      const clash = parts.some((o, j) => j !== i && o.slice(-n).join('.') === suffix);
      if (!clash || n === mine.length) {
        out.set(p, suffix);
        break;
      }
    }
  });
  return out;
}

/** A value as it appears in a label: 3e-4 rather than 0.0003, strings bare, the rest as JSON. */
export function formatSetting(v: unknown): string {
  if (typeof v === 'number') return formatValue(v);
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** `qk_norm=false, lr=0.03` from dotted path -> value (paths shortened against `allPaths`). */
export function overridesLabel(overrides: Record<string, unknown>, allPaths: readonly string[] = Object.keys(overrides)): string {
  const short = shortPaths(allPaths);
  const parts = Object.entries(overrides).map(([k, v]) => `${short.get(k) ?? k}=${formatSetting(v)}`);
  return parts.length ? parts.join(', ') : '(base)';
}

/** Leaves of a JSON value as dotted path -> value (arrays by index). */
export function flatten(value: unknown, prefix = '', out: Map<string, unknown> = new Map()): Map<string, unknown> {
  if (value !== null && typeof value === 'object') {
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
    if (!entries.length) out.set(prefix, value);
    for (const [k, v] of entries) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.set(prefix, value);
  }
  return out;
}

/** Paths whose values differ between specs; `description` is prose, not a setting. */
const IGNORED = new Set(['description']);
const MAX_PARTS = 3;

/**
 * One label per run for comparing several runs: the spec fields in which they differ (at most three,
 * then "+N more"); runs with identical specs are told apart by their folder.
 */
export function runLabels(runs: readonly RunRecord[]): string[] {
  if (runs.length === 1) return [runs[0].spec.name];
  const flat = runs.map((r) => flatten(r.spec));
  const paths = [...new Set(flat.flatMap((f) => [...f.keys()]))].filter(
    (p) => !IGNORED.has(p) && new Set(flat.map((f) => JSON.stringify(f.get(p) ?? null))).size > 1,
  );
  const labels = flat.map((f) => {
    const shown = Object.fromEntries(paths.slice(0, MAX_PARTS).map((p) => [p, f.get(p) ?? null]));
    const label = paths.length ? overridesLabel(shown, paths) : '';
    return paths.length > MAX_PARTS ? `${label} +${paths.length - MAX_PARTS} more` : label;
  });
  // Same spec (or labels that collide): the hash, then the folder, tells them apart.
  return labels.map((l, i) => {
    const dup = labels.some((o, j) => j !== i && o === l);
    if (!dup && l) return l;
    const tag = runs.filter((r) => r.hash === runs[i].hash).length > 1 ? runs[i].dir : runs[i].hash.slice(0, 12);
    return l ? `${l} (${tag})` : `${runs[i].spec.name} (${tag})`;
  });
}
