/**
 * Images as the image tokenizer sees them, and the paper's preprocessing at small scale: composite
 * transparency onto white, resize the short side to the resolution (antialiased), centre crop, scale
 * pixels to [-1, 1]. Images are grayscale: the shipped data (MNIST) is, and one channel keeps the
 * k-means codebook small; colour inputs are reduced to luma (Rec. 601) before anything else.
 */

/** A square grayscale image, pixels row-major in [-1, 1]. */
export interface Image {
  size: number;
  pixels: Float32Array;
}

/** A grayscale image of any shape, pixels row-major in [0, 1]. */
export interface RawGray {
  width: number;
  height: number;
  data: Float32Array;
}

/** RGBA bytes -> gray in [0, 1], transparency composited onto a white background (as Chameleon does). */
export function rgbaToGray(rgba: Uint8Array, width: number, height: number): RawGray {
  const data = new Float32Array(width * height);
  for (let i = 0; i < width * height; i++) {
    const a = rgba[4 * i + 3] / 255;
    const luma = (0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2]) / 255;
    data[i] = luma * a + (1 - a);
  }
  return { width, height, data };
}

/** Resize the short side to `resolution`, centre crop to a square, scale [0, 1] -> [-1, 1]. */
export function preprocess(img: RawGray, resolution: number): Image {
  const short = Math.min(img.width, img.height);
  const w = Math.max(resolution, Math.round((img.width * resolution) / short));
  const h = Math.max(resolution, Math.round((img.height * resolution) / short));
  const resized = w === img.width && h === img.height ? img.data : resize(img, w, h);
  const x0 = Math.floor((w - resolution) / 2);
  const y0 = Math.floor((h - resolution) / 2);
  const pixels = new Float32Array(resolution * resolution);
  for (let y = 0; y < resolution; y++) {
    for (let x = 0; x < resolution; x++) pixels[y * resolution + x] = resized[(y + y0) * w + (x + x0)] * 2 - 1;
  }
  return { size: resolution, pixels };
}

/** Separable triangle-filter resampling whose support widens when shrinking (antialiasing, like PIL's). */
function resize(img: RawGray, outW: number, outH: number): Float32Array {
  const rows = resample1d(img.data, img.width, img.height, outW, true);
  return resample1d(rows, outW, img.height, outH, false);
}

function resample1d(src: Float32Array, w: number, h: number, outLen: number, alongX: boolean): Float32Array {
  const inLen = alongX ? w : h;
  const other = alongX ? h : w;
  const scale = inLen / outLen;
  const support = Math.max(1, scale);
  const out = new Float32Array(alongX ? outLen * h : w * outLen);
  for (let o = 0; o < outLen; o++) {
    const centre = (o + 0.5) * scale;
    const lo = Math.max(0, Math.floor(centre - support));
    const hi = Math.min(inLen - 1, Math.ceil(centre + support));
    const taps: number[] = [];
    let norm = 0;
    for (let i = lo; i <= hi; i++) {
      const wgt = Math.max(0, 1 - Math.abs(i + 0.5 - centre) / support);
      taps.push(wgt);
      norm += wgt;
    }
    for (let k = 0; k < other; k++) {
      let acc = 0;
      for (let i = lo; i <= hi; i++) {
        const v = alongX ? src[k * w + i] : src[i * w + k];
        acc += taps[i - lo] * v;
      }
      if (alongX) out[k * outLen + o] = acc / norm;
      else out[o * w + k] = acc / norm;
    }
  }
  return out;
}

/** [-1, 1] -> 8-bit gray. */
export function toBytes(img: Image): Uint8Array {
  const out = new Uint8Array(img.pixels.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(Math.min(1, Math.max(0, (img.pixels[i] + 1) / 2)) * 255);
  return out;
}

/** Mean squared error in [-1, 1] units, and PSNR with the [-1, 1] range (peak-to-peak 2) as the peak. */
export function reconstructionError(a: Image, b: Image): { mse: number; psnr: number } {
  let se = 0;
  for (let i = 0; i < a.pixels.length; i++) se += (a.pixels[i] - b.pixels[i]) ** 2;
  const mse = se / a.pixels.length;
  return { mse, psnr: psnr(mse) };
}

export function psnr(mse: number): number {
  return mse === 0 ? Infinity : 10 * Math.log10(4 / mse);
}
