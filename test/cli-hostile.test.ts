/**
 * Hostile and careless input to the CLI, one test per hole a probe of the CLI found: each runs the
 * command as a user would (a child process) and checks that it ends with a one-line user error (or
 * does the safe thing) instead of running code, reading or writing outside its bounds, hanging or
 * crashing. The fuzz suite (fuzz-cli.test.ts) keeps the whole class closed; these pin each case.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO, SMALL } from './dsl-fixtures';

const BIN = path.join(REPO, 'bin', 'chamlab.js');

function chamlab(cwd: string, args: string[], timeout = 60_000) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout, env: { ...process.env, CHAMLAB_CACHE: path.join(cwd, '.cache') } });
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

/** A user error: exit 1, one line per error on stderr, no stack trace, `where: message`. */
function assertUserError(r: ReturnType<typeof chamlab>, message: RegExp): void {
  assert.equal(r.signal, null, `killed by ${r.signal}: ${r.err}`);
  assert.equal(r.code, 1, `exit ${r.code}: ${r.err}`);
  assert.doesNotMatch(r.err, /\n\s+at |internal error/, r.err);
  assert.match(r.err, message);
}

const made: string[] = [];
process.on('exit', () => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

/** A temporary folder holding `project/` (with a .chamlab-root marker) and `outside/`. */
function sandbox(files: Record<string, string | Buffer> = {}): { dir: string; project: string; outside: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-hostile-'));
  made.push(dir);
  const project = path.join(dir, 'project');
  const outside = path.join(dir, 'outside');
  fs.mkdirSync(project);
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(project, '.chamlab-root'), '');
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(project, name)), { recursive: true });
    fs.writeFileSync(path.join(project, name), content);
  }
  return { dir, project, outside };
}

test('1. a YAML spec cannot run code: extends may name only YAML files, also behind a symlink', () => {
  const marker = path.join(os.tmpdir(), `chamlab-hostile-pwned-${process.pid}`);
  const evil = `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran');\nexport default {};\n`;
  const { project } = sandbox({ 'evil.ts': evil, 'a.yaml': 'extends: evil.ts\nname: x\n', 'b.yaml': 'extends: [base.yaml]\nname: x\n' });
  fs.symlinkSync('evil.ts', path.join(project, 'base.yaml'));
  try {
    assertUserError(chamlab(project, ['validate', 'a.yaml']), /^a\.yaml:1:10: extends: 'evil\.ts' is not a YAML file/m);
    assertUserError(chamlab(project, ['validate', 'b.yaml']), /^b\.yaml:1:11: extends: 'base\.yaml' is not a YAML file/m);
    assert.equal(fs.existsSync(marker), false, 'the TypeScript file ran');
  } finally {
    fs.rmSync(marker, { force: true });
  }
});

/** A spec with one image-text source read from `origin` (a folder of NAME.png + NAME.txt). */
const PICS_SPEC = (origin: string) => `name: pics
model: { vocab: { text: 300, image: 16 }, d_model: 16, layers: 1, heads: 1 }
tokenizer: { image: { resolution: 8, patch: 4, codebook_size: 16, train_images: 4, iterations: 1 } }
data:
  seq_len: 64
  sources:
    pics: { kind: image-text, origin: ${JSON.stringify(origin)}, holdout: 0 }
  stages:
    - { name: s1, share: 1, weights: { pics: 1 } }
train: { steps: 2, batch: 1 }
`;

/** An opaque gray PNG of the given size. */
function png(width: number, height: number): Buffer {
  const { PNG } = require('pngjs') as typeof import('pngjs');
  const p = new PNG({ width, height });
  p.data.fill(128);
  return PNG.sync.write(p);
}

test('2. every file of a data folder is checked after resolving links: a caption symlinked outside the project is refused', () => {
  const { project, outside } = sandbox({ 'spec.yaml': PICS_SPEC('pics'), 'pics/a.png': png(8, 8), 'pics/a.txt': 'a gray square' });
  fs.writeFileSync(path.join(outside, 'secret.txt'), 'SECRET-CAPTION');
  fs.writeFileSync(path.join(outside, 'b.png'), png(8, 8));
  fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(project, 'pics', 'b.txt'));
  fs.symlinkSync(path.join(outside, 'b.png'), path.join(project, 'pics', 'b.png'));
  const r = chamlab(project, ['data', 'spec.yaml', '--json', '--samples', '1', '--tokens', '64']);
  assertUserError(r, /^pics\/b\.(png|txt): .*outside the project folder/m);
  assert.doesNotMatch(r.out + r.err, /SECRET-CAPTION/);
});

test('17. validate refuses, with file:line:col, an origin that leads outside the project through a symlink', () => {
  const spec = SMALL.replace('t: { kind: text, origin: "builtin:moby-dick" }', 't: { kind: text, origin: "linked/notes.jsonl" }');
  const { project, outside } = sandbox({ 'spec.yaml': spec });
  fs.writeFileSync(path.join(outside, 'notes.jsonl'), '{"text": "SECRET"}\n');
  fs.symlinkSync(outside, path.join(project, 'linked'));
  assertUserError(chamlab(project, ['validate', 'spec.yaml']), /^spec\.yaml:12:31: data\.sources\.t\.origin: 'linked\/notes\.jsonl' is outside the project root/m);
});

/** Special files to write over: a FIFO always, a null device too where we may create one (root). */
function specialFiles(dir: string): string[] {
  const fifo = path.join(dir, 'fifo');
  const r = spawnSync('mkfifo', [fifo]);
  assert.equal(r.status, 0, `mkfifo: ${r.stderr}`);
  const out = [fifo];
  if (process.getuid?.() === 0) {
    const dev = path.join(dir, 'nulldev');
    assert.equal(spawnSync('mknod', [dev, 'c', '1', '3']).status, 0);
    out.push(dev);
  }
  return out;
}

test('3. outputs never replace special files: a FIFO or a device as --out is refused before anything is written', () => {
  const { project } = sandbox({ 'spec.yaml': SMALL, 'b.json': JSON.stringify({ input_ids: [[1, 2]], labels: [[2, 3]] }) });
  assert.equal(chamlab(project, ['init', 'spec.yaml', '--out', 'w/w.safetensors']).code, 0);
  const before = fs.readdirSync(project).sort();
  for (const special of specialFiles(project)) {
    const name = path.basename(special);
    for (const args of [['init', 'spec.yaml', '--out', name], ['schema', '--out', name], ['grad', 'spec.yaml', '--weights', 'w.safetensors', '--batch', 'b.json', '--out', name]]) {
      const r = chamlab(project, args.map((a) => (a === 'w.safetensors' ? 'w/w.safetensors' : a)), 20_000);
      assertUserError(r, new RegExp(`^--out: ${name} is a (FIFO|device); an output must be a regular file or not exist yet`, 'm'));
      const st = fs.lstatSync(special);
      assert.ok(st.isFIFO() || st.isCharacterDevice(), `${args[0]} replaced ${name}`);
    }
  }
  assert.deepEqual(fs.readdirSync(project).sort(), [...before, 'fifo', ...(process.getuid?.() === 0 ? ['nulldev'] : [])].sort());
});

test('12. an output under /proc fails at once (no mkdir loop); a FIFO as an input never blocks', () => {
  const spec = SMALL.replace('t: { kind: text, origin: "builtin:moby-dick" }', 't: { kind: text, origin: "fifo" }');
  const { project } = sandbox({ 'spec.yaml': spec, 'ok.yaml': SMALL });
  assert.equal(spawnSync('mkfifo', [path.join(project, 'fifo')]).status, 0);
  assertUserError(chamlab(project, ['compile', 'ok.yaml', '--shapes-only', '--out', '/proc/chamlab-hostile/x'], 20_000), /^--out: cannot create the folder \/proc\/chamlab-hostile/m);
  assertUserError(chamlab(project, ['data', 'spec.yaml', '--cache', 'cache'], 20_000), /^data\.sources\.t\.origin: "fifo" is a FIFO, not a regular file/m);
  const grad = (weights: string, batch: string) => chamlab(project, ['grad', 'ok.yaml', '--weights', weights, '--batch', batch, '--out', 'g.safetensors'], 20_000);
  assert.equal(chamlab(project, ['init', 'ok.yaml', '--out', 'w.safetensors']).code, 0);
  fs.writeFileSync(path.join(project, 'b.json'), JSON.stringify({ input_ids: [[1, 2]], labels: [[2, 3]] }));
  assertUserError(grad('w.safetensors', 'fifo'), /^--batch: fifo is a FIFO, not a regular file/m);
  assertUserError(grad('fifo', 'b.json'), /^--weights: fifo is a FIFO, not a regular file/m);
});

test('4. no spec value shapes a path: names used in file names must be safe names (stage, source, experiment)', () => {
  const stage = SMALL.replace('name: s1', 'name: "../../ESCAPED"');
  const source = SMALL.replace(/\bt: \{ kind: text/, '"../t": { kind: text').replace('weights: { t: 1', 'weights: { "../t": 1');
  const name = SMALL.replace('name: small', 'name: "a/../../b"');
  const { project, dir } = sandbox({ 'stage.yaml': stage, 'source.yaml': source, 'name.yaml': name });
  const r = chamlab(project, ['data', 'stage.yaml', '--png', 'pngs', '--samples', '1', '--tokens', '64', '--cache', 'cache']);
  assertUserError(r, /^stage\.yaml:15:16: data\.stages\.0\.name: must be a safe name \(letters, digits, '\.', '_' and '-', starting with a letter, digit or '_', at most 64 characters\), got '\.\.\/\.\.\/ESCAPED'$/m);
  assert.equal(fs.existsSync(path.join(dir, 'ESCAPED-seq0-image0.png')), false);
  assertUserError(chamlab(project, ['validate', 'source.yaml']), /^source\.yaml:12:5: data\.sources: '\.\.\/t' is not a safe name/m);
  assertUserError(chamlab(project, ['validate', 'name.yaml']), /^name\.yaml:1:8: name: must be a safe name/m);
});

test('5. a mapping with 120,000 keys (1 MiB) is refused at once, not checked for duplicates in quadratic time', () => {
  const lines = ['name: x', 'model:'];
  for (let i = 0, size = 0; size < 1_000_000; i++) size += lines[lines.push(`  k${i}: 0`) - 1].length + 1;
  const { project } = sandbox({ 'keys.yaml': lines.join('\n') + '\n' });
  const r = chamlab(project, ['validate', 'keys.yaml'], 20_000);
  assertUserError(r, /^keys\.yaml:1003:3: more than 1000 keys in one mapping$/m);
  const dup = sandbox({ 'dup.yaml': 'name: x\nmodel:\n  a: 1\n  b: 2\n  "a": 3\n' });
  assertUserError(chamlab(dup.project, ['validate', 'dup.yaml']), /^dup\.yaml:5:3: duplicate key 'a'$/m);
});

test('6. extends fan-out is bounded: at most 16 entries per extends, and each base is loaded once (by real path)', () => {
  // Forty entries each: refused at the list.
  const wide: Record<string, string> = {};
  for (let i = 0; i < 4; i++) wide[`f${i}.yaml`] = `extends: [${Array(40).fill(`f${i + 1}.yaml`).join(', ')}]\n`;
  wide['f4.yaml'] = SMALL;
  const a = sandbox(wide);
  assertUserError(chamlab(a.project, ['validate', 'f0.yaml'], 20_000), /^f0\.yaml:1:10: extends: 40 entries; at most 16 are allowed$/m);
  // A lattice 15 levels deep, two files per level each extending both files of the next: 2^15 paths,
  // 30 files. It resolves, in the time of loading 30 files.
  const deep: Record<string, string> = {};
  for (let i = 0; i < 15; i++) for (const n of ['a', 'b']) deep[`${n}${i}.yaml`] = `extends: [a${i + 1}.yaml, ./b${i + 1}.yaml]\n`;
  deep['a15.yaml'] = SMALL;
  deep['b15.yaml'] = 'description: from b\n';
  const b = sandbox(deep);
  const r = chamlab(b.project, ['show', 'a0.yaml', '--json'], 20_000);
  assert.equal(r.code, 0, r.err);
  assert.equal(JSON.parse(r.out).spec.description, 'from b');
});

test('7. every size field has a schema maximum: --set model.layers=1e9 is a positioned error for info and placement, not an out-of-memory crash', () => {
  const { project } = sandbox({ 'spec.yaml': SMALL });
  for (const cmd of ['info', 'placement', 'compile']) {
    const extra = cmd === 'compile' ? ['--shapes-only', '--out', 'c'] : cmd === 'placement' ? ['--device', 'cpu'] : [];
    const r = chamlab(project, [cmd, 'spec.yaml', '--set', 'model.layers=1e9', ...extra], 60_000);
    assertUserError(r, /^--set:1:14: model\.layers: must be <= 512, got 1000000000$/m);
  }
  for (const [set, msg] of [
    ['model.d_model=1e12', /model\.d_model: must be <= 65536/],
    ['model.vocab.text=1e12', /model\.vocab\.text: must be <= 1048576/],
    ['model.max_seq_len=1e9', /model\.max_seq_len: must be <= 131072/],
    ['data.seq_len=1e9', /data\.seq_len: must be <= 131072/],
    ['train.batch=1e9', /train\.batch: must be <= 65536/],
    ['tokenizer.image.resolution=1e6', /tokenizer\.image\.resolution: must be <= 1024/],
  ] as const) {
    assertUserError(chamlab(project, ['info', 'spec.yaml', '--set', set]), msg);
  }
  // The largest allowed model is still only counted: info answers without building it.
  const big = chamlab(project, ['info', 'spec.yaml', '--json', '--set', 'model.layers=512', '--set', 'model.d_model=65536', '--set', 'model.heads=512'], 60_000);
  assert.equal(big.code, 0, big.err);
  assert.ok(JSON.parse(big.out).params.total > 1e12);
});

/** A grayscale PNG of any declared size: the real pixels (all zero) deflated, or only `idatBytes` of them. */
function bigPng(width: number, height: number, idatBytes?: number): Buffer {
  const zlib = require('node:zlib') as typeof import('node:zlib');
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth; colour type 0 (gray), no interlace
  let idat = zlib.deflateSync(Buffer.alloc(idatBytes === undefined ? height * (width + 1) : 0));
  if (idatBytes !== undefined) idat = zlib.deflateSync(Buffer.alloc(idatBytes));
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

test('8. image dimensions are read from the PNG header and refused beyond 4096 x 4096 before anything is decoded', () => {
  const { project } = sandbox({ 'spec.yaml': PICS_SPEC('pics'), 'pics/a.png': bigPng(5000, 5000), 'pics/a.txt': 'big' });
  assertUserError(chamlab(project, ['data', 'spec.yaml', '--cache', 'cache']), /^pics\/a\.png: the image is 5000 x 5000 pixels; images may be at most 4096 x 4096$/m);
  fs.writeFileSync(path.join(project, 'pics', 'a.png'), bigPng(30000, 30000, 1000));
  const r = chamlab(project, ['data', 'spec.yaml', '--cache', 'cache']);
  assertUserError(r, /^pics\/a\.png: the image is 30000 x 30000 pixels/m);
  fs.writeFileSync(path.join(project, 'pics', 'a.png'), Buffer.from('not a png at all'));
  assertUserError(chamlab(project, ['data', 'spec.yaml', '--cache', 'cache']), /^pics\/a\.png: cannot read PNG: no PNG signature/m);
});

test('9. grad bounds the batch by a memory estimate before allocating, and says the estimate', () => {
  const { checkGradMemory, gradMemoryBytes } = require('../src/model/grad') as typeof import('../src/model/grad');
  const { modelDims } = require('../src/model/config') as typeof import('../src/model/config');
  const { SpecSchema } = require('../dsl/schema') as typeof import('../dsl/schema');
  const { parse } = require('yaml') as typeof import('yaml');
  const m = modelDims(SpecSchema.parse(parse(SMALL)).model);
  // The probe's 20000 x 32 batch (it used 9.7 GB) against a 4 GiB limit; a small batch passes.
  assert.ok(gradMemoryBytes(m, 20000, 32) > 9e9);
  assert.throws(() => checkGradMemory(m, 20000, 32, 'b.json', 4 * 2 ** 30), /b\.json: a batch of 20000 x 32 tokens needs about 1\d\.\d\d GiB for the loss, logits and gradients, more than the limit of 4\.00 GiB/);
  checkGradMemory(m, 2, 32, 'b.json', 4 * 2 ** 30);
  // Through the CLI, against this machine: a model too large for any machine is refused from the
  // batch file alone, before the weights are even opened.
  const { project } = sandbox({ 'spec.yaml': SMALL, 'w.safetensors': 'never read' });
  const rows = (n: number, v: number) => Array.from({ length: n }, () => Array(32).fill(v));
  fs.writeFileSync(path.join(project, 'big.json'), JSON.stringify({ input_ids: rows(20000, 1), labels: rows(20000, 2) }));
  const big = ['--set', 'model.layers=512', '--set', 'model.d_model=65536', '--set', 'model.heads=512'];
  const r = chamlab(project, ['grad', 'spec.yaml', ...big, '--weights', 'w.safetensors', '--batch', 'big.json', '--out', 'g.safetensors'], 60_000);
  assertUserError(r, /^big\.json: a batch of 20000 x 32 tokens needs about [\d.]+ (TiB|GiB) for the loss, logits and gradients, more than the limit of [\d.]+ GiB \(half of this machine's memory\); use fewer or shorter sequences$/m);
  assert.equal(fs.existsSync(path.join(project, 'g.safetensors')), false);
});

/** A safetensors file from a header object and a data section of `dataBytes` zero bytes. */
function safetensors(header: unknown, dataBytes = 0): Buffer {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, Buffer.alloc(dataBytes)]);
}

test('10. user mistakes that ended as internal errors are one-line user errors with exit 1', () => {
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
  const { project } = sandbox({
    'spec.yaml': SMALL,
    'expr.yaml': SMALL.replace('layers: 1', 'layers: "=constructor.name"'),
    'sweep.yaml': SMALL + 'sweep:\n  grid:\n    "__proto__.x": [1, 2]\n',
    'sweep2.yaml': SMALL + 'sweep:\n  grid:\n    "model.constructor": [1, 2]\n',
    'deep.yaml': SMALL.replace('origin: "builtin:moby-dick"', 'origin: deep.jsonl'),
    'deep.jsonl': `{"text": ${deep(100_000)}}\n`,
    'deep.json': `{"input_ids": [[${deep(100_000)}]], "labels": [[1]]}`,
    'deep.safetensors': safetensors(`{"w": {"dtype": ${deep(100_000)}, "shape": [], "data_offsets": [0, 4]}}`, 4),
    'b.json': JSON.stringify({ input_ids: [[1, 2]], labels: [[2, 3]] }),
    'idx/model.safetensors.index.json': JSON.stringify({ weight_map: { 'model.embed_tokens.weight': 5 } }),
    'afile': 'x',
  });
  const cases: Array<[string[], RegExp]> = [
    [['show', 'spec.yaml', '--set', '__proto__.x=1'], /^--set:1:1: unknown path '__proto__\.x'/m],
    [['show', 'spec.yaml', '--set', 'constructor.name=1'], /^--set:1:1: unknown path 'constructor\.name'/m],
    [['show', 'spec.yaml', '--set', 'model.vocab.hasOwnProperty=1'], /^--set:1:1: unknown path 'model\.vocab\.hasOwnProperty'/m],
    [['validate', 'expr.yaml'], /^expr\.yaml:5:12: model\.layers: 'constructor\.name' is not a field/m],
    [['sweep-plan', 'sweep.yaml'], /^sweep\.yaml:19:5: sweep\.grid: '__proto__\.x' is not a field/m],
    [['sweep-plan', 'sweep2.yaml'], /^sweep2\.yaml:19:5: sweep\.grid: 'model\.constructor' is not a field/m],
    [['data', 'deep.yaml', '--cache', 'cache'], /^deep\.jsonl:1: "text" must be a string, got \[\[\[\.\.\.\]\]\]$/m],
    [['grad', 'spec.yaml', '--weights', 'deep.safetensors', '--batch', 'b.json', '--out', 'g.safetensors'], /^deep\.safetensors: not a valid safetensors file: tensor "w" has unknown dtype \[\[\[\.\.\.\]\]\]$/m],
    [['grad', 'spec.yaml', '--weights', 'idx', '--batch', 'b.json', '--out', 'g.safetensors'], /^idx\/model\.safetensors\.index\.json: weight_map\["model\.embed_tokens\.weight"\] must be a shard file name, got 5$/m],
    [['compile', 'spec.yaml', '--shapes-only', '--out', 'afile'], /^--out: afile is a file, not a folder$/m],
    [['compile', 'spec.yaml', '--shapes-only', '--out', 'afile/sub'], /^--out: afile\/sub lies under afile, which is a file, not a folder$/m],
    [['schema', '--out', 'afile/schema.json'], /^--out: afile\/schema\.json lies under afile, which is a file, not a folder$/m],
    [['data', 'spec.yaml', '--png', 'afile'], /^--png: afile is a file, not a folder$/m],
    [['data', 'spec.yaml', '--cache', 'afile/cache'], /^--cache: afile\/cache lies under afile, which is a file, not a folder$/m],
    [['init', 'spec.yaml', '--out', 'afile/w.safetensors'], /^--out: afile\/w\.safetensors lies under afile, which is a file, not a folder$/m],
  ];
  const init = chamlab(project, ['init', 'spec.yaml', '--out', 'w.safetensors']);
  assert.equal(init.code, 0, init.err);
  cases.push([['grad', 'spec.yaml', '--weights', 'w.safetensors', '--batch', 'deep.json', '--out', 'g.safetensors'], /^deep\.json: "input_ids"\[0\]\[0\] is \[\[\[\.\.\.\]\]\], not an integer$/m]);
  // A folder we may not write: read-only for an ordinary user; for root (who ignores modes), sysfs.
  const readonly = process.getuid?.() === 0 ? '/sys/chamlab-hostile' : path.join(project, 'ro');
  if (process.getuid?.() !== 0) fs.mkdirSync(readonly, { mode: 0o555 });
  cases.push([['schema', '--out', path.join(readonly, 'schema.json')], /^--out: (cannot create the folder .*: (permission denied|operation not permitted|read-only file system)|.* is not writable)$/m]);
  cases.push([['compile', 'spec.yaml', '--shapes-only', '--out', path.join(readonly, 'c')], /^--out: (cannot create the folder .*: (permission denied|operation not permitted|read-only file system)|.* is not writable)$/m]);
  for (const [args, message] of cases) assertUserError(chamlab(project, args), message);
});

test("11. shard paths in a weight index stay in the index's folder (after links); nothing outside is opened", () => {
  const { project, outside } = sandbox({
    'spec.yaml': SMALL,
    'b.json': JSON.stringify({ input_ids: [[1, 2]], labels: [[2, 3]] }),
    'idx/model.safetensors.index.json': JSON.stringify({ weight_map: { 'model.embed_tokens.weight': '../../outside/secret.safetensors' } }),
    'idx2/model.safetensors.index.json': JSON.stringify({ weight_map: { 'model.embed_tokens.weight': 'linked.safetensors' } }),
  });
  fs.writeFileSync(path.join(outside, 'secret.safetensors'), Buffer.alloc(12345));
  fs.symlinkSync(path.join(outside, 'secret.safetensors'), path.join(project, 'idx2', 'linked.safetensors'));
  for (const idx of ['idx', 'idx2']) {
    const r = chamlab(project, ['grad', 'spec.yaml', '--weights', idx, '--batch', 'b.json', '--out', 'g.safetensors']);
    assertUserError(r, new RegExp(`^${idx}/model\\.safetensors\\.index\\.json: ".*" is outside the folder of the index`, 'm'));
    assert.doesNotMatch(r.err, /12345/);
  }
});

/** Every file below `dir` whose name marks it as a temporary file. */
function tempFiles(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => /\.tmp$|\.tmp-|\.\d+\.tmp/.test(path.basename(f)));
}

test('13. a failed write leaves no temporary file behind', () => {
  const { project } = sandbox({ 'spec.yaml': SMALL, 'b.json': JSON.stringify({ input_ids: [[1, 2]], labels: [[2, 3]] }) });
  fs.mkdirSync(path.join(project, 'wdir'));
  fs.mkdirSync(path.join(project, 'cfg', 'config.json'), { recursive: true });
  assertUserError(chamlab(project, ['init', 'spec.yaml', '--out', 'wdir']), /^--out: wdir is a folder; an output must be a regular file/m);
  assertUserError(chamlab(project, ['init', 'spec.yaml', '--out', 'cfg/w.safetensors']), /^--out: .*cfg\/config\.json is a folder; an output must be a regular file/m);
  assert.equal(fs.existsSync(path.join(project, 'cfg', 'w.safetensors')), false, 'weights written although their config could not be');
  assert.equal(chamlab(project, ['init', 'spec.yaml', '--out', 'w.safetensors']).code, 0);
  fs.mkdirSync(path.join(project, 'g.safetensors'));
  assertUserError(chamlab(project, ['grad', 'spec.yaml', '--weights', 'w.safetensors', '--batch', 'b.json', '--out', 'g.safetensors']), /^--out: g\.safetensors is a folder/m);
  assert.deepEqual(tempFiles(project), []);
});

test('14. seeds are validated to the range the generators use (0..2^32-1), so distinct hashes mean distinct runs', () => {
  const { project } = sandbox({ 'spec.yaml': SMALL, 'sweep.yaml': SMALL + 'sweep:\n  seeds: [1, 4294967296]\n' });
  assertUserError(chamlab(project, ['init', 'spec.yaml', '--out', 'w.safetensors', '--seed', '4294967296']), /^--seed: must be an integer from 0 to 4294967295, got '4294967296'$/m);
  assertUserError(chamlab(project, ['gradcheck', '--seed', '4294967296']), /^--seed: must be an integer from 0 to 4294967295, got '4294967296'$/m);
  assertUserError(chamlab(project, ['show', 'spec.yaml', '--set', 'train.seed=4294967296']), /^--set:1:12: train\.seed: must be <= 4294967295, got 4294967296$/m);
  assertUserError(chamlab(project, ['sweep-plan', 'sweep.yaml']), /^sweep\.yaml:18:14: sweep\.seeds\.1: must be <= 4294967295, got 4294967296$/m);
  assert.equal(chamlab(project, ['init', 'spec.yaml', '--out', 'w.safetensors', '--seed', '4294967295']).code, 0);
});

test('15. init scales are bounded: model.init.std=1e308 is refused; the largest allowed std gives finite weights', () => {
  const { project } = sandbox({ 'spec.yaml': SMALL });
  assertUserError(chamlab(project, ['init', 'spec.yaml', '--out', 'w.safetensors', '--set', 'model.init.std=1e308']), /^--set:1:16: model\.init\.std: must be <= 10, got 1e\+308$/m);
  assert.equal(fs.existsSync(path.join(project, 'w.safetensors')), false);
  const ok = chamlab(project, ['init', 'spec.yaml', '--out', 'w.safetensors', '--set', 'model.init.std=10']);
  assert.equal(ok.code, 0, ok.err);
  const { readSafetensors } = require('../src/model/safetensors') as typeof import('../src/model/safetensors');
  for (const [name, t] of readSafetensors(path.join(project, 'w.safetensors'))) assert.ok(t.data.every(Number.isFinite), `${name} has non-finite values`);
});

test('18. safetensors tensors must tile the data section: overlapping, aliased data, holes and trailing bytes are refused', () => {
  const t = (begin: number, end: number) => ({ dtype: 'F32', shape: [(end - begin) / 4], data_offsets: [begin, end] });
  const { project } = sandbox({
    'spec.yaml': SMALL,
    'b.json': JSON.stringify({ input_ids: [[1, 2]], labels: [[2, 3]] }),
    'alias.safetensors': safetensors({ a: t(0, 4), b: t(0, 4) }, 4),
    'overlap.safetensors': safetensors({ a: t(0, 8), b: t(4, 12) }, 12),
    'hole.safetensors': safetensors({ a: t(0, 4), b: t(8, 12) }, 12),
    'tail.safetensors': safetensors({ a: t(0, 4) }, 8),
  });
  const grad = (w: string) => chamlab(project, ['grad', 'spec.yaml', '--weights', w, '--batch', 'b.json', '--out', 'g.safetensors']);
  assertUserError(grad('alias.safetensors'), /^alias\.safetensors: not a valid safetensors file: tensor "b" \(bytes 0\.\.4\) overlaps tensor "a" \(bytes 0\.\.4\)$/m);
  assertUserError(grad('overlap.safetensors'), /^overlap\.safetensors: not a valid safetensors file: tensor "b" \(bytes 4\.\.12\) overlaps tensor "a" \(bytes 0\.\.8\)$/m);
  assertUserError(grad('hole.safetensors'), /^hole\.safetensors: not a valid safetensors file: 4 bytes between tensor "a" and tensor "b" belong to no tensor$/m);
  assertUserError(grad('tail.safetensors'), /^tail\.safetensors: not a valid safetensors file: the last 4 bytes of the data section belong to no tensor$/m);
});

test('19. control characters in spec strings are refused (they would reach the hashed spec); tabs and line breaks are text', () => {
  const { project } = sandbox({
    'nul.yaml': SMALL.replace('name: small', 'name: small\ndescription: "a\\0b"'),
    'bell.yaml': SMALL.replace('origin: "builtin:moby-dick"', 'origin: "notes\\u0007.jsonl"'),
    'key.yaml': SMALL.replace('train: { steps: 10 }', 'train: { steps: 10, "seed\\x1b[2J": 1 }'),
    'ok.yaml': SMALL.replace('name: small', 'name: small\ndescription: "two\\tcolumns\\nand two lines"'),
  });
  assertUserError(chamlab(project, ['show', 'nul.yaml']), /^nul\.yaml:2:15: description: control character U\+0000 in a string; spec strings may not hold control characters \(tabs and line breaks excepted\)$/m);
  assertUserError(chamlab(project, ['show', 'bell.yaml']), /^bell\.yaml:12:31: data\.sources\.t\.origin: control character U\+0007 in a string/m);
  assertUserError(chamlab(project, ['show', 'key.yaml']), /^key\.yaml:16:21: train: control character U\+001B in a key/m);
  assertUserError(chamlab(project, ['show', 'nul.yaml', '--set', 'description="x\\u0085"']), /^--set:1:14: description: control character U\+0085 in a string/m);
  const ok = chamlab(project, ['show', 'ok.yaml', '--json']);
  assert.equal(ok.code, 0, ok.err);
  assert.equal(JSON.parse(ok.out).spec.description, 'two\tcolumns\nand two lines');
});

test('20. messages say what is wrong: a negative number as a value, an unknown field named like an Object member', () => {
  const { project } = sandbox({ 'spec.yaml': SMALL, 'expr.yaml': SMALL.replace('layers: 1', 'layers: "=model.constructor"') });
  assertUserError(chamlab(project, ['init', 'spec.yaml', '--out', 'w.safetensors', '--seed', '-1']), /^--seed: must be an integer from 0 to 4294967295, got '-1'$/m);
  assertUserError(chamlab(project, ['data', 'spec.yaml', '--samples', '-1']), /^--samples: must be an integer from 0 to 1000, got '-1'$/m);
  assertUserError(chamlab(project, ['data', 'spec.yaml', '--tokens', '-5e3']), /^--tokens: must be an integer from 1 to 10000000, got '-5e3'$/m);
  assertUserError(chamlab(project, ['validate', 'expr.yaml']), /^expr\.yaml:5:12: model\.layers: 'model\.constructor' is not a field/m);
  assertUserError(chamlab(project, ['init', 'spec.yaml', '--out']), /^chamlab init: --out needs a value \(see 'chamlab init --help'\)$/m);
  assertUserError(chamlab(project, ['init', 'spec.yaml', '--out', '-w']), /^chamlab init: the value of --out, '-w', looks like an option; write --out=-w \(see 'chamlab init --help'\)$/m);
  assertUserError(chamlab(project, ['info', 'spec.yaml', '--nope']), /^chamlab info: unknown option '--nope' \(see 'chamlab info --help'\)$/m);
});

test('16. every command prints its usage, options and an example with --help and -h', () => {
  const list = chamlab(REPO, ['help']);
  assert.equal(list.code, 0);
  const names = [...list.out.matchAll(/^ {2}(\S+) {2,}/gm)].map((m) => m[1]);
  for (const n of ['validate', 'show', 'sweep-plan', 'schema', 'compile', 'gradcheck', 'info', 'init', 'grad', 'data', 'placement', 'demo']) assert.ok(names.includes(n), `${n} is not listed`);
  for (const name of names) {
    for (const flag of ['--help', '-h']) {
      const r = chamlab(REPO, [name, flag]);
      assert.equal(r.code, 0, `${name} ${flag}: ${r.err}`);
      assert.match(r.out, new RegExp(`^usage: chamlab ${name}\\b`), `${name} ${flag}`);
      assert.match(r.out, /\noptions:\n/, `${name} ${flag} lists no options`);
      assert.match(r.out, new RegExp(`\\nexample:\\n {2}chamlab ${name}\\b`), `${name} ${flag} has no example`);
      assert.equal(r.err, '');
    }
  }
});

// ---------------------------------------------------------------------------------------------------
// Found by the fuzz suite (fuzz-cli.test.ts), pinned here

const NOTES_SPEC = `name: fz
model: { vocab: { text: 300, image: 16 }, d_model: 16, layers: 1, heads: 2 }
tokenizer: { image: { resolution: 8, patch: 4, codebook_size: 16 } }
data:
  seq_len: 32
  sources:
    n: { kind: text, origin: notes.jsonl, holdout: 0.1 }
  stages:
    - { name: s1, share: 1, weights: { n: 1 } }
train: { steps: 4, batch: 2, eval_every: 2, eval_batches: 1, checkpoint_every: 2 }
`;
const NOTES = Array.from({ length: 40 }, (_, i) => JSON.stringify({ text: `note ${i}: the quick brown fox jumps over the lazy dog` })).join('\n') + '\n';

test('fuzz: special files and links in a run folder never hang or leak a resumed run', () => {
  const { project, outside } = sandbox({ 'spec.yaml': NOTES_SPEC, 'notes.jsonl': NOTES });
  const first = chamlab(project, ['train', 'spec.yaml', '--out', 'runs', '--threads', '1'], 120_000);
  assert.equal(first.code, 0, first.err);
  const [hash] = fs.readdirSync(path.join(project, 'runs', 'fz'));
  const finished = path.join(project, 'runs', 'fz-done');
  fs.renameSync(path.join(project, 'runs', 'fz', hash), finished);
  fs.writeFileSync(path.join(outside, 'secret.txt'), 'SECRET');
  const resume = (change: (run: string) => void) => {
    const run = path.join(project, 'runs', 'fz', hash);
    fs.rmSync(run, { recursive: true, force: true });
    fs.cpSync(finished, run, { recursive: true });
    const summary = path.join(run, 'summary.json');
    fs.writeFileSync(summary, fs.readFileSync(summary, 'utf8').replace('"status":"finished"', '"status":"interrupted"'));
    change(run);
    const r = chamlab(project, ['train', 'spec.yaml', '--out', 'runs', '--threads', '1'], 60_000);
    assert.equal(r.signal, null, `killed (hung?): ${r.err}`);
    assert.doesNotMatch(r.err, /\n\s+at |internal error/, r.err);
    return r;
  };
  const fifo = (p: string) => {
    fs.rmSync(p, { recursive: true, force: true });
    assert.equal(spawnSync('mkfifo', [p]).status, 0);
  };
  assertUserError(resume((run) => fifo(path.join(run, 'checkpoints'))), /checkpoints is a FIFO/);
  assertUserError(resume((run) => fifo(path.join(run, 'metrics.jsonl'))), /metrics\.jsonl: the file is a FIFO, not a regular file/);
  const best = resume((run) => fifo(path.join(run, 'checkpoints', 'best')));
  assert.ok(best.code === 0 || best.code === 1, best.err);
  resume((run) => {
    fs.rmSync(path.join(run, 'run.log'));
    fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(run, 'run.log'));
  });
  assert.equal(fs.readFileSync(path.join(outside, 'secret.txt'), 'utf8'), 'SECRET', 'run.log was appended through a link');
});

test('fuzz: an image codebook with an infinite value is refused (it made the nearest-code search loop forever)', () => {
  const spec = PICS_SPEC('pics').replace('train_images: 4, iterations: 1 }', 'file: vq.json }');
  const codebook = Array(16 * 16).fill(0.5);
  codebook[3] = '@INF@';
  const { project } = sandbox({ 'spec.yaml': spec, 'pics/a.png': png(8, 8), 'pics/a.txt': 'gray', 'vq.json': JSON.stringify({ format: 'chamlab-vq-kmeans', version: 1, resolution: 8, patch: 4, channels: 1, codebook_size: 16, codebook }).replace('"@INF@"', '1e400') });
  assertUserError(chamlab(project, ['data', 'spec.yaml', '--samples', '1', '--tokens', '64', '--cache', 'cache'], 30_000), /^vq\.json: codebook\[3\] is Infinity; codebook values are pixels in \[-1, 1\]$/m);
});

test('fuzz: data --tokens and --samples are bounded (--tokens 4294967295 measured for ever)', () => {
  const { project } = sandbox({ 'spec.yaml': SMALL });
  assertUserError(chamlab(project, ['data', 'spec.yaml', '--tokens', '4294967295']), /^--tokens: must be an integer from 1 to 10000000, got '4294967295'$/m);
  assertUserError(chamlab(project, ['data', 'spec.yaml', '--samples', '100000']), /^--samples: must be an integer from 0 to 1000, got '100000'$/m);
});

test('fuzz: a megabyte of "[" is refused by the lexer before the YAML parser recurses (it took seconds and a gigabyte), in a spec and in a run folder', () => {
  const { project } = sandbox({ 'ok.yaml': SMALL, 'deep.yaml': `name: x\ndeep: ${'['.repeat(1_000_000)}\n`, 'run/spec.yaml': `# hash: ${'0'.repeat(64)}\n${'['.repeat(1_300_000)}\n`, 'run/metrics.jsonl': '' });
  assertUserError(chamlab(project, ['validate', 'deep.yaml'], 20_000), /^deep\.yaml:2:71: the document nests deeper than 64 levels$/m);
  assertUserError(chamlab(project, ['show', 'ok.yaml', '--set', `model.layers=${'['.repeat(70)}`], 20_000), /^--set:1:78: the document nests deeper than 64 levels$/m);
  const r = chamlab(project, ['report', 'run', '--out', 'r.html'], 20_000);
  assertUserError(r, /^run: neither a run folder nor a sweep folder/m);
});
