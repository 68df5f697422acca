/**
 * showImages(...): images in a cell, as inline PNGs.
 *
 *   showImages(img)                          one image: an image/png output
 *   showImages([a, b, c], { columns: 8 })    several: an HTML grid of inline PNGs
 *   showImages(sample)                       a decoded sequence (src/data's stageReport/renderSequence):
 *                                            its text with <image k> marks, and its images
 *   showImages({ codes })                    an image-token grid: the VQ codes of one image, coloured by code
 *
 * An item is an Image (src/data: square gray pixels in [-1, 1]), PNG bytes (generated images), a
 * .png file path, a grid of codes, or `{ image, caption }` around any of them. Small images are drawn
 * enlarged with sharp pixels.
 */
import * as fs from 'node:fs';
import { UserError } from '../dsl/errors';
import type { Image } from '../src/data/image';
import { encodePng } from '../src/data/png';
import { displayBundle, escapeHtml, type MimeBundle } from './display';

/** VQ codes of one image, row-major (a SampleImage of src/data/report.ts fits). */
export interface CodeGrid {
  codes: ArrayLike<number>;
  /** Decoded image, when the codes were decoded. */
  image?: Image;
  /** False when the sequence cut the image (fewer codes than a full grid). */
  complete?: boolean;
}

/** A decoded sample sequence (src/data's Sample). */
export interface SampleLike {
  stage?: string;
  sequence?: number;
  text: string;
  images: CodeGrid[];
}

export type ImageSource = Image | Uint8Array | string | CodeGrid;
export type ImageItem = ImageSource | { image: ImageSource; caption?: string };

export interface ShowImagesOptions {
  /** Images per row of the grid (default: up to 8). */
  columns?: number;
  /** Width in CSS pixels of each image (default: 4 screen pixels per image pixel, at least 64). */
  width?: number;
  /** A line above the grid. */
  title?: string;
  /** Captions, one per item (an item's own caption wins). */
  captions?: string[];
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const isImage = (x: unknown): x is Image => !!x && typeof x === 'object' && typeof (x as Image).size === 'number' && (x as Image).pixels instanceof Float32Array;
const isGrid = (x: unknown): x is CodeGrid => !!x && typeof x === 'object' && !(x instanceof Uint8Array) && 'codes' in (x as object);
const isSample = (x: unknown): x is SampleLike => !!x && typeof x === 'object' && typeof (x as SampleLike).text === 'string' && Array.isArray((x as SampleLike).images);

interface Png {
  bytes: Buffer;
  width: number;
  height: number;
}

function pngOf(src: Image | Uint8Array | string): Png {
  let bytes: Buffer;
  if (typeof src === 'string') {
    try {
      bytes = fs.readFileSync(src);
    } catch (e) {
      throw new UserError(`cannot read: ${(e as Error).message}`, src);
    }
    if (!bytes.subarray(0, 8).equals(PNG_SIGNATURE)) throw new UserError('not a PNG file', src);
  } else if (src instanceof Uint8Array) {
    bytes = Buffer.from(src.buffer, src.byteOffset, src.byteLength);
    if (!bytes.subarray(0, 8).equals(PNG_SIGNATURE)) throw new UserError('showImages: bytes given are not a PNG (expected the 8-byte PNG signature)');
  } else {
    return { bytes: encodePng(src), width: src.size, height: src.size };
  }
  // IHDR: width and height are the big-endian words at offsets 16 and 20.
  return { bytes, width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

function imgTag(png: Png, width: number | undefined): string {
  const w = width ?? Math.max(64, 4 * png.width);
  return `<img src="data:image/png;base64,${png.bytes.toString('base64')}" width="${w}" style="image-rendering:pixelated;width:${w}px;height:auto" alt="${png.width}x${png.height} image">`;
}

/** Codes as a coloured table: equal codes, equal colours (golden-angle hues). */
function gridTable(g: CodeGrid, width: number | undefined): string {
  const n = g.codes.length;
  const side = Math.max(1, Math.ceil(Math.sqrt(n)));
  const cell = Math.max(12, Math.round((width ?? Math.max(64, side * 16)) / side));
  const rows: string[] = [];
  for (let r = 0; r * side < n; r++) {
    const tds: string[] = [];
    for (let c = 0; c < side && r * side + c < n; c++) {
      const code = g.codes[r * side + c];
      const hue = Math.round((code * 137.508) % 360);
      tds.push(`<td style="background:hsl(${hue},55%,78%);width:${cell}px;height:${cell}px;padding:0;text-align:center;font:${Math.max(7, cell / 2.4)}px monospace;border:0">${code}</td>`);
    }
    rows.push(`<tr>${tds.join('')}</tr>`);
  }
  return `<table style="border-collapse:collapse;margin:0" title="${n} codes${g.complete === false ? ' (partial)' : ''}">${rows.join('')}</table>`;
}

/** One grid entry: the image, or the codes and, when decoded, the image beside them. */
function entryHtml(src: ImageSource, width: number | undefined): string {
  if (isGrid(src)) {
    const table = gridTable(src, width);
    return src.image ? `<div style="display:flex;gap:6px;align-items:flex-start">${table}${imgTag(pngOf(src.image), width)}</div>` : table;
  }
  return imgTag(pngOf(src), width);
}

function describe(src: ImageSource): string {
  if (isGrid(src)) return `${src.codes.length} codes${src.complete === false ? ' (partial)' : ''}`;
  if (typeof src === 'string') return src;
  if (src instanceof Uint8Array) return `PNG ${pngOf(src).width}x${pngOf(src).height}`;
  return `image ${src.size}x${src.size}`;
}

function gridHtml(items: { src: ImageSource; caption?: string }[], opts: ShowImagesOptions): string {
  const columns = opts.columns ?? Math.min(8, items.length);
  const figures = items.map(
    (it) =>
      `<figure style="margin:0;display:flex;flex-direction:column;align-items:center">${entryHtml(it.src, opts.width)}` +
      (it.caption ? `<figcaption style="font:12px sans-serif;max-width:${Math.max(80, opts.width ?? 120)}px;text-align:center">${escapeHtml(it.caption)}</figcaption>` : '') +
      `</figure>`,
  );
  return (
    `<div class="chamlab-images">` +
    (opts.title ? `<div style="font-weight:bold;margin-bottom:4px">${escapeHtml(opts.title)}</div>` : '') +
    `<div style="display:grid;grid-template-columns:repeat(${columns},max-content);gap:8px;align-items:start">${figures.join('')}</div></div>`
  );
}

function sampleHtml(s: SampleLike, opts: ShowImagesOptions): string {
  const title = s.stage !== undefined ? `${s.stage} #${s.sequence ?? 0}` : undefined;
  const text = `<pre style="white-space:pre-wrap;max-height:16em;overflow:auto;margin:4px 0">${escapeHtml(s.text)}</pre>`;
  const items = s.images.map((im, k) => ({ src: im as ImageSource, caption: `<image ${k}>${im.complete === false ? ' partial' : ''}` }));
  return `<div class="chamlab-sample">${title ? `<div style="font-weight:bold">${escapeHtml(title)}</div>` : ''}${text}${items.length ? gridHtml(items, { ...opts, title: undefined }) : ''}</div>`;
}

/** The output bundle of showImages. */
export function imagesBundle(what: ImageItem | SampleLike | Array<ImageItem | SampleLike>, opts: ShowImagesOptions = {}): MimeBundle {
  const list = Array.isArray(what) ? what : [what];
  if (list.length === 0) return { 'text/plain': '(no images)' };
  if (list.some(isSample)) {
    const html = list.map((x) => (isSample(x) ? sampleHtml(x, opts) : gridHtml([{ src: x as ImageSource }], opts))).join('<hr>');
    const text = list.map((x) => (isSample(x) ? `${x.stage !== undefined ? `[${x.stage} #${x.sequence ?? 0}] ` : ''}${x.text}` : describe(x as ImageSource))).join('\n\n');
    return { 'text/html': opts.title ? `<div style="font-weight:bold">${escapeHtml(opts.title)}</div>${html}` : html, 'text/plain': text };
  }
  const items = (list as ImageItem[]).map((x, i) => {
    const wrapped = !!x && typeof x === 'object' && 'image' in x && !isImage(x) && !isGrid(x);
    const src = (wrapped ? (x as { image: ImageSource }).image : x) as ImageSource;
    return { src, caption: (wrapped ? (x as { caption?: string }).caption : undefined) ?? opts.captions?.[i] };
  });
  const text = items.map((it) => (it.caption ? `${it.caption}: ${describe(it.src)}` : describe(it.src))).join('\n');
  const single = items.length === 1 && !items[0].caption && !opts.title && !isGrid(items[0].src);
  if (single) {
    const png = pngOf(items[0].src as Image | Uint8Array | string);
    return { 'image/png': png.bytes.toString('base64'), 'text/plain': text };
  }
  return { 'text/html': gridHtml(items, opts), 'text/plain': text };
}

/** Displays images, decoded samples or image-token grids (see the module comment). */
export function showImages(what: ImageItem | SampleLike | Array<ImageItem | SampleLike>, opts: ShowImagesOptions = {}): void {
  const bundle = imagesBundle(what, opts);
  const png = bundle['image/png'];
  // Jupyter shows an image/png at its natural size: say how wide, so a 28-pixel digit is visible.
  displayBundle(bundle, png ? { 'image/png': { width: opts.width ?? Math.max(64, 4 * pngOf(Buffer.from(png as string, 'base64')).width) } } : {});
}
