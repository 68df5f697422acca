/**
 * Small ONNX models the runtime builds for itself (the WebGPU probe, the state read-back graph),
 * plus the few facts about foreign ONNX bytes it needs (node names). Model graphs come from
 * src/graph; these are plumbing, so they are written directly with onnx-proto.
 */
import { onnx } from 'onnx-proto';
import { ONNX_DTYPE } from '../graph/onnx';

/** The ONNX element type code of an ORT tensor type name (the same names as the graph's dtypes). */
export function elemType(dtype: string): number {
  const t = (ONNX_DTYPE as Record<string, number>)[dtype];
  if (t === undefined) throw new Error(`onnx-util: unsupported dtype ${dtype}`);
  return t;
}

export interface ValueSpec {
  name: string;
  dtype: string;
  shape: readonly (number | string)[];
}

function valueInfo(v: ValueSpec): onnx.IValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: elemType(v.dtype),
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export interface Initializer {
  name: string;
  dtype: 'float32' | 'int32' | 'int64';
  dims: number[];
  data: number[];
}

function tensorProto(t: Initializer): onnx.ITensorProto {
  const base = { name: t.name, dims: t.dims, dataType: elemType(t.dtype) };
  if (t.dtype === 'float32') return { ...base, floatData: t.data };
  if (t.dtype === 'int32') return { ...base, int32Data: t.data };
  return { ...base, int64Data: t.data };
}

/** Encodes a one-graph opset-17 model. */
export function encodeModel(
  name: string,
  nodes: onnx.INodeProto[],
  inputs: ValueSpec[],
  outputs: ValueSpec[],
  initializers: Initializer[] = [],
): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'chamlab.runtime',
    graph: { name, node: nodes, input: inputs.map(valueInfo), output: outputs.map(valueInfo), initializer: initializers.map(tensorProto) },
  });
  return onnx.ModelProto.encode(model).finish();
}

/**
 * A graph that copies each input to an output named `<prefix><input>`. Run with every output placed
 * on 'cpu', it is how GPU-resident tensors come back to the host without calling getData on a
 * gpu-buffer tensor (which aborts the process in onnxruntime-node 1.30).
 */
export function identityModel(values: ValueSpec[], prefix = 'out.'): Uint8Array {
  const nodes = values.map((v, i) => ({ opType: 'Identity', name: `copy_${i}`, input: [v.name], output: [prefix + v.name] }));
  return encodeModel(
    'chamlab_readback',
    nodes,
    values,
    values.map((v) => ({ ...v, name: prefix + v.name })),
  );
}

/** Node names and op types of a model, in graph order (for placement reports). */
export function modelNodes(bytes: Uint8Array): { name: string; opType: string }[] {
  const m = onnx.ModelProto.decode(bytes);
  return (m.graph?.node ?? []).map((n, i) => ({ name: n.name || `${n.opType}_${i}`, opType: n.opType ?? '' }));
}

/** Input and output names of a model's graph (no session needed). */
export function onnxValueNames(bytes: Uint8Array): { inputs: string[]; outputs: string[] } {
  const g = onnx.ModelProto.decode(bytes).graph;
  return { inputs: (g?.input ?? []).map((v) => v.name ?? ''), outputs: (g?.output ?? []).map((v) => v.name ?? '') };
}
