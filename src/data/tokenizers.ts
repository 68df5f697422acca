/**
 * The spec's two tokenizers, loaded from files it names or trained from its sources (and cached).
 *
 * Tokenizer training does not depend on train.seed: seed replicates in a sweep should differ in model
 * initialisation and data order, not in what the tokens mean (and should share one cache entry).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { UserError } from '../../dsl/errors';
import type { Spec } from '../../dsl/schema';
import { BpeTokenizer } from './bpe';
import { WordCounter, trainBpe } from './bpe-train';
import { defaultCacheDir, readCached, writeCached } from './cache';
import { psnr, type Image } from './image';
import { docImages, docText, type ImageRef, type Source } from './sources';
import { displayPath, resolveInside } from './sources/user-files';
import { permutation } from './prng';
import { type VocabLayout } from './vocab';
import { VqTokenizer, trainVq, type VqConfig } from './vq';

/** Bump when training code changes its output, so old cache entries stop matching. */
const BPE_ALGO_VERSION = 1;
const VQ_ALGO_VERSION = 1;
/** Held-out images on which the codebook's reconstruction is measured and reported. */
const VQ_EVAL_IMAGES = 500;

export type Progress = (phase: string, done: number, total: number) => void;

export interface TokenizerOptions {
  specDir: string;
  projectDir?: string;
  cacheDir?: string;
  onProgress?: Progress;
}

export interface TokenizerReport {
  text: { origin: 'file' | 'cache' | 'trained'; file: string; seconds: number; size: number; merges: number; corpus_chars: number };
  image: {
    /** 'none': no source has images and no file is given, so no codebook exists. */
    origin: 'file' | 'cache' | 'trained' | 'none';
    file: string | null;
    seconds: number;
    train_images: number;
    tokens_per_image: number;
    /** Reconstruction on held-out images, [-1, 1] pixel units; PSNR with peak-to-peak 2. */
    heldout_images: number;
    heldout_mse: number;
    heldout_psnr: number;
  };
}

export interface Tokenizers {
  bpe: BpeTokenizer;
  vq: VqTokenizer | null;
  report: TokenizerReport;
}

export function buildTokenizers(spec: Spec, sources: Source[], layout: VocabLayout, opts: TokenizerOptions): Tokenizers {
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const specials = Object.fromEntries(Object.entries(layout.specials).map(([r, s]) => [r, s.content])) as any;
  const projectDir = opts.projectDir ?? opts.specDir;

  // ---- text
  const t0 = performance.now();
  const tspec = spec.tokenizer.text;
  let bpe: BpeTokenizer;
  let textOrigin: TokenizerReport['text']['origin'];
  let textFile: string;
  let corpusChars = 0;
  if (tspec.file) {
    textFile = resolveInside(opts.specDir, tspec.file, projectDir, 'tokenizer.text.file');
    bpe = BpeTokenizer.fromJSON(parseJson(textFile), specials, displayPath(textFile));
    textOrigin = 'file';
  } else {
    const corpus = corpusSources(sources, tspec.corpus);
    const texts: string[] = [];
    for (const src of corpus) for (let i = 0; i < src.train.length; i++) texts.push(...docText(src.train.get(i)));
    // The cache key hashes the corpus itself; counting words (the slow part) waits for a cache miss.
    const digest = createHash('sha256');
    for (const t of texts) {
      digest.update(t).update('\u0000');
      corpusChars += t.length;
    }
    const key = hashKey({ v: BPE_ALGO_VERSION, vocab: layout.text, min_frequency: tspec.min_frequency, specials, corpus: digest.digest('hex') });
    const name = `bpe-${key}.tokenizer.json`;
    textFile = path.join(cacheDir, name);
    const cached = readCached(cacheDir, name);
    if (cached !== undefined) {
      bpe = BpeTokenizer.fromJSON(JSON.parse(cached), specials, displayPath(textFile));
      textOrigin = 'cache';
    } else {
      const words = new WordCounter();
      for (const t of texts) words.add(t);
      bpe = trainBpe(words, {
        vocabSize: layout.text,
        minFrequency: tspec.min_frequency,
        specials,
        onProgress: (d, n) => opts.onProgress?.('train text tokenizer (BPE)', d, n),
      });
      writeCached(cacheDir, name, JSON.stringify(bpe.toJSON()));
      textOrigin = 'trained';
    }
  }
  if (bpe.size > layout.text) {
    throw new UserError(`the text tokenizer has ${bpe.size} ids but model.vocab.text is ${layout.text}`, tspec.file ? 'tokenizer.text.file' : 'model.vocab.text');
  }
  const textSeconds = (performance.now() - t0) / 1000;

  // ---- image
  const t1 = performance.now();
  // codebook_size == model.vocab.image and resolution % patch == 0 hold for a resolved spec (dsl/resolve.ts).
  const ispec = spec.tokenizer.image;
  const config: VqConfig = { resolution: ispec.resolution, patch: ispec.patch, codebookSize: ispec.codebook_size };
  const { train: trainRefs, heldout: heldRefs } = imagePools(sources);
  let vq: VqTokenizer | null;
  let imageOrigin: TokenizerReport['image']['origin'];
  let imageFile: string | null;
  let trainCount = 0;
  if (ispec.file) {
    imageFile = resolveInside(opts.specDir, ispec.file, projectDir, 'tokenizer.image.file');
    vq = VqTokenizer.fromJSON(parseJson(imageFile), config, displayPath(imageFile));
    imageOrigin = 'file';
  } else if (trainRefs.length === 0) {
    // A text-only experiment: no image will ever be encoded, so there is nothing to train.
    if (sources.some((s) => s.spec.kind !== 'text')) throw new UserError('no training images to train the image codebook on; give tokenizer.image.file', 'tokenizer.image');
    vq = null;
    imageOrigin = 'none';
    imageFile = null;
  } else {
    const order = permutation(trainRefs.length, 'vq-train-images');
    const chosen = Array.from(order.subarray(0, Math.min(ispec.train_images, trainRefs.length)), (i) => trainRefs[i]);
    const images = chosen.map((r) => r.load());
    trainCount = images.length;
    const digest = createHash('sha256');
    for (const img of images) digest.update(new Uint8Array(img.pixels.buffer, img.pixels.byteOffset, img.pixels.byteLength));
    const key = hashKey({ v: VQ_ALGO_VERSION, ...config, iterations: ispec.iterations, images: digest.digest('hex') });
    const name = `vq-${key}.json`;
    imageFile = path.join(cacheDir, name);
    const cached = readCached(cacheDir, name);
    if (cached !== undefined) {
      vq = VqTokenizer.fromJSON(JSON.parse(cached), config, displayPath(imageFile));
      imageOrigin = 'cache';
    } else {
      vq = trainVq(images, config, {
        iterations: ispec.iterations,
        seed: [key],
        onProgress: (d, n) => opts.onProgress?.('train image tokenizer (k-means)', d, n),
      }).tokenizer;
      writeCached(cacheDir, name, JSON.stringify(vq.toJSON()));
      imageOrigin = 'trained';
    }
  }
  // A fixed random subset: the key order groups images by class, so a prefix would be one digit.
  const evalOrder = permutation(heldRefs.length, 'vq-eval-images');
  const evalRefs = Array.from(evalOrder.subarray(0, Math.min(VQ_EVAL_IMAGES, heldRefs.length)), (i) => heldRefs[i]);
  const heldoutMse = vq && evalRefs.length ? meanMse(vq, evalRefs.map((r) => r.load())) : NaN;
  return {
    bpe,
    vq,
    report: {
      text: { origin: textOrigin, file: textFile, seconds: textSeconds, size: bpe.size, merges: bpe.merges.length, corpus_chars: corpusChars },
      image: {
        origin: imageOrigin,
        file: imageFile,
        seconds: (performance.now() - t1) / 1000,
        train_images: trainCount,
        tokens_per_image: (ispec.resolution / ispec.patch) ** 2 + 2,
        heldout_images: evalRefs.length,
        heldout_mse: heldoutMse,
        heldout_psnr: psnr(heldoutMse),
      },
    },
  };
}

/** Mean per-pixel squared reconstruction error over images ([-1, 1] units). */
export function meanMse(vq: VqTokenizer, images: Image[]): number {
  let se = 0;
  let n = 0;
  for (const img of images) {
    const rec = vq.decode(vq.encode(img));
    for (let i = 0; i < img.pixels.length; i++) se += (img.pixels[i] - rec.pixels[i]) ** 2;
    n += img.pixels.length;
  }
  return se / n;
}

function corpusSources(sources: Source[], names: string[]): Source[] {
  if (names.length === 0) return sources;
  return names.map((n) => {
    const s = sources.find((x) => x.name === n);
    if (!s) throw new UserError(`unknown source ${JSON.stringify(n)} (sources: ${sources.map((x) => x.name).join(', ')})`, 'tokenizer.text.corpus');
    return s;
  });
}

/**
 * Training images: those of every source's training documents, minus any image that some source holds
 * out (so eval images are never in the codebook's data); held-out images for measuring reconstruction.
 * Both deduplicated by key and sorted by key, so neither depends on source or document order.
 */
export function imagePools(sources: Source[]): { train: ImageRef[]; heldout: ImageRef[] } {
  const train = new Map<string, ImageRef>();
  const held = new Map<string, ImageRef>();
  for (const s of sources) {
    if (s.spec.kind === 'text') continue;
    const refs = (split: 'train' | 'holdout'): ImageRef[] => {
      if (s.images) return s.images(split);
      const docs = s[split];
      const out: ImageRef[] = [];
      for (let i = 0; i < docs.length; i++) out.push(...docImages(docs.get(i)));
      return out;
    };
    for (const r of refs('holdout')) held.set(r.key, r);
    for (const r of refs('train')) train.set(r.key, r);
  }
  for (const k of held.keys()) train.delete(k);
  const sorted = (m: Map<string, ImageRef>) => [...m.keys()].sort().map((k) => m.get(k)!);
  return { train: sorted(train), heldout: sorted(held) };
}

function hashKey(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 24);
}

function parseJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UserError(`cannot read JSON: ${(e as Error).message}`, displayPath(file));
  }
}
