/**
 * Content-addressed cache for trained tokenizers. A key is a hash of everything that determines the
 * result (algorithm version, settings, and a digest of the training data itself), so a stale entry
 * cannot be hit and an entry can be shared between runs and sweeps. Entries are written with
 * `writeCached` (src/files.ts's atomic writer), so a reader never sees a half-written file even when
 * several processes train the same tokenizer at once.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readInputFile, writeFileAtomic } from '../files';

/** $CHAMLAB_CACHE, else ~/.cache/chamlab. */
export function defaultCacheDir(): string {
  return process.env.CHAMLAB_CACHE || path.join(os.homedir(), '.cache', 'chamlab');
}

export function readCached(dir: string, name: string): string | undefined {
  const file = path.join(dir, name);
  try {
    // Checked like every input (src/files.ts): a FIFO planted in a shared cache cannot block us.
    if (!fs.existsSync(file)) return undefined;
    return readInputFile(file, { where: file, shown: 'the cache entry' }).toString('utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Writes a cache entry atomically (creating the cache folder); the entry's path is returned. */
export function writeCached(dir: string, name: string, content: string): string {
  const file = path.join(dir, name);
  writeFileAtomic(file, content);
  return file;
}
