/**
 * The one way to run a graph outside the training loop: once (`runGraph`), or many times with
 * different feeds (`graphSession`), on the CPU or on WebGPU, with the runtime's session options
 * (session-options.ts). `chamlab grad`, the gradient checks, tests and notebooks run graphs this way;
 * the training loop (trainer.ts) keeps its state resident on the device instead.
 *
 * A graph is given as a `Graph` (emitted with `toOnnx` and the ONNX options) or as ONNX bytes. Feeds
 * are checked and converted against the session's own input metadata; every output comes back to
 * the host as a typed array (on WebGPU every output is placed on the CPU).
 */
import type * as Ort from 'onnxruntime-node';
import { type Graph, type TypedArray, isStatic, numel } from '../graph/ir';
import { type OnnxOptions, toOnnx } from '../graph/onnx';
import type { Backend } from './device';
import { createSession, ort } from './session';

/** A feed: a typed array or plain numbers in the input's dtype and (static) shape, or an ort.Tensor. */
export type Feed = TypedArray | number[] | number | Ort.Tensor;
export type Fetched = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export interface RunGraphOptions extends OnnxOptions {
  /** Where the graph runs (default 'cpu'). */
  device?: Backend;
  /** onnxruntime options that win over the tuned ones (e.g. `intraOpNumThreads`). */
  overrides?: Ort.InferenceSession.SessionOptions;
}

/** One graph in an inference session, runnable many times. */
export interface GraphSession {
  run(feeds: Record<string, Feed>): Promise<Record<string, Fetched>>;
  release(): Promise<void>;
}

function toTypedArray(values: TypedArray | number[] | number, dtype: string): TypedArray {
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
  throw new Error(`unsupported input dtype ${dtype}`);
}

/** Creates a session for `model` on `opts.device` (the graph is emitted with `opts` first). */
export async function graphSession(model: Graph | Uint8Array, opts: RunGraphOptions = {}): Promise<GraphSession> {
  const name = model instanceof Uint8Array ? 'graph' : model.name;
  const bytes = model instanceof Uint8Array ? model : toOnnx(model, opts);
  const session = await createSession(bytes, opts.device ?? 'cpu', { overrides: opts.overrides });
  const inputs = session.inputMetadata.map((m) => {
    if (!m.isTensor) throw new Error(`run ${name}: input '${m.name}' is not a tensor`);
    return { name: m.name, dtype: m.type as string, shape: [...m.shape] };
  });
  const { Tensor } = ort();
  return {
    async run(feeds) {
      const ortFeeds: Record<string, Ort.Tensor> = {};
      for (const i of inputs) {
        const f = feeds[i.name];
        if (f === undefined) throw new Error(`run ${name}: missing feed '${i.name}'`);
        if (f instanceof Tensor) {
          ortFeeds[i.name] = f;
          continue;
        }
        if (!isStatic(i.shape)) throw new Error(`run ${name}: input '${i.name}' has symbolic dims; feed an ort.Tensor`);
        const data = toTypedArray(f as TypedArray | number[] | number, i.dtype);
        const n = numel(i.shape);
        if (data.length !== n) throw new Error(`run ${name}: feed '${i.name}' has ${data.length} values, shape [${i.shape}] needs ${n}`);
        ortFeeds[i.name] = new Tensor(i.dtype as 'float32', data as Float32Array, i.shape);
      }
      for (const k of Object.keys(feeds)) if (!inputs.some((i) => i.name === k)) throw new Error(`run ${name}: '${k}' is not an input`);
      const res = await session.run(ortFeeds);
      const out: Record<string, Fetched> = {};
      for (const o of session.outputNames) out[o] = res[o].data as Fetched;
      return out;
    },
    release: () => session.release(),
  };
}

/** Runs `model` once on `opts.device` and returns every output by name. */
export async function runGraph(model: Graph | Uint8Array, feeds: Record<string, Feed>, opts: RunGraphOptions = {}): Promise<Record<string, Fetched>> {
  const s = await graphSession(model, opts);
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}
