/**
 * Image-bearing documents from the `mnist` package (about 1,000 28x28 digits per class):
 * - `builtin:mnist`: image-text pairs, one per digit image, with a caption naming the digit;
 * - `builtin:mnist-arithmetic`: interleaved documents, worked arithmetic whose operands and results are
 *   digit images between text ("Worked example: <img 3> plus <img 4> equals <img 7>. ...").
 * One pool holds every digit in a fixed order and is split by the source's `holdout`: held-out
 * documents use only held-out digits, so eval images are unseen in that source's training documents.
 * (Two MNIST sources with different `holdout` split differently; the image tokenizer excludes the
 * union of all held-out images.)
 */
import { preprocess, type Image } from '../image';
import { Rng } from '../prng';
import { holdoutIndices } from './split';
import type { DocList, ImageRef, Part, RawDoc } from './types';

export const DIGIT_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

const CAPTIONS: Array<(d: number) => string> = [
  (d) => `a handwritten digit ${DIGIT_WORDS[d]}`,
  (d) => `the number ${d}, written by hand`,
  (d) => `an image of the digit ${DIGIT_WORDS[d]}`,
  (d) => `a handwritten ${DIGIT_WORDS[d]} (${d})`,
];

interface Digit {
  label: number;
  sample: number;
}

interface Pool {
  digits: Digit[];
  /** Pool indices by label, per split. */
  byLabel: { train: number[][]; holdout: number[][] };
  train: number[];
  holdout: number[];
}

let raw: number[][] | undefined;
function rawDigits(): number[][] {
  raw ??= Array.from({ length: 10 }, (_, d) => require(`mnist/src/digits/${d}.json`).data as number[]);
  return raw;
}

const pools = new Map<number, Pool>();

/** Digits interleaved by class (sample 0 of 0..9, sample 1 of 0..9, ...), split by `holdout`. */
function pool(holdout: number): Pool {
  let p = pools.get(holdout);
  if (p) return p;
  const r = rawDigits();
  const counts = r.map((a) => Math.floor(a.length / 784));
  const digits: Digit[] = [];
  for (let s = 0; s < Math.max(...counts); s++) for (let d = 0; d < 10; d++) if (s < counts[d]) digits.push({ label: d, sample: s });
  // Split within each class (not over the interleaved pool, whose period of 10 would alias with an
  // even stride and hold out a single class): every digit has held-out samples when holdout > 0.
  const held = counts.map((n) => holdoutIndices(n, holdout));
  p = { digits, byLabel: { train: [], holdout: [] }, train: [], holdout: [] };
  for (let d = 0; d < 10; d++) {
    p.byLabel.train.push([]);
    p.byLabel.holdout.push([]);
  }
  digits.forEach((dg, i) => {
    const split = held[dg.label].has(dg.sample) ? 'holdout' : 'train';
    p!.byLabel[split][dg.label].push(i);
    p![split].push(i);
  });
  pools.set(holdout, p);
  return p;
}

function digitRef(dg: Digit, resolution: number): ImageRef {
  return {
    key: `mnist:${dg.label}:${dg.sample}`,
    load(): Image {
      const all = rawDigits()[dg.label];
      const data = Float32Array.from(all.slice(dg.sample * 784, (dg.sample + 1) * 784));
      return preprocess({ width: 28, height: 28, data }, resolution);
    },
  };
}

export function mnistPairs(resolution: number, holdout: number): { train: DocList; holdout: DocList } {
  const p = pool(holdout);
  const list = (idx: number[]): DocList => ({
    length: idx.length,
    get(i) {
      const dg = p.digits[idx[i]];
      // By sample number, not pool position: the pool interleaves classes with period 10, so the
      // position modulo the template count would give even and odd digits disjoint templates.
      const caption = CAPTIONS[dg.sample % CAPTIONS.length](dg.label);
      return { kind: 'pair', image: digitRef(dg, resolution), caption };
    },
  });
  return { train: list(p.train), holdout: list(p.holdout) };
}

/** Number of arithmetic documents per split, relative to the pool: each one is generated from its index. */
const ARITHMETIC_PER_DIGIT = 2;

export function mnistArithmetic(
  resolution: number,
  holdout: number,
): { train: DocList; holdout: DocList; images: (split: 'train' | 'holdout') => ImageRef[] } {
  const p = pool(holdout);
  const list = (split: 'train' | 'holdout'): DocList => ({
    length: p[split].length * ARITHMETIC_PER_DIGIT,
    get: (i) => arithmeticDoc(split, i, p.byLabel[split], p.digits, resolution),
  });
  // Any digit of the split may appear in its documents.
  const images = (split: 'train' | 'holdout') => p[split].map((i) => digitRef(p.digits[i], resolution));
  return { train: list('train'), holdout: list('holdout'), images };
}

const OPS = [
  { word: 'plus', sym: '+', apply: (a: number, b: number) => a + b },
  { word: 'minus', sym: '-', apply: (a: number, b: number) => a - b },
  { word: 'times', sym: '*', apply: (a: number, b: number) => a * b },
];

/** Document i of a split: a pure function of (split, i), like a line of a file. */
function arithmeticDoc(split: string, i: number, byLabel: number[][], digits: Digit[], resolution: number): RawDoc {
  const rng = Rng.from('mnist-arithmetic', split, i);
  const op = OPS[rng.int(OPS.length)];
  let a = rng.int(10);
  let b = rng.int(10);
  if (op.word === 'minus' && b > a) [a, b] = [b, a]; // results stay non-negative
  const r = op.apply(a, b);
  const img = (d: number): Part => {
    const choices = byLabel[d];
    return { image: digitRef(digits[choices[rng.int(choices.length)]], resolution) };
  };
  const parts: Part[] = [{ text: 'Worked example: ' }, img(a), { text: ` ${op.word} ` }, img(b), { text: ' equals ' }];
  for (const ch of String(r)) parts.push(img(Number(ch)));
  parts.push({ text: `. In numerals, ${a} ${op.sym} ${b} = ${r}.` });
  return { kind: 'interleaved', parts };
}
