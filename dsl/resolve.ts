/**
 * Resolution: located tree -> resolved spec + hash.
 *
 *   relative paths re-anchored -> expressions evaluated -> zod validation (defaults filled)
 *   -> cross-field checks -> stage `from` folded into explicit normalized weights -> canonical hash
 *
 * Every error carries the position where the offending value was written. A resolved spec is a fixed
 * point: resolving it again gives the identical spec and hash.
 */
import * as path from 'node:path';
import type { z } from 'zod';
import { UserError, UserErrors } from './errors';
import { checkExpression, ExpressionError, isExpression, SCHEDULE_VARIABLES } from './expr';
import { acceptsNumber, closest, defaultAt, pathExists, unknownKeyHint } from './introspect';
import { errorAt, fromPlain, isWritten, locFor, pathString, toPlain, type LNode, type Loc, type LocIndex, type Path } from './located';
import { flattenExtends, isInside, parsePath, pathHint, projectRoot } from './load';
import { realPath } from './paths';
import { specHash } from './canonical';
import { BUILTIN_SOURCES, LIMITS, SpecSchema, type Spec, type SpecInput } from './schema';

export interface Resolved {
  spec: Spec;
  hash: string;
}

export interface ResolveContext {
  /** The top-level spec file (absolute) or a virtual name; relative data paths end up relative to its directory. */
  file: string;
  /** The project root; nothing outside it is read or referenced. */
  root: string;
}

/** Tolerance for "stage shares sum to 1". */
export const SHARE_TOLERANCE = 1e-9;
/** A sweep with more members than this is surely a typo. */
export const MAX_SWEEP_MEMBERS = LIMITS.sweep_members;

/** Collects errors so that one pass reports all of them, in file order (file, line, column). */
class Problems {
  readonly list: UserError[] = [];
  private locs: Loc[] = [];
  private seen = new Set<string>();
  add(loc: Loc, message: string): void {
    const e = errorAt(loc, message);
    if (!this.seen.has(e.message)) {
      this.seen.add(e.message);
      this.list.push(e);
      this.locs.push(loc);
    }
  }
  throwIfAny(): void {
    if (this.list.length === 1) throw this.list[0];
    if (this.list.length > 1) {
      // Resolution finds problems phase by phase; a reader fixes them top to bottom.
      const order = this.list.map((_, i) => i).sort((a, b) => {
        const x = this.locs[a];
        const y = this.locs[b];
        return x.file < y.file ? -1 : x.file > y.file ? 1 : x.line - y.line || x.col - y.col || a - b;
      });
      throw new UserErrors(order.map((i) => this.list[i]));
    }
  }
}

/** Resolves a located tree (extends already flattened, overrides applied). */
export function resolveTree(tree: LNode, ctx: ResolveContext): Resolved {
  const problems = new Problems();
  checkControlCharacters(tree, [], problems);
  problems.throwIfAny();
  const { value: plain, locs } = toPlain(tree);
  if (plain === null || typeof plain !== 'object' || Array.isArray(plain)) {
    throw errorAt(tree.loc, 'a spec is a mapping of sections (name, model, data, ...)');
  }
  const input = plain as Record<string, any>;
  reanchorPaths(input, locs, ctx, problems);
  const failed = evaluateExpressions(input, locs, problems);

  // Validation runs even when an expression failed, so that one pass reports everything; it only
  // skips the complaint that a failed expression is "a string, not a number".
  const parsed = SpecSchema.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (!failed.has((issue.path as Path).join('.'))) reportIssue(issue, input, locs, problems);
    }
  }
  problems.throwIfAny();
  if (!parsed.success) throw new Error('resolve: validation failed without a reported problem');
  const spec = parsed.data as Spec;
  checkSpec(spec, locs, problems);
  problems.throwIfAny();
  foldStages(spec, locs, problems);
  problems.throwIfAny();
  return { spec, hash: specHash(spec) };
}

/**
 * Resolves a spec given as an object (a builder's output, a plain SpecInput, or a resolved Spec).
 * `source` names it in error messages and anchors its `extends` and relative paths (default: the
 * working directory).
 */
export function resolveSpec(input: SpecInput | Spec | { toSpecInput(): SpecInput }, opts: { source?: string } = {}): Resolved {
  const value = typeof (input as any)?.toSpecInput === 'function' ? (input as any).toSpecInput() : input;
  const source = opts.source ? (opts.source.startsWith('<') ? opts.source : path.resolve(opts.source)) : '<spec>';
  const root = path.isAbsolute(source) ? projectRoot(source) : projectRoot(path.join(process.cwd(), 'spec'));
  const tree = flattenExtends(fromPlain(value, { file: source, line: 1, col: 1 }), source, root);
  return resolveTree(tree, { file: source, root });
}

// ---------------------------------------------------------------------------------------------------
// Control characters

/**
 * Control characters (Unicode Cc: C0, DEL, C1) other than tab and line feed. They have no business in
 * a spec, and a NUL or an escape sequence in a name, a path or a description would reach the hashed
 * spec, file names and terminals.
 */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

function checkControlCharacters(n: LNode, p: Path, problems: Problems): void {
  const code = (s: string) => `U+${s.codePointAt(s.search(CONTROL))!.toString(16).toUpperCase().padStart(4, '0')}`;
  if (n.kind === 'scalar') {
    if (typeof n.value === 'string' && CONTROL.test(n.value)) {
      problems.add(n.loc, `${pathString(p)}: control character ${code(n.value)} in a string; spec strings may not hold control characters (tabs and line breaks excepted)`);
    }
  } else if (n.kind === 'seq') n.items.forEach((it, i) => checkControlCharacters(it, [...p, i], problems));
  else {
    for (const [k, { keyLoc, node }] of n.entries) {
      if (CONTROL.test(k)) problems.add(keyLoc, `${pathString(p)}: control character ${code(k)} in a key; spec keys may not hold control characters`);
      else checkControlCharacters(node, [...p, k], problems);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Relative paths

/** Fields holding paths relative to the file that wrote them. */
function pathFields(input: Record<string, any>): Path[] {
  const out: Path[] = [['tokenizer', 'text', 'file'], ['tokenizer', 'image', 'file']];
  const sources = input.data?.sources;
  if (sources && typeof sources === 'object' && !Array.isArray(sources)) {
    for (const name of Object.keys(sources)) out.push(['data', 'sources', name, 'origin']);
  }
  return out;
}

/**
 * A base file's relative path means "next to the base"; the resolved spec holds it relative to the
 * top-level spec's directory (what consumers of `loadSpec` get as `file`). Paths may not leave the
 * project root.
 */
function reanchorPaths(input: Record<string, any>, locs: LocIndex, ctx: ResolveContext, problems: Problems): void {
  const topDir = path.isAbsolute(ctx.file) ? path.dirname(ctx.file) : process.cwd();
  for (const p of pathFields(input)) {
    const holder = getAt(input, p.slice(0, -1));
    const v = holder?.[p[p.length - 1]];
    if (typeof v !== 'string' || v === '' || v.startsWith('builtin:') || isExpression(v)) continue;
    const loc = locFor(locs, p);
    const fromDir = path.isAbsolute(loc.file) ? path.dirname(loc.file) : topDir;
    const abs = path.resolve(fromDir, v);
    // Decided on the real path (links resolved), as the data readers decide it, so that a symlink
    // out of the project is refused here, with the position, and not first when the data is read.
    if (!isInside(ctx.root, abs) || !isInside(ctx.root, realPath(abs))) {
      problems.add(loc, `${pathString(p)}: '${v}' is outside the project root ${ctx.root}`);
      continue;
    }
    holder[p[p.length - 1]] = path.relative(topDir, abs).split(path.sep).join('/') || '.';
  }
}

// ---------------------------------------------------------------------------------------------------
// Expressions

/** Sweep lists keep their expressions: each member evaluates them against its own values. */
function isSweepValue(p: Path): boolean {
  return p[0] === 'sweep' && (p[1] === 'grid' || p[1] === 'zip');
}

/** Evaluates every expression in place; returns the dotted paths of those that failed. */
function evaluateExpressions(input: Record<string, any>, locs: LocIndex, problems: Problems): Set<string> {
  const found: Path[] = [];
  const walk = (v: unknown, p: Path) => {
    if (typeof v === 'string') {
      if (isExpression(v) && !isSweepValue(p) && acceptsNumber(p)) found.push(p);
    } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...p, i]));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...p, k]);
  };
  walk(input, []);
  if (found.length === 0) return new Set();

  const key = (p: Path) => p.join('.');
  const done = new Map<string, number | boolean>();
  const failed = new Set<string>();
  const active: string[] = [];

  const evaluate = (p: Path): number | boolean | undefined => {
    const k = key(p);
    if (done.has(k)) return done.get(k);
    if (failed.has(k)) return undefined;
    const loc = locFor(locs, p);
    if (active.includes(k)) {
      const cycle = [...active.slice(active.indexOf(k)), k].join(' -> ');
      problems.add(loc, `${k}: expression cycle: ${cycle}`);
      failed.add(k);
      return undefined;
    }
    active.push(k);
    try {
      const text = (getAt(input, p) as string).slice(1);
      const checked = checkExpression(text);
      const values: Record<string, number | boolean> = {};
      for (const ref of checked.refs) {
        const v = referenceValue(ref, p, loc);
        if (v === undefined) {
          failed.add(k);
          return undefined;
        }
        values[ref.join('.')] = v;
      }
      const out = checked.evaluate(values);
      done.set(k, out);
      setAt(input, p, out);
      return out;
    } catch (e) {
      if (!(e instanceof ExpressionError)) throw e;
      problems.add(shift(loc, e.offset + 1), `${k}: ${e.message}`);
      failed.add(k);
      return undefined;
    } finally {
      active.pop();
    }
  };

  /** A referenced field's value: written (evaluated first if it is an expression) or defaulted. */
  const referenceValue = (ref: string[], from: Path, loc: Loc): number | boolean | undefined => {
    const dotted = ref.join('.');
    const refPath = parsePath(dotted);
    const holder = getAt(input, refPath.slice(0, -1));
    const last = String(refPath[refPath.length - 1]);
    const written = holder && typeof holder === 'object' && Object.hasOwn(holder, last) ? holder[last] : undefined;
    const where = `${key(from)}`;
    if (written !== undefined) {
      if (isExpression(written) && acceptsNumber(refPath)) return evaluate(refPath);
      if (typeof written === 'number' || typeof written === 'boolean') return written;
      problems.add(loc, `${where}: '${dotted}' is ${describe(written)}, not a number`);
      return undefined;
    }
    if (!pathExists(refPath)) {
      problems.add(loc, `${where}: '${dotted}' is not a field${pathHint(refPath)}`);
      return undefined;
    }
    const d = defaultAt(refPath);
    if (d && (typeof d.value === 'number' || typeof d.value === 'boolean')) return d.value;
    problems.add(loc, `${where}: '${dotted}' is not set${d ? ` (its default is ${describe(d.value)})` : ''}`);
    return undefined;
  };

  for (const p of found) evaluate(p);
  return failed;
}

/** Moves a location right by `offset` characters (the first line of a value). */
function shift(loc: Loc, offset: number): Loc {
  return offset > 0 ? { ...loc, col: loc.col + offset } : loc;
}

// ---------------------------------------------------------------------------------------------------
// zod issues -> positioned one-line messages

function reportIssue(issue: z.core.$ZodIssue, input: unknown, locs: LocIndex, problems: Problems, base: Path = []): void {
  const p = [...base, ...(issue.path as Path)];
  const where = pathString(p);
  const value = getAt(input, p);
  switch (issue.code) {
    case 'unrecognized_keys':
      for (const k of issue.keys) {
        const place = p.length ? `in ${where}` : 'at the top level';
        problems.add(locFor(locs, [...p, k], true), `unknown key '${k}' ${place}${unknownKeyHint(p, k)}`);
      }
      return;
    case 'invalid_type':
      if (value === undefined) {
        const parent = p.slice(0, -1);
        const missing = String(p[p.length - 1]);
        problems.add(locFor(locs, parent, true), parent.length ? `${pathString(parent)}: missing required key '${missing}'` : `missing required section '${missing}'`);
      } else {
        const finite = typeof value === 'number' && !Number.isNaN(value) && issue.expected === 'number';
        problems.add(locFor(locs, p), `${where}: expected ${finite ? 'a finite number' : expected(issue.expected)}, got ${describe(value)}`);
      }
      return;
    case 'too_small':
    case 'too_big': {
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      const inclusive = (issue as { inclusive?: boolean }).inclusive !== false;
      const op = issue.code === 'too_small' ? (inclusive ? '>=' : '>') : inclusive ? '<=' : '<';
      let what: string;
      if (issue.origin === 'array') what = `needs ${issue.code === 'too_small' ? 'at least' : 'at most'} ${bound} item(s), got ${(value as unknown[])?.length}`;
      else if (issue.origin === 'string') what = issue.code === 'too_small' && Number(bound) <= 1 ? 'must not be empty' : `length must be ${op} ${bound}`;
      else if (Number(bound) === Number.MAX_SAFE_INTEGER) what = `must be at most 2^53 - 1, got ${describe(value)}`;
      else what = `must be ${op} ${bound}, got ${describe(value)}`;
      problems.add(locFor(locs, p), `${where}: ${what}`);
      return;
    }
    case 'invalid_value': {
      const options = issue.values.map((v) => JSON.stringify(v));
      const near = typeof value === 'string' ? closest(value, issue.values.filter((v): v is string => typeof v === 'string')) : undefined;
      const msg = options.length === 1 ? `must be ${options[0]}` : `expected one of ${options.join(', ')}`;
      problems.add(locFor(locs, p), `${where}: ${msg}, got ${describe(value)}${near ? ` (did you mean '${near}'?)` : ''}`);
      return;
    }
    case 'invalid_union': {
      // Report the branch whose shape matches the value (an object for an object, a number for a number).
      const branches = (issue as { errors?: z.core.$ZodIssue[][] }).errors ?? [];
      const fitting = branches.filter((b) => !b.some((i) => i.code === 'invalid_type' && (i.path as Path).length === 0));
      if (fitting.length >= 1) {
        for (const i of fitting[0]) reportIssue(i, input, locs, problems, p);
      } else {
        problems.add(locFor(locs, p), `${where}: expected ${unionExpectation(branches)}, got ${describe(value)}`);
      }
      return;
    }
    case 'invalid_format':
      problems.add(locFor(locs, p), `${where}: ${value === '' ? 'must not be empty' : `${issue.message}, got ${describe(value)}`}`);
      return;
    case 'invalid_key': {
      // A record key that breaks its rule (a source name that is not a safe name): shown at the key.
      const key = String(p[p.length - 1]);
      const rule = (issue as { issues?: z.core.$ZodIssue[] }).issues?.[0]?.message?.replace(/^must be a safe name /, '') ?? '';
      problems.add(locFor(locs, p, true), `${pathString(p.slice(0, -1))}: ${describe(key)} is not a safe name ${rule}`.trimEnd());
      return;
    }
    default:
      problems.add(locFor(locs, p), `${where}: ${issue.message}`);
  }
}

function unionExpectation(branches: z.core.$ZodIssue[][]): string {
  const kinds = branches.flatMap((b) => b.filter((i) => i.code === 'invalid_type').map((i) => expected((i as { expected: string }).expected)));
  return [...new Set(kinds)].join(' or ') || 'another shape';
}

function expected(t: string): string {
  return (
    {
      number: 'a number',
      int: 'an integer',
      string: 'a string',
      boolean: 'true or false',
      object: 'a mapping',
      array: 'a list',
      tuple: 'a list',
      record: 'a mapping',
      null: 'null',
      nonoptional: 'a value',
    }[t] ?? t
  );
}

export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') return `'${v.length > 40 ? v.slice(0, 37) + '...' : v}'`.replace(/\n/g, '\\n');
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : String(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return 'a list';
  return 'a mapping';
}

// ---------------------------------------------------------------------------------------------------
// Cross-field checks

function checkSpec(spec: Spec, locs: LocIndex, problems: Problems): void {
  const at = (p: Path, preferKey = false) => locFor(locs, p, preferKey);
  const m = spec.model;
  const kv = m.kv_heads ?? m.heads;
  if (m.d_model % m.heads !== 0) {
    problems.add(at(['model', 'heads']), `model.heads: d_model (${m.d_model}) must be divisible by heads (${m.heads})`);
  } else if ((m.d_model / m.heads) % 2 !== 0) {
    problems.add(at(['model', 'heads']), `model.heads: head_dim = d_model / heads = ${m.d_model / m.heads} must be even for RoPE`);
  }
  if (m.heads % kv !== 0) problems.add(at(['model', 'kv_heads']), `model.kv_heads: heads (${m.heads}) must be divisible by kv_heads (${kv})`);
  if (m.vocab.text <= 5) problems.add(at(['model', 'vocab', 'text']), `model.vocab.text: must exceed the 5 special tokens, got ${m.vocab.text}`);

  const img = spec.tokenizer.image;
  if (img.codebook_size !== m.vocab.image) {
    const p: Path = isWritten(locs, ['tokenizer', 'image', 'codebook_size']) ? ['tokenizer', 'image', 'codebook_size'] : ['model', 'vocab', 'image'];
    problems.add(at(p), `${pathString(p)}: tokenizer.image.codebook_size (${img.codebook_size}) must equal model.vocab.image (${m.vocab.image})`);
  }
  if (img.resolution % img.patch !== 0) {
    problems.add(at(['tokenizer', 'image', 'patch']), `tokenizer.image.patch: resolution (${img.resolution}) must be divisible by patch (${img.patch})`);
  }
  const d = spec.data;
  if (d.seq_len > m.max_seq_len) problems.add(at(['data', 'seq_len']), `data.seq_len: ${d.seq_len} exceeds model.max_seq_len (${m.max_seq_len})`);
  const imageTokens = (img.resolution / img.patch) ** 2 + 2;
  const hasImages = Object.values(d.sources).some((s) => s.kind !== 'text');
  if (hasImages && Number.isInteger(imageTokens) && imageTokens > d.seq_len) {
    problems.add(at(['data', 'seq_len']), `data.seq_len: ${d.seq_len} cannot hold one image (${imageTokens} tokens with begin/end markers)`);
  }
  for (const [name, src] of Object.entries(d.sources)) {
    if (!src.origin.startsWith('builtin:')) continue;
    const at_ = at(['data', 'sources', name, 'origin']);
    const provides = (BUILTIN_SOURCES as Record<string, string>)[src.origin];
    if (!provides) problems.add(at_, `data.sources.${name}.origin: unknown built-in source '${src.origin}'${hintName(src.origin, Object.keys(BUILTIN_SOURCES))}`);
    else if (provides !== src.kind) problems.add(at(['data', 'sources', name, 'kind']), `data.sources.${name}.kind: ${src.origin} provides ${provides} documents, not ${src.kind}`);
  }
  for (const name of spec.tokenizer.text.corpus) {
    if (!(name in d.sources)) problems.add(at(['tokenizer', 'text', 'corpus']), `tokenizer.text.corpus: no data source named '${name}'${hintName(name, Object.keys(d.sources))}`);
  }

  // Stages: unique names, shares sum to 1, weights name sources, `from` names an earlier stage.
  const names = new Map<string, number>();
  d.stages.forEach((st, i) => {
    if (names.has(st.name)) problems.add(at(['data', 'stages', i, 'name']), `data.stages.${i}.name: '${st.name}' is already the name of stage ${names.get(st.name)}`);
    else names.set(st.name, i);
    for (const src of Object.keys(st.weights)) {
      if (!(src in d.sources)) {
        problems.add(at(['data', 'stages', i, 'weights', src], true), `data.stages.${i}.weights: no data source named '${src}'${hintName(src, Object.keys(d.sources))}`);
      }
    }
    if (st.from) {
      const j = d.stages.findIndex((s) => s.name === st.from!.stage);
      if (j < 0 || j >= i) {
        const earlier = d.stages.slice(0, i).map((s) => s.name);
        const why = j < 0 ? `there is no stage '${st.from.stage}'${hintName(st.from.stage, earlier)}` : `'${st.from.stage}' is not an earlier stage`;
        problems.add(at(['data', 'stages', i, 'from', 'stage']), `data.stages.${i}.from.stage: ${why}`);
      }
    } else if (Object.keys(st.weights).length === 0) {
      problems.add(at(['data', 'stages', i]), `data.stages.${i}: stage '${st.name}' needs weights (or 'from' an earlier stage)`);
    }
  });
  const total = d.stages.reduce((s, st) => s + st.share, 0);
  if (Math.abs(total - 1) > SHARE_TOLERANCE) {
    problems.add(at(['data', 'stages']), `data.stages: the stages' shares sum to ${+total.toPrecision(12)}, not 1`);
  }

  const o = spec.optimizer;
  if (o.schedule.final_lr > o.lr) problems.add(at(['optimizer', 'schedule', 'final_lr']), `optimizer.schedule.final_lr: ${o.schedule.final_lr} exceeds optimizer.lr (${o.lr})`);
  // warmup >= train.steps is allowed on purpose: smoke runs (`--set train.steps=10`) keep the recipe.
  if (o.schedule.expression !== null) {
    try {
      checkExpression(o.schedule.expression, SCHEDULE_VARIABLES, false);
    } catch (e) {
      if (!(e instanceof ExpressionError)) throw e;
      problems.add(shift(at(['optimizer', 'schedule', 'expression']), e.offset), `optimizer.schedule.expression: ${e.message}`);
    }
  }
  if (spec.sweep) checkSweep(spec, locs, problems);
}

function hintName(name: string, candidates: string[]): string {
  const near = closest(name, candidates);
  return near ? ` (did you mean '${near}'?)` : candidates.length ? ` (known: ${candidates.join(', ')})` : '';
}

/** Sweep paths must name fields; zipped lists must have one length; ranges must be ordered. */
function checkSweep(spec: Spec, locs: LocIndex, problems: Problems): void {
  const sw = spec.sweep!;
  // Sweep values are free-form until a member is resolved; NaN or infinities can't even be hashed.
  const finite = (v: unknown, p: Path): void => {
    if (typeof v === 'number' && !Number.isFinite(v)) problems.add(locFor(locs, p), `${pathString(p)}: expected a finite number, got ${describe(v)}`);
    else if (Array.isArray(v)) v.forEach((x, i) => finite(x, [...p, i]));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) finite(x, [...p, k]);
  };
  finite(sw, ['sweep']);
  const seen = new Map<string, string>();
  const checkPath = (section: string, dotted: string) => {
    const p = parsePath(dotted);
    const loc = locFor(locs, ['sweep', ...section.split('.'), dotted], true);
    if (p[0] === 'sweep' || p[0] === 'extends') problems.add(loc, `sweep.${section}: '${dotted}' cannot be swept`);
    else if (!pathExists(p)) problems.add(loc, `sweep.${section}: '${dotted}' is not a field${pathHint(p)}`);
    if (seen.has(dotted)) problems.add(loc, `sweep.${section}: '${dotted}' is already swept in sweep.${seen.get(dotted)}`);
    seen.set(dotted, section);
  };
  for (const k of Object.keys(sw.grid)) checkPath('grid', k);
  const zipKeys = Object.keys(sw.zip);
  for (const k of zipKeys) checkPath('zip', k);
  if (zipKeys.length > 0) {
    const n = sw.zip[zipKeys[0]].length;
    for (const k of zipKeys.slice(1)) {
      if (sw.zip[k].length !== n) {
        problems.add(locFor(locs, ['sweep', 'zip', k]), `sweep.zip: '${k}' has ${sw.zip[k].length} values but '${zipKeys[0]}' has ${n}; zipped lists vary together`);
      }
    }
  }
  if (sw.random) {
    for (const [k, r] of Object.entries(sw.random.params)) {
      checkPath('random.params', k);
      const range = 'uniform' in r ? r.uniform : 'log_uniform' in r ? r.log_uniform : 'int' in r ? r.int : undefined;
      if (range && !(range[0] <= range[1])) {
        problems.add(locFor(locs, ['sweep', 'random', 'params', k]), `sweep.random.params.${k}: the range [${range[0]}, ${range[1]}] is empty`);
      }
    }
  }
  const count = sweepSize(spec);
  if (count > MAX_SWEEP_MEMBERS) problems.add(locFor(locs, ['sweep'], true), `sweep: ${count} members exceed the limit of ${MAX_SWEEP_MEMBERS}`);
}

/** Members of the spec's sweep: grid product x zip length x random n x replicates (1 without a sweep). */
export function sweepSize(spec: Spec): number {
  const sw = spec.sweep;
  if (!sw) return 1;
  const grid = Object.values(sw.grid).reduce((n, vs) => n * vs.length, 1);
  const zipKeys = Object.keys(sw.zip);
  const zip = zipKeys.length ? sw.zip[zipKeys[0]].length : 1;
  const random = sw.random ? sw.random.n : 1;
  const seeds = typeof sw.seeds === 'number' ? sw.seeds : sw.seeds.length;
  return grid * zip * random * seeds;
}

// ---------------------------------------------------------------------------------------------------
// Stages

/**
 * Folds `from` into explicit weights: stage = earlier stage's weights x scale, plus (or, for a source it
 * names again, replaced by) its own. Every stage's weights are then normalized to sum to 1, unless they
 * already do to 1e-12 (so that resolving a resolved spec changes nothing).
 */
function foldStages(spec: Spec, locs: LocIndex, problems: Problems): void {
  const folded: Record<string, number>[] = [];
  spec.data.stages.forEach((st, i) => {
    let weights: Record<string, number> = {};
    if (st.from) {
      const j = spec.data.stages.findIndex((s) => s.name === st.from!.stage);
      for (const [k, w] of Object.entries(folded[j])) weights[k] = w * st.from.scale;
    }
    weights = { ...weights, ...st.weights };
    const sum = Object.values(weights).reduce((a, b) => a + b, 0);
    if (!(sum > 0) || !Number.isFinite(sum)) {
      problems.add(locFor(locs, ['data', 'stages', i]), `data.stages.${i}: stage '${st.name}' has no positive weight`);
      folded.push(weights);
      return;
    }
    if (Math.abs(sum - 1) > 1e-12) for (const k of Object.keys(weights)) weights[k] = weights[k] / sum;
    folded.push(weights);
    st.weights = sortedRecord(weights);
    delete st.from;
  });
}

function sortedRecord<T>(r: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.keys(r).sort().map((k) => [k, r[k]]));
}

// ---------------------------------------------------------------------------------------------------
// Plain-value helpers

/** The value at a path: own properties only (a path through `constructor` finds nothing). */
function getAt(v: unknown, p: Path): any {
  let cur: any = v;
  for (const s of p) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, String(s))) return undefined;
    cur = cur[s as any];
  }
  return cur;
}

function setAt(v: any, p: Path, value: unknown): void {
  const holder = getAt(v, p.slice(0, -1));
  if (holder && typeof holder === 'object') holder[p[p.length - 1] as any] = value;
}
