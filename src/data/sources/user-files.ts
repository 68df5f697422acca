/**
 * User data, read strictly: every record either becomes a document or stops the run with
 * `file:line: message`; nothing is skipped silently. Blank lines in JSONL are not records.
 * - JSONL text: one `{"text": "..."}` per line.
 * - A folder of `NAME.png` + `NAME.txt` caption pairs (image-text).
 * - JSONL interleaved: one `{"parts": [{"text": "..."}, {"image": "rel/path.png"}, ...]}` per line;
 *   image paths are relative to the JSONL file and must stay inside the project.
 * Images are decoded and preprocessed while reading, so a broken PNG is reported up front.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { preview, UserError } from '../../../dsl/errors';
export { displayPath };
import { displayPath, readInputFile, resolveInput, checkInputDir, type InputRules } from '../../files';
import { preprocess, type Image } from '../image';
import { readPng } from '../png';
import type { ImageRef, Part, RawDoc } from './types';

export interface FileContext {
  /** Folder that user paths may not leave. */
  projectDir: string;
  resolution: number;
}

/**
 * Resolves `p` against `base`; throws unless the result (after symlinks) stays inside projectDir and
 * exists. Every file is checked again when it is read (see src/files.ts).
 */
export function resolveInside(base: string, p: string, projectDir: string, where: string): string {
  return resolveInput(path.resolve(base, p), { inside: projectDir, where, shown: JSON.stringify(p) }).abs;
}

function loadedImage(key: string, img: Image): ImageRef {
  return { key, load: () => img };
}

/** JSONL sources are read whole: a larger file is refused rather than exhausting memory. */
export const MAX_JSONL_BYTES = 256 * 2 ** 20;
/** A caption is a sentence or a paragraph. */
export const MAX_CAPTION_BYTES = 2 ** 20;

/** Lines of a UTF-8 file; invalid UTF-8 is an error at its line (not silently replaced by U+FFFD). */
export function utf8Lines(file: string, rules: InputRules = {}): string[] {
  const buf = readInputFile(file, rules);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const lines: string[] = [];
  let start = 0;
  for (;;) {
    const nl = buf.indexOf(10, start);
    const end = nl < 0 ? buf.length : nl;
    try {
      lines.push(decoder.decode(buf.subarray(start, end)));
    } catch {
      throw new UserError('not valid UTF-8', `${displayPath(file)}:${lines.length + 1}`);
    }
    if (nl < 0) return lines;
    start = nl + 1;
  }
}

function jsonlRecords(file: string, projectDir: string): Array<{ line: number; value: unknown; where: string }> {
  const shown = displayPath(file);
  const out: Array<{ line: number; value: unknown; where: string }> = [];
  utf8Lines(file, { inside: projectDir, maxBytes: MAX_JSONL_BYTES }).forEach((text, i) => {
    const where = `${shown}:${i + 1}`;
    if (text.trim() === '') return;
    try {
      out.push({ line: i + 1, value: JSON.parse(text), where });
    } catch (e) {
      throw new UserError(`invalid JSON (${(e as Error).message})`, where);
    }
  });
  if (out.length === 0) throw new UserError('no records (expected one JSON object per line)', shown);
  return out;
}

function checkKeys(value: unknown, allowed: string[], where: string): Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new UserError(`expected a JSON object, got ${preview(value)}`, where);
  for (const k of Object.keys(value)) {
    if (!allowed.includes(k)) throw new UserError(`unknown key ${preview(k)} (expected ${allowed.map((a) => JSON.stringify(a)).join(' or ')})`, where);
  }
  return value as Record<string, unknown>;
}

function nonEmptyString(v: unknown, what: string, where: string): string {
  if (typeof v !== 'string') throw new UserError(`${what} must be a string, got ${preview(v)}`, where);
  if (v.trim() === '') throw new UserError(`${what} is empty`, where);
  return v;
}

export function jsonlTextDocs(file: string, ctx: Pick<FileContext, 'projectDir'>): RawDoc[] {
  return jsonlRecords(file, ctx.projectDir).map(({ value, where }) => {
    const rec = checkKeys(value, ['text'], where);
    return { kind: 'text', text: nonEmptyString(rec.text, '"text"', where) };
  });
}

export function jsonlInterleavedDocs(file: string, ctx: FileContext): RawDoc[] {
  const base = path.dirname(file);
  return jsonlRecords(file, ctx.projectDir).map(({ value, where }) => {
    const rec = checkKeys(value, ['parts'], where);
    if (!Array.isArray(rec.parts) || rec.parts.length === 0) throw new UserError('"parts" must be a non-empty array', where);
    let images = 0;
    const parts: Part[] = rec.parts.map((part, j) => {
      const pw = `${where}: parts[${j}]`;
      const p = checkKeys(part, ['text', 'image'], pw);
      if (('text' in p) === ('image' in p)) throw new UserError('each part needs exactly one of "text" or "image"', pw);
      if ('text' in p) return { text: nonEmptyString(p.text, '"text"', pw) };
      images++;
      const rel = nonEmptyString(p.image, '"image"', pw);
      const abs = resolveInside(base, rel, ctx.projectDir, where);
      const img = preprocess(readPng(abs, { where: `${where}: ${displayPath(abs)}`, inside: ctx.projectDir }), ctx.resolution);
      return { image: loadedImage(`file:${abs}`, img) };
    });
    if (images === 0) throw new UserError('an interleaved document needs at least one image part', where);
    return { kind: 'interleaved', parts };
  });
}

/**
 * NAME.png + NAME.txt pairs, in code-point order of NAME. Any other file is an error, not ignored;
 * only dotfiles (.DS_Store, editor state) are passed over, as every file tool does.
 */
export function pngFolderDocs(dir: string, ctx: FileContext): RawDoc[] {
  const shown = displayPath(dir);
  checkInputDir(dir, { inside: ctx.projectDir, where: shown });
  const names = fs.readdirSync(dir).filter((n) => !n.startsWith('.')).sort();
  const pngs = new Set(names.filter((n) => n.endsWith('.png')).map((n) => n.slice(0, -4)));
  const txts = new Set(names.filter((n) => n.endsWith('.txt')).map((n) => n.slice(0, -4)));
  for (const n of names) {
    const where = `${shown}/${n}`;
    if (!n.endsWith('.png') && !n.endsWith('.txt')) throw new UserError('unexpected file in an image-text folder (expected NAME.png with NAME.txt)', where);
    if (n.endsWith('.png') && !txts.has(n.slice(0, -4))) throw new UserError(`no caption file ${n.slice(0, -4)}.txt beside it`, where);
    if (n.endsWith('.txt') && !pngs.has(n.slice(0, -4))) throw new UserError(`caption without an image ${n.slice(0, -4)}.png`, where);
  }
  const docs: RawDoc[] = [...pngs].sort().map((stem) => {
    const png = path.join(dir, `${stem}.png`);
    const txt = path.join(dir, `${stem}.txt`);
    // Each entry is checked on its own: a link inside the folder may point anywhere.
    const caption = utf8Lines(txt, { inside: ctx.projectDir, maxBytes: MAX_CAPTION_BYTES, where: `${shown}/${stem}.txt`, shown: `'${stem}.txt'` }).join('\n').trim();
    if (!caption) throw new UserError('caption is empty', `${shown}/${stem}.txt:1`);
    const img = preprocess(readPng(png, { where: `${shown}/${stem}.png`, inside: ctx.projectDir, shown: `'${stem}.png'` }), ctx.resolution);
    return { kind: 'pair', image: loadedImage(`file:${png}`, img), caption };
  });
  if (docs.length === 0) throw new UserError('no NAME.png + NAME.txt pairs in this folder', shown);
  return docs;
}
