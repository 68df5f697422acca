/** chamlab's version, read from its package.json (found upwards from this file, in src/ or dist/src/). */
import * as fs from 'node:fs';
import * as path from 'node:path';

let cached: string | undefined;

export function chamlabVersion(): string {
  if (cached) return cached;
  for (let dir = __dirname; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
      if (pkg.name === 'chamlab' && typeof pkg.version === 'string') return (cached = pkg.version as string);
    } catch {
      /* not here */
    }
  }
  return (cached = 'unknown');
}
