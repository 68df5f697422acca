/**
 * Content-addressed cache for trained tokenizers. A key is a hash of everything that determines the
 * result (algorithm version, settings, and a digest of the training data itself), so a stale entry
 * cannot be hit and an entry can be shared between runs and sweeps. Writes go to a temporary file in
 * the same folder and are renamed into place, so a reader never sees a half-written file even when
 * several processes train the same tokenizer at once.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** $CHAMLAB_CACHE, else ~/.cache/chamlab. */
export function defaultCacheDir(): string {
  return process.env.CHAMLAB_CACHE || path.join(os.homedir(), '.cache', 'chamlab');
}

export function readCached(dir: string, name: string): string | undefined {
  const file = path.join(dir, name);
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

let tmpCounter = 0;

export function writeAtomic(file: string, content: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${tmpCounter++}`;
  fs.writeFileSync(tmp, content);
  fs.renameSync(tmp, file);
}
