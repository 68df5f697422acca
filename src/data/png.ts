/** PNG in and out through pngjs (a maintained, pure-JS codec; no native build). */
import { PNG } from 'pngjs';
import { UserError } from '../../dsl/errors';
import { displayPath, readInputFile, writeFileAtomic, type InputRules } from '../files';
import { rgbaToGray, toBytes, type Image, type RawGray } from './image';

/** PNG files larger than this are refused before reading. */
export const MAX_PNG_BYTES = 64 * 2 ** 20;
/**
 * Widest and tallest image decoded (read from the header first): decoding allocates 4 bytes per
 * pixel, and every image is reduced to the tokenizer's resolution (at most 1024) anyway.
 */
export const MAX_IMAGE_SIDE = 4096;

const SIGNATURE = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);

/** Width and height from a PNG's IHDR chunk (the first chunk), without decoding anything. */
export function pngSize(bytes: Uint8Array, where: string): { width: number; height: number } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 24 || !b.subarray(0, 8).equals(SIGNATURE) || b.toString('latin1', 12, 16) !== 'IHDR') {
    throw new UserError('cannot read PNG: no PNG signature and header (not a PNG file)', where);
  }
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

/** Reads a PNG a user or a spec named (checked as src/files.ts's readInputFile checks every input). */
export function readPng(file: string, rules: InputRules = {}): RawGray {
  const where = rules.where ?? displayPath(file);
  const bytes = readInputFile(file, { maxBytes: MAX_PNG_BYTES, ...rules, where });
  const { width, height } = pngSize(bytes, where);
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE) {
    throw new UserError(`the image is ${width} x ${height} pixels; images may be at most ${MAX_IMAGE_SIDE} x ${MAX_IMAGE_SIDE}`, where);
  }
  if (width === 0 || height === 0) throw new UserError(`the image is ${width} x ${height} pixels (empty)`, where);
  let png: PNG;
  try {
    png = PNG.sync.read(bytes);
  } catch (e) {
    throw new UserError(`cannot read PNG: ${(e as Error).message}`, where);
  }
  return rgbaToGray(png.data, png.width, png.height);
}

export function encodePng(img: Image): Buffer {
  const png = new PNG({ width: img.size, height: img.size, colorType: 0, inputColorType: 0, inputHasAlpha: false });
  const gray = toBytes(img);
  // pngjs packs from an RGBA buffer regardless of the output colour type.
  for (let i = 0; i < gray.length; i++) {
    png.data[4 * i] = png.data[4 * i + 1] = png.data[4 * i + 2] = gray[i];
    png.data[4 * i + 3] = 255;
  }
  return PNG.sync.write(png, { colorType: 0 });
}

export function writePng(file: string, img: Image): void {
  writeFileAtomic(file, encodePng(img));
}
