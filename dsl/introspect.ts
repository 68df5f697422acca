/**
 * Questions about the zod schema that the front end needs: which keys are allowed at a path (for
 * "did you mean"), whether a dotted path names a field (for `--set` and sweeps), and a field's default
 * (so that an expression may reference a value the user did not write).
 */
import type { z } from 'zod';
import { SpecSchema } from './schema';
import type { Path } from './located';

type AnySchema = z.core.$ZodType;

function def(s: AnySchema): any {
  return (s as any)._zod.def;
}

/**
 * A field of an object schema's shape by name: own properties only, so that `constructor`,
 * `__proto__` or `toString` in a user's path are unknown fields and not Object.prototype's members.
 */
function field(shape: Record<string, AnySchema>, key: string | number): AnySchema | undefined {
  return Object.hasOwn(shape, String(key)) ? shape[String(key)] : undefined;
}

/** Strips optional / default / prefault / nullable wrappers. */
function unwrap(s: AnySchema): AnySchema {
  let cur = s;
  for (;;) {
    const d = def(cur);
    if (['optional', 'default', 'prefault', 'nullable', 'readonly', 'nonoptional', 'catch'].includes(d.type)) cur = d.innerType;
    else return cur;
  }
}

/** The schemas a path may lead to (several where a union allows several shapes). */
export function schemasAt(p: Path, root: AnySchema = SpecSchema): AnySchema[] {
  let current: AnySchema[] = [root];
  for (const seg of p) {
    const next: AnySchema[] = [];
    for (const s of current.flatMap(expandUnions)) {
      const d = def(s);
      if (d.type === 'object') {
        const child = field(d.shape, seg);
        if (child) next.push(child);
      } else if (d.type === 'record') {
        next.push(d.valueType);
      } else if (d.type === 'array') {
        if (isIndex(seg)) next.push(d.element);
      } else if (d.type === 'tuple') {
        if (isIndex(seg) && Number(seg) < d.items.length) next.push(d.items[Number(seg)]);
      } else if (d.type === 'unknown' || d.type === 'any') {
        next.push(s);
      }
    }
    if (next.length === 0) return [];
    current = next;
  }
  return current;
}

function isIndex(seg: string | number): boolean {
  return typeof seg === 'number' ? Number.isInteger(seg) && seg >= 0 : /^(0|[1-9]\d*)$/.test(seg);
}

function expandUnions(s: AnySchema): AnySchema[] {
  const u = unwrap(s);
  const d = def(u);
  return d.type === 'union' ? (d.options as AnySchema[]).flatMap(expandUnions) : [u];
}

/** Whether a dotted path names a field of the spec. */
export function pathExists(p: Path): boolean {
  return schemasAt(p).length > 0;
}

/**
 * Whether a number or boolean may stand at a path: only there is an `=...` string an expression (a
 * description or a data path that starts with `=` stays text).
 */
export function acceptsNumber(p: Path): boolean {
  return schemasAt(p)
    .flatMap(expandUnions)
    .some((s) => ['number', 'int', 'boolean', 'bigint'].includes(def(s).type));
}

/** The object keys allowed at a path (empty where the path is not an object, or is a free-form record). */
export function allowedKeys(p: Path): string[] {
  const keys = new Set<string>();
  for (const s of schemasAt(p).flatMap(expandUnions)) {
    const d = def(s);
    if (d.type === 'object') for (const k of Object.keys(d.shape)) keys.add(k);
  }
  return [...keys];
}

/**
 * The default of the field at `p` when the user did not write it, following prefault({}) objects
 * (`model.norm.eps` is 1e-5 even when `model.norm` is absent). Undefined where there is none.
 */
export function defaultAt(p: Path, root: AnySchema = SpecSchema): { value: unknown } | undefined {
  let s: AnySchema = root;
  for (let i = 0; i < p.length; i++) {
    const obj = unwrapToObject(s);
    if (!obj) return undefined;
    const u = def(obj);
    const child = field(u.shape, p[i]);
    if (!child) return undefined;
    if (i === p.length - 1) {
      const found = findDefault(child);
      return found;
    }
    s = child;
  }
  return undefined;
}

function unwrapToObject(s: AnySchema): AnySchema | undefined {
  const u = unwrap(s);
  return def(u).type === 'object' ? u : undefined;
}

function findDefault(s: AnySchema): { value: unknown } | undefined {
  let cur = s;
  for (;;) {
    const d = def(cur);
    if (d.type === 'default') return { value: structuredClone(d.defaultValue) };
    if (['optional', 'nullable', 'prefault', 'readonly'].includes(d.type)) cur = d.innerType;
    else return undefined;
  }
}

/** Every dotted path to a leaf field (records and lists shown as `*`), for suggestions. */
export function allPaths(root: AnySchema = SpecSchema): string[] {
  const out: string[] = [];
  const walk = (s: AnySchema, prefix: string[], depth: number) => {
    if (depth > 8) return;
    for (const u of expandUnions(s)) {
      const d = def(u);
      if (d.type === 'object') {
        for (const [k, v] of Object.entries(d.shape as Record<string, AnySchema>)) {
          out.push([...prefix, k].join('.'));
          walk(v, [...prefix, k], depth + 1);
        }
      } else if (d.type === 'record') walk(d.valueType, [...prefix, '*'], depth + 1);
      else if (d.type === 'array') walk(d.element, [...prefix, '*'], depth + 1);
    }
  };
  walk(root, [], 0);
  return [...new Set(out)];
}

/** Levenshtein distance (small strings; quadratic is fine). */
export function editDistance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; i++) {
    const cur = [i];
    for (let j = 1; j <= n; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[n];
}

/** The closest candidate within a typo's distance (about a third of the word), or undefined. */
export function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const limit = Math.max(2, Math.floor(word.length / 3));
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD || (d === bestD && best !== undefined && c < best)) {
      best = c;
      bestD = d;
    }
  }
  return bestD <= limit ? best : undefined;
}

/**
 * A hint for an unknown key `key` found at `parent`: a close key at the same level, or the place the
 * key belongs when the user put a real field at the wrong level (`train.lr` -> `optimizer.lr`).
 */
export function unknownKeyHint(parent: Path, key: string): string {
  const near = closest(key, allowedKeys(parent));
  if (near) return ` (did you mean '${near}'?)`;
  const elsewhere = allPaths().filter((p) => p.split('.').pop() === key && !p.includes('*'));
  if (elsewhere.length > 0 && elsewhere.length <= 3) return ` (did you mean ${elsewhere.map((p) => `'${p}'`).join(' or ')}?)`;
  const allowed = allowedKeys(parent);
  return allowed.length > 0 && allowed.length <= 12 ? ` (allowed: ${allowed.join(', ')})` : '';
}
