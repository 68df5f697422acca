/**
 * Registering the chamlab kernel with Jupyter: a kernelspec folder `chamlab/` holding kernel.json,
 * whose argv runs this package's launcher with the Node that ran the install (an absolute path, so
 * the Jupyter server's PATH does not matter).
 *
 * Where it goes, as `jupyter kernelspec install` decides it:
 *   --prefix DIR   DIR/share/jupyter/kernels (point JUPYTER_PATH at DIR/share/jupyter to use it)
 *   --sys-prefix   <sys.prefix of Jupyter's Python>/share/jupyter/kernels
 *   --user         the user's Jupyter data dir (~/.local/share/jupyter/kernels on Linux)
 *   (none)         --user, or the system-wide kernels folder when run as root (as tslab does)
 * The folders come from jupyter_core itself (asked through Jupyter's Python), except --prefix, which
 * needs no Python.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../dsl/errors';
import { writeFileAtomic } from '../src/files';
import { PACKAGE_ROOT } from './resolution';

export const KERNEL_NAME = 'chamlab';
export const DISPLAY_NAME = 'chamlab (TypeScript)';

export type KernelLocation = { kind: 'user' } | { kind: 'sys-prefix' } | { kind: 'prefix'; dir: string } | { kind: 'default' };

export interface KernelInstallOptions {
  location?: KernelLocation;
  /** Python with Jupyter (jupyter_core); default: `python3` on PATH, then /usr/bin/python3. */
  python?: string;
}

export interface KernelSpecJson {
  argv: string[];
  display_name: string;
  language: string;
  interrupt_mode: 'signal';
  metadata: { chamlab: { package: string; version: string } };
}

/** The launcher every kernelspec runs: dist/kernel/launcher.js of this package. */
export function launcherPath(): string {
  return path.join(PACKAGE_ROOT, 'dist', 'kernel', 'launcher.js');
}

export function kernelSpec(node = process.execPath): KernelSpecJson {
  const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  return {
    argv: [node, launcherPath(), '{connection_file}'],
    display_name: DISPLAY_NAME,
    language: 'typescript',
    // Jupyter's interrupt sends SIGINT to the kernel process; the launcher routes it to `train`.
    interrupt_mode: 'signal',
    metadata: { chamlab: { package: PACKAGE_ROOT, version: pkg.version } },
  };
}

/** Installs the kernelspec; returns its folder. */
export function installKernel(opts: KernelInstallOptions = {}): string {
  if (!fs.existsSync(launcherPath())) {
    throw new UserError(`${launcherPath()} is missing: build the package first (npm run build)`, 'chamlab kernel install');
  }
  const dir = path.join(kernelsDir(opts), KERNEL_NAME);
  try {
    writeFileAtomic(path.join(dir, 'kernel.json'), JSON.stringify(kernelSpec(), null, 1) + '\n');
  } catch (e) {
    throw new UserError(`cannot write ${dir}: ${(e as Error).message} (choose --user or --prefix DIR)`, 'chamlab kernel install');
  }
  return dir;
}

/** Removes the chamlab kernelspec from that location; returns the folder removed. */
export function uninstallKernel(opts: KernelInstallOptions = {}): string {
  const dir = path.join(kernelsDir(opts), KERNEL_NAME);
  const file = path.join(dir, 'kernel.json');
  let spec: Partial<KernelSpecJson>;
  try {
    spec = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? `no chamlab kernel is installed in ${path.dirname(dir)}` : `cannot read ${file}: ${(e as Error).message}`, 'chamlab kernel uninstall');
  }
  if (!spec?.metadata?.chamlab) throw new UserError(`${dir} is a kernel named 'chamlab' that chamlab did not install; remove it with 'jupyter kernelspec remove chamlab'`, 'chamlab kernel uninstall');
  fs.rmSync(dir, { recursive: true, force: true });
  return dir;
}

/** The `kernels` folder for a location. */
export function kernelsDir(opts: KernelInstallOptions = {}): string {
  const loc = opts.location ?? { kind: 'default' };
  if (loc.kind === 'prefix') return path.join(path.resolve(loc.dir), 'share', 'jupyter', 'kernels');
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const where =
    loc.kind === 'sys-prefix'
      ? "os.path.join(sys.prefix, 'share', 'jupyter')"
      : loc.kind === 'user' || !isRoot
        ? 'jupyter_data_dir()'
        : 'SYSTEM_JUPYTER_PATH[0]';
  const out = runPython(opts.python, `import os, sys\nfrom jupyter_core.paths import jupyter_data_dir, SYSTEM_JUPYTER_PATH\nprint(os.path.join(${where}, 'kernels'))`);
  return out.trim();
}

/** Runs a snippet with the first Python that has Jupyter; a UserError when none has it. */
function runPython(python: string | undefined, code: string): string {
  const candidates = python ? [python] : ['python3', '/usr/bin/python3'];
  const tried: string[] = [];
  for (const exe of candidates) {
    const r = spawnSync(exe, ['-c', code], { encoding: 'utf8' });
    if (r.status === 0) return r.stdout;
    tried.push(`${exe}: ${r.error ? (r.error as NodeJS.ErrnoException).code : (r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`)}`);
  }
  throw new UserError(
    `no Python with Jupyter found (${tried.join('; ')}); install Jupyter (Debian: apt-get install jupyter-nbconvert python3-nbclient python3-ipykernel), pass --python PATH, or use --prefix DIR`,
    'chamlab kernel',
  );
}
