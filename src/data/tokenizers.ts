/**
 * The spec's two tokenizers, loaded from files it names or trained from its sources (and cached).
 *
 * Tokenizer training does not depend on train.seed: seed replicates in a sweep should differ in model
 * initialisation and data order, not in what the tokens mean (and should share one cache entry).
 */
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
import { readInputFile } from '../files';
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
  const where: Where = { cacheDir: opts.cacheDir ?? defaultCacheDir(), specDir: opts.specDir, projectDir: opts.projectDir ?? opts.specDir };
  const text = textTokenizer(spec, sources, layout, where, opts.onProgress);
  const image = imageTokenizer(spec, sources, where, opts.onProgress);
  return { bpe: text.bpe, vq: image.vq, report: { text: text.report, image: image.report } };
}

interface Where {
  cacheDir: string;
  specDir: string;
  projectDir: string;
}

/** A tokenizer and where it came from. */
interface Obtained<T> {
  value: T;
  origin: 'file' | 'cache' | 'trained';
  file: string;
}

/*
 * Both tokenizers come the same way: from the file the spec names (fromFile), else from the cache
 * entry named by a content key of everything training depends on, else trained now and written to
 * the cache (fromCacheOrTraining). `parse` reads the JSON form; `shown` names the file in errors.
 */

/** The tokenizer file the spec names in `field` (relative to the spec, inside the project). */
function fromFile<T>(where: Where, file: string, field: string, parse: (json: unknown, shown: string) => T): Obtained<T> {
  const abs = resolveInside(where.specDir, file, where.projectDir, field);
  return { value: parse(parseJson(abs, where.projectDir), displayPath(abs)), origin: 'file', file: abs };
}

/** The cache entry `name`, or a tokenizer trained now and cached under it. */
function fromCacheOrTraining<T>(where: Where, name: string, parse: (json: unknown, shown: string) => T, train: () => T, toJSON: (t: T) => unknown): Obtained<T> {
  const file = path.join(where.cacheDir, name);
  const cached = readCached(where.cacheDir, name);
  if (cached !== undefined) return { value: parse(JSON.parse(cached), displayPath(file)), origin: 'cache', file };
  const value = train();
  writeCached(where.cacheDir, name, JSON.stringify(toJSON(value)));
  return { value, origin: 'trained', file };
}

/** Byte-level BPE: from tokenizer.text.file, or trained on the corpus sources' training documents. */
function textTokenizer(spec: Spec, sources: Source[], layout: VocabLayout, where: Where, onProgress?: Progress): { bpe: BpeTokenizer; report: TokenizerReport['text'] } {
  const t0 = performance.now();
  const tspec = spec.tokenizer.text;
  const specials = Object.fromEntries(Object.entries(layout.specials).map(([r, s]) => [r, s.content])) as any;
  const parse = (json: unknown, shown: string) => BpeTokenizer.fromJSON(json, specials, shown);
  let corpusChars = 0;
  let got: Obtained<BpeTokenizer>;
  if (tspec.file) got = fromFile(where, tspec.file, 'tokenizer.text.file', parse);
  else {
    const texts: string[] = [];
    for (const src of corpusSources(sources, tspec.corpus)) for (let i = 0; i < src.train.length; i++) texts.push(...docText(src.train.get(i)));
    // The cache key hashes the corpus itself; counting words (the slow part) waits for a cache miss.
    const digest = createHash('sha256');
    for (const t of texts) {
      digest.update(t).update('\u0000');
      corpusChars += t.length;
    }
    const key = hashKey({ v: BPE_ALGO_VERSION, vocab: layout.text, min_frequency: tspec.min_frequency, specials, corpus: digest.digest('hex') });
    const train = () => {
      const words = new WordCounter();
      for (const t of texts) words.add(t);
      return trainBpe(words, {
        vocabSize: layout.text,
        minFrequency: tspec.min_frequency,
        specials,
        onProgress: (d, n) => onProgress?.('train text tokenizer (BPE)', d, n),
      });
    };
    got = fromCacheOrTraining(where, `bpe-${key}.tokenizer.json`, parse, train, (b) => b.toJSON());
  }
  const bpe = got.value;
  if (bpe.size > layout.text) {
    throw new UserError(`the text tokenizer has ${bpe.size} ids but model.vocab.text is ${layout.text}`, tspec.file ? 'tokenizer.text.file' : 'model.vocab.text');
  }
  const seconds = (performance.now() - t0) / 1000;
  return { bpe, report: { origin: got.origin, file: got.file, seconds, size: bpe.size, merges: bpe.merges.length, corpus_chars: corpusChars } };
}

/**
 * The patch codebook: from tokenizer.image.file, or k-means over the training images; none for a
 * text-only experiment. Its reconstruction is measured on held-out images either way.
 */
function imageTokenizer(spec: Spec, sources: Source[], where: Where, onProgress?: Progress): { vq: VqTokenizer | null; report: TokenizerReport['image'] } {
  const t0 = performance.now();
  // codebook_size == model.vocab.image and resolution % patch == 0 hold for a resolved spec (dsl/resolve.ts).
  const ispec = spec.tokenizer.image;
  const config: VqConfig = { resolution: ispec.resolution, patch: ispec.patch, codebookSize: ispec.codebook_size };
  const parse = (json: unknown, shown: string) => VqTokenizer.fromJSON(json, config, shown);
  const { train: trainRefs, heldout: heldRefs } = imagePools(sources);
  let got: Obtained<VqTokenizer> | null;
  let trainCount = 0;
  if (ispec.file) got = fromFile(where, ispec.file, 'tokenizer.image.file', parse);
  else if (trainRefs.length === 0) {
    // A text-only experiment: no image will ever be encoded, so there is nothing to train.
    if (sources.some((s) => s.spec.kind !== 'text')) throw new UserError('no training images to train the image codebook on; give tokenizer.image.file', 'tokenizer.image');
    got = null;
  } else {
    const order = permutation(trainRefs.length, 'vq-train-images');
    const chosen = Array.from(order.subarray(0, Math.min(ispec.train_images, trainRefs.length)), (i) => trainRefs[i]);
    const images = chosen.map((r) => r.load());
    trainCount = images.length;
    const digest = createHash('sha256');
    for (const img of images) digest.update(new Uint8Array(img.pixels.buffer, img.pixels.byteOffset, img.pixels.byteLength));
    const key = hashKey({ v: VQ_ALGO_VERSION, ...config, iterations: ispec.iterations, images: digest.digest('hex') });
    const train = () =>
      trainVq(images, config, {
        iterations: ispec.iterations,
        seed: [key],
        onProgress: (d, n) => onProgress?.('train image tokenizer (k-means)', d, n),
      }).tokenizer;
    got = fromCacheOrTraining(where, `vq-${key}.json`, parse, train, (vq) => vq.toJSON());
  }
  const vq = got?.value ?? null;
  // A fixed random subset: the key order groups images by class, so a prefix would be one digit.
  const evalOrder = permutation(heldRefs.length, 'vq-eval-images');
  const evalRefs = Array.from(evalOrder.subarray(0, Math.min(VQ_EVAL_IMAGES, heldRefs.length)), (i) => heldRefs[i]);
  const heldoutMse = vq && evalRefs.length ? meanMse(vq, evalRefs.map((r) => r.load())) : NaN;
  return {
    vq,
    report: {
      origin: got?.origin ?? 'none',
      file: got?.file ?? null,
      seconds: (performance.now() - t0) / 1000,
      train_images: trainCount,
      tokens_per_image: (ispec.resolution / ispec.patch) ** 2 + 2,
      heldout_images: evalRefs.length,
      heldout_mse: heldoutMse,
      heldout_psnr: psnr(heldoutMse),
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

/** A tokenizer.json or a codebook named by the spec; larger files are refused before reading. */
export const MAX_TOKENIZER_FILE_BYTES = 64 * 2 ** 20;

function parseJson(file: string, projectDir: string): unknown {
  const text = readInputFile(file, { inside: projectDir, maxBytes: MAX_TOKENIZER_FILE_BYTES }).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UserError(`cannot read JSON: ${(e as Error).message}`, displayPath(file));
  }
}
