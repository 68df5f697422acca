/** Shared helpers for the dsl tests: temporary projects and error capture. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isUserError, UserErrors } from '../dsl/errors';

/** The repository root (tests run from dist/test). */
export const REPO = path.resolve(__dirname, '..', '..');
export const EXPERIMENTS = path.join(REPO, 'experiments');

/** Every user-facing error line must look like this: one line, positioned. */
export const POSITIONED = /^[^:\n]+:\d+:\d+: .+$/;

const created: string[] = [];
process.on('exit', () => {
  for (const dir of created) fs.rmSync(dir, { recursive: true, force: true });
});

/** A temporary project (with a .chamlab-root marker) holding the given files; removed at exit. */
export function project(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-dsl-'));
  created.push(dir);
  fs.writeFileSync(path.join(dir, '.chamlab-root'), '');
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

/** The error lines `fn` throws as user errors; fails if it succeeds or throws anything else. */
export function errorsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (!isUserError(e)) throw e;
    const lines = (e instanceof UserErrors ? e.errors : [e]).map((x) => x.message);
    for (const l of lines) assert.match(l, POSITIONED);
    return lines;
  }
  assert.fail('expected a user error');
}

/** Asserts that one error line contains `where` (file:line:col) and matches `message`. */
export function assertError(lines: string[], where: string, message: RegExp): void {
  const hit = lines.find((l) => l.includes(where + ': ') && message.test(l));
  assert.ok(hit, `no error at ${where} matching ${message}; got:\n${lines.join('\n')}`);
}

/** A small valid spec (YAML) used as a base by several tests. */
export const SMALL = `name: small
model:
  vocab: { text: 300, image: 64 }
  d_model: 32
  layers: 1
  heads: 2
tokenizer:
  image: { resolution: 8, patch: 2, codebook_size: 64 }
data:
  seq_len: 64
  sources:
    t: { kind: text, origin: "builtin:moby-dick" }
    i: { kind: image-text, origin: "builtin:mnist" }
  stages:
    - { name: s1, share: 1, weights: { t: 1, i: 1 } }
train: { steps: 10 }
`;

/** SMALL with its text source only: nothing to quantize, for tests that train or open it in a cell. */
export const SMALL_TEXT = SMALL.replace('    i: { kind: image-text, origin: "builtin:mnist" }\n', '').replace('weights: { t: 1, i: 1 }', 'weights: { t: 1 }');
