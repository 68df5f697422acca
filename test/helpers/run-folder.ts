/**
 * A run folder as the run layer lays it out (src/runs/layout.ts), made from weights in memory: the
 * resolved spec with its hash header, the tokenizers, and one complete checkpoint. For tests of
 * readers of run folders (generation) that need a folder without running the training loop.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import type { Spec } from '../../dsl/schema';
import type { BpeTokenizer } from '../../src/data/bpe';
import type { VqTokenizer } from '../../src/data/vq';
import { modelDims } from '../../src/model/config';
import { saveWeights, writeHfConfig } from '../../src/model/weights';
import { CHECKPOINT_FILES, CHECKPOINT_FORMAT, LATEST_POINTER, RUN_FILES, TOKENIZER_FILES, checkpointName, runFolder } from '../../src/runs/layout';

export interface RunFolderParts {
  spec: Spec;
  hash: string;
  bpe: BpeTokenizer;
  vq: VqTokenizer | null;
  weights: Map<string, Float32Array>;
  step: number;
}

/** Writes `<out>/<name>/<hash12>` with one checkpoint at `step` (and the `latest` pointer); returns the folder. */
export function writeRunFolder(out: string, p: RunFolderParts): string {
  const dir = runFolder(out, p.spec.name, p.hash);
  fs.mkdirSync(path.join(dir, RUN_FILES.tokenizers), { recursive: true });
  fs.writeFileSync(path.join(dir, RUN_FILES.spec), `# hash: ${p.hash}\n${stringify(p.spec)}`);
  fs.writeFileSync(path.join(dir, RUN_FILES.tokenizers, TOKENIZER_FILES.text), JSON.stringify(p.bpe.toJSON()));
  if (p.vq) fs.writeFileSync(path.join(dir, RUN_FILES.tokenizers, TOKENIZER_FILES.image), JSON.stringify(p.vq.toJSON()));
  const name = checkpointName(p.step);
  const ckpt = path.join(dir, RUN_FILES.checkpoints, name);
  fs.mkdirSync(ckpt, { recursive: true });
  const m = modelDims(p.spec.model);
  saveWeights(path.join(ckpt, CHECKPOINT_FILES.model), m, p.weights, { spec_hash: p.hash });
  writeHfConfig(path.join(ckpt, CHECKPOINT_FILES.config), m);
  const files: Record<string, { sha256: string; bytes: number }> = {};
  for (const f of [CHECKPOINT_FILES.model, CHECKPOINT_FILES.config]) {
    const bytes = fs.readFileSync(path.join(ckpt, f));
    files[f] = { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
  }
  fs.writeFileSync(path.join(ckpt, CHECKPOINT_FILES.manifest), JSON.stringify({ format: CHECKPOINT_FORMAT, spec_hash: p.hash, step: p.step, files }));
  fs.writeFileSync(path.join(dir, RUN_FILES.checkpoints, LATEST_POINTER), name + '\n');
  return dir;
}
