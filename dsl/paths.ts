/**
 * Path containment, shared by the spec front end (which paths a spec may name) and the readers of
 * user files (which files they may open): "inside a folder" is decided on real paths, after every
 * symbolic link is resolved, so a link inside the project that points out of it counts as outside.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Whether `p` is `root` or lies below it (compare real paths; see realPath). */
export function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * The real path of `p` with every link resolved, also when `p` (or a part of it) does not exist yet:
 * the longest existing prefix is resolved and the rest appended, so a missing file below a link that
 * leaves the project is still seen as outside.
 */
export function realPath(p: string): string {
  const abs = path.resolve(p);
  const rest: string[] = [];
  for (let cur = abs; ; cur = path.dirname(cur)) {
    try {
      return path.join(fs.realpathSync(cur), ...rest.reverse());
    } catch {
      if (path.dirname(cur) === cur) return abs;
      rest.push(path.basename(cur));
    }
  }
}
