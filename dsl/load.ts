/**
 * The front end: spec files (YAML or a TypeScript module) -> one located tree, with `extends` flattened
 * and `--set` overrides applied. Nothing here knows the meaning of fields; resolve.ts does.
 *
 * A spec may come from a stranger, so the YAML reader is strict: no tags (they are how YAML loaders
 * construct objects), bounded aliases (no "billion laughs"), no duplicate keys, bounded keys per
 * mapping, one document, a size cap, and no file outside the project root is ever read.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isAlias, isMap, isScalar, isSeq, Lexer, LineCounter, parseAllDocuments, type Document, type Node as YamlNode } from 'yaml';
import { errorAt, fromPlain, mergeTrees, pathString, setNode, withoutKey, type LNode, type Loc, type Path } from './located';
import { allowedKeys, closest, pathExists, schemasAt, unknownKeyHint } from './introspect';
import { isInside, realPath } from './paths';

export { isInside };

/** Larger files are refused: a spec is a page of YAML, not a data set. */
export const MAX_FILE_BYTES = 1 << 20;
/** Alias uses per document, and values produced by expanding them (a billion laughs stops here). */
const MAX_ALIASES = 100;
const MAX_NODES = 100_000;
const MAX_DEPTH = 64;
/** Keys in one mapping: a spec's largest mappings (sources, sweep grids) hold dozens. */
export const MAX_KEYS_PER_MAPPING = 1000;
/** A chain of `extends` deeper than this is surely a mistake. */
export const MAX_EXTENDS_DEPTH = 16;
/** Entries in one `extends` list. */
export const MAX_EXTENDS_ENTRIES = 16;
/** Bytes of all the files one spec is built from (itself and everything it extends, each read once). */
export const MAX_SPEC_TOTAL_BYTES = 4 * MAX_FILE_BYTES;

export const SPEC_EXTENSIONS = ['.yaml', '.yml', '.ts'];

/**
 * The project root: the nearest ancestor directory of the spec (itself included) that holds a
 * package.json or a `.chamlab-root` marker; without one, the spec's own directory. `extends` and
 * relative data paths may not leave it.
 */
export function projectRoot(specFile: string): string {
  const start = path.dirname(path.resolve(specFile));
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) || fs.existsSync(path.join(dir, '.chamlab-root'))) return realPath(dir);
    if (path.dirname(dir) === dir) return realPath(start);
  }
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
  checkFlowNesting(text, opts);
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
  if (problem) throw errorAt(at(problem.pos[0]), yamlMessage(problem.code, problem.message));
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
        // Duplicates are found here, in linear time (the YAML library's own check is quadratic).
        if (entries.has(key)) throw errorAt(keyLoc, `duplicate key '${key}'`);
        if (entries.size >= MAX_KEYS_PER_MAPPING) throw errorAt(keyLoc, `more than ${MAX_KEYS_PER_MAPPING} keys in one mapping`);
        entries.set(key, { keyLoc, node: convert(pair.value as YamlNode | null, keyLoc, depth + 1) });
      }
      return { kind: 'map', loc, entries };
    }
    throw errorAt(loc, 'unsupported YAML node');
  };
  return convert(doc.contents as YamlNode, at(0), 0);
}

/**
 * Flow collections (`[[[...`) nested deeper than MAX_DEPTH, found by the YAML library's lexer (linear,
 * and it knows quotes, comments and block scalars) before the parser sees them: the parser recurses
 * per level, and a megabyte of `[` takes it seconds and a gigabyte of memory to refuse.
 */
function checkFlowNesting(text: string, opts: YamlOptions): void {
  let depth = 0;
  let offset = 0;
  for (const token of new Lexer().lex(text)) {
    // Control tokens of the lexer (one character below U+0020) stand for no text of the source;
    // every other token is a slice of it, in order, so searching forward finds where it starts.
    if (token.length === 1 && token < ' ') continue;
    const start = text.indexOf(token, offset);
    if (start >= 0) offset = start;
    if (token === '[' || token === '{') {
      if (++depth > MAX_DEPTH) {
        // The line counter fills while parsing, which has not happened yet: count lines here.
        const before = text.slice(0, offset);
        const line = before.split('\n').length;
        const col = offset - before.lastIndexOf('\n');
        const loc = { file: opts.file, line: line + (opts.line0 ?? 0), col: line === 1 ? col + (opts.col0 ?? 0) : col };
        throw errorAt(loc, `the document nests deeper than ${MAX_DEPTH} levels`);
      }
    } else if (token === ']' || token === '}') depth = Math.max(0, depth - 1);
    if (start >= 0) offset += token.length;
  }
}

/** `tag:yaml.org,2002:python/object` -> `!!python/object`, as the user wrote it. */
function tagName(tag: string): string {
  return tag.startsWith('tag:yaml.org,2002:') ? `!!${tag.slice('tag:yaml.org,2002:'.length)}` : tag;
}

function parseAllDocs(text: string, lineCounter: LineCounter): Document.Parsed[] {
  const docs = parseAllDocuments(text, {
    lineCounter,
    prettyErrors: false,
    // Off: its check compares every key with every other (minutes for 100,000 keys); convert() checks.
    uniqueKeys: false,
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

/**
 * What one spec load shares across its `extends`: each base's flattened tree by real path (a base
 * that several files extend is read once, so a lattice of extends costs its files, not its paths) and
 * the bytes read so far.
 */
export interface ExtendsState {
  loaded: Map<string, LNode>;
  bytes: number;
}

export function newExtendsState(): ExtendsState {
  return { loaded: new Map(), bytes: 0 };
}

/** Reads a spec file (.yaml, .yml or .ts) into a located tree, without following `extends`. */
export function readSpecFile(file: string, state?: ExtendsState): LNode {
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
  if (state) {
    state.bytes += stat.size;
    if (state.bytes > MAX_SPEC_TOTAL_BYTES) throw errorAt(start, `the spec and the files it extends hold more than ${MAX_SPEC_TOTAL_BYTES} bytes`);
  }
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
export function loadTree(file: string, root: string, chain: string[] = [], state: ExtendsState = newExtendsState()): LNode {
  const abs = realPath(path.resolve(file));
  const done = state.loaded.get(abs);
  if (done) return done;
  const tree = flattenExtends(readSpecFile(abs, state), abs, root, chain, state);
  state.loaded.set(abs, tree);
  return tree;
}

/**
 * Merges the bases named by the tree's `extends` under it. `self` is the file the tree came from (its
 * directory anchors relative paths; a virtual name such as `<builder>` anchors them at the working
 * directory).
 */
export function flattenExtends(tree: LNode, self: string, root: string, chain: string[] = [], state: ExtendsState = newExtendsState()): LNode {
  if (tree.kind !== 'map') throw errorAt(tree.loc, 'a spec is a mapping of sections (name, model, data, ...)');
  const ext = tree.entries.get('extends');
  if (!ext) return tree;
  const entries: LNode[] = ext.node.kind === 'seq' ? ext.node.items : [ext.node];
  if (entries.length > MAX_EXTENDS_ENTRIES) throw errorAt(ext.node.loc, `extends: ${entries.length} entries; at most ${MAX_EXTENDS_ENTRIES} are allowed`);
  const dir = path.isAbsolute(self) ? path.dirname(self) : process.cwd();
  let merged: LNode | undefined;
  for (const entry of entries) {
    if (entry.kind !== 'scalar' || typeof entry.value !== 'string' || entry.value === '') {
      throw errorAt(entry.loc, 'extends: expected a relative path (or a list of them) to a base spec');
    }
    const real = realPath(path.resolve(dir, entry.value));
    if (!isInside(root, real)) throw errorAt(entry.loc, `extends: '${entry.value}' is outside the project root ${root}`);
    // A YAML file is data and must stay data: a TypeScript spec is code, and code runs only when the
    // user names it on the command line (or a TypeScript spec, itself code, extends it). The real
    // path decides, so a symlink named base.yaml that points at a .ts file is refused too.
    if (isYamlFile(self) && !isYamlFile(real)) {
      throw errorAt(entry.loc, `extends: '${entry.value}' is not a YAML file; a YAML spec may only extend .yaml or .yml files (a TypeScript spec runs only when named on the command line)`);
    }
    if (real === self || chain.includes(real)) {
      const names = [...chain, self, real].map((f) => (path.isAbsolute(f) ? path.relative(root, f) || path.basename(f) : f));
      throw errorAt(entry.loc, `extends cycle: ${names.join(' -> ')}`);
    }
    if (chain.length >= MAX_EXTENDS_DEPTH) throw errorAt(entry.loc, `extends: chain deeper than ${MAX_EXTENDS_DEPTH} files`);
    if (!fs.existsSync(real)) throw errorAt(entry.loc, `extends: no such file '${entry.value}'`);
    const base = loadTree(real, root, [...chain, self], state);
    merged = merged ? mergeTrees(merged, base) : base;
  }
  const own = withoutKey(tree, 'extends');
  return merged ? mergeTrees(merged, own) : own;
}

function isYamlFile(file: string): boolean {
  const ext = path.extname(file).toLowerCase();
  return ext === '.yaml' || ext === '.yml';
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

