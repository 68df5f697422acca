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
   * fused kernels where they are faster (LogSoftmax). 'webgpu' is the same as 'any'.
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

/** Builds the ModelProto of `graph` (use `toOnnx` for bytes). */
export function toModelProto(graph: Graph, opts: OnnxOptions = {}): onnx.IModelProto {
  if (graph.outputs.length === 0) throw new GraphError(`graph '${graph.name}' has no outputs`);
  const embed = opts.params === 'initializers';
  const nodes = liveNodes(graph);
  const nodeProtos: onnx.INodeProto[] = [];
  const initializers: onnx.ITensorProto[] = [];
  const initNames = new Set<string>();
  // every initializer name must be unique (ORT silently keeps the last duplicate)
  const addInit = (t: onnx.ITensorProto) => {
    if (initNames.has(t.name!)) throw new GraphError(`initializer name '${t.name}' is used twice (emitter bug)`);
    initNames.add(t.name!);
    initializers.push(t);
  };
  const names = new Map<Tensor, string>();
  const taken = new Set<string>(graph.nodes.map((t) => t.name));

  // graph outputs take over the value name of the node that makes them, unless that value is a graph
  // input or constant, or already named by another output (then an Identity node is needed)
  const identities: { from: Tensor; to: string }[] = [];
  const outNames = new Set<string>();
  for (const { name, tensor } of graph.outputs) {
    if (outNames.has(name)) throw new GraphError(`output '${name}' is defined twice`);
    outNames.add(name);
    const isLeaf = tensor.op === 'Input' || tensor.op === 'Param' || tensor.op === 'Const';
    if (taken.has(name))
      throw new GraphError(`output name '${name}' is already the name of a value in graph '${graph.name}'`);
    if (isLeaf || names.has(tensor)) identities.push({ from: tensor, to: name });
    else names.set(tensor, name);
    taken.add(name);
  }

  const constCache = new Map<string, string>();
  let constCounter = 0;
  const symCache = new Map<string, string>();

  const e: Emitter = {
    target: opts.target ?? 'any',
    v: (t) => names.get(t) ?? t.name,
    out: (t) => names.get(t) ?? t.name,
    node: (opType, inputs, outputs, attrs, name) => {
      nodeProtos.push({
        name,
        opType,
        input: inputs,
        output: outputs,
        attribute: Object.keys(attrs)
          .sort()
          .map((k) => attrProto(k, attrs[k])),
      });
    },
    i64: (values) => cachedConst('int64', values),
    scalar: (value, dtype) => cachedConst(dtype, [value], true),
    constant: (values, shape, dtype, name) => {
      addInit(tensorProto(name, dtype, shape, values));
      return name;
    },
    shape: (dims) => {
      if (isStatic(dims)) return e.i64(dims);
      const key = `shape:${dims.join(',')}`;
      const hit = symCache.get(key);
      if (hit) return hit;
      // runs of static dims become constants; each symbolic dim is read from an input's shape
      const parts: string[] = [];
      let run: number[] = [];
      for (const d of dims) {
        if (typeof d === 'number') run.push(d);
        else {
          if (run.length) parts.push(e.i64(run));
          run = [];
          parts.push(symbolicDim(d));
        }
      }
      if (run.length) parts.push(e.i64(run));
      if (parts.length === 1) {
        symCache.set(key, parts[0]);
        return parts[0];
      }
      const name = `shape/${dims.join('_').replace(/\*/g, 'x')}`;
      e.node('Concat', parts, [name], { axis: { i: 0 } }, name);
      symCache.set(key, name);
      return name;
    },
  };

  function cachedConst(dtype: DType, values: readonly number[], scalar = false): string {
    const key = `${dtype}:${scalar ? 's' : 'v'}:${values.join(',')}`;
    let name = constCache.get(key);
    if (!name) {
      name = `const/${dtype === 'int64' && !scalar ? 'i64' : dtype}_${constCounter++}`;
      addInit(tensorProto(name, dtype, scalar ? [] : [values.length], values));
      constCache.set(key, name);
    }
    return name;
  }

  /** A 1-D int64 [1] tensor holding dim `d` (a product of symbols times a coefficient): `dim/...`. */
  function symbolicDim(d: Dim): string {
    const key = `dim:${d}`;
    const hit = symCache.get(key);
    if (hit) return hit;
    const { coef, syms } = dimFactors(d);
    let acc: string | null = null;
    const done: string[] = [];
    for (const s of syms) {
      const src = graph.symbols.get(s);
      if (!src) throw new GraphError(`symbolic dim '${s}' does not come from any input of graph '${graph.name}'`);
      const sk = `dim:${s}`;
      let one = symCache.get(sk);
      if (!one) {
        one = `dim/${s}`;
        e.node('Shape', [e.v(src.input)], [one], { start: { i: src.axis }, end: { i: src.axis + 1 } }, one);
        symCache.set(sk, one);
      }
      done.push(s);
      if (acc === null) acc = one;
      else {
        const m = `dim/${done.join('x')}`;
        const cached = symCache.get(`dim:${done.join('*')}`);
        if (cached) acc = cached;
        else {
          e.node('Mul', [acc, one], [m], {}, m);
          symCache.set(`dim:${done.join('*')}`, m);
          acc = m;
        }
      }
    }
    if (coef !== 1) {
      const m = `dim/${coef}x${done.join('x')}`;
      e.node('Mul', [acc!, e.i64([coef])], [m], {}, m);
      acc = m;
    }
    symCache.set(key, acc!);
    return acc!;
  }

  const inputs: onnx.IValueInfoProto[] = [];
  for (const t of graph.graphInputs()) {
    if (t.op === 'Param' && embed) {
      const value = t.attrs.value as Float32Array | Float64Array | undefined;
      if (!value) throw new GraphError(`param ${t.name} has no value to embed (build with values, or emit with params: 'inputs')`);
      addInit(tensorProto(t.name, t.dtype, t.shape as number[], value));
    } else {
      const doc = t.op === 'Param' ? `parameter${t.attrs.decay ? '' : ' (no weight decay)'}` : (t.attrs.doc as string | undefined);
      inputs.push(valueInfo(t.name, t.dtype, t.shape, doc));
    }
  }

  const infos: onnx.IValueInfoProto[] = [];
  for (const t of nodes) {
    if (t.op === 'Input' || t.op === 'Param') continue;
    if (t.op === 'Const') {
      addInit(tensorProto(t.name, t.dtype, t.attrs.shape, t.attrs.value));
      continue;
    }
    PRIMITIVES[t.op].emit(e, t);
    if (opts.valueInfo !== false && !outNames.has(e.v(t))) infos.push(valueInfo(e.v(t), t.dtype, t.shape));
  }
  for (const { from, to } of identities) e.node('Identity', [e.v(from)], [to], {}, `output/${to}`);

  const outputs = graph.outputs.map(({ name, tensor }) => valueInfo(name, tensor.dtype, tensor.shape));
  return {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'chamlab',
    graph: {
      name: graph.name,
      node: nodeProtos,
      initializer: initializers,
      input: inputs,
      output: outputs,
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
