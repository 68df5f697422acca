/**
 * Checkpoints of a run (layout.ts): written into a hidden temporary folder, every file fsynced and
 * hashed, the manifest last, then the folder renamed into place and the `latest` pointer replaced
 * atomically. A checkpoint therefore either exists whole (manifest present) or not at all, whatever
 * moment a process is killed at. Reading verifies every file's SHA-256 before anything is used.
 *
 *   checkpoints/step-00000100/
 *     model.safetensors      parameters under HF Chameleon names (+ config.json: loads as HF)
 *     optimizer.safetensors  AdamW moments (every state input of the step graph that is not a parameter)
 *     state.json             step, tokens, data cursor, divergence window, seed, best eval so far
 *     manifest.json          SHA-256 and size of each file above
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { preview, UserError } from '../../dsl/errors';
import { fsyncDir, openInputFile, prepareOutputDir, readInputFile, writeFileAtomic } from '../files';
import type { ModelDims } from '../model/config';
import { paramTable } from '../model/params';
import { readHeader, readTensor, writeSafetensors } from '../model/safetensors';
import { hfConfig, loadWeights, saveWeights } from '../model/weights';
import {
  BEST_POINTER,
  CHECKPOINT_FILES,
  CHECKPOINT_FORMAT,
  checkpointName,
  fromJsonLine,
  LATEST_POINTER,
  RUN_FILES,
  toJsonLine,
  type CheckpointManifest,
  type CheckpointState,
} from './layout';
import { listCheckpoints } from './read';

export interface CheckpointContent {
  state: CheckpointState;
  /** Every state input of the step graph: parameters and optimizer moments. */
  values: Map<string, Float32Array>;
}

export interface WrittenCheckpoint {
  dir: string;
  name: string;
  ms: number;
  bytes: number;
}

/** SHA-256 of a file, read in chunks (checkpoints of large models exceed one Buffer); only regular files. */
function sha256(file: string): string {
  const { fd } = openInputFile(file);
  try {
    const h = createHash('sha256');
    const buf = Buffer.alloc(4 * 2 ** 20);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
    return h.digest('hex');
  } finally {
    fs.closeSync(fd);
  }
}

/** A checkpoint's JSON files are small; anything larger (or not a regular file) marks it damaged. */
const MAX_CHECKPOINT_JSON_BYTES = 16 * 2 ** 20;
const readJsonText = (file: string) => readInputFile(file, { maxBytes: MAX_CHECKPOINT_JSON_BYTES }).toString('utf8');

/** Writes one checkpoint of `content` and points `latest` at it. */
export function writeCheckpoint(runDir: string, m: ModelDims, content: CheckpointContent, ids: { bos: number; eos: number; pad: number }): WrittenCheckpoint {
  const t0 = performance.now();
  const root = path.join(runDir, RUN_FILES.checkpoints);
  prepareOutputDir(root);
  const name = checkpointName(content.state.step);
  const tmp = path.join(root, `.tmp-${name}-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  try {
    const params = new Set(paramTable(m).map((p) => p.name));
    const weights = new Map<string, Float32Array>();
    const moments: { name: string; shape: number[]; data: Float32Array }[] = [];
    for (const [k, v] of content.values) {
      if (!(v instanceof Float32Array)) throw new Error(`checkpoint: state ${k} is not float32`);
      if (params.has(k)) weights.set(k, v);
      else moments.push({ name: k, shape: [v.length], data: v });
    }
    moments.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const meta = { spec_hash: content.state.spec_hash, step: String(content.state.step), producer: 'chamlab train' };
    saveWeights(path.join(tmp, CHECKPOINT_FILES.model), m, weights, meta);
    writeFileAtomic(path.join(tmp, CHECKPOINT_FILES.config), JSON.stringify(hfConfig(m, ids), null, 2) + '\n');
    writeSafetensors(path.join(tmp, CHECKPOINT_FILES.optimizer), moments, meta);
    writeFileAtomic(path.join(tmp, CHECKPOINT_FILES.state), toJsonLine(content.state) + '\n');
    const files: CheckpointManifest['files'] = {};
    let bytes = 0;
    for (const f of [CHECKPOINT_FILES.model, CHECKPOINT_FILES.config, CHECKPOINT_FILES.optimizer, CHECKPOINT_FILES.state]) {
      const file = path.join(tmp, f);
      const size = fs.statSync(file).size;
      files[f] = { sha256: sha256(file), bytes: size };
      bytes += size;
    }
    const manifest: CheckpointManifest = { format: CHECKPOINT_FORMAT, spec_hash: content.state.spec_hash, step: content.state.step, files };
    writeFileAtomic(path.join(tmp, CHECKPOINT_FILES.manifest), JSON.stringify(manifest, null, 2) + '\n');
    const final = path.join(root, name);
    if (fs.existsSync(final)) {
      // A checkpoint of this step from an earlier process (it died before moving `latest`): replace it.
      const old = path.join(root, `.old-${name}-${process.pid}`);
      fs.renameSync(final, old);
      fs.renameSync(tmp, final);
      fs.rmSync(old, { recursive: true, force: true });
    } else {
      fs.renameSync(tmp, final);
    }
    fsyncDir(root);
    writePointer(runDir, LATEST_POINTER, name);
    return { dir: final, name, ms: performance.now() - t0, bytes };
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

export function writePointer(runDir: string, which: typeof LATEST_POINTER | typeof BEST_POINTER, name: string): void {
  writeFileAtomic(path.join(runDir, RUN_FILES.checkpoints, which), name + '\n');
}

/**
 * Keeps the newest `keep` checkpoints and the one `best` names; removes the others (and leftovers
 * of interrupted writes).
 */
export function pruneCheckpoints(runDir: string, keep: number, best: string | null): string[] {
  const root = path.join(runDir, RUN_FILES.checkpoints);
  const all = listCheckpoints(runDir);
  const keepSet = new Set(all.slice(Math.max(0, all.length - keep)));
  if (best) keepSet.add(best);
  const removed: string[] = [];
  for (const n of all) {
    if (keepSet.has(n)) continue;
    fs.rmSync(path.join(root, n), { recursive: true, force: true });
    removed.push(n);
  }
  for (const n of fs.readdirSync(root)) {
    if (/^\.(tmp|old)-step-\d+-(\d+)$/.test(n) && !n.endsWith(`-${process.pid}`)) fs.rmSync(path.join(root, n), { recursive: true, force: true });
  }
  return removed;
}

/** Why a checkpoint cannot be used: damaged (fall back to an older one) or foreign (stop: the user must decide). */
export class CheckpointError extends Error {
  constructor(message: string, readonly kind: 'damaged' | 'foreign') {
    super(message);
  }
}

/**
 * Reads and verifies a checkpoint folder: manifest format and spec hash, every file's size and
 * SHA-256, the parameters' names and shapes against the model, the moments against `stateShapes`.
 */
export function readCheckpoint(dir: string, m: ModelDims, specHash: string, stateShapes: ReadonlyMap<string, number>): CheckpointContent {
  const manifestFile = path.join(dir, CHECKPOINT_FILES.manifest);
  let manifest: CheckpointManifest;
  try {
    manifest = JSON.parse(readJsonText(manifestFile));
  } catch (e) {
    throw new CheckpointError(`${manifestFile}: unreadable manifest (${(e as Error).message})`, 'damaged');
  }
  if (manifest?.format !== CHECKPOINT_FORMAT || typeof manifest.files !== 'object' || manifest.files === null)
    throw new CheckpointError(`${manifestFile}: not a chamlab checkpoint manifest`, 'damaged');
  if (manifest.spec_hash !== specHash)
    throw new CheckpointError(`${dir}: written for spec ${String(manifest.spec_hash).slice(0, 12)}, this run is ${specHash.slice(0, 12)}`, 'foreign');
  for (const f of [CHECKPOINT_FILES.model, CHECKPOINT_FILES.optimizer, CHECKPOINT_FILES.state]) {
    const want = manifest.files[f];
    const file = path.join(dir, f);
    if (!want) throw new CheckpointError(`${manifestFile}: lists no ${f}`, 'damaged');
    let size: number;
    try {
      size = fs.statSync(file).size;
    } catch {
      throw new CheckpointError(`${file} is missing`, 'damaged');
    }
    if (size !== want.bytes) throw new CheckpointError(`${file}: ${size} bytes, the manifest says ${preview(want.bytes)}`, 'damaged');
    let digest: string;
    try {
      digest = sha256(file);
    } catch (e) {
      throw new CheckpointError((e as Error).message, 'damaged');
    }
    if (digest !== want.sha256) throw new CheckpointError(`${file}: SHA-256 does not match the manifest`, 'damaged');
  }
  let state: CheckpointState;
  try {
    state = fromJsonLine<CheckpointState>(readJsonText(path.join(dir, CHECKPOINT_FILES.state)));
  } catch (e) {
    throw new CheckpointError(`${path.join(dir, CHECKPOINT_FILES.state)}: ${(e as Error).message}`, 'damaged');
  }
  if (state?.format !== CHECKPOINT_FORMAT || !Number.isInteger(state.step)) throw new CheckpointError(`${dir}: state.json is not a chamlab checkpoint state`, 'damaged');

  const values = new Map<string, Float32Array>();
  const modelFile = path.join(dir, CHECKPOINT_FILES.model);
  let weights: Map<string, Float32Array>;
  try {
    weights = loadWeights(modelFile, m);
  } catch (e) {
    throw new CheckpointError(`${(e as Error).message}`, 'foreign');
  }
  for (const [k, v] of weights) values.set(k, v);
  const optFile = path.join(dir, CHECKPOINT_FILES.optimizer);
  let h;
  try {
    h = readHeader(optFile);
  } catch (e) {
    throw new CheckpointError(`${optFile}: ${(e as Error).message}`, 'damaged');
  }
  for (const [name, n] of stateShapes) {
    if (values.has(name)) continue;
    const e = h.tensors.get(name);
    if (!e) throw new CheckpointError(`${optFile} has no tensor ${name}: the checkpoint is from another optimizer or model shape`, 'foreign');
    const count = e.shape.reduce((a, b) => a * b, 1);
    if (count !== n) throw new CheckpointError(`${optFile}: ${name} has ${count} values, the model needs ${n}: the checkpoint is from another model shape`, 'foreign');
    values.set(name, readTensor(h, name, 'float32') as Float32Array);
  }
  return { state, values };
}

export interface ResumePoint extends CheckpointContent {
  dir: string;
  /** Damaged checkpoints passed over on the way (each a one-line warning). */
  skipped: string[];
}

/**
 * The newest checkpoint that verifies, newest first; damaged ones are named in `skipped` and passed
 * over. A foreign checkpoint (another spec or model shape) is a UserError: resuming past it would
 * silently drop work the user may want.
 */
export function findResumePoint(runDir: string, m: ModelDims, specHash: string, stateShapes: ReadonlyMap<string, number>): ResumePoint | { dir: null; skipped: string[] } {
  const skipped: string[] = [];
  const names = listCheckpoints(runDir).reverse();
  for (const name of names) {
    const dir = path.join(runDir, RUN_FILES.checkpoints, name);
    try {
      return { dir, skipped, ...readCheckpoint(dir, m, specHash, stateShapes) };
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
      if (e.kind === 'foreign')
        throw new UserError(`${e.message}; move the checkpoints folder away, or run with --fresh to start over`, dir);
      skipped.push(e.message);
    }
  }
  return { dir: null, skipped };
}
