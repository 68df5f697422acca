/**
 * Running a graph once on onnxruntime's CPU provider: for tests, gradcheck and quick experiments in a
 * notebook. The training runtime (devices, GPU-resident state, the loop) lives in src/runtime.
 * onnxruntime-node is loaded on first use, so importing the graph compiler stays cheap.
 */
import type * as Ort from 'onnxruntime-node';
import { type DType, type Graph, GraphError, type TypedArray, isStatic } from './ir';
import { type OnnxOptions, toOnnx } from './onnx';

/** A feed: a typed array or plain numbers in the input's dtype and (static) shape, or an ort.Tensor. */
export type Feed = TypedArray | number[] | number | Ort.Tensor;
export type Fetched = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

const loadOrt = (): typeof Ort => require('onnxruntime-node');

function toTypedArray(values: TypedArray | number[] | number, dtype: DType): TypedArray {
  const list = typeof values === 'number' ? [values] : values;
  switch (dtype) {
    case 'float32':
      return list instanceof Float32Array ? list : Float32Array.from(list as ArrayLike<number>);
    case 'float64':
      return list instanceof Float64Array ? list : Float64Array.from(list as ArrayLike<number>);
    case 'int32':
      return list instanceof Int32Array ? list : Int32Array.from(list as ArrayLike<number>);
    case 'int64':
      return list instanceof BigInt64Array ? list : BigInt64Array.from(Array.from(list as ArrayLike<number>, (v) => BigInt(v)));
    case 'bool':
      return list instanceof Uint8Array ? list : Uint8Array.from(list as ArrayLike<number>, (v) => (v ? 1 : 0));
  }
}

/** A graph compiled into a CPU inference session, runnable many times. */
export interface CompiledGraph {
  run(feeds: Record<string, Feed>): Promise<Record<string, Fetched>>;
  release(): Promise<void>;
}

/** Compiles `graph` for onnxruntime's CPU provider (graph optimizations on, deterministic threads). */
export async function compileCpu(graph: Graph, opts: OnnxOptions & { intraOpNumThreads?: number } = {}): Promise<CompiledGraph> {
  const ort = loadOrt();
  const bytes = toOnnx(graph, opts);
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    ...(opts.intraOpNumThreads ? { intraOpNumThreads: opts.intraOpNumThreads } : {}),
  });
  const embed = opts.params === 'initializers';
  const inputs = graph.graphInputs().filter((t) => !(embed && t.op === 'Param'));
  return {
    async run(feeds) {
      const ortFeeds: Record<string, Ort.Tensor> = {};
      for (const t of inputs) {
        const f = feeds[t.name];
        if (f === undefined) throw new GraphError(`run ${graph.name}: missing feed '${t.name}'`);
        if (f instanceof ort.Tensor) {
          ortFeeds[t.name] = f;
          continue;
        }
        if (!isStatic(t.shape)) throw new GraphError(`run ${graph.name}: input '${t.name}' has symbolic dims; feed an ort.Tensor`);
        const data = toTypedArray(f as TypedArray | number[] | number, t.dtype);
        const n = t.shape.reduce((a, b) => a * b, 1);
        if (data.length !== n) throw new GraphError(`run ${graph.name}: feed '${t.name}' has ${data.length} values, shape [${t.shape}] needs ${n}`);
        ortFeeds[t.name] = new ort.Tensor(t.dtype === 'bool' ? 'bool' : t.dtype, data as any, t.shape as number[]);
      }
      for (const k of Object.keys(feeds))
        if (!inputs.some((t) => t.name === k)) throw new GraphError(`run ${graph.name}: '${k}' is not an input`);
      const res = await session.run(ortFeeds);
      const out: Record<string, Fetched> = {};
      for (const o of graph.outputs) out[o.name] = res[o.name].data as Fetched;
      return out;
    },
    release: () => session.release(),
  };
}

/** Runs `graph` once on the CPU and returns every output by name. */
export async function runGraph(graph: Graph, feeds: Record<string, Feed>, opts: OnnxOptions = {}): Promise<Record<string, Fetched>> {
  const c = await compileCpu(graph, opts);
  try {
    return await c.run(feeds);
  } finally {
    await c.release();
  }
}
