/**
 * ONNX emission (opset 17, IR version 8) with onnx-proto.
 *
 * Deterministic: the same graph gives the same bytes. Everything is emitted in node-creation order,
 * helper constants get names from a per-emission counter, nothing depends on Map iteration of
 * unordered keys, and no timestamps or versions that change between builds are written.
 * Readable: node names carry the scope (`layers.3.attn/MatMul_12`), graph outputs carry their own
 * names, and `value_info` records every intermediate shape so Netron shows them on the edges (and
 * the ONNX checker's shape inference cross-checks our shape rules).
 */
import { onnx } from 'onnx-proto';
import {
  type DType,
  type Dim,
  type Emitter,
  type Graph,
  GraphError,
  type OnnxAttr,
  type OnnxTarget,
  PRIMITIVES,
  type Shape,
  type Tensor,
  dimFactors,
  isStatic,
} from './ir';

export const OPSET = 17;
export const IR_VERSION = 8;

export interface OnnxOptions {
  /**
   * 'inputs' (default): every parameter is a graph input and no weight is stored (`--shapes-only`).
   * 'initializers': parameters are stored as initializers from their `value` (all must have one).
   */
  params?: 'inputs' | 'initializers';
  /** Write value_info for intermediate values (default true). */
  valueInfo?: boolean;
  /** Model doc string (for example the spec hash). */
  docString?: string;
  /**
   * Which execution provider the graph is for. 'any' (default) uses only ops that ORT runs on both the
   * CPU and the WebGPU provider, so no node falls back to the CPU under WebGPU; 'cpu' may use CPU-only
   * fused kernels where they are faster (LogSoftmax). 'webgpu' is 'any' except where the two
   * providers need different ops for the same result: the row scatter-add is deterministic on the
   * CPU only as ScatterElements and on WebGPU only as ScatterND (see ScatterAddRows).
   */
  target?: OnnxTarget;
}

/**
 * ONNX TensorProto.DataType codes of the element types chamlab uses: the one table, for the graph
 * writer here and for the small graphs the runtime writes itself (src/runtime/onnx-util.ts).
 */
export const ONNX_DTYPE: Readonly<Record<DType, number>> = { float32: 1, int32: 6, int64: 7, bool: 9, float64: 11 };
export const onnxDType = (d: DType): number => ONNX_DTYPE[d];

type TypedArrayLike = ArrayLike<number> | ArrayLike<bigint>;

/** Little-endian raw bytes of `values` as `dtype` (x86 and ARM Node are little-endian). */
export function rawBytes(values: TypedArrayLike, dtype: DType): Uint8Array {
  const n = values.length;
  let arr: ArrayBufferView;
  switch (dtype) {
    case 'float32':
      arr = values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>);
      break;
    case 'float64':
      arr = values instanceof Float64Array ? values : Float64Array.from(values as ArrayLike<number>);
      break;
    case 'int32':
      arr = values instanceof Int32Array ? values : Int32Array.from(values as ArrayLike<number>);
      break;
    case 'int64': {
      const a = new BigInt64Array(n);
      for (let i = 0; i < n; i++) a[i] = BigInt(values[i] as number | bigint);
      arr = a;
      break;
    }
    case 'bool': {
      const a = new Uint8Array(n);
      for (let i = 0; i < n; i++) a[i] = values[i] ? 1 : 0;
      arr = a;
      break;
    }
  }
  // copy, so the proto never aliases a caller's buffer that might change before encoding
  return new Uint8Array(arr.buffer.slice(arr.byteOffset, arr.byteOffset + arr.byteLength));
}

function tensorProto(name: string, dtype: DType, dims: readonly number[], values: TypedArrayLike): onnx.ITensorProto {
  return { name, dataType: onnxDType(dtype), dims: [...dims], rawData: rawBytes(values, dtype) };
}

function valueInfo(name: string, dtype: DType, shape: Shape, doc?: string): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnxDType(dtype),
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
    ...(doc ? { docString: doc } : {}),
  };
}

function attrProto(name: string, a: OnnxAttr): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if ('i' in a) return { name, type: T.INT, i: a.i };
  if ('f' in a) return { name, type: T.FLOAT, f: a.f };
  if ('ints' in a) return { name, type: T.INTS, ints: a.ints };
  if ('s' in a) return { name, type: T.STRING, s: new TextEncoder().encode(a.s) };
  return { name, type: T.TENSOR, t: tensorProto('', a.t.dtype, [a.t.values.length], a.t.values) };
}

/** Nodes needed for the graph's outputs, in creation order. */
export function liveNodes(graph: Graph): Tensor[] {
  const live = graph.liveSet();
  return graph.nodes.filter((t) => live.has(t));
}

/**
 * How graph outputs are named. An output takes over the value name of the node that makes it, unless
 * that value is a graph input or constant, or is already named by another output: then an Identity
 * node copies it to the output's name.
 */
interface OutputNaming {
  /** Value names that outputs took over. */
  names: Map<Tensor, string>;
  /** Outputs that need an Identity node. */
  identities: { from: Tensor; to: string }[];
  outNames: Set<string>;
}

function nameOutputs(graph: Graph): OutputNaming {
  const names = new Map<Tensor, string>();
  const identities: { from: Tensor; to: string }[] = [];
  const outNames = new Set<string>();
  const taken = new Set<string>(graph.nodes.map((t) => t.name));
  for (const { name, tensor } of graph.outputs) {
    if (outNames.has(name)) throw new GraphError(`output '${name}' is defined twice`);
    outNames.add(name);
    const isLeaf = tensor.op === 'Input' || tensor.op === 'Param' || tensor.op === 'Const';
    if (taken.has(name)) throw new GraphError(`output name '${name}' is already the name of a value in graph '${graph.name}'`);
    if (isLeaf || names.has(tensor)) identities.push({ from: tensor, to: name });
    else names.set(tensor, name);
    taken.add(name);
  }
  return { names, identities, outNames };
}

/**
 * The Emitter that primitives write through: it collects nodes and initializers in emission order,
 * shares equal helper constants (named from a per-emission counter) and builds shape tensors,
 * reading symbolic dims from the inputs that carry them.
 */
class OnnxEmitter implements Emitter {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  private readonly initNames = new Set<string>();
  private readonly constCache = new Map<string, string>();
  private constCounter = 0;
  private readonly symCache = new Map<string, string>();

  constructor(
    private readonly graph: Graph,
    readonly target: OnnxTarget,
    private readonly names: ReadonlyMap<Tensor, string>,
  ) {}

  v(t: Tensor): string {
    return this.names.get(t) ?? t.name;
  }

  out(t: Tensor): string {
    return this.names.get(t) ?? t.name;
  }

  node(opType: string, inputs: string[], outputs: string[], attrs: Record<string, OnnxAttr>, name: string): void {
    const attribute = Object.keys(attrs)
      .sort()
      .map((k) => attrProto(k, attrs[k]));
    this.nodes.push({ name, opType, input: inputs, output: outputs, attribute });
  }

  /** Every initializer name must be unique (ORT silently keeps the last duplicate). */
  addInitializer(t: onnx.ITensorProto): void {
    if (this.initNames.has(t.name!)) throw new GraphError(`initializer name '${t.name}' is used twice (emitter bug)`);
    this.initNames.add(t.name!);
    this.initializers.push(t);
  }

  i64(values: readonly number[]): string {
    return this.cachedConst('int64', values);
  }

  scalar(value: number, dtype: DType): string {
    return this.cachedConst(dtype, [value], true);
  }

  constant(values: readonly number[], shape: readonly number[], dtype: DType, name: string): string {
    this.addInitializer(tensorProto(name, dtype, shape, values));
    return name;
  }

  shape(dims: Shape): string {
    if (isStatic(dims)) return this.i64(dims);
    const key = `shape:${dims.join(',')}`;
    const hit = this.symCache.get(key);
    if (hit) return hit;
    // runs of static dims become constants; each symbolic dim is read from an input's shape
    const parts: string[] = [];
    let run: number[] = [];
    for (const d of dims) {
      if (typeof d === 'number') run.push(d);
      else {
        if (run.length) parts.push(this.i64(run));
        run = [];
        parts.push(this.symbolicDim(d));
      }
    }
    if (run.length) parts.push(this.i64(run));
    if (parts.length === 1) {
      this.symCache.set(key, parts[0]);
      return parts[0];
    }
    const name = `shape/${dims.join('_').replace(/\*/g, 'x')}`;
    this.node('Concat', parts, [name], { axis: { i: 0 } }, name);
    this.symCache.set(key, name);
    return name;
  }

  private cachedConst(dtype: DType, values: readonly number[], scalar = false): string {
    const key = `${dtype}:${scalar ? 's' : 'v'}:${values.join(',')}`;
    let name = this.constCache.get(key);
    if (!name) {
      name = `const/${dtype === 'int64' && !scalar ? 'i64' : dtype}_${this.constCounter++}`;
      this.addInitializer(tensorProto(name, dtype, scalar ? [] : [values.length], values));
      this.constCache.set(key, name);
    }
    return name;
  }

  /** A 1-D int64 [1] tensor holding dim `d` (a product of symbols times a coefficient): `dim/...`. */
  private symbolicDim(d: Dim): string {
    const key = `dim:${d}`;
    const hit = this.symCache.get(key);
    if (hit) return hit;
    const { coef, syms } = dimFactors(d);
    let acc: string | null = null;
    const done: string[] = [];
    for (const s of syms) {
      const src = this.graph.symbols.get(s);
      if (!src) throw new GraphError(`symbolic dim '${s}' does not come from any input of graph '${this.graph.name}'`);
      const sk = `dim:${s}`;
      let one = this.symCache.get(sk);
      if (!one) {
        one = `dim/${s}`;
        this.node('Shape', [this.v(src.input)], [one], { start: { i: src.axis }, end: { i: src.axis + 1 } }, one);
        this.symCache.set(sk, one);
      }
      done.push(s);
      if (acc === null) acc = one;
      else {
        const m = `dim/${done.join('x')}`;
        const cached = this.symCache.get(`dim:${done.join('*')}`);
        if (cached) acc = cached;
        else {
          this.node('Mul', [acc, one], [m], {}, m);
          this.symCache.set(`dim:${done.join('*')}`, m);
          acc = m;
        }
      }
    }
    if (coef !== 1) {
      const m = `dim/${coef}x${done.join('x')}`;
      this.node('Mul', [acc!, this.i64([coef])], [m], {}, m);
      acc = m;
    }
    this.symCache.set(key, acc!);
    return acc!;
  }
}

/** The graph's declared inputs; with `embed`, parameters become initializers from their values instead. */
function emitInputs(graph: Graph, e: OnnxEmitter, embed: boolean): onnx.IValueInfoProto[] {
  const inputs: onnx.IValueInfoProto[] = [];
  for (const t of graph.graphInputs()) {
    if (t.op === 'Param' && embed) {
      const value = t.attrs.value as Float32Array | Float64Array | undefined;
      if (!value) throw new GraphError(`param ${t.name} has no value to embed (build with values, or emit with params: 'inputs')`);
      e.addInitializer(tensorProto(t.name, t.dtype, t.shape as number[], value));
    } else {
      const doc = t.op === 'Param' ? `parameter${t.attrs.decay ? '' : ' (no weight decay)'}` : (t.attrs.doc as string | undefined);
      inputs.push(valueInfo(t.name, t.dtype, t.shape, doc));
    }
  }
  return inputs;
}

/**
 * Every node some output needs, in creation order: constants become initializers, primitives emit
 * through their table entry. Returns the value_info of the intermediate values (unless off).
 */
function emitNodes(graph: Graph, e: OnnxEmitter, naming: OutputNaming, withValueInfo: boolean): onnx.IValueInfoProto[] {
  const infos: onnx.IValueInfoProto[] = [];
  for (const t of liveNodes(graph)) {
    if (t.op === 'Input' || t.op === 'Param') continue;
    if (t.op === 'Const') {
      e.addInitializer(tensorProto(t.name, t.dtype, t.attrs.shape, t.attrs.value));
      continue;
    }
    PRIMITIVES[t.op].emit(e, t);
    if (withValueInfo && !naming.outNames.has(e.v(t))) infos.push(valueInfo(e.v(t), t.dtype, t.shape));
  }
  for (const { from, to } of naming.identities) e.node('Identity', [e.v(from)], [to], {}, `output/${to}`);
  return infos;
}

/** Builds the ModelProto of `graph` (use `toOnnx` for bytes). */
export function toModelProto(graph: Graph, opts: OnnxOptions = {}): onnx.IModelProto {
  if (graph.outputs.length === 0) throw new GraphError(`graph '${graph.name}' has no outputs`);
  const naming = nameOutputs(graph);
  const e = new OnnxEmitter(graph, opts.target ?? 'any', naming.names);
  const inputs = emitInputs(graph, e, opts.params === 'initializers');
  const infos = emitNodes(graph, e, naming, opts.valueInfo !== false);
  return {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'chamlab',
    graph: {
      name: graph.name,
      node: e.nodes,
      initializer: e.initializers,
      input: inputs,
      output: graph.outputs.map(({ name, tensor }) => valueInfo(name, tensor.dtype, tensor.shape)),
      valueInfo: infos,
      ...(opts.docString ? { docString: opts.docString } : {}),
    },
  };
}

/** Serialized ONNX model of `graph`. */
export function toOnnx(graph: Graph, opts: OnnxOptions = {}): Uint8Array {
  return onnx.ModelProto.encode(toModelProto(graph, opts)).finish();
}

/** Input and output signatures of `graph`, as written into the ONNX file (for manifests). */
export function signature(graph: Graph, opts: OnnxOptions = {}): {
  inputs: { name: string; dtype: DType; shape: Dim[] }[];
  outputs: { name: string; dtype: DType; shape: Dim[] }[];
} {
  const embed = opts.params === 'initializers';
  return {
    inputs: graph.graphInputs().filter((t) => !(embed && t.op === 'Param')).map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape] })),
    outputs: graph.outputs.map((o) => ({ name: o.name, dtype: o.tensor.dtype, shape: [...o.tensor.shape] })),
  };
}
