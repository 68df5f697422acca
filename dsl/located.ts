/**
 * A spec tree whose every value remembers where it was written.
 *
 * The YAML front end, `extends`, `--set` overrides and the TypeScript builder all produce this tree;
 * merging keeps each value's own location, so an error found after five levels of `extends` still
 * points at the file, line and column where the offending value was typed.
 */
import * as path from 'node:path';
import { UserError } from './errors';

/** A place in a file. `file` is absolute, or a virtual name such as `--set` or `<builder>`. */
export interface Loc {
  file: string;
  line: number;
  col: number;
}

export type LNode =
  | { kind: 'map'; loc: Loc; entries: Map<string, { keyLoc: Loc; node: LNode }> }
  | { kind: 'seq'; loc: Loc; items: LNode[] }
  | { kind: 'scalar'; loc: Loc; value: string | number | boolean | null };

/** A path into the spec: object keys and list indices. */
export type Path = (string | number)[];

/** `model.dropout.after_ffn`, `data.stages.1.share`. */
export function pathString(p: Path): string {
  return p.length === 0 ? '(spec)' : p.join('.');
}

/** How a location is shown: relative to the working directory when below it, absolute otherwise. */
export function formatLoc(loc: Loc): string {
  let file = loc.file;
  if (path.isAbsolute(file)) {
    const rel = path.relative(process.cwd(), file);
    if (rel && !rel.startsWith('..') && !path.isAbsolute(rel)) file = rel;
  }
  return `${file}:${loc.line}:${loc.col}`;
}

/** A user error at a location; the message is kept to one line. */
export function errorAt(loc: Loc, message: string): UserError {
  return new UserError(oneLine(message), formatLoc(loc));
}

export function oneLine(s: string): string {
  // Line breaks of any kind become spaces; other control characters are shown escaped, so that the
  // message stays one line in any terminal or log.
  const line = s
    .replace(/\s*[\r\n\u2028\u2029\u0085]+\s*/g, ' ')
    .replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .trim();
  return line.length > 400 ? line.slice(0, 397) + '...' : line;
}

/** Builds a tree from a plain value (a builder's object, a resolved spec), every node at `loc`. */
export function fromPlain(value: unknown, loc: Loc, where: Path = []): LNode {
  if (Array.isArray(value)) return { kind: 'seq', loc, items: value.map((v, i) => fromPlain(v, loc, [...where, i])) };
  if (value !== null && typeof value === 'object') {
    const entries = new Map<string, { keyLoc: Loc; node: LNode }>();
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v === undefined) continue;
      if (k === '__proto__') throw errorAt(loc, `${pathString(where)}: '__proto__' is not allowed as a key`);
      entries.set(k, { keyLoc: loc, node: fromPlain(v, loc, [...where, k]) });
    }
    return { kind: 'map', loc, entries };
  }
  if (value === undefined || value === null) return { kind: 'scalar', loc, value: null };
  if (typeof value === 'string' || typeof value === 'boolean') return { kind: 'scalar', loc, value };
  if (typeof value === 'number') return { kind: 'scalar', loc, value };
  throw errorAt(loc, `${pathString(where)}: a spec holds numbers, strings, booleans, lists and objects, not ${typeof value}`);
}

/** Where each value and each key of a tree was written, by path. */
export interface LocIndex {
  value: Map<string, Loc>;
  key: Map<string, Loc>;
}

const keyOf = (p: Path) => JSON.stringify(p);

/** The plain value of a tree plus the index of locations (expressions are still strings here). */
export function toPlain(node: LNode): { value: unknown; locs: LocIndex } {
  const locs: LocIndex = { value: new Map(), key: new Map() };
  const walk = (n: LNode, p: Path): unknown => {
    locs.value.set(keyOf(p), n.loc);
    if (n.kind === 'scalar') return n.value;
    if (n.kind === 'seq') return n.items.map((it, i) => walk(it, [...p, i]));
    const out: Record<string, unknown> = {};
    for (const [k, { keyLoc, node }] of n.entries) {
      locs.key.set(keyOf([...p, k]), keyLoc);
      // defineProperty, not assignment: a key named __proto__ must stay a plain (rejected) key.
      Object.defineProperty(out, k, { value: walk(node, [...p, k]), enumerable: true, writable: true, configurable: true });
    }
    return out;
  };
  return { value: walk(node, []), locs };
}

/**
 * The best location for a path: the value's own, else its key's, else the nearest written ancestor
 * (a missing required key is reported at the mapping that lacks it).
 */
export function locFor(locs: LocIndex, p: Path, preferKey = false): Loc {
  if (preferKey) {
    const k = locs.key.get(keyOf(p));
    if (k) return k;
  }
  for (let n = p.length; n >= 0; n--) {
    const prefix = p.slice(0, n);
    const v = n === p.length ? locs.value.get(keyOf(prefix)) : (locs.key.get(keyOf(prefix)) ?? locs.value.get(keyOf(prefix)));
    if (v) return v;
  }
  return { file: '<spec>', line: 1, col: 1 };
}

/** Whether the path was written (not defaulted). */
export function isWritten(locs: LocIndex, p: Path): boolean {
  return locs.value.has(keyOf(p));
}

/** Deep merge for `extends`: mappings merge key by key, anything else in `top` replaces `base`. */
export function mergeTrees(base: LNode, top: LNode): LNode {
  if (base.kind !== 'map' || top.kind !== 'map') return top;
  const entries = new Map(base.entries);
  for (const [k, e] of top.entries) {
    const prev = entries.get(k);
    entries.set(k, prev ? { keyLoc: e.keyLoc, node: mergeTrees(prev.node, e.node) } : e);
  }
  return { kind: 'map', loc: top.loc, entries };
}

/** The node at a path, or undefined. */
export function getNode(root: LNode, p: Path): LNode | undefined {
  let n: LNode | undefined = root;
  for (const seg of p) {
    if (!n) return undefined;
    if (n.kind === 'map') n = n.entries.get(String(seg))?.node;
    else if (n.kind === 'seq' && typeof seg === 'number') n = n.items[seg];
    else return undefined;
  }
  return n;
}

/**
 * A copy of `root` with `value` at `p`; missing mappings on the way are created at `value`'s location.
 * Returns an error message instead when the path runs through a scalar or past the end of a list.
 */
export function setNode(root: LNode, p: Path, value: LNode): LNode | string {
  if (p.length === 0) return value;
  const [seg, ...rest] = p;
  if (root.kind === 'seq') {
    const i = typeof seg === 'number' ? seg : Number(seg);
    if (!Number.isInteger(i) || i < 0 || i >= root.items.length) {
      return `index ${String(seg)} is outside the list (it has ${root.items.length} items)`;
    }
    const child = setNode(root.items[i], rest, value);
    if (typeof child === 'string') return child;
    const items = root.items.slice();
    items[i] = child;
    return { ...root, items };
  }
  const base: LNode = root.kind === 'map' ? root : { kind: 'map', loc: value.loc, entries: new Map() };
  if (root.kind === 'scalar' && root.value !== null) return `'${String(seg)}' is set inside a value that is not a mapping`;
  const key = String(seg);
  const prev = (base as Extract<LNode, { kind: 'map' }>).entries.get(key);
  const child = setNode(prev?.node ?? { kind: 'map', loc: value.loc, entries: new Map() }, rest, value);
  if (typeof child === 'string') return child;
  const entries = new Map((base as Extract<LNode, { kind: 'map' }>).entries);
  entries.set(key, { keyLoc: prev?.keyLoc ?? value.loc, node: child });
  return { kind: 'map', loc: base.loc, entries };
}

/** A copy without the key at the top level (used to drop `extends` and `sweep`). */
export function withoutKey(root: LNode, key: string): LNode {
  if (root.kind !== 'map' || !root.entries.has(key)) return root;
  const entries = new Map(root.entries);
  entries.delete(key);
  return { ...root, entries };
}
