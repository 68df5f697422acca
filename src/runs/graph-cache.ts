/**
 * Compiled graphs shared between runs. The train-step, eval and forward graphs depend on the model,
 * the optimizer's constants (betas, eps, weight decay, clipping, decay rule), the batch and the
 * sequence length, and on the compiler itself; not on the learning rate, its schedule or the seed,
 * which are graph inputs. Members of a learning-rate or seed sweep therefore share one compiled set,
 * built by the first member and reused from the cache (`<cache>/graphs/<key>/`) by the others.
 *
 * The key hashes those spec parts and the compiler's own code (the compiled JS of src/graph and
 * src/model), so a changed compiler can never hand out stale graphs.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { canonicalJSON } from '../../dsl/canonical';
import type { Spec } from '../../dsl/schema';
import { writeFileAtomic } from '../files';
import { compileGraphs, GRAPH_KEYS, type CompiledGraphs } from '../model/compile';
import type { Backend } from '../runtime/device';

let compilerDigest: string | undefined;

/** SHA-256 over the compiler's code: every file of the graph and model folders next to this module. */
function compilerFingerprint(): string {
  if (compilerDigest) return compilerDigest;
  const h = createHash('sha256');
  for (const dir of [path.join(__dirname, '..', 'graph'), path.join(__dirname, '..', 'model')]) {
    for (const f of fs.readdirSync(dir).filter((n) => /\.(js|ts)$/.test(n) && !n.endsWith('.d.ts')).sort()) {
      h.update(f).update('\0').update(fs.readFileSync(path.join(dir, f))).update('\0');
    }
  }
  return (compilerDigest = h.digest('hex'));
}

/**
 * The spec parts the graphs are a function of, and the backend they are emitted for (the CPU and
 * WebGPU need different scatter ops for a deterministic embedding gradient).
 */
export function graphKey(spec: Spec, backend: Backend): string {
  const { init: _init, ...model } = spec.model;
  const { lr: _lr, schedule: _schedule, ...optimizer } = spec.optimizer;
  const inputs = { model, optimizer, batch: spec.train.batch, seq_len: spec.data.seq_len, backend, compiler: compilerFingerprint() };
  return createHash('sha256').update(canonicalJSON(inputs)).digest('hex').slice(0, 32);
}

export interface CachedGraphs {
  compiled: CompiledGraphs;
  key: string;
  fromCache: boolean;
  ms: number;
}

/** The spec's compiled graphs for `backend`, from the cache when another run compiled them already. */
export function cachedGraphs(spec: Spec, cacheDir: string, backend: Backend): CachedGraphs {
  const t0 = performance.now();
  const key = graphKey(spec, backend);
  const dir = path.join(cacheDir, 'graphs', key);
  const meta = path.join(dir, 'graphs.json');
  try {
    const rest = JSON.parse(fs.readFileSync(meta, 'utf8')) as Omit<CompiledGraphs, 'bytes'>;
    const bytes = {} as CompiledGraphs['bytes'];
    for (const k of GRAPH_KEYS) {
      const b = fs.readFileSync(path.join(dir, rest.graphs[k].file));
      if (b.length !== rest.graphs[k].bytes) throw new Error('size mismatch');
      bytes[k] = new Uint8Array(b.buffer, b.byteOffset, b.length);
    }
    return { compiled: { ...rest, bytes }, key, fromCache: true, ms: performance.now() - t0 };
  } catch {
    // absent or damaged: compile and (re)write it
  }
  const compiled = compileGraphs(spec, `chamlab graphs ${key}`, backend);
  for (const k of GRAPH_KEYS) writeFileAtomic(path.join(dir, compiled.graphs[k].file), compiled.bytes[k]);
  const { bytes: _bytes, ...rest } = compiled;
  // graphs.json last: its presence means every file it lists is complete.
  writeFileAtomic(meta, JSON.stringify(rest));
  return { compiled, key, fromCache: false, ms: performance.now() - t0 };
}
