/**
 * Shared helpers for the data tests: a small spec shaped like tiny.yaml (four sources, two stages,
 * all three kinds) with tokenizer sizes that train in about a second, and a shared tokenizer cache.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { SpecSchema, type Spec, type SpecInput } from '../dsl/schema';
import { createDataPipeline, type Batch, type DataPipeline } from '../src/data';

export const REPO = path.resolve(__dirname, '..', '..');

/**
 * A fresh tokenizer cache per test process: each run trains its tokenizers (about a second at these
 * sizes), so a cache entry left by an older build can never stand in for what the code now produces.
 */
export const CACHE = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-data-cache-'));
process.on('exit', () => fs.rmSync(CACHE, { recursive: true, force: true }));

export const SPECIALS = { bos: '<s>', eos: '</s>', pad: '<pad>', begin_image: '<racm3:break>', end_image: '<eoss>' };

/** A resolved spec (weights explicit, as loadSpec leaves them), tiny.yaml's data at test size. */
export function smallSpec(patch: (s: SpecInput) => void = () => {}): Spec {
  const input: SpecInput = {
    name: 'data-test',
    model: { vocab: { text: 512, image: 128 }, d_model: 32, layers: 1, heads: 2 },
    tokenizer: {
      text: { corpus: ['text', 'image_text', 'interleaved'] },
      image: { resolution: 28, patch: 4, codebook_size: 128, train_images: 300, iterations: 4 },
    },
    data: {
      seq_len: 64,
      sources: {
        text: { kind: 'text', origin: 'builtin:moby-dick' },
        image_text: { kind: 'image-text', origin: 'builtin:mnist', image_first: 0.5 },
        interleaved: { kind: 'interleaved', origin: 'builtin:mnist-arithmetic' },
        quality: { kind: 'text', origin: 'builtin:sotu' },
      },
      stages: [
        { name: 'stage1', share: 0.8, weights: { text: 0.5, image_text: 0.3, interleaved: 0.2 } },
        { name: 'stage2', share: 0.2, weights: { text: 0.25, image_text: 0.15, interleaved: 0.1, quality: 0.5 } },
      ],
    },
    train: { steps: 100, batch: 4, seed: 0 },
  };
  patch(input);
  return SpecSchema.parse(input);
}

export function pipeline(spec: Spec = smallSpec()): Promise<DataPipeline> {
  return createDataPipeline(spec, { specDir: REPO, cacheDir: CACHE });
}

/** SHA-256 over a run of batches (inputs and labels). */
export function hashBatches(batches: Iterable<Batch>): string {
  const h = createHash('sha256');
  for (const b of batches) {
    h.update(new Uint8Array(b.input_ids.buffer, b.input_ids.byteOffset, b.input_ids.byteLength));
    h.update(new Uint8Array(b.labels.buffer, b.labels.byteOffset, b.labels.byteLength));
  }
  return h.digest('hex');
}

export function* steps(p: DataPipeline, from: number, count: number): Generator<Batch> {
  for (let s = from; s < from + count; s++) yield p.nextBatch(s);
}

/** A temporary project folder (with a .chamlab-root marker) holding the given files. */
export function project(files: Record<string, string | Buffer>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-data-'));
  fs.writeFileSync(path.join(dir, '.chamlab-root'), '');
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  }
  return dir;
}
