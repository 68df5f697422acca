/**
 * The image tokenizer: a k-means codebook over non-overlapping square patches (a VQ without a learned
 * encoder). An image of resolution r with patch p becomes an (r/p) x (r/p) grid of codes, each the
 * nearest codebook patch; decoding pastes the codebook patches back.
 *
 * Why k-means and not a VQ-VAE: it is deterministic (seeded k-means++), trains in seconds on CPU
 * without depending on the graph compiler, and on small grayscale images (digits) its reconstruction
 * is good enough that the tokens carry the digit's identity; the paper's VQ-VAE matters at 512x512,
 * not at 28x28. docs/data.md has the measured PSNR.
 */
import { preview, UserError } from '../../dsl/errors';
import { Rng } from './prng';
import type { Image } from './image';

export interface VqConfig {
  resolution: number;
  patch: number;
  codebookSize: number;
}

const PATCH_MEMO_LIMIT = 1 << 17;

export class VqTokenizer {
  readonly grid: number;
  readonly dim: number;
  /** codebookSize x dim, row-major. */
  readonly codebook: Float32Array;
  /** Patch bytes -> code, for patches seen before. */
  private readonly memo = new Map<string, number>();
  private readonly search: CodeSearch;

  constructor(readonly config: VqConfig, codebook: Float32Array) {
    const { resolution, patch, codebookSize } = config;
    if (resolution % patch !== 0) throw new UserError(`resolution ${resolution} is not a multiple of patch ${patch}`, 'tokenizer.image');
    this.grid = resolution / patch;
    this.dim = patch * patch;
    if (codebook.length !== codebookSize * this.dim) throw new Error(`codebook has ${codebook.length} values, expected ${codebookSize * this.dim}`);
    this.codebook = codebook;
    this.search = new CodeSearch(codebook, codebookSize, this.dim);
  }

  /** Codes per image. */
  get tokensPerImage(): number {
    return this.grid * this.grid;
  }

  /** Image -> grid of codes in [0, codebookSize), row-major. */
  encode(img: Image): Int32Array {
    this.checkSize(img);
    const codes = new Int32Array(this.tokensPerImage);
    const x = new Float32Array(this.dim);
    const bytes = new Uint8Array(x.buffer);
    for (let g = 0; g < codes.length; g++) {
      extractPatch(img, this.config.patch, g, x);
      // Identical patches (a digit's background, mostly) recur constantly: remember their codes.
      const key = Buffer.from(bytes).toString('latin1');
      let code = this.memo.get(key);
      if (code === undefined) {
        code = this.search.nearest(x, 0).index;
        if (this.memo.size >= PATCH_MEMO_LIMIT) this.memo.clear();
        this.memo.set(key, code);
      }
      codes[g] = code;
    }
    return codes;
  }

  decode(codes: ArrayLike<number>): Image {
    const { resolution, patch, codebookSize } = this.config;
    if (codes.length !== this.tokensPerImage) throw new Error(`expected ${this.tokensPerImage} codes, got ${codes.length}`);
    const pixels = new Float32Array(resolution * resolution);
    for (let g = 0; g < codes.length; g++) {
      const c = codes[g];
      if (!(c >= 0 && c < codebookSize)) throw new Error(`code ${c} outside the codebook [0, ${codebookSize})`);
      const gy = Math.floor(g / this.grid) * patch;
      const gx = (g % this.grid) * patch;
      for (let y = 0; y < patch; y++) {
        for (let xx = 0; xx < patch; xx++) pixels[(gy + y) * resolution + gx + xx] = this.codebook[c * this.dim + y * patch + xx];
      }
    }
    return { size: resolution, pixels };
  }

  private checkSize(img: Image): void {
    if (img.size !== this.config.resolution) throw new Error(`image is ${img.size}px, tokenizer expects ${this.config.resolution}px`);
  }

  toJSON(): object {
    return {
      format: 'chamlab-vq-kmeans',
      version: 1,
      resolution: this.config.resolution,
      patch: this.config.patch,
      channels: 1,
      codebook_size: this.config.codebookSize,
      codebook: Array.from(this.codebook),
    };
  }

  static fromJSON(json: any, expected: VqConfig, where: string): VqTokenizer {
    if (!json || json.format !== 'chamlab-vq-kmeans') throw new UserError('not a chamlab VQ codebook (format must be "chamlab-vq-kmeans")', where);
    for (const [k, want] of [['resolution', expected.resolution], ['patch', expected.patch], ['codebook_size', expected.codebookSize]] as const) {
      if (json[k] !== want) throw new UserError(`${k} is ${preview(json[k])} but the spec says ${want}`, where);
    }
    const size = expected.codebookSize * expected.patch * expected.patch;
    if (!Array.isArray(json.codebook) || json.codebook.length !== size || json.codebook.some((v: unknown) => typeof v !== 'number')) {
      throw new UserError(`codebook must be an array of ${size} numbers (codebook_size x patch^2)`, where);
    }
    // Codes are means of patches of [-1, 1] pixels; anything else (an infinity, 1e308) would break
    // the nearest-code search's distance bounds.
    const bad = (json.codebook as number[]).findIndex((v) => !(Math.abs(v) <= 1 + 1e-3));
    if (bad >= 0) throw new UserError(`codebook[${bad}] is ${json.codebook[bad]}; codebook values are pixels in [-1, 1]`, where);
    return new VqTokenizer(expected, Float32Array.from(json.codebook));
  }
}

/**
 * Exact nearest-code search. Codes are sorted by their distance to a reference patch r; a query x
 * is compared outward from the codes whose distance to r is closest to its own, and since
 * | ||x-r|| - ||c-r|| | <= ||x - c|| (triangle inequality), the search stops once that gap alone
 * exceeds the distance to beat. The more the distances to r spread, the more it prunes, so r is
 * the best of three candidates: the codes' mean and the two flat patches (all -1, all +1; one of
 * them is the background of most images). On MNIST digits it visits a few dozen of 512 codes,
 * about 8x fewer operations than a full scan. Ties go to the lower index, as in a plain scan.
 */
export class CodeSearch {
  private readonly ref: Float32Array;
  private readonly order: Int32Array;
  private readonly sorted: Float64Array;

  constructor(
    private readonly codes: Float32Array,
    k: number,
    private readonly dim: number,
  ) {
    const distancesTo = (ref: Float32Array) =>
      Float64Array.from({ length: k }, (_, c) => {
        let s = 0;
        for (let d = 0; d < dim; d++) s += (codes[c * dim + d] - ref[d]) ** 2;
        return Math.sqrt(s);
      });
    const mean = new Float32Array(dim);
    for (let c = 0; c < k; c++) for (let d = 0; d < dim; d++) mean[d] += codes[c * dim + d] / k;
    let bestSpread = -1;
    let dist = new Float64Array(0);
    this.ref = mean;
    for (const ref of [mean, new Float32Array(dim).fill(-1), new Float32Array(dim).fill(1)]) {
      const dr = distancesTo(ref);
      const m = dr.reduce((a, b) => a + b, 0) / k;
      const spread = dr.reduce((a, b) => a + (b - m) ** 2, 0);
      if (spread > bestSpread) {
        bestSpread = spread;
        dist = dr;
        this.ref = ref;
      }
    }
    this.order = Int32Array.from({ length: k }, (_, i) => i).sort((a, b) => dist[a] - dist[b] || a - b);
    this.sorted = Float64Array.from(this.order, (c) => dist[c]);
  }

  /**
   * The nearest code to the point at `data[offset .. offset+dim)`, its squared distance, and the
   * squared distance of the second nearest (what Hamerly's bounds need).
   */
  nearest(data: Float32Array, offset: number): { index: number; d1: number; d2: number } {
    const { dim, codes, ref, order, sorted } = this;
    let nx = 0;
    for (let d = 0; d < dim; d++) nx += (data[offset + d] - ref[d]) ** 2;
    nx = Math.sqrt(nx);
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid] < nx) lo = mid + 1;
      else hi = mid;
    }
    let best = -1;
    let d1 = Infinity;
    let d2 = Infinity;
    let up = lo;
    let down = lo - 1;
    while (up < order.length || down >= 0) {
      const gapUp = up < order.length ? sorted[up] - nx : Infinity;
      const gapDown = down >= 0 ? nx - sorted[down] : Infinity;
      let c: number;
      if (gapUp <= gapDown) {
        if (gapUp * gapUp > d2) break;
        c = order[up++];
      } else {
        if (gapDown * gapDown > d2) break;
        c = order[down--];
      }
      let s = 0;
      const o = c * dim;
      for (let d = 0; d < dim; d++) {
        const t = data[offset + d] - codes[o + d];
        s += t * t;
      }
      if (s < d1 || (s === d1 && c < best)) {
        d2 = d1;
        d1 = s;
        best = c;
      } else if (s < d2) d2 = s;
    }
    return { index: best, d1, d2 };
  }
}

export interface KmeansOptions {
  iterations: number;
  seed: Array<string | number>;
  onProgress?: (done: number, total: number) => void;
}

export interface KmeansResult {
  tokenizer: VqTokenizer;
  /** Weighted mean squared patch error after each iteration ([-1, 1] units). */
  history: number[];
}

/**
 * Lloyd's k-means over the patches of `images`, seeded by k-means++. Identical patches (most of a
 * digit's background) are merged into one weighted point first, which cuts the work severalfold
 * without changing the objective.
 */
export function trainVq(images: Image[], config: VqConfig, opts: KmeansOptions): KmeansResult {
  const { patch, codebookSize: k } = config;
  const dim = patch * patch;
  const grid = config.resolution / patch;
  if (!Number.isInteger(grid)) throw new UserError(`resolution ${config.resolution} is not a multiple of patch ${patch}`, 'tokenizer.image');
  if (images.length === 0) throw new UserError('no images to train the image codebook on', 'tokenizer.image');

  // Unique patches with multiplicities, in first-seen order (deterministic: images come in a fixed order).
  const index = new Map<string, number>();
  const pts: number[] = [];
  const weights: number[] = [];
  const x = new Float32Array(dim);
  for (const img of images) {
    if (img.size !== config.resolution) throw new Error(`image is ${img.size}px, expected ${config.resolution}`);
    for (let g = 0; g < grid * grid; g++) {
      extractPatch(img, patch, g, x);
      const key = Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('latin1');
      const at = index.get(key);
      if (at !== undefined) weights[at]++;
      else {
        index.set(key, weights.length);
        weights.push(1);
        for (let d = 0; d < dim; d++) pts.push(x[d]);
      }
    }
  }
  const n = weights.length;
  const data = Float32Array.from(pts);
  const w = Float64Array.from(weights);
  const rng = Rng.from('vq-kmeans++', ...opts.seed);
  const centroids = kmeansPlusPlus(data, w, n, dim, k, rng);

  const { history } = lloyd(data, w, n, dim, k, centroids, opts);
  return { tokenizer: new VqTokenizer(config, centroids), history };
}

/** k-means++ (Arthur and Vassilvitskii): each next centre drawn with probability ~ weight x D^2. */
function kmeansPlusPlus(data: Float32Array, w: Float64Array, n: number, dim: number, k: number, rng: Rng): Float32Array {
  const centroids = new Float32Array(k * dim);
  const d2 = new Float64Array(n).fill(Infinity);
  let totalW = 0;
  for (let i = 0; i < n; i++) totalW += w[i];
  let pick = sampleIndex(w, totalW, rng);
  for (let c = 0; c < k; c++) {
    centroids.set(data.subarray(pick * dim, (pick + 1) * dim), c * dim);
    let total = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let d = 0; d < dim; d++) {
        const t = data[i * dim + d] - centroids[c * dim + d];
        s += t * t;
      }
      if (s < d2[i]) d2[i] = s;
      total += w[i] * d2[i];
    }
    if (c + 1 === k) break;
    if (total > 0) {
      let u = rng.next() * total;
      pick = -1;
      for (let i = 0; i < n && pick < 0; i++) {
        u -= w[i] * d2[i];
        if (u < 0) pick = i;
      }
      if (pick < 0) for (let i = n - 1; i >= 0 && pick < 0; i--) if (d2[i] > 0) pick = i; // rounding at the end
    } else pick = rng.int(n); // fewer distinct patches than codes: duplicates are harmless
  }
  return centroids;
}

function sampleIndex(p: Float64Array, total: number, rng: Rng): number {
  let u = rng.next() * total;
  for (let i = 0; i < p.length; i++) {
    u -= p[i];
    if (u < 0) return i;
  }
  for (let i = p.length - 1; i >= 0; i--) if (p[i] > 0) return i;
  return p.length - 1;
}

/**
 * Lloyd iterations with Hamerly's bounds (2010): each point keeps an upper bound on the distance to
 * its centre and a lower bound on the distance to any other; when the bounds prove the assignment
 * cannot change, the point is skipped. Exact (the same result as plain Lloyd), several times faster
 * once centres settle.
 */
function lloyd(data: Float32Array, w: Float64Array, n: number, dim: number, k: number, centroids: Float32Array, opts: KmeansOptions): { history: number[] } {
  const assign = new Int32Array(n);
  const upper = new Float64Array(n);
  const lower = new Float64Array(n);
  const history: number[] = [];
  let totalW = 0;
  for (let i = 0; i < n; i++) totalW += w[i];
  let search = new CodeSearch(centroids, k, dim);
  const fullScan = (i: number) => {
    const r = search.nearest(data, i * dim);
    assign[i] = r.index;
    upper[i] = Math.sqrt(r.d1);
    lower[i] = Math.sqrt(r.d2);
  };
  const distTo = (i: number, c: number) => {
    let s = 0;
    for (let d = 0; d < dim; d++) {
      const t = data[i * dim + d] - centroids[c * dim + d];
      s += t * t;
    }
    return Math.sqrt(s);
  };
  for (let i = 0; i < n; i++) fullScan(i);
  const half = new Float64Array(k);
  const sums = new Float64Array(k * dim);
  const mass = new Float64Array(k);
  const moved = new Float64Array(k);
  const old = new Float32Array(k * dim);
  for (let it = 0; it < opts.iterations; it++) {
    // Update step: weighted means; an empty cluster keeps its centre (k-means++ rarely leaves one).
    sums.fill(0);
    mass.fill(0);
    for (let i = 0; i < n; i++) {
      const c = assign[i];
      mass[c] += w[i];
      for (let d = 0; d < dim; d++) sums[c * dim + d] += w[i] * data[i * dim + d];
    }
    old.set(centroids);
    let maxMove = 0;
    let secondMove = 0;
    let maxMover = -1;
    for (let c = 0; c < k; c++) {
      if (mass[c] > 0) for (let d = 0; d < dim; d++) centroids[c * dim + d] = sums[c * dim + d] / mass[c];
      let s = 0;
      for (let d = 0; d < dim; d++) s += (centroids[c * dim + d] - old[c * dim + d]) ** 2;
      moved[c] = Math.sqrt(s);
      if (moved[c] > maxMove) {
        secondMove = maxMove;
        maxMove = moved[c];
        maxMover = c;
      } else if (moved[c] > secondMove) secondMove = moved[c];
    }
    // Half the distance from each centre to its nearest other centre.
    for (let c = 0; c < k; c++) {
      let m = Infinity;
      for (let c2 = 0; c2 < k; c2++) {
        if (c2 === c) continue;
        let s = 0;
        for (let d = 0; d < dim; d++) s += (centroids[c * dim + d] - centroids[c2 * dim + d]) ** 2;
        if (s < m) m = s;
      }
      half[c] = Math.sqrt(m) / 2;
    }
    search = new CodeSearch(centroids, k, dim);
    // Assignment step with bounds.
    let sse = 0;
    for (let i = 0; i < n; i++) {
      const a = assign[i];
      upper[i] += moved[a];
      lower[i] -= a === maxMover ? secondMove : maxMove;
      const bound = Math.max(half[a], lower[i]);
      if (upper[i] > bound) {
        upper[i] = distTo(i, a);
        if (upper[i] > bound) fullScan(i);
      }
    }
    for (let i = 0; i < n; i++) {
      const e = distTo(i, assign[i]);
      sse += w[i] * e * e;
    }
    history.push(sse / totalW / dim);
    opts.onProgress?.(it + 1, opts.iterations);
  }
  return { history };
}

/** Patch g of the (size/patch)^2 grid, row-major, into `out`. */
function extractPatch(img: Image, patch: number, g: number, out: Float32Array): void {
  const grid = img.size / patch;
  const gy = Math.floor(g / grid) * patch;
  const gx = (g % grid) * patch;
  for (let y = 0; y < patch; y++) {
    for (let x = 0; x < patch; x++) out[y * patch + x] = img.pixels[(gy + y) * img.size + gx + x];
  }
}
