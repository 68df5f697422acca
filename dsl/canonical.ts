/**
 * Canonical form and hash of a resolved spec.
 *
 * Canonical JSON: object keys sorted by code unit, no whitespace, numbers in JavaScript's shortest
 * round-trip form (so `1e-4`, `0.0001` and `=1/10000` agree) with -0 written as 0, `undefined` members
 * dropped. Comments, formatting and key order of the source cannot reach it, because the spec is
 * parsed and resolved before this step. The hash is SHA-256 of that text, in hex.
 */
import { createHash } from 'node:crypto';

export function canonicalJSON(value: unknown): string {
  return write(value, []);
}

function write(v: unknown, at: string[]): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'number':
      if (!Number.isFinite(v)) throw new Error(`canonicalJSON: ${v} at ${at.join('.') || '(root)'} is not a finite number`);
      return Object.is(v, -0) ? '0' : JSON.stringify(v);
    case 'string':
      return JSON.stringify(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (Array.isArray(v)) return `[${v.map((x, i) => write(x === undefined ? null : x, [...at, String(i)])).join(',')}]`;
      const keys = Object.keys(v as object)
        .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${write((v as Record<string, unknown>)[k], [...at, k])}`).join(',')}}`;
    }
    default:
      throw new Error(`canonicalJSON: cannot encode a ${typeof v} at ${at.join('.') || '(root)'}`);
  }
}

/** SHA-256 (hex) of the canonical JSON. */
export function specHash(spec: unknown): string {
  return createHash('sha256').update(canonicalJSON(spec), 'utf8').digest('hex');
}

/** A deep copy with keys in canonical order (what `chamlab show --json` prints). */
export function canonicalize<T>(value: T): T {
  return JSON.parse(canonicalJSON(value)) as T;
}
