/**
 * The one way chamlab writes a file that must never be seen half-written: a temporary file in the
 * same folder, fsync, rename over the target, fsync of the folder. A reader (another process, a
 * resumed run after a crash or kill -9) sees the old content or the new, never a torn one. On any
 * failure the temporary file is removed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

let counter = 0;

/** A unique temporary name beside `file` (hidden, so folder listings ignore it). */
export function tempPathFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${counter++}.tmp`);
}

/** Writes `data` to `file` atomically and durably (see the module comment). Creates the folder. */
export function writeFileAtomic(file: string, data: string | Uint8Array | readonly Uint8Array[]): void {
  const dir = path.dirname(path.resolve(file));
  fs.mkdirSync(dir, { recursive: true });
  const tmp = tempPathFor(path.resolve(file));
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'w');
    const chunks = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
    for (const c of chunks) writeAll(fd, c);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dir);
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
