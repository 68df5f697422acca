/** src/files.ts: the output and input rules every writer and reader of user files follows. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isUserError } from '../dsl/errors';
import { checkOutputFile, prepareOutputDir, writeFileAtomic } from '../src/files';

function tmpdir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-files-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The message of the UserError `fn` throws. */
function userError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(isUserError(e), `not a user error: ${(e as Error)?.stack}`);
    assert.doesNotMatch((e as Error).message, /\n/);
    return (e as Error).message;
  }
  assert.fail('expected a user error');
}

test('checkOutputFile: a missing file or a regular file may be written; a FIFO, a device or a folder is refused', () => {
  const dir = tmpdir();
  fs.writeFileSync(path.join(dir, 'old'), 'x');
  assert.equal(checkOutputFile(path.join(dir, 'new')), path.join(dir, 'new'));
  assert.equal(checkOutputFile(path.join(dir, 'old')), path.join(dir, 'old'));
  assert.equal(spawnSync('mkfifo', [path.join(dir, 'fifo')]).status, 0);
  assert.match(userError(() => checkOutputFile(path.join(dir, 'fifo'), '--out')), /^--out: .*fifo is a FIFO; an output must be a regular file or not exist yet$/);
  assert.match(userError(() => writeFileAtomic(path.join(dir, 'fifo'), 'x')), /fifo is a FIFO/);
  assert.match(userError(() => checkOutputFile(dir, '--out')), /is a folder; an output must be a regular file/);
  if (process.getuid?.() === 0) {
    assert.equal(spawnSync('mknod', [path.join(dir, 'dev'), 'c', '1', '3']).status, 0);
    assert.match(userError(() => writeFileAtomic(path.join(dir, 'dev'), 'x')), /dev is a device/);
    assert.ok(fs.lstatSync(path.join(dir, 'dev')).isCharacterDevice());
  }
  assert.ok(fs.lstatSync(path.join(dir, 'fifo')).isFIFO());
});

test('writeFileAtomic writes through a link to a regular file by replacing the link, never the target', () => {
  const dir = tmpdir();
  fs.writeFileSync(path.join(dir, 'target'), 'old');
  fs.symlinkSync('target', path.join(dir, 'link'));
  writeFileAtomic(path.join(dir, 'link'), 'new');
  assert.equal(fs.readFileSync(path.join(dir, 'target'), 'utf8'), 'old');
  assert.equal(fs.readFileSync(path.join(dir, 'link'), 'utf8'), 'new');
  assert.ok(!fs.lstatSync(path.join(dir, 'link')).isSymbolicLink());
});

test('prepareOutputDir creates missing folders level by level and refuses what is not a folder', () => {
  const dir = tmpdir();
  assert.equal(prepareOutputDir(path.join(dir, 'a', 'b', 'c')), path.join(dir, 'a', 'b', 'c'));
  assert.ok(fs.statSync(path.join(dir, 'a', 'b', 'c')).isDirectory());
  assert.equal(spawnSync('mkfifo', [path.join(dir, 'fifo')]).status, 0);
  assert.match(userError(() => prepareOutputDir(path.join(dir, 'fifo'), '--png')), /^--png: .*fifo is a FIFO, not a folder$/);
});

test('writeFileAtomic removes its temporary file when a write fails, and leaves the target as it was', () => {
  const dir = tmpdir();
  const file = path.join(dir, 'out.bin');
  fs.writeFileSync(file, 'old');
  // The second chunk fails after the temporary file was created and partly written.
  const failing = { get byteLength(): number {
    throw new Error('the disk went away');
  } } as unknown as Uint8Array;
  assert.throws(() => writeFileAtomic(file, [Buffer.from('new'), failing]), /the disk went away/);
  assert.equal(fs.readFileSync(file, 'utf8'), 'old');
  assert.deepEqual(fs.readdirSync(dir), ['out.bin']);
});

test('prepareOutputDir refuses a broken symbolic link in the way (found by the fuzz suite: it was an internal error)', () => {
  const dir = tmpdir();
  fs.symlinkSync('nowhere/at/all', path.join(dir, 'dangling'));
  assert.match(userError(() => prepareOutputDir(path.join(dir, 'dangling'), '--png')), /^--png: .*dangling is a broken symbolic link$/);
  assert.match(userError(() => prepareOutputDir(path.join(dir, 'dangling', 'sub'), '--png')), /dangling is a broken symbolic link$/);
});
