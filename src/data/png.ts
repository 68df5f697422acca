/** PNG in and out through pngjs (a maintained, pure-JS codec; no native build). */
import { PNG } from 'pngjs';
import { UserError } from '../../dsl/errors';
import { displayPath, readInputFile, writeFileAtomic, type InputRules } from '../files';
import { rgbaToGray, toBytes, type Image, type RawGray } from './image';

/** PNG files larger than this are refused before reading. */
export const MAX_PNG_BYTES = 64 * 2 ** 20;

/** Reads a PNG a user or a spec named (checked as src/files.ts's readInputFile checks every input). */
export function readPng(file: string, rules: InputRules = {}): RawGray {
  const where = rules.where ?? displayPath(file);
  const bytes = readInputFile(file, { maxBytes: MAX_PNG_BYTES, ...rules, where });
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
