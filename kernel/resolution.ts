/**
 * Makes `import ... from 'chamlab'` work in a cell of a notebook in any folder, without a
 * node_modules there: the name means the package this kernel was installed from, both for Node's
 * `require` (which runs the cell) and for the TypeScript compiler inside tslab (which type-checks the
 * cell first and refuses an import it cannot resolve).
 *
 *   chamlab          -> the package root (its "main", dist/src/index.js; types dist/src/index.d.ts)
 *   chamlab/kernel   -> dist/kernel/index.js, the notebook helpers (types via package.json typesVersions)
 *   chamlab/<path>   -> <package root>/<path>
 */
import * as fs from 'node:fs';
import Module from 'node:module';
import * as path from 'node:path';

/** The installed chamlab package: this file is dist/kernel/resolution.js inside it. */
export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');

/** Subpaths that name a compiled entry point rather than a file of the package. */
const ENTRY_POINTS: Record<string, string> = {
  kernel: path.join(PACKAGE_ROOT, 'dist', 'kernel', 'index.js'),
};

/** Where `chamlab` or `chamlab/...` points; null for any other request. */
export function chamlabTarget(request: string): string | null {
  if (request === 'chamlab') return PACKAGE_ROOT;
  if (!request.startsWith('chamlab/')) return null;
  const sub = request.slice('chamlab/'.length);
  return ENTRY_POINTS[sub] ?? path.join(PACKAGE_ROOT, sub);
}

let registered = false;

/** Node side: `require('chamlab')` from anywhere in this process resolves to PACKAGE_ROOT. */
export function registerChamlabModule(): void {
  if (registered) return;
  const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { name?: string };
  if (pkg.name !== 'chamlab') throw new Error(`the chamlab kernel expects to run from the chamlab package, but ${PACKAGE_ROOT} holds ${JSON.stringify(pkg.name)}`);
  registered = true;
  const M = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const original = M._resolveFilename;
  M._resolveFilename = function (request: string, ...rest: unknown[]) {
    return original.call(this, chamlabTarget(request) ?? request, ...rest);
  };
}

/** The slice of TypeScript's `sys` that module resolution and the watch program read paths through. */
interface TsSys {
  [method: string]: any;
}

/** Methods of ts.sys whose first argument is a path. */
const PATH_METHODS = [
  'fileExists',
  'readFile',
  'directoryExists',
  'getDirectories',
  'readDirectory',
  'realpath',
  'getModifiedTime',
  'getFileSize',
  'watchFile',
  'watchDirectory',
];

/**
 * TypeScript side: paths under `<cwd>/node_modules/chamlab` read the package root instead. tslab
 * type-checks cells with Node10 module resolution from the kernel's working directory, which looks
 * in `<cwd>/node_modules` first (tslab itself pretends that folder exists, to serve `tslab` the same
 * way), so `chamlab` always resolves to this package there. `realpath` answers with the real file, so
 * the package's own imports (zod, yaml, ...) resolve from where it is installed.
 */
export function forwardTypeScriptPaths(sys: TsSys, cwd: string): void {
  if (sys.__chamlabForwarded) return;
  const fake = path.join(cwd, 'node_modules', 'chamlab');
  const forward = (p: string): string => {
    if (typeof p !== 'string') return p;
    const abs = path.normalize(p);
    if (abs === fake) return PACKAGE_ROOT;
    if (abs.startsWith(fake + path.sep)) return path.join(PACKAGE_ROOT, abs.slice(fake.length + 1));
    return p;
  };
  for (const name of PATH_METHODS) {
    const original = sys[name];
    if (typeof original !== 'function') continue;
    sys[name] = (p: string, ...rest: unknown[]) => original.call(sys, forward(p), ...rest);
  }
  sys.__chamlabForwarded = true;
}
