/**
 * Which model a generation uses: a run folder (its latest checkpoint, or another one by name) or one
 * checkpoint folder inside a run, read through the run folder contract (src/runs/layout.ts, read.ts):
 *
 *   <run>/spec.yaml                                   the resolved spec (model dims, tokenizer config)
 *   <run>/tokenizers/tokenizer.json, vq.json          the run's text and image tokenizers
 *   <run>/checkpoints/step-<N>/model.safetensors      parameters under HF names (+ config.json)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../../dsl/errors';
import type { Spec } from '../../dsl/schema';
import { BEST_POINTER, CHECKPOINT_FILES, LATEST_POINTER, RUN_FILES, TOKENIZER_FILES, checkpointStep } from '../runs/layout';
import { isRunFolder, listCheckpoints, readPointer, readRunSpec } from '../runs/read';

export interface ModelSource {
  runDir: string;
  spec: Spec;
  hash: string;
  /** The checkpoint folder whose parameters are used. */
  checkpoint: string;
  /** Its step (from the folder name). */
  step: number;
  /** model.safetensors inside it. */
  weights: string;
  /** tokenizers/tokenizer.json and tokenizers/vq.json (null: a text-only run has no codebook). */
  textTokenizer: string;
  imageTokenizer: string | null;
}

/**
 * Resolves `dir` (a run folder or a checkpoint folder) to the files a generation reads.
 * `checkpoint` picks one of a run folder's checkpoints: 'latest' (default), 'best', or a folder name
 * such as step-00000300. Every mistake is a one-line UserError naming the folder.
 */
export function resolveModelSource(dir: string, checkpoint = 'latest'): ModelSource {
  const abs = path.resolve(dir);
  if (!fs.existsSync(abs)) throw new UserError('no such folder (give a run folder or one of its checkpoints/step-N folders)', dir);
  if (!fs.statSync(abs).isDirectory()) throw new UserError('not a folder (give a run folder or one of its checkpoints/step-N folders)', dir);
  let runDir: string;
  let ckpt: string;
  if (isRunFolder(abs)) {
    runDir = abs;
    ckpt = pickCheckpoint(abs, checkpoint, dir);
  } else {
    // A checkpoint folder: <run>/checkpoints/step-N.
    const parent = path.dirname(abs);
    const run = path.dirname(parent);
    if (checkpointStep(path.basename(abs)) === null || path.basename(parent) !== RUN_FILES.checkpoints || !isRunFolder(run))
      throw new UserError(`not a run folder (no ${RUN_FILES.spec} with a hash header) nor a checkpoint folder inside one (<run>/${RUN_FILES.checkpoints}/step-N)`, dir);
    if (!fs.existsSync(path.join(abs, CHECKPOINT_FILES.manifest)))
      throw new UserError(`this checkpoint is incomplete (no ${CHECKPOINT_FILES.manifest}: its writer was interrupted); use another one`, dir);
    runDir = run;
    ckpt = abs;
  }
  const { spec, hash } = readRunSpec(runDir);
  const weights = path.join(ckpt, CHECKPOINT_FILES.model);
  if (!fs.existsSync(weights)) throw new UserError(`the checkpoint has no ${CHECKPOINT_FILES.model}`, ckpt);
  const tokDir = path.join(runDir, RUN_FILES.tokenizers);
  const textTokenizer = path.join(tokDir, TOKENIZER_FILES.text);
  if (!fs.existsSync(textTokenizer)) throw new UserError(`the run has no text tokenizer (${RUN_FILES.tokenizers}/${TOKENIZER_FILES.text})`, runDir);
  const vq = path.join(tokDir, TOKENIZER_FILES.image);
  return {
    runDir,
    spec,
    hash,
    checkpoint: ckpt,
    step: checkpointStep(path.basename(ckpt))!,
    weights,
    textTokenizer,
    imageTokenizer: fs.existsSync(vq) ? vq : null,
  };
}

function pickCheckpoint(runDir: string, which: string, shown: string): string {
  const all = listCheckpoints(runDir);
  if (all.length === 0) throw new UserError(`the run has no complete checkpoint yet (train it further: checkpoints are written every train.checkpoint_every steps)`, shown);
  const root = path.join(runDir, RUN_FILES.checkpoints);
  if (which === LATEST_POINTER) return readPointer(runDir, LATEST_POINTER) ?? path.join(root, all[all.length - 1]);
  if (which === BEST_POINTER) {
    const best = readPointer(runDir, BEST_POINTER);
    if (!best) throw new UserError(`the run has no best checkpoint (no held-out evaluation has chosen one); use --checkpoint latest`, shown);
    return best;
  }
  if (!all.includes(which)) throw new UserError(`no complete checkpoint '${which}' (the run has: ${all.join(', ')})`, shown);
  return path.join(root, which);
}
