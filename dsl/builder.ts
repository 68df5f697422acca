/**
 * The TypeScript builder: the same spec as a YAML file, composed in code with editor completion.
 *
 *   const tiny = experiment('tiny')
 *     .model({ vocab: { text: 2048, image: 512 }, d_model: 128, layers: 4, heads: 4 })
 *     .source('text', { kind: 'text', origin: 'builtin:moby-dick' })
 *     .stage('stage1', 1, { text: 1 })
 *     .train({ steps: 300 });
 *   const lrSweep = tiny.grid('optimizer.lr', [1e-3, 3e-3]);   // tiny itself is unchanged
 *
 * Builders are immutable: every method returns a new builder, so a notebook can branch a base
 * experiment into variants. Section methods deep-merge (`.model({ dropout: { after_ffn: 0 } })` keeps
 * the rest of `model`); lists are replaced. Nothing is validated until `resolve()` (or the CLI), which
 * runs exactly the pipeline a YAML file goes through, so a builder and a YAML file that describe the same
 * experiment have the same canonical spec and hash.
 */
import { stringify } from 'yaml';
import { resolveSpec, type Resolved } from './resolve';
import type { SpecInput } from './schema';

type Input = SpecInput;
type ModelInput = Input['model'];
type DataInput = Input['data'];
type SourceInput = DataInput['sources'][string];
type StageInput = DataInput['stages'][number];
type SweepInput = NonNullable<Input['sweep']>;
type RandomParamInput = NonNullable<SweepInput['random']>['params'][string];

/** Every field optional, recursively (lists stay whole: they are replaced, never merged). */
export type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

type Join<K extends string, P> = P extends string ? `${K}.${P}` : never;
type PathsOf<T, D extends unknown[] = []> = D['length'] extends 5
  ? never
  : T extends readonly unknown[]
    ? never
    : T extends object
      ? { [K in keyof T & string]-?: K | Join<K, PathsOf<NonNullable<T[K]>, [...D, 0]>> }[keyof T & string]
      : never;

/** Dotted paths into a spec (`optimizer.lr`, `model.dropout.after_ffn`, `data.sources.${name}.origin`). */
export type SpecPath = PathsOf<Input>;

type Field<T, K extends string> = T extends unknown ? (K extends keyof T ? T[K] : string extends keyof T ? T[string] : never) : never;
/** The type of the value at a dotted path. */
export type ValueAt<T, P extends string> = P extends `${infer H}.${infer R}` ? ValueAt<NonNullable<Field<NonNullable<T>, H>>, R> : Field<NonNullable<T>, P>;

/** An expression string, typed as a number so that it fits numeric fields. See `expr`. */
export type Expr = number & { readonly __chamlabExpression: unique symbol };

/**
 * A mathjs expression in a builder, evaluated at resolution exactly like a YAML `=...` value:
 * `ffn: expr('round(8/3 * model.d_model / 256) * 256')`. It may reference other fields by dotted path.
 */
export function expr(text: string): Expr {
  return ('=' + text.replace(/^=/, '')) as unknown as Expr;
}

type Plain = Record<string, unknown>;

function isPlainObject(v: unknown): v is Plain {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function deepMerge(base: Plain, top: Plain): Plain {
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(top)) {
    if (v === undefined) continue;
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? deepMerge(out[k] as Plain, v) : clone(v);
  }
  return out;
}

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

export class ExperimentBuilder {
  /** Recognised by the loader of `.ts` specs without importing this class (two copies may be loaded). */
  readonly kind = 'chamlab.experiment';

  constructor(private readonly input: Plain) {}

  private with(patch: Plain): ExperimentBuilder {
    return new ExperimentBuilder(deepMerge(this.input, patch));
  }

  private section(name: string): Plain {
    return isPlainObject(this.input[name]) ? (this.input[name] as Plain) : {};
  }

  /** Build on one or more base spec files (paths relative to the working directory, or to the .ts spec's folder when loaded from a file). */
  extends(...files: string[]): ExperimentBuilder {
    return new ExperimentBuilder({ ...this.input, extends: files.length === 1 ? files[0] : files });
  }

  describe(description: string): ExperimentBuilder {
    return this.with({ description });
  }

  model(model: DeepPartial<ModelInput>): ExperimentBuilder {
    return this.with({ model });
  }

  tokenizer(tokenizer: DeepPartial<Input['tokenizer']>): ExperimentBuilder {
    return this.with({ tokenizer });
  }

  /** Data settings other than sources and stages (seq_len, packing); sources and stages may be given here too. */
  data(data: DeepPartial<DataInput>): ExperimentBuilder {
    return this.with({ data });
  }

  /** Adds (or replaces) a named data source. */
  source(name: string, source: SourceInput): ExperimentBuilder {
    return this.with({ data: { sources: { [name]: source } } });
  }

  /**
   * Appends a training stage: `share` of the steps, mixture `weights` by source, optionally starting from
   * an earlier stage's weights scaled by `from.scale` (stage 2 = stage 1 x 0.5 plus new sources).
   */
  stage(name: string, share: number, weights: Record<string, number> = {}, from?: { stage: string; scale?: number }): ExperimentBuilder {
    const stage: StageInput = { name, share, weights, ...(from ? { from } : {}) };
    const stages = Array.isArray(this.section('data').stages) ? (this.section('data').stages as StageInput[]) : [];
    const data = { ...this.section('data'), stages: [...clone(stages), stage] };
    return new ExperimentBuilder({ ...this.input, data });
  }

  optimizer(optimizer: DeepPartial<Input['optimizer']>): ExperimentBuilder {
    return this.with({ optimizer });
  }

  /** Shorthand for `.optimizer({ schedule })`. */
  schedule(schedule: DeepPartial<NonNullable<Input['optimizer']>['schedule']>): ExperimentBuilder {
    return this.with({ optimizer: { schedule } });
  }

  train(train: DeepPartial<Input['train']>): ExperimentBuilder {
    return this.with({ train });
  }

  sweep(sweep: DeepPartial<SweepInput>): ExperimentBuilder {
    return this.with({ sweep });
  }

  /** Adds a grid axis over a dotted path. */
  grid<P extends SpecPath>(path: P, values: (ValueAt<Input, P> | Expr)[]): ExperimentBuilder {
    return this.with({ sweep: { grid: { [path]: values } } });
  }

  /** Adds a zipped list (all zipped lists vary together and must have one length). */
  zip<P extends SpecPath>(path: P, values: (ValueAt<Input, P> | Expr)[]): ExperimentBuilder {
    return this.with({ sweep: { zip: { [path]: values } } });
  }

  /** Replicates: a count (train.seed + 0..n-1) or explicit seeds. */
  seeds(seeds: number | number[]): ExperimentBuilder {
    return this.with({ sweep: { seeds } });
  }

  /** `n` random samples of the given parameters, drawn with their own `seed`. */
  random(n: number, params: Partial<Record<SpecPath, RandomParamInput>>, seed = 0): ExperimentBuilder {
    return this.with({ sweep: { random: { n, seed, params } } });
  }

  /** Sets one field by dotted path, like `--set`. */
  set<P extends SpecPath>(path: P, value: ValueAt<Input, P> | Expr): ExperimentBuilder {
    const patch: Plain = {};
    let cur = patch;
    const parts = (path as string).split('.');
    parts.slice(0, -1).forEach((p) => {
      cur[p] = {};
      cur = cur[p] as Plain;
    });
    cur[parts[parts.length - 1]] = value;
    return this.with(patch);
  }

  /** The spec as written (unresolved: defaults not filled, expressions not evaluated). */
  toSpecInput(): SpecInput {
    return clone(this.input) as unknown as SpecInput;
  }

  /** The spec as a YAML file; with `schema`, headed by the yaml-language-server comment pointing at it. */
  toYAML(opts: { schema?: string } = {}): string {
    const body = stringify(this.input, { lineWidth: 0 });
    return opts.schema ? `# yaml-language-server: $schema=${opts.schema}\n${body}` : body;
  }

  /** Resolves (defaults, expressions, checks) and hashes, exactly as `chamlab show` would. */
  resolve(opts: { source?: string } = {}): Resolved {
    return resolveSpec(this.toSpecInput(), { source: opts.source ?? '<builder>' });
  }
}

/** Starts an experiment spec. */
export function experiment(name: string): ExperimentBuilder {
  return new ExperimentBuilder({ name });
}
