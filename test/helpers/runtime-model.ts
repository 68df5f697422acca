/**
 * The real Chameleon model (src/model) at toy size, compiled to ONNX bytes for the runtime's tests,
 * with its seeded initial weights and a deterministic batch provider. Kept tiny because lavapipe
 * (software Vulkan) runs the WebGPU path at a few steps per second at best.
 */
import { SpecSchema, type Spec, type SpecInput } from '../../dsl/schema';
import { toOnnx } from '../../src/graph';
import { modelDims } from '../../src/model/config';
import { buildModelGraphs } from '../../src/model/graphs';
import { initWeights } from '../../src/model/init';
import { bigramBatches } from '../../src/data/synthetic';

export interface TinyModel {
  spec: Spec;
  trainStep: Uint8Array;
  evalGraph: Uint8Array;
  weights: Map<string, Float32Array>;
  batches: (step: number) => { input_ids: Int32Array; labels: Int32Array; batch: number; seq: number };
}

export interface TinyOptions {
  d?: number;
  layers?: number;
  heads?: number;
  vocab?: number;
  batch?: number;
  seq?: number;
  dropout?: number;
  lr?: number;
  /** The provider the graphs are emitted for ('any' by default; see OnnxOptions.target). */
  target?: 'any' | 'cpu' | 'webgpu';
}

export function tinySpec(o: TinyOptions = {}): Spec {
  const input: SpecInput = {
    name: 'runtime-tiny',
    model: {
      vocab: { text: o.vocab ?? 48, image: 16 },
      d_model: o.d ?? 32,
      layers: o.layers ?? 1,
      heads: o.heads ?? 2,
      ffn: 64,
      max_seq_len: 64,
      dropout: { attention: 0, after_attention: o.dropout ?? 0, after_ffn: o.dropout ?? 0 },
    },
    data: { seq_len: o.seq ?? 16, sources: { t: { kind: 'text', origin: 'builtin:moby-dick' } }, stages: [{ name: 's', share: 1 }] },
    optimizer: { lr: o.lr ?? 3e-3, weight_decay: 0.01 },
    train: { steps: 50, batch: o.batch ?? 4, seed: 0 },
  };
  return SpecSchema.parse(input);
}

export function tinyModel(o: TinyOptions = {}): TinyModel {
  const spec = tinySpec(o);
  const graphs = buildModelGraphs(spec);
  const m = modelDims(spec.model);
  const V = m.vocab;
  const B = spec.train.batch;
  const S = spec.data.seq_len;
  // A learnable "language": each token is mostly followed by a fixed successor.
  const batches = bigramBatches({ vocab: V, batch: B, seq: S, keep: 0.85, successor: (i) => (i * 5 + 1) % V, seed: 9_000_011 });
  return {
    spec,
    trainStep: toOnnx(graphs.trainStep.graph, { target: o.target }),
    evalGraph: toOnnx(graphs.eval.graph, { target: o.target }),
    weights: initWeights(m, spec.train.seed),
    batches,
  };
}
