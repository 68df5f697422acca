/**
 * The graph IR: a Graph owns Tensors; every Tensor is the single output of one node (a primitive
 * application, a graph input, a parameter or a constant). Shapes and dtypes are inferred when a node is
 * built, so a mistake surfaces at the line of model code that made it, not inside onnxruntime.
 *
 * Shapes are static. A dimension is a number or, for graph inputs only, a named symbolic dimension
 * ('batch'); products of symbols ('batch*seq', '4*batch') arise from reshapes and are kept in a canonical
 * form so that equal dimensions compare equal as strings.
 *
 * Every primitive a node can apply is looked up by name in the registry below (`PRIMITIVES`), which
 * primitives.ts fills: the IR imports nothing, and the primitive table, the composite ops and the
 * ONNX writer import the IR, so the modules form no circle.
 */

export type DType = 'float32' | 'float64' | 'int32' | 'int64' | 'bool';
export type FloatDType = 'float32' | 'float64';
export type Dim = number | string;
export type Shape = readonly Dim[];
/** A tensor, or a plain number that becomes a constant of the other operand's dtype. */
export type TensorLike = Tensor | number;
export type TypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export const isFloat = (d: DType): d is FloatDType => d === 'float32' || d === 'float64';

/** A shape or dtype mistake in model code. The message names the op, the scope and the call site. */
export class GraphError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GraphError';
  }
}

/** Options of `Graph.param`. */
export interface ParamOptions {
  /** Whether AdamW's decoupled weight decay applies to this parameter (default true). */
  decay?: boolean;
  /** Initial value; used when parameters are embedded as initializers, and by gradcheck. */
  value?: Float32Array | Float64Array;
  /** Defaults to the graph's float dtype. */
  dtype?: FloatDType;
}

/** Options of `Graph.input`. */
export interface InputOptions {
  /** Documentation only: shown in the ONNX graph input's doc string. */
  doc?: string;
}

/** What kind of value a graph input carries; recorded for manifests and for buildTrainStep. */
export interface ParamInfo {
  name: string;
  shape: number[];
  dtype: FloatDType;
  decay: boolean;
}

// ---------------------------------------------------------------------------------------------------
// The primitive registry. A primitive is defined once, with everything about it side by side: its
// shape/dtype rule, its vector-Jacobian product, its ONNX emission and its gradient-check cases.

export type Attrs = Record<string, any>;

/** An ONNX attribute value with its type made explicit. */
export type OnnxAttr = { i: number } | { f: number } | { ints: number[] } | { s: string } | { t: { dtype: DType; values: number[] } };

/**
 * Which execution provider an emitted graph is for. 'any' uses only ops that ORT runs on both the CPU
 * and the WebGPU provider; 'cpu' may use CPU-only fused kernels; 'webgpu' is the same as 'any'.
 */
export type OnnxTarget = 'any' | 'cpu' | 'webgpu';

/** What a primitive's `emit` can use (implemented by the ONNX writer, onnx.ts). */
export interface Emitter {
  /** The execution provider the graph is for. */
  target: OnnxTarget;
  /** The value name of a tensor (its node name, or its graph output name). */
  v(t: Tensor): string;
  /** The output value name for node `t`. */
  out(t: Tensor): string;
  node(opType: string, inputs: string[], outputs: string[], attrs: Record<string, OnnxAttr>, name: string): void;
  /** A 1-D int64 constant (axes, pads, starts), shared between nodes that use the same values. */
  i64(values: readonly number[]): string;
  /** A scalar constant of `dtype`, shared. */
  scalar(value: number, dtype: DType): string;
  /** A named constant initializer. */
  constant(values: readonly number[], shape: readonly number[], dtype: DType, name: string): string;
  /** A 1-D int64 shape tensor: a constant for static shapes, computed from input shapes otherwise. */
  shape(dims: Shape): string;
}

/** Describes one input of a gradient-check case. Values are drawn by gradcheck's seeded RNG. */
export interface CaseInput {
  shape: number[];
  /** 'normal' (default), 'positive' (0.5..2), 'nonzero' (|x| in 0.2..2), 'distinct' (no ties),
   *  'int' (0..max-1, int32), 'bool'. Only float inputs are differentiated. */
  kind?: 'normal' | 'positive' | 'nonzero' | 'distinct' | 'int' | 'bool';
  max?: number;
}

/** One gradient-check case: the function of its inputs whose VJP is compared with finite differences. */
export interface GradCase {
  name: string;
  inputs: CaseInput[];
  f: (...xs: Tensor[]) => Tensor;
}

/** Randomness available to case generators (seeded by gradcheck, so a failure reproduces). */
export interface CaseRng {
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number;
  /** A random static shape of the given rank with dims in 1..maxDim. */
  shape(rank: number, maxDim?: number): number[];
  /** A shape that broadcasts against `s`: some leading axes dropped, some dims set to 1. */
  bcast(s: number[]): number[];
}

export interface Primitive {
  /** User-facing name used in error messages ('matmul'). */
  label: string;
  infer(inputs: readonly Tensor[], attrs: Attrs): { dtype: DType; shape: Shape };
  /** Absent for non-differentiable primitives (comparisons, integer hashing, index helpers). */
  vjp?: (g: Tensor, y: Tensor, inputs: readonly Tensor[], attrs: Attrs) => (Tensor | null)[];
  emit(e: Emitter, y: Tensor): void;
  /** Gradient-check cases; required when `vjp` exists. */
  cases?: (r: CaseRng) => GradCase[];
}

/** Every registered primitive by op name (filled by primitives.ts when the graph compiler loads). */
export const PRIMITIVES: Record<string, Primitive> = {};

/** Registers a primitive; a name is defined once. */
export function definePrimitive(name: string, p: Primitive): void {
  if (PRIMITIVES[name]) throw new GraphError(`primitive '${name}' is defined twice`);
  PRIMITIVES[name] = p;
}

// ---------------------------------------------------------------------------------------------------
// Dimension algebra: a dim is a number, or coefficient * product of named symbols.

interface DimTerm {
  coef: number;
  syms: string[];
}

function parseDim(d: Dim): DimTerm {
  if (typeof d === 'number') return { coef: d, syms: [] };
  let coef = 1;
  const syms: string[] = [];
  for (const part of d.split('*')) {
    if (/^\d+$/.test(part)) coef *= Number(part);
    else syms.push(part);
  }
  syms.sort();
  return { coef, syms };
}

function formatDim(t: DimTerm): Dim {
  if (t.syms.length === 0) return t.coef;
  return (t.coef === 1 ? [] : [String(t.coef)]).concat(t.syms).join('*');
}

/** Product of two dims (symbolic dims multiply as canonical strings). */
export function dimMul(a: Dim, b: Dim): Dim {
  const x = parseDim(a);
  const y = parseDim(b);
  return formatDim({ coef: x.coef * y.coef, syms: [...x.syms, ...y.syms].sort() });
}

/** Exact quotient a / b, or undefined when b does not divide a. */
export function dimDiv(a: Dim, b: Dim): Dim | undefined {
  const x = parseDim(a);
  const y = parseDim(b);
  if (y.coef === 0 || x.coef % y.coef !== 0) return undefined;
  const syms = [...x.syms];
  for (const s of y.syms) {
    const i = syms.indexOf(s);
    if (i < 0) return undefined;
    syms.splice(i, 1);
  }
  return formatDim({ coef: x.coef / y.coef, syms });
}

export const isStatic = (shape: Shape): shape is readonly number[] => shape.every((d) => typeof d === 'number');
/** Number of elements of a shape: a number when the shape is static, else a symbolic product. */
export function numel(shape: readonly number[]): number;
export function numel(shape: Shape): Dim;
export function numel(shape: Shape): Dim {
  if (isStatic(shape)) return shape.reduce((a, d) => a * d, 1);
  return shape.reduce<Dim>((a, d) => dimMul(a, d), 1);
}
/** The symbols a dim is made of ('batch*seq' -> ['batch', 'seq']) and its numeric coefficient. */
export function dimFactors(d: Dim): { coef: number; syms: string[] } {
  return parseDim(d);
}

export const fmtShape = (s: Shape): string => `[${s.join(',')}]`;

/** Normalizes a possibly negative axis against `rank`; throws a plain Error (wrapped by `apply`). */
export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new Error(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/** NumPy broadcasting of two shapes; throws a plain Error naming both shapes when they do not agree. */
export function broadcastShapes(a: Shape, b: Shape): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)];
    const db = i < n - b.length ? 1 : b[i - (n - b.length)];
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else throw new Error(`shapes ${fmtShape(a)} and ${fmtShape(b)} do not agree`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------

/**
 * A broadcasting binary op. An operand that is an Expand is replaced by the Expand's input when
 * broadcasting gives the same result shape anyway: reductions' VJPs expand their gradient back to
 * the input's shape, and the Mul or Add that consumes it would broadcast the small tensor itself,
 * so the Expand (a full-size copy) is dropped.
 */
function elementwise(op: string, a: Tensor, b: Tensor): Tensor {
  let out: Dim[];
  try {
    out = broadcastShapes(a.shape, b.shape);
  } catch {
    return a.graph.apply(op, [a, b]); // apply reports the mismatch with the op and scope
  }
  const same = (s: Shape) => s.length === out.length && s.every((d, i) => d === out[i]);
  const unexpand = (t: Tensor, other: Tensor) => (t.op === 'Expand' && same(broadcastShapes(t.inputs[0].shape, other.shape)) ? t.inputs[0] : t);
  const a2 = unexpand(a, b);
  const b2 = unexpand(b, a2);
  return a.graph.apply(op, [a2, b2]);
}

let graphCounter = 0;

/**
 * A value in a graph: the output of one node. Arithmetic methods build new nodes; numbers become
 * constants of this tensor's dtype.
 */
export class Tensor {
  constructor(
    readonly graph: Graph,
    /** Primitive name ('MatMul'), or 'Input' | 'Param' | 'Const' for leaves. */
    readonly op: string,
    readonly inputs: readonly Tensor[],
    readonly attrs: Attrs,
    readonly dtype: DType,
    readonly shape: Shape,
    /** Unique name: the ONNX node name and the name of its output value. */
    readonly name: string,
    /** Creation index: a topological order of the graph. */
    readonly id: number,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  toString(): string {
    return `Tensor(${this.name}: ${this.dtype}${fmtShape(this.shape)})`;
  }

  private lift(x: TensorLike): Tensor {
    return this.graph.lift(x, this.dtype);
  }

  add(o: TensorLike): Tensor {
    return elementwise('Add', this, this.lift(o));
  }
  sub(o: TensorLike): Tensor {
    return elementwise('Sub', this, this.lift(o));
  }
  /** o - this (for `1 - x` without building a constant by hand). */
  rsub(o: TensorLike): Tensor {
    return elementwise('Sub', this.lift(o), this);
  }
  mul(o: TensorLike): Tensor {
    return elementwise('Mul', this, this.lift(o));
  }
  div(o: TensorLike): Tensor {
    return elementwise('Div', this, this.lift(o));
  }
  /** Power with a constant exponent. */
  pow(exponent: number): Tensor {
    if (exponent === 1) return this;
    return this.graph.apply('Pow', [this], { exponent });
  }
  neg(): Tensor {
    return this.graph.apply('Neg', [this]);
  }
  exp(): Tensor {
    return this.graph.apply('Exp', [this]);
  }
  log(): Tensor {
    return this.graph.apply('Log', [this]);
  }
  sqrt(): Tensor {
    return this.graph.apply('Sqrt', [this]);
  }
  reciprocal(): Tensor {
    return this.graph.apply('Reciprocal', [this]);
  }
  sigmoid(): Tensor {
    return this.graph.apply('Sigmoid', [this]);
  }
  tanh(): Tensor {
    return this.graph.apply('Tanh', [this]);
  }
  abs(): Tensor {
    return this.graph.apply('Abs', [this]);
  }
  relu(): Tensor {
    return this.graph.apply('Relu', [this]);
  }
  /** Batched matrix product with broadcasting of the batch dimensions (both operands rank >= 2). */
  matmul(o: Tensor): Tensor {
    return this.graph.apply('MatMul', [this, o]);
  }
  sum(axes?: number | number[], keepdims = false): Tensor {
    return this.reduce('ReduceSum', axes, keepdims);
  }
  mean(axes?: number | number[], keepdims = false): Tensor {
    return this.reduce('ReduceMean', axes, keepdims);
  }
  /** Sum of squares: one pass, without materializing x*x (norms of parameters and updates). */
  sumSquares(axes?: number | number[], keepdims = false): Tensor {
    return this.reduce('ReduceSumSquare', axes, keepdims);
  }
  max(axes?: number | number[], keepdims = false): Tensor {
    return this.reduce('ReduceMax', axes, keepdims);
  }
  private reduce(op: string, axes: number | number[] | undefined, keepdims: boolean): Tensor {
    const list = axes === undefined ? this.shape.map((_, i) => i) : typeof axes === 'number' ? [axes] : axes;
    return this.graph.apply(op, [this], { axes: list, keepdims });
  }
  /** Reshape; the target may contain one -1 (inferred) and symbolic dims. */
  reshape(shape: readonly Dim[]): Tensor {
    if (shape.length === this.rank && shape.every((d, i) => d === this.shape[i])) return this;
    return this.graph.apply('Reshape', [this], { shape });
  }
  /** Permutes the axes; without `perm`, reverses them. */
  transpose(perm?: number[]): Tensor {
    const p = perm ?? this.shape.map((_, i) => this.rank - 1 - i);
    if (p.every((a, i) => a === i)) return this;
    // A transpose of a transpose is one transpose of the original (or none): this is what removes
    // the Transpose on every weight gradient, whose VJP transposes back what MatMul's VJP produced.
    if (this.op === 'Transpose' && p.length === this.rank) {
      const inner = this.attrs.perm as number[];
      return this.inputs[0].transpose(p.map((a) => inner[a]));
    }
    return this.graph.apply('Transpose', [this], { perm: p });
  }
  /** Swaps the last two axes (matrix transpose of a batch of matrices). */
  get mT(): Tensor {
    const r = this.rank;
    return this.transpose([...Array(r - 2).keys(), r - 1, r - 2]);
  }
  /** x[starts:ends] along `axes` (default 0..n-1); negative indices count from the end; step 1. */
  slice(starts: number[], ends: number[], axes?: number[]): Tensor {
    return this.graph.apply('Slice', [this], { starts, ends, axes: axes ?? starts.map((_, i) => i) });
  }
  /** Broadcasts to `shape` (NumPy rules; a no-op when the shape already matches). */
  expand(shape: Shape): Tensor {
    if (shape.length === this.rank && shape.every((d, i) => d === this.shape[i])) return this;
    return this.graph.apply('Expand', [this], { shape });
  }
  cast(dtype: DType): Tensor {
    if (dtype === this.dtype) return this;
    return this.graph.apply('Cast', [this], { to: dtype });
  }
  /** Inserts size-1 axes at the given positions of the result (like ONNX Unsqueeze), as a Reshape. */
  unsqueeze(axes: number | number[]): Tensor {
    const list = typeof axes === 'number' ? [axes] : axes;
    const rank = this.rank + list.length;
    const norm = list.map((a) => (a < 0 ? a + rank : a));
    const out: Dim[] = [];
    let k = 0;
    for (let i = 0; i < rank; i++) out.push(norm.includes(i) ? 1 : this.shape[k++]);
    return this.reshape(out);
  }
  eq(o: TensorLike): Tensor {
    return this.graph.apply('Equal', [this, this.lift(o)]);
  }
  lt(o: TensorLike): Tensor {
    return this.graph.apply('Less', [this, this.lift(o)]);
  }
  gt(o: TensorLike): Tensor {
    return this.graph.apply('Greater', [this, this.lift(o)]);
  }
}

/** The symbol table entry of a symbolic dimension: which graph input and axis carries it. */
export interface SymbolSource {
  input: Tensor;
  axis: number;
}

/** Options of `new Graph`. */
export interface GraphOptions {
  /** Float dtype of parameters and of numbers lifted next to untyped values (default float32). */
  dtype?: FloatDType;
}

/**
 * A computation graph under construction. Build it with `input`, `param`, primitives and composite
 * ops; mark results with `output`; emit it with `toOnnx` (src/graph/onnx.ts).
 */
export class Graph {
  readonly nodes: Tensor[] = [];
  /** Graph inputs and parameters in creation order (the ONNX input order). */
  readonly inputs: Tensor[] = [];
  readonly params: Tensor[] = [];
  readonly outputs: { name: string; tensor: Tensor }[] = [];
  readonly symbols = new Map<string, SymbolSource>();
  readonly dtype: FloatDType;
  /** Leave batch inputs (not parameters) that no output uses out of the emitted graph (forward graphs). */
  pruneUnusedInputs = false;
  /** Unique per process; keeps tensors of different graphs apart. */
  readonly uid = ++graphCounter;
  private readonly scopes: string[] = [];
  private readonly names = new Set<string>();
  private readonly scalarCache = new Map<string, Tensor>();
  private counter = 0;

  constructor(
    readonly name: string,
    opts: GraphOptions = {},
  ) {
    this.dtype = opts.dtype ?? 'float32';
  }

  /** The current name scope ('layers.3.attn'), '' at top level. */
  get currentScope(): string {
    return this.scopes.join('/');
  }

  /** Runs `fn` with `name` pushed on the scope stack: nodes built inside are named `name/Op_N`. */
  scope<T>(name: string, fn: () => T): T {
    this.scopes.push(name);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  /** A graph input (batch data, step, lr, seed). Symbolic dims name themselves: 'batch'. */
  input(name: string, dtype: DType, shape: Shape, opts: InputOptions = {}): Tensor {
    const t = this.leaf('Input', name, dtype, shape, { doc: opts.doc });
    shape.forEach((d, axis) => {
      if (typeof d === 'string') {
        if (d.includes('*')) throw new GraphError(`input ${name}: symbolic dim '${d}' must be a single name`);
        if (!this.symbols.has(d)) this.symbols.set(d, { input: t, axis });
      }
    });
    return t;
  }

  /** A trainable parameter: a graph input, or an initializer when emitted with its value. */
  param(name: string, shape: readonly number[], opts: ParamOptions = {}): Tensor {
    if (!shape.every((d) => Number.isInteger(d) && d > 0))
      throw new GraphError(`param ${name}: shape ${fmtShape(shape)} must be positive integers`);
    const dtype = opts.dtype ?? this.dtype;
    const n = numel(shape);
    if (opts.value && opts.value.length !== n)
      throw new GraphError(`param ${name}: value has ${opts.value.length} elements, shape ${fmtShape(shape)} needs ${n}`);
    const t = this.leaf('Param', name, dtype, shape, { decay: opts.decay ?? true, value: opts.value });
    this.params.push(t);
    return t;
  }

  /** A constant tensor (emitted as an initializer). */
  constant(values: ArrayLike<number> | TypedArray, shape: readonly number[], dtype: DType = this.dtype): Tensor {
    const n = numel(shape);
    if (values.length !== n) throw new GraphError(`constant: ${values.length} values for shape ${fmtShape(shape)}`);
    return this.node('Const', [], { value: values, shape }, dtype, shape);
  }

  /** A scalar constant; equal scalars of one dtype are shared (one initializer each). */
  scalar(value: number, dtype: DType = this.dtype): Tensor {
    const key = `${dtype}:${Object.is(value, -0) ? '-0' : value}`;
    let t = this.scalarCache.get(key);
    if (!t) {
      t = this.node('Const', [], { value: [value], shape: [] }, dtype, [], `scalar/${dtype}_${this.scalarCache.size}`);
      this.scalarCache.set(key, t);
    }
    return t;
  }

  /** A zero tensor of a static or symbolic shape, built in-graph (no initializer is stored). */
  zeros(shape: Shape, dtype: DType = this.dtype): Tensor {
    return this.apply('Zeros', [], { shape, dtype });
  }

  /** Marks `t` as a graph output called `name`. */
  output(name: string, t: Tensor): Tensor {
    this.own(t, 'output');
    if (this.outputs.some((o) => o.name === name)) throw new GraphError(`output '${name}' is defined twice`);
    this.outputs.push({ name, tensor: t });
    return t;
  }

  /** Parameter descriptions in creation order. */
  paramInfos(): ParamInfo[] {
    return this.params.map((p) => ({
      name: p.name,
      shape: p.shape as number[],
      dtype: p.dtype as FloatDType,
      decay: p.attrs.decay as boolean,
    }));
  }

  /** Every node some output depends on. */
  liveSet(): Set<Tensor> {
    const live = new Set<Tensor>();
    const stack = this.outputs.map((o) => o.tensor);
    while (stack.length) {
      const t = stack.pop()!;
      if (live.has(t)) continue;
      live.add(t);
      stack.push(...t.inputs);
    }
    return live;
  }

  /** Inputs and parameters that some output depends on. */
  usedInputs(): Set<Tensor> {
    const live = this.liveSet();
    return new Set(this.inputs.filter((t) => live.has(t)));
  }

  /** The inputs the emitted graph declares: all, or without unused batch inputs when pruning. */
  graphInputs(): Tensor[] {
    if (!this.pruneUnusedInputs) return [...this.inputs];
    const live = this.liveSet();
    return this.inputs.filter((t) => t.op === 'Param' || live.has(t));
  }

  /** Finds an input or parameter by name. */
  findInput(name: string): Tensor | undefined {
    return this.inputs.find((t) => t.name === name);
  }

  /** Turns a number into a constant of `dtype`; checks that a tensor belongs to this graph. */
  lift(x: TensorLike, dtype: DType): Tensor {
    if (typeof x === 'number') return this.scalar(x, dtype);
    this.own(x, 'operand');
    return x;
  }

  /**
   * Applies a primitive: infers its shape and dtype (errors name the op, the scope and the calling
   * model code) and records the node.
   */
  apply(op: string, inputs: Tensor[], attrs: Attrs = {}): Tensor {
    const prim = PRIMITIVES[op];
    if (!prim) {
      // The registry is filled by primitives.ts; importing ir.ts alone leaves it empty.
      const hint = Object.keys(PRIMITIVES).length === 0 ? ' (no primitive is registered: import the graph compiler from src/graph)' : '';
      throw new GraphError(`unknown primitive '${op}'${hint}`);
    }
    for (const x of inputs) this.own(x, prim.label);
    let inferred: { dtype: DType; shape: Shape };
    try {
      inferred = prim.infer(inputs, attrs);
    } catch (e) {
      if (e instanceof GraphError) throw e;
      const where = this.currentScope ? ` in ${this.currentScope}` : '';
      throw new GraphError(`${prim.label}: ${(e as Error).message}${where}${callSite()}`);
    }
    return this.node(op, inputs, attrs, inferred.dtype, inferred.shape);
  }

  private own(t: Tensor, what: string): void {
    if (!(t instanceof Tensor)) throw new GraphError(`${what}: expected a Tensor or a number, got ${String(t)}`);
    if (t.graph !== this) throw new GraphError(`${what}: tensor ${t.name} belongs to graph '${t.graph.name}', not '${this.name}'`);
  }

  private leaf(op: 'Input' | 'Param', name: string, dtype: DType, shape: Shape, attrs: Attrs): Tensor {
    if (this.names.has(name)) throw new GraphError(`${op.toLowerCase()} '${name}' is defined twice`);
    const t = this.node(op, [], attrs, dtype, shape, name);
    this.inputs.push(t);
    return t;
  }

  /** Records a node. Names are `scope/Op_N` with one counter per graph: stable for a given build. */
  node(op: string, inputs: readonly Tensor[], attrs: Attrs, dtype: DType, shape: Shape, name?: string): Tensor {
    const id = this.counter++;
    const scope = this.currentScope;
    const nm = name ?? `${scope ? scope + '/' : ''}${op}_${id}`;
    if (this.names.has(nm)) throw new GraphError(`name '${nm}' is used twice in graph '${this.name}'`);
    this.names.add(nm);
    const t = new Tensor(this, op, inputs, attrs, dtype, Object.freeze([...shape]), nm, id);
    this.nodes.push(t);
    return t;
  }
}

/** The first stack frame outside src/graph: the model code that built the failing node. */
function callSite(): string {
  const stack = new Error().stack?.split('\n').slice(1) ?? [];
  for (const line of stack) {
    if (/[\\/](src[\\/]graph|node:internal)[\\/]/.test(line) || line.includes('node:')) continue;
    const m = /\(?([^()\s]+:\d+:\d+)\)?\s*$/.exec(line);
    if (m) return ` (at ${m[1]})`;
  }
  return '';
}
