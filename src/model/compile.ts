/**
 * `chamlab compile`: a spec's train-step, eval and forward graphs as ONNX files plus a manifest that
 * says everything a runtime (ours or anyone's) needs to drive them: every input and output with dtype
 * and shape, the parameters, and the state naming convention.
 *
 * Parameters are graph inputs in all three graphs (the train step must take them as state, and one
 * signature for all three keeps the runtime simple). Without `shapesOnly` the seeded initial weights
 * are written beside the graphs as `weights.safetensors` (HF names) with a `config.json`; with it no
 * weight is ever allocated, so a 34B spec compiles in modest memory.
 *
 * Same spec, same bytes: graphs are emitted deterministically, the manifest has no timestamps and
 * stable key order, and files are written atomically.
 */
import * as path from 'node:path';
import { ADAM_M_PREFIX, ADAM_V_PREFIX, NEXT_PREFIX, OPSET, numel, signature, toOnnx, type Dim, type DType, type OnnxTarget, type StepGraph } from '../graph';
import type { Spec } from '../../dsl/schema';
import { UserError } from '../../dsl/errors';
import { prepareOutputDir, writeFileAtomic } from '../files';
import { modelDims } from './config';
import { buildModelGraphs } from './graphs';
import { initWeights, MAX_WEIGHTS_IN_MEMORY_BYTES } from './init';
import { paramTable } from './params';
import { configPathFor, saveWeights, writeHfConfig } from './weights';

export interface CompileOptions {
  shapesOnly?: boolean;
  /** Spec hash for the manifest and the ONNX doc strings. */
  hash: string;
}

interface Sig {
  name: string;
  dtype: DType;
  shape: Dim[];
}

export interface Manifest {
  format: 'chamlab.compile/1';
  spec: { name: string; hash: string };
  opset: number;
  shapes_only: boolean;
  batch: number;
  seq_len: number;
  graphs: Record<'train_step' | 'eval' | 'forward', { file: string; bytes: number; inputs: Sig[]; outputs: Sig[]; metrics: string[] }>;
  params: { name: string; shape: number[]; dtype: string; decay: boolean; group: string }[];
  state: {
    convention: string[];
    controls: Sig[];
    slots: { input: string; output: string; param: string; kind: string; init: string }[];
  };
  weights: { file: string; config: string; seed: number } | null;
}

/** The three graphs of a spec as ONNX bytes with their signatures: pure, no file is written. */
export type GraphKey = 'train_step' | 'eval' | 'forward';
export const GRAPH_KEYS: readonly GraphKey[] = ['train_step', 'eval', 'forward'];

export interface CompiledGraphs {
  bytes: Record<GraphKey, Uint8Array>;
  graphs: Manifest['graphs'];
  params: Manifest['params'];
  state: Manifest['state'];
}

/**
 * Builds and emits the train-step, eval and forward graphs. `docString` goes into every ONNX file
 * (the spec name and hash for `compile`; a cache key where graphs are shared between runs).
 */
export function compileGraphs(spec: Spec, docString: string, target: OnnxTarget = 'any'): CompiledGraphs {
  const m = modelDims(spec.model);
  const built = buildModelGraphs(spec);
  const sgs: Record<GraphKey, StepGraph> = { train_step: built.trainStep, eval: built.eval, forward: built.forward };
  const bytes = {} as CompiledGraphs['bytes'];
  const graphs = {} as Manifest['graphs'];
  for (const key of GRAPH_KEYS) {
    const sg = sgs[key];
    bytes[key] = toOnnx(sg.graph, { params: 'inputs', docString, target });
    const s = signature(sg.graph, { params: 'inputs' });
    graphs[key] = { file: `${key}.onnx`, bytes: bytes[key].length, inputs: s.inputs, outputs: s.outputs, metrics: sg.metrics };
  }
  const groups = new Map(paramTable(m).map((p) => [p.name, p.group]));
  const ts = built.trainStep;
  return {
    bytes,
    graphs,
    params: ts.params.map((p) => ({ name: p.name, shape: p.shape, dtype: p.dtype, decay: p.decay, group: groups.get(p.name)! })),
    state: {
      // The naming contract of src/graph/step-names.ts, spelled out for readers of the manifest.
      convention: [
        'parameters are inputs under their HF names in all three graphs',
        `train_step inputs: batch (input_ids, labels), every <param>, ${ADAM_M_PREFIX}<param>, ${ADAM_V_PREFIX}<param> (zeros before step 1), step (int32, 1-based), lr, seed (int32)`,
        `train_step outputs: loss, the metrics, grad_norm, update_ratio, and ${NEXT_PREFIX}<X> for every state input <X>: feed ${NEXT_PREFIX}<X> back as <X> on the next step`,
        'eval: batch + params -> loss and metrics (dropout off); forward: input_ids + params -> logits',
      ],
      controls: ts.controls,
      slots: ts.state.map((s) => ({ input: s.input, output: s.output, param: s.param, kind: s.kind, init: s.init })),
    },
  };
}

/** The manifest that describes compiled graphs written for a spec. */
export function graphManifest(spec: Spec, hash: string, c: CompiledGraphs, opts: { shapesOnly: boolean; weights: Manifest['weights'] }): Manifest {
  return {
    format: 'chamlab.compile/1',
    spec: { name: spec.name, hash },
    opset: OPSET,
    shapes_only: opts.shapesOnly,
    batch: spec.train.batch,
    seq_len: spec.data.seq_len,
    graphs: c.graphs,
    params: c.params,
    state: c.state,
    weights: opts.weights,
  };
}

/** Writes the ONNX files and the manifest into `dir` (each file atomically). */
export function writeGraphs(dir: string, c: CompiledGraphs, manifest: Manifest): void {
  prepareOutputDir(dir);
  for (const key of GRAPH_KEYS) writeFileAtomic(path.join(dir, c.graphs[key].file), c.bytes[key]);
  writeFileAtomic(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
}

export interface CompileResult {
  manifest: Manifest;
  dir: string;
  seconds: number;
}

export function compileSpec(spec: Spec, outDir: string, opts: CompileOptions): CompileResult {
  const t0 = performance.now();
  const m = modelDims(spec.model);
  prepareOutputDir(outDir);
  const compiled = compileGraphs(spec, `chamlab ${spec.name} spec ${opts.hash}`);
  let weights: Manifest['weights'] = null;
  if (!opts.shapesOnly) {
    const total = paramTable(m).reduce((a, p) => a + numel(p.shape), 0);
    if (total * 4 > MAX_WEIGHTS_IN_MEMORY_BYTES)
      throw new UserError(`${total} parameters need ${(total * 4 / 2 ** 30).toFixed(1)} GiB of float32 initial weights; use --shapes-only`, 'chamlab compile');
    const file = path.join(outDir, 'weights.safetensors');
    saveWeights(file, m, initWeights(m, spec.train.seed), { spec_hash: opts.hash, seed: String(spec.train.seed), producer: 'chamlab compile' });
    writeHfConfig(configPathFor(file), m);
    weights = { file: 'weights.safetensors', config: 'config.json', seed: spec.train.seed };
  }
  const manifest = graphManifest(spec, opts.hash, compiled, { shapesOnly: !!opts.shapesOnly, weights });
  writeGraphs(outDir, compiled, manifest);
  return { manifest, dir: outDir, seconds: (performance.now() - t0) / 1000 };
}
