/**
 * A micro experiment for tests of the run layer and everything that reads run folders: the tiny
 * recipe shrunk until a 30-step run takes about a second, on the three built-in data kinds (text,
 * image-text pairs, interleaved) and two stages. Each call makes a fresh project folder (with a
 * `.chamlab-root` marker) holding the spec, so tests never share run folders.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const MICRO_SPEC = `name: micro
model:
  vocab: { text: 512, image: 64 }
  d_model: 32
  layers: 2
  heads: 2
  ffn: 96
  max_seq_len: 64
  qk_norm: true
  dropout: { after_attention: 0.1, after_ffn: 0.1 }
tokenizer:
  image: { resolution: 28, patch: 4, codebook_size: 64, train_images: 300, iterations: 4 }
data:
  seq_len: 64
  sources:
    text: { kind: text, origin: "builtin:moby-dick" }
    image_text: { kind: image-text, origin: "builtin:mnist" }
    interleaved: { kind: interleaved, origin: "builtin:mnist-arithmetic" }
  stages:
    - { name: stage1, share: 0.7, weights: { text: 0.5, image_text: 0.3, interleaved: 0.2 } }
    - { name: stage2, share: 0.3, weights: { text: 0.2, image_text: 0.5, interleaved: 0.3 } }
optimizer:
  lr: 3.0e-3
  schedule: { warmup: 5, decay: cosine }
train:
  steps: 30
  batch: 4
  eval_every: 10
  eval_batches: 2
  checkpoint_every: 5
  log_every: 1
`;

export interface MicroProject {
  dir: string;
  /** The spec file. */
  spec: string;
  /** Where run folders go. */
  out: string;
  cleanup(): void;
}

/** A fresh project folder with micro.yaml (plus `extra` YAML appended, e.g. overrides as fields). */
export function microProject(extra = ''): MicroProject {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-micro-'));
  fs.writeFileSync(path.join(dir, '.chamlab-root'), '');
  const spec = path.join(dir, 'micro.yaml');
  fs.writeFileSync(spec, MICRO_SPEC + extra);
  return { dir, spec, out: path.join(dir, 'runs'), cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** metrics/eval rows with the timing fields removed: what must be bit-identical between runs. */
export function withoutTiming<T extends Record<string, unknown>>(rows: T[], fields: readonly string[] = ['tokens_per_s', 'ms']): Record<string, unknown>[] {
  return rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !fields.includes(k))));
}
