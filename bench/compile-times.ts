/**
 * Compile time of every shipped experiment (experiments/*.yaml|ts): what `chamlab compile` does, i.e.
 * building the train-step, eval and forward graphs (model, autodiff, AdamW) and writing the three
 * ONNX files and the manifest. Models over a billion parameters compile with `shapesOnly` (no
 * weights allocated, as `chamlab compile --shapes-only`), the rest with their seeded initial weights.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { shippedExperiments as listExperiments } from '../src/demo';
import { loadSpec } from '../dsl/spec-file';
import { compileSpec } from '../src/model/compile';
import { modelDims } from '../src/model/config';
import { countParams } from '../src/model/size';
import { tempDir } from './chamlab';

export interface CompileTime {
  experiment: string;
  params: number;
  shapes_only: boolean;
  seconds: number;
  /** Size of train_step.onnx (parameters are inputs, so this is the graph itself). */
  train_step_bytes: number;
  /** Nodes would need parsing the bytes; bytes are a fair proxy for graph size. */
  error?: string;
}

/** Experiments shipped in the project's experiments/ folder, sorted by name. */
export function shippedExperiments(root: string): string[] {
  return listExperiments(path.join(root, 'experiments'));
}

export function compileTime(file: string, shapesOnlyAbove = 1e9, overrides: string[] = []): CompileTime {
  const name = path.basename(file) + (overrides.length ? ` (--set ${overrides.join(' ')})` : '');
  const out = tempDir('chamlab-bench-compile-');
  try {
    const loaded = loadSpec(file, { overrides });
    const params = countParams(modelDims(loaded.spec.model)).total;
    const shapesOnly = params > shapesOnlyAbove;
    const t0 = performance.now();
    const r = compileSpec(loaded.spec, out, { shapesOnly, hash: loaded.hash });
    const seconds = (performance.now() - t0) / 1000;
    return { experiment: name, params, shapes_only: shapesOnly, seconds, train_step_bytes: r.manifest.graphs.train_step.bytes };
  } catch (e) {
    return { experiment: name, params: 0, shapes_only: false, seconds: NaN, train_step_bytes: 0, error: (e as Error).message.split('\n')[0] };
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

/**
 * Every shipped experiment's compile time. An experiment that fails as shipped is reported as
 * failed, and when the failure is about its batch size (a 7B graph at batch 2048 x 4096 exceeds
 * int32 element counters) it is compiled again with `train.batch=1`, so that the graph's build time
 * is still known: the per-sequence graph is the same, only the batch dimension differs.
 */
export function compileTimes(files: string[], onFile?: (f: string) => void): CompileTime[] {
  const out: CompileTime[] = [];
  for (const f of files) {
    onFile?.(f);
    const r = compileTime(f);
    out.push(r);
    if (r.error && /train\.batch/.test(r.error)) out.push(compileTime(f, 1e9, ['train.batch=1']));
  }
  return out;
}
