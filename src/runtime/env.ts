/**
 * Process environment the native runtime needs before it first loads.
 *
 * The Vulkan loader (under Dawn, under ORT's WebGPU EP) complains on every instance creation when
 * XDG_RUNTIME_DIR is unset, and some ICDs refuse to start without it. It is read when the first
 * WebGPU session creates its Dawn instance, so it must be set before that; setting it in
 * `process.env` is enough because the native code reads the live C environment, which Node keeps in
 * sync with `process.env` assignments.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

let prepared = false;

/** Sets XDG_RUNTIME_DIR to a private writable folder when the user has none. Idempotent. */
export function prepareNativeEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (env === process.env && prepared) return env;
  const cur = env.XDG_RUNTIME_DIR;
  if (!cur || !isWritableDir(cur)) {
    const dir = path.join(os.tmpdir(), `chamlab-xdg-${process.getuid?.() ?? 'u'}`);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    env.XDG_RUNTIME_DIR = dir;
  }
  if (env === process.env) prepared = true;
  return env;
}

function isWritableDir(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return fs.statSync(dir).isDirectory();
  } catch {
    return false;
  }
}
