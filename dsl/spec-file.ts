/**
 * loadSpec: the one call the rest of chamlab makes. A spec file (.yaml, .yml, .ts) plus `--set`
 * overrides -> the resolved spec, its hash, and what sweep expansion needs to re-resolve members.
 */
import * as path from 'node:path';
import { applyOverrides, flattenExtends, loadTree, MAX_FILE_BYTES, parseYaml, projectRoot } from './load';
import { errorAt } from './located';
import type { LNode } from './located';
import { resolveTree, type ResolveContext } from './resolve';
import type { Spec } from './schema';
import { expandSweep, type SweepMember } from './sweep';

export interface LoadedSpec {
  spec: Spec;
  /** SHA-256 of the canonical JSON of `spec`. */
  hash: string;
  /**
   * The spec file, absolute. Relative data paths in `spec` are relative to its directory. For a spec
   * from loadSpecText, its virtual name (paths are then relative to the working directory).
   */
  file: string;
  /** The project root (see projectRoot): nothing outside it is read. */
  root: string;
  /** The unresolved tree (extends flattened, overrides applied); not enumerable, so logs stay short. */
  readonly tree: LNode;
  readonly context: ResolveContext;
}

export interface LoadOptions {
  /** `path=value` overrides, applied in order after `extends` (the CLI's `--set`). */
  overrides?: string[];
}

export function loadSpec(file: string, opts: LoadOptions = {}): LoadedSpec {
  const abs = path.resolve(file);
  const root = projectRoot(abs);
  const tree = applyOverrides(loadTree(abs, root), opts.overrides ?? []);
  const context = { file: abs, root };
  const { spec, hash } = resolveTree(tree, context);
  const out = { spec, hash, file: abs, root } as LoadedSpec;
  Object.defineProperty(out, 'tree', { value: tree, enumerable: false });
  Object.defineProperty(out, 'context', { value: context, enumerable: false });
  return out;
}

export interface TextSpecOptions extends LoadOptions {
  /**
   * The name errors show in place of a file, such as `In [3]` for a notebook cell. It is not a path:
   * `extends` and relative data paths resolve from the working directory, inside its project root.
   */
  name: string;
  /** Where the text starts in the document that holds it (1-based), so errors point into that document. */
  line?: number;
  col?: number;
}

/**
 * loadSpec for YAML held in memory (a notebook cell): the same parser, `extends`, overrides and
 * validation as a file, with every error positioned at `name:line:col`.
 */
export function loadSpecText(text: string, opts: TextSpecOptions): LoadedSpec {
  const name = opts.name;
  if (name === '' || path.isAbsolute(name)) throw new Error(`loadSpecText: name must be a virtual name, not ${JSON.stringify(name)}`);
  const line0 = (opts.line ?? 1) - 1;
  const col0 = (opts.col ?? 1) - 1;
  if (Buffer.byteLength(text) > MAX_FILE_BYTES) throw errorAt({ file: name, line: line0 + 1, col: col0 + 1 }, `the spec is larger than ${MAX_FILE_BYTES} bytes`);
  // The project root of the working directory, found as it is for a file placed there.
  const root = projectRoot(path.join(process.cwd(), 'spec.yaml'));
  const parsed = parseYaml(text, { file: name, line0, col0 });
  const tree = applyOverrides(flattenExtends(parsed, name, root), opts.overrides ?? []);
  const context = { file: name, root };
  const { spec, hash } = resolveTree(tree, context);
  const out = { spec, hash, file: name, root } as LoadedSpec;
  Object.defineProperty(out, 'tree', { value: tree, enumerable: false });
  Object.defineProperty(out, 'context', { value: context, enumerable: false });
  return out;
}

/** The members of a loaded spec's sweep (one member, without overrides, when it has none). */
export function planSweep(loaded: LoadedSpec): SweepMember[] {
  return expandSweep({ spec: loaded.spec, tree: loaded.tree, context: loaded.context });
}
