/**
 * Scoring a model's digits: an MNIST classifier built from the `mnist` package's data (multinomial
 * logistic regression, trained by seeded SGD in a second or two), and the two measurements of
 * generation quality on the built-in data:
 * - drawing: for each digit, prompt with the image-text source's caption and classify the drawn images;
 * - captioning: show held-out digit images and check whether the caption names the right digit.
 */
import { preprocess, type Image } from '../../src/data/image';
import { DIGIT_WORDS } from '../../src/data/sources/mnist';
import type { Generator } from '../../src/generate/generator';
import type { SamplingOptions } from '../../src/runtime/sampling';
import { Rng } from '../../src/random';

const PIXELS = 784;

/** Every MNIST digit of the package: pixels in [0, 1] (ink 1), by class. */
export function mnistDigits(): Float32Array[][] {
  return Array.from({ length: 10 }, (_, d) => {
    const raw = require(`mnist/src/digits/${d}.json`).data as number[];
    const n = Math.floor(raw.length / PIXELS);
    return Array.from({ length: n }, (_, i) => Float32Array.from(raw.slice(i * PIXELS, (i + 1) * PIXELS)));
  });
}

/** A 28x28 image in [-1, 1] (the tokenizers' convention) as classifier input in [0, 1]. */
export function toUnit(img: Image): Float32Array {
  if (img.size !== 28) img = preprocess({ width: img.size, height: img.size, data: Float32Array.from(img.pixels, (v) => (v + 1) / 2) }, 28);
  return Float32Array.from(img.pixels, (v) => (v + 1) / 2);
}

/** Softmax regression over the 784 pixels: W [10, 785] (last column: bias). */
export class DigitClassifier {
  private constructor(private readonly w: Float64Array) {}

  /** Trains on every sample whose index within its class satisfies `use` (seeded SGD, a few epochs). */
  static train(digits: Float32Array[][], use: (i: number) => boolean = () => true, epochs = 6, seed = 0): DigitClassifier {
    const samples: [Float32Array, number][] = [];
    digits.forEach((list, d) => list.forEach((x, i) => use(i) && samples.push([x, d])));
    const w = new Float64Array(10 * (PIXELS + 1));
    const rng = Rng.from('digit-classifier', seed);
    const order = Array.from(samples.keys());
    const p = new Float64Array(10);
    for (let e = 0; e < epochs; e++) {
      rng.shuffle(order);
      const lr = 0.05 / (1 + e);
      for (const k of order) {
        const [x, y] = samples[k];
        scores(w, x, p);
        softmaxInPlace(p);
        for (let c = 0; c < 10; c++) {
          const g = p[c] - (c === y ? 1 : 0);
          if (g === 0) continue;
          const row = c * (PIXELS + 1);
          for (let j = 0; j < PIXELS; j++) w[row + j] -= lr * g * x[j];
          w[row + PIXELS] -= lr * g;
        }
      }
    }
    return new DigitClassifier(w);
  }

  /** The most likely digit of pixels in [0, 1]. */
  classify(x: Float32Array): number {
    const p = new Float64Array(10);
    scores(this.w, x, p);
    let best = 0;
    for (let c = 1; c < 10; c++) if (p[c] > p[best]) best = c;
    return best;
  }

  /** Fraction of `digits` samples (those with `use(i)`) classified right. */
  accuracy(digits: Float32Array[][], use: (i: number) => boolean, transform: (x: Float32Array) => Float32Array = (x) => x): number {
    let right = 0;
    let n = 0;
    digits.forEach((list, d) =>
      list.forEach((x, i) => {
        if (!use(i)) return;
        n++;
        if (this.classify(transform(x)) === d) right++;
      }),
    );
    return right / n;
  }
}

function scores(w: Float64Array, x: Float32Array, out: Float64Array): void {
  for (let c = 0; c < 10; c++) {
    const row = c * (PIXELS + 1);
    let s = w[row + PIXELS];
    for (let j = 0; j < PIXELS; j++) s += w[row + j] * x[j];
    out[c] = s;
  }
}

function softmaxInPlace(p: Float64Array): void {
  let m = -Infinity;
  for (const v of p) m = Math.max(m, v);
  let t = 0;
  for (let i = 0; i < p.length; i++) t += p[i] = Math.exp(p[i] - m);
  for (let i = 0; i < p.length; i++) p[i] /= t;
}

/** The digits a caption names (words zero..nine and numerals), as a set. */
export function digitsNamed(caption: string): Set<number> {
  const found = new Set<number>();
  const lower = caption.toLowerCase();
  DIGIT_WORDS.forEach((w, d) => {
    if (new RegExp(`\\b${w}\\b`).test(lower)) found.add(d);
  });
  for (const m of lower.matchAll(/\d/g)) found.add(Number(m[0]));
  return found;
}

export interface DigitScores {
  /** Per digit: fraction right. */
  perDigit: number[];
  overall: number;
  /** What was drawn / captioned, per digit (classifier labels, or the captions). */
  outcomes: (number | string)[][];
  /** The drawn images per digit (drawing only). */
  images?: Image[][];
}

/**
 * Draws one image per prompt (`prompts[d]`: captions asking for digit d) and classifies them. The
 * prompts are the captions of held-out image-text pairs (see heldOutPairs): the wording the source
 * uses for that digit.
 */
export async function scoreDrawing(gen: Generator, clf: DigitClassifier, prompts: string[][], sampling: SamplingOptions = {}): Promise<DigitScores> {
  const outcomes: number[][] = [];
  const images: Image[][] = [];
  for (let d = 0; d < 10; d++) {
    const row: number[] = [];
    images.push([]);
    for (const [k, prompt] of prompts[d].entries()) {
      const g = await gen.generate({ ...sampling, prompt, mode: 'image', seed: (sampling.seed ?? 0) * 1000 + d * 100 + k });
      if (g.images.length !== 1) throw new Error(`digit ${d}: expected one image, got ${g.images.length} (stop ${g.stop})`);
      row.push(clf.classify(toUnit(g.images[0])));
      images[d].push(g.images[0]);
    }
    outcomes.push(row);
  }
  return { ...summarize(outcomes.map((row, d) => row.map((x) => x === d)), outcomes), images };
}

/** The source's held-out image-text pairs, by digit: the first `n` of each (never trained on). */
export function heldOutPairs(docs: { length: number; get(i: number): any }, n: number): { images: Image[][]; captions: string[][] } {
  const images: Image[][] = Array.from({ length: 10 }, () => []);
  const captions: string[][] = Array.from({ length: 10 }, () => []);
  for (let i = 0; i < docs.length; i++) {
    const doc = docs.get(i);
    const label = Number(/^mnist:(\d):/.exec(doc.image.key)![1]);
    if (images[label].length >= n) continue;
    images[label].push(doc.image.load());
    captions[label].push(doc.caption);
  }
  return { images, captions };
}

/** Captions `perDigit` held-out images of each digit; right when the caption names exactly that digit. */
export async function scoreCaptioning(gen: Generator, images: Image[][], sampling: SamplingOptions = {}): Promise<DigitScores> {
  const outcomes: string[][] = [];
  const right: boolean[][] = [];
  for (let d = 0; d < 10; d++) {
    const caps: string[] = [];
    const ok: boolean[] = [];
    for (const [k, img] of images[d].entries()) {
      const g = await gen.generate({ ...sampling, prompt: '<image>', images: [img], mode: 'text', maxTokens: 24, seed: (sampling.seed ?? 0) * 1000 + d * 100 + k });
      const named = digitsNamed(g.text);
      caps.push(g.text);
      ok.push(named.size === 1 && named.has(d));
    }
    outcomes.push(caps);
    right.push(ok);
  }
  return summarize(right, outcomes);
}

/** Images tiled into one: row d holds digit d's drawings, each scaled up `zoom` times (nearest). */
export function tile(rows: Image[][], zoom = 3, gap = 2): Image {
  const size = rows[0][0].size * zoom;
  const cols = Math.max(...rows.map((r) => r.length));
  const side = Math.max(rows.length, cols) * (size + gap) + gap;
  const pixels = new Float32Array(side * side).fill(1); // white paper between tiles
  rows.forEach((r, y) =>
    r.forEach((img, x) => {
      for (let py = 0; py < size; py++)
        for (let px = 0; px < size; px++)
          pixels[(gap + y * (size + gap) + py) * side + gap + x * (size + gap) + px] = img.pixels[Math.floor(py / zoom) * img.size + Math.floor(px / zoom)];
    }),
  );
  return { size: side, pixels };
}

function summarize(right: boolean[][], outcomes: (number | string)[][]): DigitScores {
  const perDigit = right.map((r) => r.filter(Boolean).length / r.length);
  const overall = right.flat().filter(Boolean).length / right.flat().length;
  return { perDigit, overall, outcomes };
}
