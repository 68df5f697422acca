/**
 * Files chamlab writes and reads on a user's behalf, and the rules every writer and reader follows.
 *
 * Writing: `writeFileAtomic` is the one way chamlab writes a file that must never be seen
 * half-written: a temporary file in the same folder, fsync, rename over the target, fsync of the
 * folder. A reader (another process, a resumed run after a crash or kill -9) sees the old content or
 * the new, never a torn one. Before anything is written the target is checked (`checkOutputFile`):
 * it is a regular file or does not exist yet (a device, a FIFO or a folder is never replaced), and
 * its folder is a folder, created if needed one level at a time (`prepareOutputDir`, bounded, so a
 * path under /proc or under a regular file fails at once instead of looping). On any failure the
 * temporary file is removed and the problem is a one-line user error naming the path.
 *
 * Reading: `openInputFile` / `readInputFile` / `checkInputDir` check a file a user or a spec named:
 * it exists, is a regular file (opened non-blocking, so a FIFO cannot hang a reader), lies inside the
 * project (after resolving links) when asked, and is not larger than the reader's limit.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../dsl/errors';
import { isInside, realPath } from '../dsl/paths';

let counter = 0;

/** Folders created for one output at most: a longer chain of missing folders is surely a typo. */
export const MAX_NEW_OUTPUT_FOLDERS = 32;

/** A unique temporary name beside `file` (hidden, so folder listings ignore it). */
export function tempPathFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${counter++}.tmp`);
}

/** An errno failure while writing `file` as a one-line user error; anything else is rethrown as is. */
function writeError(e: unknown, file: string, where?: string): unknown {
  if (e instanceof UserError || typeof (e as NodeJS.ErrnoException)?.code !== 'string') return e;
  return new UserError(`cannot write the file: ${errnoMessage(e)}`, where ?? displayPath(file));
}

/**
 * Makes sure `dir` is a folder that outputs can go into: an existing folder, or created here one level
 * at a time below its nearest existing ancestor, which must be a folder (not a file, a device, or a
 * path that cannot hold folders such as /proc/x). At most MAX_NEW_OUTPUT_FOLDERS levels are created.
 * Returns the absolute path. `where` names the option the path came from (`--out`).
 */
export function prepareOutputDir(dir: string, where?: string): string {
  return ensureDir(path.resolve(dir), where, path.resolve(dir));
}

/** prepareOutputDir for `abs`, naming `target` (the folder itself, or a file to be written in it) in messages. */
function ensureDir(abs: string, where: string | undefined, target: string): string {
  const at = where ?? displayPath(target);
  const missing: string[] = [];
  let cur = abs;
  for (;;) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(cur);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // ENOTDIR: a file further up; the walk finds it and names it.
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new UserError(`cannot use ${displayPath(cur)} as an output folder: ${errnoMessage(e)}`, at);
    }
    if (!st && isBrokenLink(cur)) throw new UserError(`${displayPath(cur)} is a broken symbolic link`, at);
    if (st) {
      if (!st.isDirectory()) {
        throw new UserError(cur === target ? `${displayPath(target)} is ${kindOf(st)}, not a folder` : `${displayPath(target)} lies under ${displayPath(cur)}, which is ${kindOf(st)}, not a folder`, at);
      }
      try {
        fs.accessSync(cur, fs.constants.W_OK);
      } catch {
        throw new UserError(`${displayPath(cur)} is not writable`, at);
      }
      break;
    }
    missing.push(cur);
    if (missing.length > MAX_NEW_OUTPUT_FOLDERS) throw new UserError(`${displayPath(target)} needs more than ${MAX_NEW_OUTPUT_FOLDERS} new folders`, at);
    const up = path.dirname(cur);
    if (up === cur) break;
    cur = up;
  }
  for (const d of missing.reverse()) {
    try {
      fs.mkdirSync(d);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && isDir(d)) continue; // made by another process meanwhile
      throw new UserError(`cannot create the folder ${displayPath(d)}: ${errnoMessage(e)}`, at);
    }
  }
  return abs;
}

function isBrokenLink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Checks that `file` may be written: it is a regular file (or a link to one) or does not exist yet,
 * and its folder exists or can be created (see prepareOutputDir, which this calls). Nothing is written
 * to the file itself. Returns the absolute path. Every writer calls it (writeFileAtomic does); a
 * command calls it first for each output it was given, so a bad path fails before any work is done.
 */
export function checkOutputFile(file: string, where?: string): string {
  const abs = path.resolve(file);
  const at = where ?? displayPath(abs);
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new UserError(`cannot write ${displayPath(abs)}: ${errnoMessage(e)}`, at);
  }
  if (st && !st.isFile()) throw new UserError(`${displayPath(abs)} is ${kindOf(st)}; an output must be a regular file or not exist yet`, at);
  ensureDir(path.dirname(abs), where, abs);
  return abs;
}

/**
 * Writes `data` to `file` atomically and durably (see the module comment), after checkOutputFile.
 * Creates the folder. Failures are user errors naming the file; the temporary file never stays.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array | readonly Uint8Array[]): void {
  const abs = checkOutputFile(file);
  const tmp = tempPathFor(abs);
  let fd: number | undefined;
  try {
    // 'wx': the temporary name is new; an entry already there (a planted link) is never followed.
    fd = fs.openSync(tmp, 'wx');
    const chunks = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
    for (const c of chunks) writeAll(fd, c);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, abs);
  } catch (e) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // the write already failed; that error is the one to report
      }
    }
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // as above: report the first failure
    }
    throw writeError(e, abs);
  }
  fsyncDir(path.dirname(abs));
}

/**
 * Opens `file` for appending (a log, a metrics file) under the same rules: a regular file or new, in
 * a folder made as prepareOutputDir makes it. The last component is never followed if it is a link,
 * and a FIFO or a device is refused (opened non-blocking, so even one swapped in cannot hang us).
 */
export function openAppend(file: string, where?: string): number {
  const abs = path.resolve(file);
  const at = where ?? displayPath(abs);
  ensureDir(path.dirname(abs), where, abs);
  let fd: number;
  try {
    const c = fs.constants;
    fd = fs.openSync(abs, c.O_WRONLY | c.O_APPEND | c.O_CREAT | c.O_NONBLOCK | c.O_NOFOLLOW, 0o644);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new UserError(`${displayPath(abs)} is a symbolic link; an output must be a regular file or not exist yet`, at);
    if (code === 'ENXIO') throw new UserError(`${displayPath(abs)} is a FIFO; an output must be a regular file or not exist yet`, at);
    throw writeError(e, abs, where);
  }
  const st = fs.fstatSync(fd);
  if (!st.isFile()) {
    fs.closeSync(fd);
    throw new UserError(`${displayPath(abs)} is ${kindOf(st)}; an output must be a regular file or not exist yet`, at);
  }
  return fd;
}

/** Writes every byte of `bytes` (writeSync may write less than asked, and at most 2 GiB at once). */
export function writeAll(fd: number, bytes: Uint8Array): void {
  const CHUNK = 1 << 30;
  let off = 0;
  while (off < bytes.byteLength) off += fs.writeSync(fd, bytes, off, Math.min(CHUNK, bytes.byteLength - off));
}

/** Makes a rename or a new entry in `dir` durable. Some filesystems refuse fsync on folders: ignored. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // best effort: the rename itself is atomic either way
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------------
// Reading files a user or a spec names

/** How a path is shown in messages: relative to the working directory when that is shorter. */
export function displayPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && rel.length < file.length ? rel : file;
}

/** What a reader asks of a file it was given. */
export interface InputRules {
  /** Where the name came from, shown before the message (a flag, a spec field, `file:line`); default: the path. */
  where?: string;
  /** The file, after resolving every link, must lie inside this folder (the project root, an index's folder). */
  inside?: string;
  /** What `inside` is, for messages (default: 'the project folder'). */
  insideName?: string;
  /** Larger files are refused before anything is read. */
  maxBytes?: number;
  /** How the file is named in messages (default: its path, or 'the file' when `where` is the path). */
  shown?: string;
}

/** A checked input: its real path (links resolved) and size. */
export interface InputFile {
  path: string;
  real: string;
  size: number;
}

/**
 * Resolves a named file against the rules that do not need it open: its real path (links resolved)
 * lies inside `rules.inside`, and it exists. Outside wins over missing, so a message never tells a
 * stranger's spec whether a file outside the project exists.
 */
export function resolveInput(file: string, rules: InputRules = {}): { abs: string; real: string; where: string; shown: string } {
  const abs = path.resolve(file);
  const where = rules.where ?? displayPath(abs);
  const shown = rules.shown ?? (rules.where === undefined || rules.where === displayPath(abs) ? 'the file' : displayPath(abs));
  const real = realPath(abs);
  if (rules.inside !== undefined) {
    const root = realPath(rules.inside);
    if (!isInside(root, real)) {
      const link = real !== abs && isInside(root, abs) ? ` (a link to ${real})` : '';
      throw new UserError(`${shown} is outside ${rules.insideName ?? 'the project folder'} ${displayPath(root)}${link}`, where);
    }
  }
  let st: fs.Stats;
  try {
    st = fs.lstatSync(real);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new UserError(`${shown} does not exist`, where);
    throw new UserError(`cannot read ${shown}: ${errnoMessage(e)}`, where);
  }
  if (st.isSymbolicLink()) throw new UserError(`${shown} is a broken symbolic link`, where);
  return { abs, real, where, shown };
}

/** What a non-regular file is, for messages. */
function kindOf(st: fs.Stats): string {
  if (st.isFile()) return 'a file';
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Opens a file for reading after checking it: it exists, it is a regular file (a FIFO or a device
 * would block or never end; it is opened non-blocking and checked on the open descriptor, so even a
 * file swapped for a FIFO cannot hang), its real path lies inside `rules.inside`, and it is not
 * larger than `rules.maxBytes`. The caller closes the descriptor.
 */
export function openInputFile(file: string, rules: InputRules = {}): InputFile & { fd: number } {
  const { abs, real, where, shown } = resolveInput(file, rules);
  let fd: number;
  try {
    fd = fs.openSync(real, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOFOLLOW);
  } catch (e) {
    throw new UserError(`cannot read ${shown}: ${errnoMessage(e)}`, where);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new UserError(`${shown} is ${kindOf(st)}, not a regular file`, where);
    if (rules.maxBytes !== undefined && st.size > rules.maxBytes) {
      throw new UserError(`${shown} is ${humanBytes(st.size)}, more than the limit of ${humanBytes(rules.maxBytes)} for this kind of file`, where);
    }
    return { path: abs, real, size: st.size, fd };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/** Checks a file (see openInputFile) without keeping it open. */
export function checkInputFile(file: string, rules: InputRules = {}): InputFile {
  const { fd, ...info } = openInputFile(file, rules);
  fs.closeSync(fd);
  return info;
}

/** Reads a checked file whole (see openInputFile). */
export function readInputFile(file: string, rules: InputRules = {}): Buffer {
  const { fd, size, path: abs } = openInputFile(file, rules);
  try {
    const buf = Buffer.alloc(size);
    let got = 0;
    while (got < size) {
      const n = fs.readSync(fd, buf, got, size - got, got);
      if (n <= 0) break;
      got += n;
    }
    if (got !== size) throw new UserError('the file changed while it was read', displayPath(abs));
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

/** A checked file's text (UTF-8; see openInputFile). */
export function readInputText(file: string, rules: InputRules = {}): string {
  return readInputFile(file, rules).toString('utf8');
}

/** A checked folder: it exists, is a folder, and its real path lies inside `rules.inside`. Returns its real path. */
export function checkInputDir(dir: string, rules: InputRules = {}): string {
  const { real, where, shown } = resolveInput(dir, rules);
  if (!fs.statSync(real).isDirectory()) throw new UserError(`${shown} is not a folder`, where);
  return real;
}

/** 300 B, 1.50 KiB, 12.00 MiB: sizes in messages and reports. */
export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 2)} ${units[i]}`;
}

/** `permission denied`, `no space left on device`: an errno error's message without the syscall and path. */
export function errnoMessage(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const m = /^[A-Z]+: ([^,]+)/.exec(err?.message ?? '');
  return m ? m[1] : String(err?.message ?? e);
}
