/**
 * loadSpec: the one call the rest of chamlab makes. A spec file (.yaml, .yml, .ts) plus `--set`
 * overrides -> the resolved spec, its hash, and what sweep expansion needs to re-resolve members.
 */
import * as path from 'node:path';
import { applyOverrides, loadTree, projectRoot } from './load';
import type { LNode } from './located';
import { resolveTree, type ResolveContext } from './resolve';
import type { Spec } from './schema';
import { expandSweep, type SweepMember } from './sweep';

export interface LoadedSpec {
  spec: Spec;
  /** SHA-256 of the canonical JSON of `spec`. */
  hash: string;
  /** The spec file, absolute. Relative data paths in `spec` are relative to its directory. */
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

/** The members of a loaded spec's sweep (one member, without overrides, when it has none). */
export function planSweep(loaded: LoadedSpec): SweepMember[] {
  return expandSweep({ spec: loaded.spec, tree: loaded.tree, context: loaded.context });
}
