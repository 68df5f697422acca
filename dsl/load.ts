/**
 * The front end: spec files (YAML or a TypeScript module) -> one located tree, with `extends` flattened
 * and `--set` overrides applied. Nothing here knows the meaning of fields; resolve.ts does.
 *
 * A spec may come from a stranger, so the YAML reader is strict: no tags (they are how YAML loaders
 * construct objects), bounded aliases (no "billion laughs"), no duplicate keys, one document, a size
 * cap, and no file outside the project root is ever read.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node as YamlNode } from 'yaml';
import { errorAt, fromPlain, mergeTrees, pathString, setNode, withoutKey, type LNode, type Loc, type Path } from './located';
import { allowedKeys, closest, pathExists, schemasAt, unknownKeyHint } from './introspect';

/** Larger files are refused: a spec is a page of YAML, not a data set. */
export const MAX_FILE_BYTES = 1 << 20;
/** Alias uses per document, and values produced by expanding them (a billion laughs stops here). */
const MAX_ALIASES = 100;
const MAX_NODES = 100_000;
const MAX_DEPTH = 64;
/** A chain of `extends` deeper than this is surely a mistake. */
const MAX_EXTENDS_DEPTH = 16;

export const SPEC_EXTENSIONS = ['.yaml', '.yml', '.ts'];

/**
 * The project root: the nearest ancestor directory of the spec (itself included) that holds a
 * package.json or a `.chamlab-root` marker; without one, the spec's own directory. `extends` and
 * relative data paths may not leave it.
 */
export function projectRoot(specFile: string): string {
  const start = path.dirname(path.resolve(specFile));
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) || fs.existsSync(path.join(dir, '.chamlab-root'))) return realpathOr(dir);
    if (path.dirname(dir) === dir) return realpathOr(start);
  }
}

function realpathOr(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

export function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

interface YamlOptions {
  /** Shown in locations (a file's absolute path, or `--set`). */
  file: string;
  /** Added to every line and, on the first line, to every column (for `--set path=value`). */
  line0?: number;
  col0?: number;
}

/** Parses one YAML document into a located tree. Every problem is a positioned UserError. */
export function parseYaml(text: string, opts: YamlOptions): LNode {
  const lineCounter = new LineCounter();
  const at = (offset: number): Loc => {
    const { line, col } = lineCounter.linePos(Math.max(0, Math.min(offset, text.length)));
    return {
      file: opts.file,
      line: line + (opts.line0 ?? 0),
      col: line === 1 ? col + (opts.col0 ?? 0) : col,
    };
  };
  let doc: Document.Parsed;
  try {
    const docs = parseAllDocs(text, lineCounter);
    if (docs.length > 1) throw errorAt(at(docs[1].range[0]), 'a spec file holds one YAML document; remove the second one (after ---)');
    if (docs.length === 0) return { kind: 'scalar', loc: at(0), value: null };
    doc = docs[0];
  } catch (e) {
    if (e instanceof Error && e.name === 'UserError') throw e;
    throw errorAt(at(0), `cannot parse YAML: ${(e as Error).message}`);
  }
  const problem = doc.errors[0];
  if (problem) {
    if (problem.code === 'DUPLICATE_KEY') {
      const key = /^\s*["']?([^"':\n{}[\],]+)/.exec(text.slice(problem.pos[0]))?.[1]?.trim();
      throw errorAt(at(problem.pos[0]), key ? `duplicate key '${key}'` : 'duplicate key in a mapping');
    }
    throw errorAt(at(problem.pos[0]), yamlMessage(problem.code, problem.message));
  }
  if (doc.contents === null) return { kind: 'scalar', loc: at(0), value: null };

  /** The tag token (`!!str`, `!foo`) in front of a value starts at the last `!` before it. */
  const tagLoc = (valueStart: number): Loc => {
    const m = /!\S*\s*$/.exec(text.slice(Math.max(0, valueStart - 200), valueStart));
    return at(m ? valueStart - m[0].length : valueStart);
  };
  let aliases = 0;
  let nodes = 0;
  const convert = (n: YamlNode | null, fallback: Loc, depth: number): LNode => {
    if (++nodes > MAX_NODES) throw errorAt(fallback, `the document expands to more than ${MAX_NODES} values`);
    if (depth > MAX_DEPTH) throw errorAt(fallback, `the document nests deeper than ${MAX_DEPTH} levels`);
    if (n === null || n === undefined) return { kind: 'scalar', loc: fallback, value: null };
    let loc = n.range ? at(n.range[0]) : fallback;
    // A quoted scalar's location is its first character inside the quotes, so that positions inside an
    // expression (`"=import(...)"`) can be found by adding the offset in the text.
    if (isScalar(n) && (n.type === 'QUOTE_DOUBLE' || n.type === 'QUOTE_SINGLE')) loc = { ...loc, col: loc.col + 1 };
    if ((n as { tag?: string }).tag) throw errorAt(n.range ? tagLoc(n.range[0]) : loc, `YAML tags such as '${tagName((n as { tag?: string }).tag!)}' are not allowed in a spec`);
    if (isAlias(n)) {
      if (++aliases > MAX_ALIASES) throw errorAt(loc, `more than ${MAX_ALIASES} aliases (*name) in one document`);
      const target = n.resolve(doc);
      if (!target) throw errorAt(loc, `alias *${n.source} refers to no anchor`);
      return convert(target as YamlNode, loc, depth + 1);
    }
    if (isScalar(n)) {
      const v = n.value;
      if (v === null || typeof v === 'string' || typeof v === 'boolean') return { kind: 'scalar', loc, value: v };
      if (typeof v === 'number') return { kind: 'scalar', loc, value: v };
      throw errorAt(loc, `unsupported YAML value of type ${typeof v}`);
    }
    if (isSeq(n)) return { kind: 'seq', loc, items: n.items.map((it) => convert(it as YamlNode, loc, depth + 1)) };
    if (isMap(n)) {
      const entries = new Map<string, { keyLoc: Loc; node: LNode }>();
      for (const pair of n.items) {
        const k = pair.key as YamlNode | null;
        const keyLoc = k && k.range ? at(k.range[0]) : loc;
        if (!isScalar(k) || (typeof k.value !== 'string' && typeof k.value !== 'number')) {
          throw errorAt(keyLoc, 'mapping keys must be plain names');
        }
        if ((k as { tag?: string }).tag) throw errorAt(keyLoc, `YAML tags such as '${tagName((k as { tag?: string }).tag!)}' are not allowed in a spec`);
        const key = String(k.value);
        if (key === '__proto__') throw errorAt(keyLoc, "'__proto__' is not allowed as a key");
        if (key === '<<') throw errorAt(keyLoc, "YAML merge keys (<<) are not supported; use 'extends:' to build on another spec");
        if (entries.has(key)) throw errorAt(keyLoc, `duplicate key '${key}'`);
        entries.set(key, { keyLoc, node: convert(pair.value as YamlNode | null, keyLoc, depth + 1) });
      }
      return { kind: 'map', loc, entries };
    }
    throw errorAt(loc, 'unsupported YAML node');
  };
  return convert(doc.contents as YamlNode, at(0), 0);
}

/** `tag:yaml.org,2002:python/object` -> `!!python/object`, as the user wrote it. */
function tagName(tag: string): string {
  return tag.startsWith('tag:yaml.org,2002:') ? `!!${tag.slice('tag:yaml.org,2002:'.length)}` : tag;
}

function parseAllDocs(text: string, lineCounter: LineCounter): Document.Parsed[] {
  const docs = parseAllDocuments(text, {
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
    strict: true,
    merge: false,
    version: '1.2',
    schema: 'core',
    customTags: [],
  });
  return Array.isArray(docs) ? (docs as Document.Parsed[]) : [];
}

function yamlMessage(_code: string, message: string): string {
  return `YAML: ${message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`;
}

/** Reads a spec file (.yaml, .yml or .ts) into a located tree, without following `extends`. */
export function readSpecFile(file: string): LNode {
  const abs = path.resolve(file);
  const ext = path.extname(abs).toLowerCase();
  const start: Loc = { file: abs, line: 1, col: 1 };
  if (!SPEC_EXTENSIONS.includes(ext)) throw errorAt(start, `a spec is a .yaml, .yml or .ts file, not '${ext || 'no extension'}'`);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(abs);
  } catch {
    throw errorAt(start, 'no such file');
  }
  if (!stat.isFile()) throw errorAt(start, 'not a file');
  if (stat.size > MAX_FILE_BYTES) throw errorAt(start, `the file is larger than ${MAX_FILE_BYTES} bytes`);
  if (ext === '.ts') return fromPlain(loadTsModule(abs), start);
  const text = fs.readFileSync(abs, 'utf8');
  return parseYaml(text, { file: abs });
}

/**
 * Runs a TypeScript spec module and returns its default export as a plain object. The module is
 * compiled by tsx's CommonJS API, scoped to this one require (it does not hook later requires).
 */
export function loadTsModule(abs: string): unknown {
  const start: Loc = { file: abs, line: 1, col: 1 };
  let mod: any;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const tsx = require('tsx/cjs/api') as { require: (id: string, from: string) => any };
    mod = tsx.require(abs, __filename);
  } catch (e) {
    const { loc, message } = tsErrorLocation(e, abs);
    throw errorAt(loc ?? start, `cannot load the TypeScript spec: ${message}`);
  }
  const exported = mod && typeof mod === 'object' && 'default' in mod ? mod.default : undefined;
  const value = typeof exported?.toSpecInput === 'function' ? exported.toSpecInput() : exported;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw errorAt(start, 'a TypeScript spec must `export default` a builder (experiment(...)) or a spec object');
  }
  try {
    return JSON.parse(JSON.stringify(value));
  } catch (e) {
    throw errorAt(start, `the exported spec is not plain data: ${(e as Error).message}`);
  }
}

/** esbuild and node report "file:line:col" somewhere in the message or stack; use it when it names this file. */
function tsErrorLocation(e: unknown, abs: string): { loc?: Loc; message: string } {
  const err = e as Error & { errors?: { text: string; location?: { line: number; column: number } }[] };
  if (err?.errors?.[0]?.location) {
    const l = err.errors[0].location;
    return { loc: { file: abs, line: l.line, col: l.column + 1 }, message: err.errors[0].text };
  }
  const text = `${err?.message ?? String(e)}\n${err?.stack ?? ''}`;
  const escaped = abs.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`${escaped}:(\\d+):(\\d+)`).exec(text);
  const message = (err?.message ?? String(e)).split('\n').find((l) => l.trim() !== '') ?? 'unknown error';
  return { loc: m ? { file: abs, line: Number(m[1]), col: Number(m[2]) } : undefined, message: message.replace(`${abs}:`, '') };
}

/**
 * Reads a spec and everything it extends, merged: bases in the order listed, each deep-merged under
 * the file that extends it. Cycles and files outside `root` are errors at the `extends` entry.
 */
export function loadTree(file: string, root: string, chain: string[] = []): LNode {
  const abs = realpathOr(path.resolve(file));
  return flattenExtends(readSpecFile(abs), abs, root, chain);
}

/**
 * Merges the bases named by the tree's `extends` under it. `self` is the file the tree came from (its
 * directory anchors relative paths; a virtual name such as `<builder>` anchors them at the working
 * directory).
 */
export function flattenExtends(tree: LNode, self: string, root: string, chain: string[] = []): LNode {
  if (tree.kind !== 'map') throw errorAt(tree.loc, 'a spec is a mapping of sections (name, model, data, ...)');
  const ext = tree.entries.get('extends');
  if (!ext) return tree;
  const entries: LNode[] = ext.node.kind === 'seq' ? ext.node.items : [ext.node];
  const dir = path.isAbsolute(self) ? path.dirname(self) : process.cwd();
  let merged: LNode | undefined;
  for (const entry of entries) {
    if (entry.kind !== 'scalar' || typeof entry.value !== 'string' || entry.value === '') {
      throw errorAt(entry.loc, 'extends: expected a relative path (or a list of them) to a base spec');
    }
    const real = realpathOr(path.resolve(dir, entry.value));
    if (!isInside(root, real)) throw errorAt(entry.loc, `extends: '${entry.value}' is outside the project root ${root}`);
    if (real === self || chain.includes(real)) {
      const names = [...chain, self, real].map((f) => (path.isAbsolute(f) ? path.relative(root, f) || path.basename(f) : f));
      throw errorAt(entry.loc, `extends cycle: ${names.join(' -> ')}`);
    }
    if (chain.length >= MAX_EXTENDS_DEPTH) throw errorAt(entry.loc, `extends: chain deeper than ${MAX_EXTENDS_DEPTH} files`);
    if (!fs.existsSync(real)) throw errorAt(entry.loc, `extends: no such file '${entry.value}'`);
    const base = loadTree(real, root, [...chain, self]);
    merged = merged ? mergeTrees(merged, base) : base;
  }
  const own = withoutKey(tree, 'extends');
  return merged ? mergeTrees(merged, own) : own;
}

/** Splits `a.b.0.c` into path segments (digits become list indices). */
export function parsePath(dotted: string): Path {
  return dotted.split('.').map((s) => (/^(0|[1-9]\d*)$/.test(s) ? Number(s) : s));
}

/**
 * Applies `--set path=value` overrides. The value is YAML (a scalar, or a flow list/mapping such as
 * `[0.9, 0.99]`). Overrides are shown as lines of a virtual file `--set`: the n-th override is line n.
 */
export function applyOverrides(tree: LNode, overrides: string[]): LNode {
  let out = tree;
  overrides.forEach((ov, i) => {
    const line = i + 1;
    const eq = ov.indexOf('=');
    const here = (col: number): Loc => ({ file: '--set', line, col });
    if (eq <= 0) throw errorAt(here(1), `expected path=value, got '${ov}'`);
    const dotted = ov.slice(0, eq).trim();
    const p = parsePath(dotted);
    if (p.some((s) => s === '') || !pathExists(p)) {
      throw errorAt(here(1), `unknown path '${dotted}'${pathHint(p)}`);
    }
    if (p[0] === 'extends') throw errorAt(here(1), "'extends' cannot be set from the command line");
    const value = parseYaml(ov.slice(eq + 1), { file: '--set', line0: line - 1, col0: eq + 1 });
    const next = setNode(out, p, value);
    if (typeof next === 'string') throw errorAt(here(1), `cannot set '${dotted}': ${next}`);
    out = next;
  });
  return out;
}

/** The "did you mean" for the first segment of `p` that does not exist. */
export function pathHint(p: Path): string {
  for (let n = 1; n <= p.length; n++) {
    if (schemasAt(p.slice(0, n)).length === 0) {
      const parent = p.slice(0, n - 1);
      const near = closest(String(p[n - 1]), allowedKeys(parent));
      if (near) return ` (did you mean '${[...parent, near].join('.')}'?)`;
      return unknownKeyHint(parent, String(p[n - 1])) || ` ('${pathString(p.slice(0, n))}' is not a field)`;
    }
  }
  return '';
}

