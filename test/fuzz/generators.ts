/**
 * The fuzz suite's input kinds. Each kind is one generator, `(r, fx) => FuzzCase`, and one entry of
 * KINDS with its CI count; a generator builds a small project tree (see harness.ts) and a command
 * line that feeds one hostile input of its kind to the CLI. To add a kind (a new file the CLI reads):
 * write a generator that starts from a valid input (a fixture, or `fx.*` built in prepareFixtures),
 * breaks it with the mutators below (mutateJsonText, mutateYaml, mutateBytes, a hostile path), and
 * add `name: { count, generate }` to KINDS. Everything is seeded: a case is reproduced by its kind,
 * index and the suite's seed.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { SECRET, type FileSpec, type FuzzCase } from './harness';
import { SMALL } from '../dsl-fixtures';

export type Rand = () => number;

export const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
export const int = (r: Rand, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
export const chance = (r: Rand, p: number): boolean => r() < p;

/** mulberry32 seeded by a string hash: one independent stream per (suite seed, kind, index). */
export function rng(...parts: Array<string | number>): Rand {
  let h = 2166136261;
  for (const c of parts.join('/')) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  let a = h >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------------------
// Base inputs

/** A valid spec with built-in sources only (nothing is read from disk): for the spec commands. */

/** A valid spec whose data are files of the project (each data kind swaps in its hostile file). */
export function dataSpec(sources: string, extra = '', name = 'fz'): string {
  return `name: ${name}
model: { vocab: { text: 300, image: 16 }, d_model: 16, layers: 1, heads: 2 }
tokenizer:
  image: { resolution: 8, patch: 4, codebook_size: 16, train_images: 4, iterations: 1 }
${extra}data:
  seq_len: 32
  sources:
${sources}
  stages:
    - { name: s1, share: 1, weights: { ${[...sources.matchAll(/^ {4}(\w+):/gm)].map((m) => `${m[1]}: 1`).join(', ')} } }
train: { steps: 4, batch: 2, eval_every: 2, eval_batches: 1, checkpoint_every: 2 }
`;
}

export const NOTES = Array.from({ length: 40 }, (_, i) => JSON.stringify({ text: `note ${i}: the quick brown fox jumps over the lazy dog ${i % 7}` })).join('\n') + '\n';
export const TEXT_SPEC = dataSpec('    n: { kind: text, origin: notes.jsonl, holdout: 0.1 }');

/** A project-local TypeScript spec (naming it on the command line runs it, by design). */
const EVIL_TS = `require('node:fs').writeFileSync(require('node:path').join(__dirname, '..', 'outside', 'PWNED'), 'ran');\nexport default {};\n`;

/** What every case tree holds besides its own files: secrets outside, a few things to point at. */
function commonFiles(): Record<string, FileSpec> {
  return {
    'outside/secret.txt': `${SECRET}\n`,
    'outside/secret.yaml': `name: ${SECRET}\n`,
    'outside/secret.jsonl': JSON.stringify({ text: SECRET }) + '\n',
    'outside/secret.json': JSON.stringify({ input_ids: [[1]], labels: [[1]], secret: SECRET }),
    'outside/dir/secret.txt': SECRET,
    'project/evil.ts': EVIL_TS,
    'project/afile': 'just a file\n',
    'project/adir': { dir: true },
    'project/fifo': { fifo: true },
    'project/dev': { device: true },
    'project/alink': { symlink: '../outside/secret.txt' },
    'project/dirlink': { symlink: '../outside/dir' },
    'project/loop': { symlink: 'loop' },
    'project/dangling': { symlink: 'nowhere/at/all' },
  };
}

/** Inputs that need the real CLI to make (weights, a run folder, tokenizers): built once per suite run. */
export interface Fixtures {
  weights: Buffer;
  config: string;
  batch: string;
  bpe: string;
  vq: string;
  png: Buffer;
  /** A finished run of TEXT_SPEC (4 steps, checkpoints at 2 and 4), relative path -> content. */
  run: { folder: string; files: Record<string, Buffer> };
  /** A finished run with images (an image codebook), for generation with image prompts. */
  imageRun: { folder: string; files: Record<string, Buffer> };
  /** A finished two-member sweep: everything under `sweeps/`, and its sweep folder's path. */
  sweep: { folder: string; files: Record<string, Buffer> };
}

export function prepareFixtures(): Fixtures {
  const repo = path.resolve(__dirname, '..', '..', '..');
  const bin = path.join(repo, 'bin', 'chamlab.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-fuzz-fixtures-'));
  try {
    fs.writeFileSync(path.join(dir, '.chamlab-root'), '');
    fs.writeFileSync(path.join(dir, 'small.yaml'), SMALL);
    fs.writeFileSync(path.join(dir, 'text.yaml'), TEXT_SPEC);
    fs.writeFileSync(path.join(dir, 'notes.jsonl'), NOTES);
    const png = tinyPng(8, 8);
    fs.mkdirSync(path.join(dir, 'pics'));
    for (let i = 0; i < 6; i++) {
      fs.writeFileSync(path.join(dir, 'pics', `p${i}.png`), tinyPng(8, 8, 40 * i));
      fs.writeFileSync(path.join(dir, 'pics', `p${i}.txt`), `picture number ${i}`);
    }
    fs.writeFileSync(path.join(dir, 'pics.yaml'), dataSpec('    p: { kind: image-text, origin: pics, holdout: 0.2 }', '', 'fzimg'));
    const run = (...args: string[]) => {
      const r = spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, CHAMLAB_CACHE: path.join(dir, 'cache') } });
      if (r.status !== 0) throw new Error(`fixture: chamlab ${args.join(' ')} failed: ${r.stderr}`);
    };
    run('init', 'small.yaml', '--out', 'w/model.safetensors');
    run('train', 'text.yaml', '--out', 'runs', '--threads', '1');
    run('train', 'pics.yaml', '--out', 'runs', '--threads', '1');
    fs.writeFileSync(path.join(dir, 'sweep.yaml'), dataSpec('    n: { kind: text, origin: notes.jsonl, holdout: 0.1 }', '', 'fzsw').replace('steps: 4', 'steps: 2') + 'sweep:\n  grid:\n    "optimizer.lr": [1e-3, 1e-2]\n');
    run('sweep', 'sweep.yaml', '--out', 'sweeps', '--jobs', '1', '--threads', '1');
    const sweepFiles: Record<string, Buffer> = {};
    let sweepFolder = '';
    for (const rel of fs.readdirSync(path.join(dir, 'sweeps'), { recursive: true }) as string[]) {
      const p = path.join(dir, 'sweeps', rel);
      if (!fs.statSync(p).isFile() || /\.lock$/.test(rel)) continue;
      sweepFiles[`sweeps/${rel}`] = fs.readFileSync(p);
      if (path.basename(rel) === 'sweep.json') sweepFolder = `sweeps/${path.dirname(rel)}`;
    }
    const runFiles = (name: string) => {
      const runDir = fs.readdirSync(path.join(dir, 'runs', name))[0];
      const files: Record<string, Buffer> = {};
      const root = path.join(dir, 'runs', name, runDir);
      for (const rel of fs.readdirSync(root, { recursive: true }) as string[]) {
        const p = path.join(root, rel);
        if (fs.statSync(p).isFile() && rel !== 'run.lock') files[rel] = fs.readFileSync(p);
      }
      return { folder: `runs/${name}/${runDir}`, files };
    };
    const textRun = runFiles('fz');
    const imageRun = runFiles('fzimg');
    const vqFile = fs.readdirSync(path.join(dir, 'cache')).find((f) => f.startsWith('vq-'))!;
    return {
      weights: fs.readFileSync(path.join(dir, 'w', 'model.safetensors')),
      config: fs.readFileSync(path.join(dir, 'w', 'config.json'), 'utf8'),
      batch: JSON.stringify({ input_ids: [[1, 2, 3, 4], [5, 6, 7, 8]], labels: [[2, 3, 4, 5], [6, 7, 8, -100]] }),
      bpe: textRun.files['tokenizers/tokenizer.json'].toString('utf8'),
      vq: fs.readFileSync(path.join(dir, 'cache', vqFile), 'utf8'),
      png,
      run: textRun,
      imageRun,
      sweep: { folder: sweepFolder, files: sweepFiles },
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A valid grayscale PNG (via pngjs). */
export function tinyPng(width: number, height: number, shade = 128): Buffer {
  const { PNG } = require('pngjs') as typeof import('pngjs');
  const p = new PNG({ width, height });
  for (let i = 0; i < width * height; i++) {
    p.data[4 * i] = p.data[4 * i + 1] = p.data[4 * i + 2] = (shade + i * 7) % 256;
    p.data[4 * i + 3] = 255;
  }
  return PNG.sync.write(p);
}

// ---------------------------------------------------------------------------------------------------
// Mutators

const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);

/** JSON values that break readers: types, extremes, nesting, size, prototype names. */
export function hostileJsonValue(r: Rand): string {
  return pick(r, [
    '-1', '0', '-0', '1.5', '1e308', '-1e308', '1e400', '9007199254740993', '18446744073709551616', '4294967296', '2147483648',
    '"NaN"', '"Infinity"', 'NaN', 'Infinity', 'null', 'true', '""', '"x"', '"\\u0000"', '"../../outside/secret.txt"', '"/etc/passwd"',
    '[]', '{}', '[[]]', '{"__proto__": {"x": 1}}', '{"constructor": 1}', '"__proto__"', '"constructor"', deep(int(r, 50, 2000)), deep(100_000),
    JSON.stringify('y'.repeat(int(r, 1000, 300_000))), `[${Array(int(r, 1000, 50_000)).fill(1).join(',')}]`,
    `{${Array.from({ length: int(r, 100, 5000) }, (_, i) => `"k${i}": ${i}`).join(',')}}`,
  ]);
}

/**
 * A mutation of JSON text: one value replaced by a hostile one, a key deleted, renamed or added, a
 * duplicate key, or a text-level break (truncation, junk bytes, BOM, invalid UTF-8).
 */
export function mutateJsonText(text: string, r: Rand): Buffer {
  let value: any;
  try {
    value = JSON.parse(text);
  } catch {
    return mutateBytes(Buffer.from(text), r);
  }
  const paths: (string | number)[][] = [];
  const walk = (v: any, p: (string | number)[], depth: number) => {
    paths.push(p);
    if (depth > 6 || paths.length > 2000) return;
    if (Array.isArray(v)) v.slice(0, 50).forEach((x, i) => walk(x, [...p, i], depth + 1));
    else if (v && typeof v === 'object') for (const k of Object.keys(v).slice(0, 50)) walk(v[k], [...p, k], depth + 1);
  };
  walk(value, [], 0);
  const op = int(r, 0, 9);
  if (op >= 7) return mutateBytes(Buffer.from(text), r);
  const target = pick(r, paths.length > 1 ? paths.slice(1) : paths);
  const marker = `"@@HOSTILE${int(r, 0, 1e9)}@@"`;
  const holder = target.slice(0, -1).reduce((o: any, k) => o?.[k], value);
  const key = target[target.length - 1];
  if (holder === undefined || key === undefined) return Buffer.from(hostileJsonValue(r));
  switch (op) {
    case 0:
    case 1:
    case 2:
      holder[key] = JSON.parse(marker);
      return Buffer.from(JSON.stringify(value).replace(marker, hostileJsonValue(r)));
    case 3:
      if (Array.isArray(holder)) holder.splice(key as number, 1);
      else delete holder[key];
      return Buffer.from(JSON.stringify(value));
    case 4:
      if (!Array.isArray(holder)) {
        holder[pick(r, ['__proto__x', 'constructor', 'extra', '', '\u0000', 'prototype'])] = JSON.parse(marker);
        return Buffer.from(JSON.stringify(value).replace(marker, hostileJsonValue(r)).replace('"__proto__x"', '"__proto__"'));
      }
      holder.push(JSON.parse(marker));
      return Buffer.from(JSON.stringify(value).replace(marker, hostileJsonValue(r)));
    case 5: {
      // A duplicate key: the text repeats the first key of an object with another value.
      const s = JSON.stringify(value);
      return Buffer.from(s.replace(/\{"([^"]+)":/, (_m, k) => `{"${k}": ${hostileJsonValue(r)}, "${k}":`));
    }
    default:
      holder[key] = JSON.parse(marker);
      return Buffer.from(JSON.stringify(value, null, pick(r, [0, 1, '\t'])).replace(marker, hostileJsonValue(r)));
  }
}

/** Byte-level breaks: truncation, junk, a BOM, invalid UTF-8, NUL bytes, CRLF, a huge tail. */
export function mutateBytes(b: Buffer, r: Rand): Buffer {
  const at = int(r, 0, b.length);
  switch (int(r, 0, 7)) {
    case 0:
      return b.subarray(0, at);
    case 1:
      return Buffer.concat([b.subarray(0, at), Buffer.from(pick(r, ['{', '}', '[', ']', '"', ',', ':', '\\', '\u0000', '\n', '\r\n', 'null'])), b.subarray(at)]);
    case 2:
      return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b]);
    case 3:
      return Buffer.concat([b.subarray(0, at), Buffer.from([pick(r, [0xff, 0xc3, 0x80, 0xed, 0xf8])]), b.subarray(at)]);
    case 4: {
      const c = Buffer.from(b);
      for (let k = 0; k < int(r, 1, 8) && c.length; k++) c[int(r, 0, c.length - 1)] = int(r, 0, 255);
      return c;
    }
    case 5:
      return Buffer.concat([b, Buffer.alloc(int(r, 1, 3 * 2 ** 20), pick(r, [0, 32, 0x5b]))]);
    case 6:
      return Buffer.from(b.toString('latin1').replace(/\n/g, '\r\n'), 'latin1');
    default:
      return Buffer.alloc(0);
  }
}

const YAML_SCALARS = [
  '-1', '0', '-0', '1e9', '1e12', '1e308', '-1e308', '1e400', '.nan', '.inf', '-.inf', '9007199254740993', '4294967296', '4294967295',
  '2147483648', '513', '65537', '131073', '1.5', '1e-400', '0x7fffffff', '0o17', '"1"', 'true', 'no', 'null', '~', '[]', '{}', '""',
  '"../../outside/secret.txt"', '"/etc/passwd"', '"\\0"', '"a\\u0007b"', '"\\e[2J"', '"\\u0085"', '"\\u202e"', '"=import(\'fs\')"',
  '"=model.constructor"', '"=constructor.name"', '"=1/0"', '"=sqrt(-1)"', '"builtin:nope"', '"alink"', '"dirlink/secret.txt"', '"fifo"',
  '"dev"', '"adir"', '"loop"', '"dangling"', '"."', '"../outside"', '"../../ESCAPED"', '"a/b"', '"-rf"', `"${'x'.repeat(300)}"`,
  '!!binary aGVsbG8=', '!!python/object:os.system ls', '&a 1', '*nope', '[1, [2, [3]]]', '{a: {b: 1}}', 'ünïcödé', '"\u{1F600}"',
];
const YAML_KEYS = [
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '<<', '"a.b"', '"\\0"', '"\\u0085x"', 'extends', 'sweep',
  '1', 'null', `k${'k'.repeat(300)}`, 'ünï', '"../x"', 'qk_nrom', 'from',
];
const EXTENDS_TARGETS = [
  'base.yaml', '../outside/secret.yaml', 'evil.ts', 'link.yaml', 'linkts.yaml', 'self.yaml', 'fifo.yaml', 'adir', 'missing.yaml',
  '/etc/hostname', '', 'cycle-a.yaml', 'dirlink/../base.yaml', './base.yaml', 'BASE.YAML', 'loop', 'dangling',
];

/** Files every spec case may point at with `extends` and paths. */
function specNeighbours(): Record<string, FileSpec> {
  return {
    'project/base.yaml': 'description: from the base\n',
    'project/link.yaml': { symlink: '../outside/secret.yaml' },
    'project/linkts.yaml': { symlink: 'evil.ts' },
    'project/fifo.yaml': { fifo: true },
    'project/cycle-a.yaml': 'extends: cycle-b.yaml\n',
    'project/cycle-b.yaml': 'extends: cycle-a.yaml\n',
    'project/notes.jsonl': NOTES,
  };
}

/** Line- and tree-level mutations of YAML text (they break the YAML about as often as the spec). */
export function mutateYaml(text: string, r: Rand): string {
  const lines = text.split('\n');
  const i = int(r, 0, lines.length - 1);
  switch (int(r, 0, 15)) {
    case 0:
      lines.splice(i, 1);
      return lines.join('\n');
    case 1:
      lines.splice(i, 0, lines[i]);
      return lines.join('\n');
    case 2:
    case 3: {
      const m = /^(\s*(?:- )?[\w.]+:\s*)(.*)$/.exec(lines[i]);
      if (m) lines[i] = m[1] + pick(r, YAML_SCALARS);
      return lines.join('\n');
    }
    case 4: {
      let n = 0;
      const target = int(r, 0, 20);
      return text.replace(/-?\d+(\.\d+)?(e-?\d+)?/g, (x) => (n++ === target ? pick(r, YAML_SCALARS.slice(0, 24)) : x));
    }
    case 5: {
      const m = /^(\s*(?:- )?)([\w.]+)(:.*)$/.exec(lines[i]);
      if (m) lines[i] = m[1] + pick(r, YAML_KEYS) + m[3];
      return lines.join('\n');
    }
    case 6: {
      const n = chance(r, 0.2) ? 1_000_000 : int(r, 50, 3000);
      return text + `\ndeep: ${'['.repeat(n)}${']'.repeat(chance(r, 0.5) ? n : int(r, 0, 3000))}\n`;
    }
    case 7: {
      const depth = int(r, 5, 30);
      const bomb = ['b0: &b0 [x, x]'];
      for (let k = 1; k < depth; k++) bomb.push(`b${k}: &b${k} [*b${k - 1}, *b${k - 1}, *b${k - 1}]`);
      return text + '\n' + bomb.join('\n') + '\n';
    }
    case 8:
      return pick(r, [text + '\n---\nname: two\n', '%YAML 1.1\n---\n' + text, '!!map\n' + text, text.replace(/name: /, 'name: !!binary '), '\uFEFF' + text, text.replace(/\n/g, '\r\n'), text.replace(/ {2}/g, '\t')]);
    case 9: {
      // Many keys in one mapping (the YAML library checks duplicates in quadratic time).
      const n = pick(r, [999, 1001, 5000, 60_000]);
      const keys = Array.from({ length: n }, (_, k) => `  k${k}: 0`).join('\n');
      return text.replace(/^model:\n/m, `model:\n${keys}\n`);
    }
    case 10:
      return text.replace(/^name: .*$/m, (l) => `${l}\nextends: ${pick(r, EXTENDS_TARGETS)}`);
    case 11: {
      const list = Array.from({ length: pick(r, [2, 16, 17, 40]) }, () => pick(r, EXTENDS_TARGETS));
      return text.replace(/^name: .*$/m, (l) => `${l}\nextends: [${list.map((x) => JSON.stringify(x)).join(', ')}]`);
    }
    case 12:
      // A path field pointing somewhere it may not.
      return text.replace(/origin: "builtin:moby-dick"/, `origin: ${pick(r, YAML_SCALARS.filter((s) => s.startsWith('"')))}`);
    case 13:
      return text.replace(/^train: \{ (.*) \}$/m, `train: { $1, ${pick(r, ['seed', 'steps', 'batch', 'eval_every', 'checkpoint_every'])}: ${pick(r, YAML_SCALARS.slice(0, 24))} }`);
    case 14:
      return text + pick(r, [
        'sweep:\n  grid:\n    "__proto__.x": [1, 2]\n',
        'sweep:\n  grid:\n    "model.constructor": [1]\n',
        'sweep:\n  grid:\n    "optimizer.lr": [1e-3, 1e-2]\n  seeds: 100000\n',
        'sweep:\n  random: { n: 5, seed: 4294967296, params: { "optimizer.lr": { log_uniform: [1e-5, 1e-1] } } }\n',
        `sweep:\n  grid:\n${Array.from({ length: 14 }, (_, k) => `    "model.dropout.${['attention', 'after_attention', 'after_ffn'][k % 3]}${k > 2 ? `x${k}` : ''}": [0, 0.1, 0.2]`).join('\n')}\n`,
        'sweep:\n  zip:\n    "model.layers": [1, 2]\n    "model.heads": [2]\n',
      ]);
    default: {
      const tree = (() => {
        try {
          return parseYaml(text);
        } catch {
          return undefined;
        }
      })();
      if (!tree || typeof tree !== 'object') return text.slice(0, int(r, 0, text.length));
      const paths: (string | number)[][] = [];
      const walk = (v: any, p: (string | number)[]) => {
        paths.push(p);
        if (Array.isArray(v)) v.forEach((x, k) => walk(x, [...p, k]));
        else if (v && typeof v === 'object') for (const k of Object.keys(v)) walk(v[k], [...p, k]);
      };
      walk(tree, []);
      const p = pick(r, paths.slice(1));
      const holder = p.slice(0, -1).reduce((o: any, k) => o[k], tree);
      const values = [undefined, null, -1, 0, 1e308, 1.5, 2 ** 60, 'text', '', true, [], {}, [1, 2], { x: 1 }, '=1/3', '=model.d_model * 2', 'a\u0000b'];
      const v = pick(r, values);
      if (v === undefined) {
        if (Array.isArray(holder)) holder.splice(p[p.length - 1] as number, 1);
        else delete holder[p[p.length - 1]];
      } else holder[p[p.length - 1]] = v;
      return toYaml(tree);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Kinds

/** The spec file commands: each must answer for any spec quickly, since they only read and count. */
function specCase(r: Rand): FuzzCase {
  const bases = [SMALL, SMALL.replace('name: small', 'name: small\nextends: base.yaml'), TEXT_SPEC];
  let text = pick(r, bases);
  for (let k = int(r, 1, 3); k > 0; k--) text = mutateYaml(text, r);
  const file = pick(r, ['spec.yaml', 'spec.yml', 'sub/spec.yaml']);
  const cmd = pick(r, [['validate', file], ['show', file], ['show', file, '--json'], ['info', file, '--json'], ['sweep-plan', file], ['validate', '-q', file, 'base.yaml']]);
  const argv = chance(r, 0.2) ? [...cmd, '--set', `${pick(r, SET_PATHS)}=${pick(r, YAML_SCALARS)}`] : cmd;
  return { kind: 'spec', label: `${argv.join(' ')}`, files: { ...commonFiles(), ...specNeighbours(), [`project/${file}`]: text }, argv, outputs: [] };
}

const SET_PATHS = [
  'model.layers', 'model.d_model', 'model.heads', 'model.vocab.text', 'model.init.std', 'model.rope_theta', 'train.seed', 'train.steps',
  'train.batch', 'data.seq_len', 'data.sources.t.origin', 'data.stages.0.name', 'data.stages.0.share', 'data.stages.5.share',
  'tokenizer.image.resolution', 'optimizer.lr', 'model.constructor', '__proto__.x', 'constructor', 'model.__proto__.polluted',
  'model.toString', 'model.vocab.hasOwnProperty', 'extends', 'sweep.grid', '', '.', 'a..b', 'model.layers.0', 'data.sources.new.origin',
  'description', 'name',
];

/** Argument values for any option: numbers, paths of every sort, option-like and empty strings. */
const ARG_VALUES = [
  '-1', '0', '1', '3', '4294967296', '4294967295', '1e3', '-5e3', '0x10', 'abc', '', ' ', '--json', '-', '=x', 'x'.repeat(5000),
  'afile', 'adir', 'fifo', 'dev', 'alink', 'dirlink', 'dirlink/x', 'loop', 'dangling', 'afile/sub', 'nested/new/out', '.',
  '/proc/chamlab-fuzz/x', '/sys/chamlab-fuzz', Array(40).fill('d').join('/'), '../outside/new', 'out', 'out.safetensors',
];

interface CommandSpec {
  /** Positionals and options a valid call needs. */
  base: string[];
  /** Options that take a value (hostile values are drawn for them). */
  valued: string[];
  flags: string[];
}

const COMMANDS: Record<string, CommandSpec> = {
  validate: { base: ['spec.yaml'], valued: ['--set'], flags: ['-q', '--quiet'] },
  show: { base: ['spec.yaml'], valued: ['--set'], flags: ['--json'] },
  'sweep-plan': { base: ['spec.yaml'], valued: ['--set'], flags: ['--json'] },
  schema: { base: [], valued: ['--out'], flags: [] },
  info: { base: ['spec.yaml'], valued: ['--set'], flags: ['--json'] },
  compile: { base: ['spec.yaml', '--shapes-only', '--out', 'out'], valued: ['--out', '--set'], flags: ['--json'] },
  init: { base: ['spec.yaml', '--out', 'out.safetensors'], valued: ['--out', '--seed', '--set'], flags: ['--json'] },
  grad: { base: ['spec.yaml', '--weights', 'w/model.safetensors', '--batch', 'batch.json', '--out', 'g.safetensors'], valued: ['--weights', '--batch', '--out', '--device', '--set'], flags: ['--json'] },
  data: { base: ['text.yaml', '--samples', '1', '--tokens', '64'], valued: ['--stage', '--samples', '--tokens', '--png', '--cache', '--set'], flags: ['--json'] },
  placement: { base: ['spec.yaml', '--device', 'cpu'], valued: ['--device', '--graph', '--set'], flags: ['--json', '-v'] },
  gradcheck: { base: ['--op', 'Add'], valued: ['--op', '--seed'], flags: ['--json'] },
  train: { base: ['text.yaml', '--out', 'runs', '--threads', '1'], valued: ['--out', '--device', '--threads', '--set'], flags: ['--fresh'] },
};

/** Which argument values a command may write to (they are the outputs it was given). */
const OUTPUT_OPTIONS = ['--out', '--png', '--cache'];

function argsCase(r: Rand, fx: Fixtures): FuzzCase {
  // train and the onnxruntime commands take about a second each: drawn less often.
  const name = pick(r, ['validate', 'show', 'sweep-plan', 'schema', 'info', 'compile', 'init', 'data', 'validate', 'show', 'info', 'schema', 'init', 'grad', 'grad', 'placement', 'gradcheck', 'train']);
  const spec = COMMANDS[name];
  const argv = [name, ...spec.base];
  for (let k = int(r, 1, 3); k > 0; k--) {
    const what = int(r, 0, 9);
    if (what <= 4 && spec.valued.length) {
      const opt = pick(r, spec.valued);
      const value = opt === '--set' ? `${pick(r, SET_PATHS)}=${pick(r, YAML_SCALARS)}` : opt === '--op' ? pick(r, ['MatMul', 'Nope', '__proto__', 'constructor', '']) : pick(r, ARG_VALUES);
      argv.push(...(chance(r, 0.2) ? [`${opt}=${value}`] : [opt, value]));
    } else if (what === 5 && spec.flags.length) argv.push(pick(r, spec.flags));
    else if (what === 6) argv.push(pick(r, ['--nope', '-x', '--', '--set', '--out', '-h', '--help=1', '--json=yes']));
    else if (what === 7) argv.splice(1, 0, pick(r, ['missing.yaml', 'adir', 'fifo', 'dev', 'afile', 'notes.jsonl', 'spec.ts', 'dangling', 'loop', 'spec.yaml']));
    else if (what === 8 && argv.length > 1) argv.splice(int(r, 1, argv.length - 1), 1);
    else argv.push(pick(r, ARG_VALUES));
  }
  // gradcheck without --op checks every primitive (tens of seconds): not an input problem, so avoided.
  if (name === 'gradcheck' && !argv.some((a) => a === '--op' || a.startsWith('--op='))) argv.push('--op', 'Add');
  const outputs: string[] = [];
  argv.forEach((a, k) => {
    const eq = a.indexOf('=');
    const [opt, value] = a.startsWith('--') && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, argv[k + 1]];
    if (OUTPUT_OPTIONS.includes(opt) && value !== undefined) {
      const out = path.normalize(path.join('project', value));
      outputs.push(out, path.join(path.dirname(out), 'config.json'));
    }
  });
  // grad and train write beside their outputs only; default run folder and png output as above.
  if (name === 'train' && !argv.includes('--out')) outputs.push('project/runs');
  return {
    kind: 'args',
    label: argv.map((a) => (a.length > 60 ? a.slice(0, 57) + '...' : a)).join(' '),
    files: {
      ...commonFiles(),
      'project/spec.yaml': SMALL,
      'project/spec.ts': `export default ${JSON.stringify(parseYaml(SMALL))};\n`,
      'project/text.yaml': TEXT_SPEC,
      'project/notes.jsonl': NOTES,
      'project/w/model.safetensors': fx.weights,
      'project/w/config.json': fx.config,
      'project/batch.json': fx.batch,
    },
    argv,
    outputs,
  };
}

/** A hostile batch JSON for `grad` (the weights are valid). */
function batchCase(r: Rand, fx: Fixtures): FuzzCase {
  const T = pick(r, [1, 4, 65, 128]);
  const B = pick(r, [1, 2, 3]);
  const row = (v: number) => Array.from({ length: T }, (_, t) => (v + t) % 364);
  let text: Buffer | string = JSON.stringify({ input_ids: Array.from({ length: B }, (_, b) => row(b)), labels: Array.from({ length: B }, (_, b) => row(b + 1)) });
  const how = int(r, 0, 9);
  if (how <= 5) text = mutateJsonText(text, r);
  // Too large: a file beyond the size limit, or a batch whose memory estimate no machine has (a
  // large batch that does fit is a legitimate request, not a hostile input).
  else if (how === 6) text = chance(r, 0.5) ? text + ' '.repeat(17 * 2 ** 20) : JSON.stringify({ input_ids: Array.from({ length: 20000 }, () => row(1)), labels: Array.from({ length: 20000 }, () => row(2)) });
  else if (how === 7) text = `{"input_ids": [[${deep(int(r, 10, 100_000))}]], "labels": [[1]]}`;
  else if (how === 8) text = JSON.stringify({ input_ids: [[1, 2]], labels: [[-100, -100]] });
  const target: FileSpec = how === 9 ? pick(r, [{ fifo: true }, { symlink: '../outside/secret.json' }, { dir: true }, { device: true }] as FileSpec[]) : text;
  return {
    kind: 'batch',
    label: `grad --batch <${how === 9 ? 'special file' : `mutated batch, ${text.length} bytes`}>`,
    files: { ...commonFiles(), 'project/spec.yaml': SMALL, 'project/w/model.safetensors': fx.weights, 'project/batch.json': target },
    argv: ['grad', 'spec.yaml', '--weights', 'w/model.safetensors', '--batch', 'batch.json', '--out', 'g.safetensors', ...(how === 6 ? ['--set', 'model.layers=512', '--set', 'model.d_model=65536', '--set', 'model.heads=512'] : [])],
    outputs: ['project/g.safetensors'],
  };
}

/** A safetensors file from a header (text) and a data section. */
export function assembleSafetensors(header: Buffer, data: Buffer, lengthField?: bigint): Buffer {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthField ?? BigInt(header.length));
  return Buffer.concat([len, header, data]);
}

function splitSafetensors(b: Buffer): { header: Buffer; data: Buffer } {
  const n = Number(b.readBigUInt64LE(0));
  return { header: b.subarray(8, 8 + n), data: b.subarray(8 + n) };
}

/** A safetensors file whose header, length field or data section is broken. */
export function hostileSafetensors(r: Rand, valid: Buffer): Buffer {
  const { header, data } = splitSafetensors(valid);
  switch (int(r, 0, 5)) {
    case 0:
    case 1:
    case 2:
      return assembleSafetensors(mutateJsonText(header.toString('utf8').trimEnd(), r), data);
    case 3:
      return assembleSafetensors(header, data, pick(r, [0n, 1n, 7n, BigInt(header.length + 1), BigInt(valid.length), 2n ** 63n, 2n ** 64n - 1n, 100_000_001n]));
    case 4:
      return assembleSafetensors(header, pick(r, [data.subarray(0, int(r, 0, data.length)), Buffer.concat([data, Buffer.alloc(int(r, 1, 64))])]));
    default: {
      // Offsets rearranged: aliased, overlapping, reversed, holes.
      const h = JSON.parse(header.toString('utf8'));
      const names = Object.keys(h).filter((k) => k !== '__metadata__');
      const a = pick(r, names);
      const b = pick(r, names);
      const [x0, x1] = h[a].data_offsets;
      h[b].data_offsets = pick(r, [[x0, x1], [x1, x0], [x0 + 4, x1 + 4], [0, x1 - x0], [x0, x0]]);
      return assembleSafetensors(Buffer.from(JSON.stringify(h)), data);
    }
  }
}

/** Hostile weights for `grad`: a safetensors file, a shard index, a weights folder, a config beside. */
function safetensorsCase(r: Rand, fx: Fixtures): FuzzCase {
  const files: Record<string, FileSpec> = { ...commonFiles(), 'project/spec.yaml': SMALL, 'project/batch.json': fx.batch };
  let weights = 'w/model.safetensors';
  const how = int(r, 0, 9);
  if (how <= 5) {
    files['project/w/model.safetensors'] = hostileSafetensors(r, fx.weights);
  } else if (how <= 7) {
    // A sharded checkpoint: two shards and an index, the index broken.
    const { header, data } = splitSafetensors(fx.weights);
    const h = JSON.parse(header.toString('utf8'));
    const names = Object.keys(h).filter((k) => k !== '__metadata__');
    const map: Record<string, unknown> = {};
    names.forEach((n, k) => (map[n] = k % 2 ? 'b.safetensors' : 'a.safetensors'));
    const shard = (keep: (k: number) => boolean) => {
      const sub: Record<string, unknown> = {};
      const parts: Buffer[] = [];
      let off = 0;
      names.forEach((n, k) => {
        if (!keep(k)) return;
        const [x0, x1] = h[n].data_offsets;
        parts.push(data.subarray(x0, x1));
        sub[n] = { ...h[n], data_offsets: [off, off + x1 - x0] };
        off += x1 - x0;
      });
      return assembleSafetensors(Buffer.from(JSON.stringify(sub)), Buffer.concat(parts));
    };
    files['project/w/a.safetensors'] = shard((k) => k % 2 === 0);
    files['project/w/b.safetensors'] = shard((k) => k % 2 === 1);
    let index = JSON.stringify({ metadata: {}, weight_map: map });
    if (chance(r, 0.5)) {
      map[pick(r, names)] = pick(r, ['../../outside/secret.txt', '/etc/passwd', 'alink', 'c.safetensors', '', 5, null, ['a'], 'adir', '../w/a.safetensors', 'fifo']);
      index = JSON.stringify({ weight_map: map });
    } else index = mutateJsonText(index, r).toString('utf8');
    files['project/w/model.safetensors.index.json'] = index;
    files['project/w/alink'] = { symlink: '../../outside/secret.txt' };
    files['project/w/fifo'] = { fifo: true };
    weights = 'w';
  } else if (how === 8) {
    files['project/w/model.safetensors'] = fx.weights;
    files['project/w/config.json'] = mutateJsonText(fx.config, r);
  } else {
    files['project/w/model.safetensors'] = pick(r, [{ fifo: true }, { symlink: '../../outside/secret.txt' }, { dir: true }, { device: true }, Buffer.alloc(0), Buffer.alloc(7)] as FileSpec[]);
    if (chance(r, 0.5)) weights = 'w';
  }
  return {
    kind: 'safetensors',
    label: `grad --weights ${weights} <${['header', 'header', 'header', 'length field', 'data section', 'offsets', 'shard index', 'shard index', 'config.json', 'special file'][how]}>`,
    files,
    argv: ['grad', 'spec.yaml', '--weights', weights, '--batch', 'batch.json', '--out', 'g.safetensors'],
    outputs: ['project/g.safetensors'],
  };
}

/** PNG chunks, to rebuild a file with its header or data changed. */
function pngChunks(b: Buffer): Array<{ type: string; data: Buffer }> {
  const out: Array<{ type: string; data: Buffer }> = [];
  for (let at = 8; at + 12 <= b.length; ) {
    const n = b.readUInt32BE(at);
    out.push({ type: b.toString('latin1', at + 4, at + 8), data: b.subarray(at + 8, at + 8 + n) });
    at += 12 + n;
  }
  return out;
}

function buildPng(chunks: Array<{ type: string; data: Buffer }>, goodCrc = true): Buffer {
  const zlib = require('node:zlib') as typeof import('node:zlib');
  const parts = [Buffer.from([137, 80, 78, 71, 13, 10, 26, 10])];
  for (const c of chunks) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(c.data.length);
    const body = Buffer.concat([Buffer.from(c.type, 'latin1'), c.data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(goodCrc ? zlib.crc32(body) : 0xdeadbeef);
    parts.push(len, body, crc);
  }
  return Buffer.concat(parts);
}

/** A PNG with a hostile header (sizes, depth, colour type), data (a zlib bomb, junk) or structure. */
export function hostilePng(r: Rand, valid: Buffer): Buffer {
  const zlib = require('node:zlib') as typeof import('node:zlib');
  const chunks = pngChunks(valid);
  const ihdr = Buffer.from(chunks[0].data);
  switch (int(r, 0, 6)) {
    case 0: {
      ihdr.writeUInt32BE(pick(r, [0, 1, 4096, 4097, 30000, 65535, 2 ** 31 - 1, 2 ** 32 - 1]), 0);
      ihdr.writeUInt32BE(pick(r, [0, 1, 8, 4097, 30000, 2 ** 32 - 1]), 4);
      return buildPng([{ type: 'IHDR', data: ihdr }, ...chunks.slice(1)]);
    }
    case 1:
      ihdr[8] = pick(r, [0, 3, 7, 16, 255]);
      ihdr[9] = pick(r, [1, 3, 5, 7, 255]);
      ihdr[12] = pick(r, [0, 1, 2]);
      return buildPng([{ type: 'IHDR', data: ihdr }, ...chunks.slice(1)]);
    case 2: {
      // A zlib bomb: a small file whose pixel data inflates far beyond its declared size.
      const side = pick(r, [8, 64, 2048]);
      ihdr.writeUInt32BE(side, 0);
      ihdr.writeUInt32BE(side, 4);
      ihdr[9] = 0;
      const raw = zlib.deflateSync(Buffer.alloc(pick(r, [side * (side + 1), 64 * 2 ** 20])));
      return buildPng([{ type: 'IHDR', data: ihdr }, { type: 'IDAT', data: raw }, { type: 'IEND', data: Buffer.alloc(0) }]);
    }
    case 3:
      return buildPng(chunks, false);
    case 4:
      return buildPng(chunks.filter((c) => c.type !== pick(r, ['IDAT', 'IEND', 'IHDR'])));
    case 5:
      return buildPng([chunks[0], { type: pick(r, ['IDAT', 'PLTE', 'tEXt', 'zzzz']), data: Buffer.alloc(int(r, 0, 100_000), int(r, 0, 255)) }, ...chunks.slice(1)]);
    default:
      return mutateBytes(valid, r);
  }
}

const PICS_SPEC = dataSpec('    p: { kind: image-text, origin: pics, holdout: 0 }');
const MIXED_SPEC = dataSpec('    p: { kind: image-text, origin: pics, holdout: 0 }\n    w: { kind: interleaved, origin: docs.jsonl, holdout: 0 }');

/** A picture folder (PNG + caption pairs) with one hostile entry, read by `data`. */
function pngCase(r: Rand, fx: Fixtures): FuzzCase {
  const files: Record<string, FileSpec> = { ...commonFiles(), 'project/spec.yaml': PICS_SPEC };
  for (let k = 0; k < 4; k++) {
    files[`project/pics/p${k}.png`] = fx.png;
    files[`project/pics/p${k}.txt`] = `picture ${k}`;
  }
  const how = int(r, 0, 9);
  if (how <= 5) files['project/pics/p1.png'] = hostilePng(r, fx.png);
  else if (how === 6) files['project/pics/p2.txt'] = pick(r, ['', '\n\n', Buffer.from([0xff, 0xfe, 0x00]), 'x'.repeat(2 ** 20 + 1), `a\u0000b`, { fifo: true }, { symlink: '../../outside/secret.txt' }] as FileSpec[]);
  else if (how === 7) files['project/pics/p3.png'] = pick(r, [{ fifo: true }, { symlink: '../../outside/secret.txt' }, { dir: true }, { device: true }, { symlink: 'p0.png' }, { symlink: '../../outside/dir' }] as FileSpec[]);
  else if (how === 8) files[`project/pics/${pick(r, ['stray.md', 'p9.png', 'p9.txt', '.hidden', 'sub/p.png', 'p0.PNG'])}`] = pick(r, ['x', fx.png] as FileSpec[]);
  else {
    files['project/spec.yaml'] = MIXED_SPEC;
    const img = pick(r, ['pics/p0.png', '../outside/secret.txt', '/etc/passwd', 'alink', 'fifo', 'adir', 'missing.png', 'pics/../pics/p1.png', '', 5, null]);
    files['project/docs.jsonl'] = JSON.stringify({ parts: [{ text: 'look:' }, { image: img }] }) + '\n' + JSON.stringify({ parts: [{ image: 'pics/p0.png' }, { text: 'ok' }] }) + '\n';
  }
  return {
    kind: 'png',
    label: `data <${['header', 'depth', 'zlib bomb', 'crc', 'chunks', 'extra chunk', 'caption', 'special entry', 'stray file', 'interleaved image'][how] ?? 'bytes'}>`,
    files,
    argv: ['data', 'spec.yaml', '--samples', '1', '--tokens', '64', '--json'],
    outputs: [],
  };
}

/** A JSONL text or interleaved source with hostile lines, read by `data`. */
function jsonlCase(r: Rand): FuzzCase {
  const lines = NOTES.trimEnd().split('\n');
  const i = int(r, 0, lines.length - 1);
  const how = int(r, 0, 7);
  let text: FileSpec;
  if (how <= 3) {
    lines[i] = mutateJsonText(lines[i], r).toString('utf8');
    text = lines.join('\n') + '\n';
  } else if (how === 4) {
    lines[i] = pick(r, ['{"text": ""}', '{"text": 5}', '{"text": "a", "extra": 1}', '[1]', '"x"', 'null', '{"__proto__": {"text": "x"}}', '{"text": {"text": "x"}}', `{"text": ${deep(100_000)}}`, '{"parts": []}', '{"text": "\\u0000"}']);
    text = lines.join('\n') + '\n';
  } else if (how === 5) text = mutateBytes(Buffer.from(NOTES), r);
  else if (how === 6) text = pick(r, ['', '\n\n\n', Buffer.from([0xef, 0xbb, 0xbf]), 'x'.repeat(int(r, 1, 3 * 2 ** 20))] as FileSpec[]);
  else text = pick(r, [{ fifo: true }, { symlink: '../outside/secret.jsonl' }, { dir: true }, { device: true }, { symlink: 'loop' }] as FileSpec[]);
  return {
    kind: 'jsonl',
    label: `data <${['line', 'line', 'line', 'line', 'record', 'bytes', 'whole file', 'special file'][how]}>`,
    files: { ...commonFiles(), 'project/spec.yaml': TEXT_SPEC, 'project/notes.jsonl': text },
    argv: ['data', 'spec.yaml', '--samples', '1', '--tokens', '64'],
    outputs: [],
  };
}

/** A tokenizer file named by the spec (tokenizer.text.file or tokenizer.image.file), hostile. */
function tokenizerCase(r: Rand, fx: Fixtures): FuzzCase {
  const image = chance(r, 0.4);
  const valid = image ? fx.vq : fx.bpe;
  const how = int(r, 0, 5);
  const content: FileSpec = how <= 4 ? mutateJsonText(valid, r) : pick(r, [{ fifo: true }, { symlink: '../outside/secret.json' }, { dir: true }, 'x'.repeat(65 * 2 ** 20 + 1)] as FileSpec[]);
  const spec = image
    ? dataSpec('    p: { kind: image-text, origin: pics, holdout: 0 }').replace('train_images: 4, iterations: 1 }', 'file: tok.json }')
    : TEXT_SPEC.replace('tokenizer:\n', 'tokenizer:\n  text: { file: tok.json }\n');
  const files: Record<string, FileSpec> = { ...commonFiles(), 'project/spec.yaml': spec, 'project/notes.jsonl': NOTES, 'project/tok.json': content };
  for (let k = 0; k < 3; k++) {
    files[`project/pics/p${k}.png`] = fx.png;
    files[`project/pics/p${k}.txt`] = `picture ${k}`;
  }
  return { kind: 'tokenizer', label: `data <${image ? 'codebook' : 'tokenizer.json'}: ${how <= 4 ? 'mutated' : 'special'}>`, files, argv: ['data', 'spec.yaml', '--samples', '1', '--tokens', '64'], outputs: [] };
}

/** The fixture run folder, marked interrupted so that `train` resumes from it, as case files. */
function runFolderFiles(fx: Fixtures): Record<string, FileSpec> {
  const files: Record<string, FileSpec> = {};
  for (const [rel, content] of Object.entries(fx.run.files)) {
    let c: Buffer = content;
    if (rel === 'summary.json') c = Buffer.from(content.toString('utf8').replace('"status":"finished"', '"status":"interrupted"'));
    files[`project/${fx.run.folder}/${rel}`] = c;
  }
  return files;
}

/** One file of an interrupted run folder made hostile; `train` resumes (or refuses) it. */
function runFolderCase(r: Rand, fx: Fixtures): FuzzCase {
  const files: Record<string, FileSpec> = { ...commonFiles(), ...runFolderFiles(fx), 'project/spec.yaml': TEXT_SPEC, 'project/notes.jsonl': NOTES };
  const run = `project/${fx.run.folder}`;
  const target = pick(r, ['summary.json', 'spec.yaml', 'checkpoints/latest', 'checkpoints/best', 'run.lock', 'eval.jsonl', 'graphs/manifest.json', 'tokenizers/tokenizer.json', 'run.log', 'checkpoints', 'graphs']);
  const file = `${run}/${target}`;
  const how = int(r, 0, 4);
  if (target === 'checkpoints/latest' || target === 'checkpoints/best') {
    files[file] = pick(r, ['../../../../outside/dir\n', '/etc\n', 'step-00000099\n', '', 'step-00000002', '..\n', 'step-00000004/../../..\n', '\u0000\n', 'x'.repeat(100_000), { fifo: true }, { symlink: '../../../../outside/secret.txt' }, { dir: true }] as FileSpec[]);
  } else if (target === 'run.lock') {
    files[file] = pick(r, ['', 'garbage', JSON.stringify({ pid: 1, host: os.hostname(), token: 'x', started: new Date().toISOString() }), JSON.stringify({ pid: 2 ** 31, host: 'elsewhere' }), { fifo: true }, { dir: true }, { symlink: '../../../../outside/secret.txt' }] as FileSpec[]);
  } else if (target === 'checkpoints' || target === 'graphs') {
    for (const k of Object.keys(files)) if (k.startsWith(file + '/')) delete files[k];
    files[file] = pick(r, ['a file', { fifo: true }, { symlink: '../../../outside/dir' }] as FileSpec[]);
  } else if (how <= 2 && fx.run.files[target]) {
    files[file] = target.endsWith('.json') ? mutateJsonText(String(files[file]), r) : target === 'spec.yaml' ? mutateYaml(String(files[file]), r) : mutateBytes(files[file] as Buffer, r);
  } else {
    files[file] = pick(r, [{ fifo: true }, { symlink: '../../../../outside/secret.txt' }, { dir: true }, { device: true }, Buffer.alloc(0)] as FileSpec[]);
  }
  return {
    kind: 'run-folder',
    label: `train (resume) <${target}>`,
    files,
    argv: ['train', 'spec.yaml', '--out', 'runs', '--threads', '1'],
    outputs: ['project/runs/fz'],
  };
}

/** One file of the newest checkpoint made hostile (manifest, state with its data cursor, tensors, config). */
function checkpointCase(r: Rand, fx: Fixtures): FuzzCase {
  const files: Record<string, FileSpec> = { ...commonFiles(), ...runFolderFiles(fx), 'project/spec.yaml': TEXT_SPEC, 'project/notes.jsonl': NOTES };
  const ckpt = `project/${fx.run.folder}/checkpoints/step-00000004`;
  const target = pick(r, ['manifest.json', 'state.json', 'state.json', 'model.safetensors', 'optimizer.safetensors', 'config.json']);
  const file = `${ckpt}/${target}`;
  const original = files[file] as Buffer;
  const how = int(r, 0, 5);
  if (how <= 3) files[file] = target.endsWith('.safetensors') ? hostileSafetensors(r, original) : mutateJsonText(original.toString('utf8'), r);
  else if (how === 4) files[file] = pick(r, [{ fifo: true }, { symlink: '../../../../../outside/secret.txt' }, { dir: true }, { device: true }] as FileSpec[]);
  else {
    // A manifest that matches the changed file, so that the content itself is what is judged.
    const manifest = JSON.parse(String(files[`${ckpt}/manifest.json`]));
    const changed = target.endsWith('.safetensors') ? hostileSafetensors(r, original) : mutateJsonText(original.toString('utf8'), r);
    files[file] = changed;
    if (manifest.files?.[target]) {
      manifest.files[target] = { bytes: changed.length, sha256: require('node:crypto').createHash('sha256').update(changed).digest('hex') };
      files[`${ckpt}/manifest.json`] = JSON.stringify(manifest);
    }
  }
  return {
    kind: 'checkpoint',
    label: `train (resume) <step-00000004/${target}${how === 5 ? ', manifest updated' : ''}>`,
    files,
    argv: ['train', 'spec.yaml', '--out', 'runs', '--threads', '1'],
    outputs: ['project/runs/fz'],
  };
}

/** metrics.jsonl of an interrupted run made hostile (the run layer repairs or refuses it). */
function metricsCase(r: Rand, fx: Fixtures): FuzzCase {
  const files: Record<string, FileSpec> = { ...commonFiles(), ...runFolderFiles(fx), 'project/spec.yaml': TEXT_SPEC, 'project/notes.jsonl': NOTES };
  const file = `project/${fx.run.folder}/metrics.jsonl`;
  const lines = (files[file] as Buffer).toString('utf8').trimEnd().split('\n');
  const i = int(r, 0, lines.length - 1);
  const how = int(r, 0, 5);
  if (how <= 2) {
    lines[i] = mutateJsonText(lines[i], r).toString('utf8');
    files[file] = lines.join('\n') + (chance(r, 0.7) ? '\n' : '');
  } else if (how === 3) {
    lines[i] = pick(r, ['{}', '[]', '{"step": -1}', '{"step": 1e308, "tokens": 1, "loss": 1, "lr": 1, "stage": "s1"}', `{"step": ${deep(100_000)}}`, '{"step": "NaN"}', 'x'.repeat(2 ** 20)]);
    files[file] = lines.join('\n') + '\n';
  } else if (how === 4) files[file] = mutateBytes(files[file] as Buffer, r);
  else files[file] = pick(r, [{ fifo: true }, { symlink: '../../../../outside/secret.jsonl' }, { dir: true }, { device: true }] as FileSpec[]);
  return {
    kind: 'metrics',
    label: `train (resume) <metrics.jsonl ${['line', 'line', 'line', 'record', 'bytes', 'special file'][how]}>`,
    files,
    argv: ['train', 'spec.yaml', '--out', 'runs', '--threads', '1'],
    outputs: ['project/runs/fz'],
  };
}

/** `chamlab report` over a run folder with one hostile file (reports read every file of a run). */
function reportCase(r: Rand, fx: Fixtures): FuzzCase {
  const files: Record<string, FileSpec> = { ...commonFiles() };
  for (const [rel, content] of Object.entries(fx.run.files)) files[`project/${fx.run.folder}/${rel}`] = content;
  const target = pick(r, ['metrics.jsonl', 'metrics.jsonl', 'eval.jsonl', 'eval.jsonl', 'summary.json', 'spec.yaml', 'checkpoints']);
  const file = `project/${fx.run.folder}/${target}`;
  const how = int(r, 0, 4);
  if (target === 'checkpoints') {
    for (const k of Object.keys(files)) if (k.startsWith(file + '/')) delete files[k];
    files[file] = pick(r, [{ fifo: true }, 'a file', { symlink: '../../../outside/dir' }] as FileSpec[]);
  } else if (how <= 2) {
    const text = String(files[file]);
    files[file] = target.endsWith('.jsonl')
      ? text.trimEnd().split('\n').map((l, i, all) => (i === int(r, 0, all.length - 1) ? mutateJsonText(l, r).toString('utf8') : l)).join('\n') + '\n'
      : target === 'spec.yaml' ? mutateYaml(text, r) : mutateJsonText(text, r);
  } else if (how === 3) files[file] = mutateBytes(files[file] as Buffer, r);
  else files[file] = pick(r, [{ fifo: true }, { symlink: '../../../outside/secret.txt' }, { dir: true }, { device: true }] as FileSpec[]);
  return {
    kind: 'report',
    label: `report <${target}>`,
    files,
    argv: ['report', fx.run.folder, '--out', 'report.html'],
    outputs: ['project/report.html'],
  };
}

/** `chamlab generate` with a hostile image prompt (PNG) or prompt text, from a run with images. */
function generateCase(r: Rand, fx: Fixtures): FuzzCase {
  const files: Record<string, FileSpec> = { ...commonFiles(), 'project/in.png': fx.png };
  for (const [rel, content] of Object.entries(fx.imageRun.files)) files[`project/${fx.imageRun.folder}/${rel}`] = content;
  let prompt = '<image>';
  const images = ['in.png'];
  const how = int(r, 0, 6);
  if (how <= 2) files['project/in.png'] = hostilePng(r, fx.png);
  else if (how === 3) files['project/in.png'] = pick(r, [{ fifo: true }, { symlink: '../outside/secret.txt' }, { dir: true }, { device: true }, Buffer.alloc(0)] as FileSpec[]);
  else if (how === 4) prompt = pick(r, ['<image><image>', '', 'x'.repeat(100_000), '\u0000\u001b[2J', '<image'.repeat(1000), '<s></s><pad><racm3:break><eoss>', '\u{1F600}'.repeat(5000)]);
  else if (how === 5) images.push(pick(r, ['../outside/secret.txt', 'missing.png', 'adir', 'alink', '/etc/passwd']));
  const argv = ['generate', fx.imageRun.folder, '--prompt', prompt, ...images.flatMap((i) => ['--image', i]), '--mode', pick(r, ['text', 'mixed', 'image']), '--max-tokens', pick(r, ['4', '8']), '--threads', '1', '--out', 'gen'];
  if (how === 6) argv.push(pick(r, ['--temperature', '--top-p', '--top-k', '--seed', '--cfg', '--checkpoint', '--max-tokens']), pick(r, ARG_VALUES));
  return { kind: 'generate', label: `generate <${['png', 'png', 'png', 'special file', 'prompt text', 'image path', 'option'][how]}>`, files, argv, outputs: ['project/gen'] };
}

/** A finished sweep whose sweep folder has one hostile file; read by `sweep status` and `report`. */
function sweepFolderCase(r: Rand, fx: Fixtures): FuzzCase {
  const files: Record<string, FileSpec> = { ...commonFiles() };
  for (const [rel, content] of Object.entries(fx.sweep.files)) files[`project/${rel}`] = content;
  const inFolder = Object.keys(files).filter((k) => k.startsWith(`project/${fx.sweep.folder}/`));
  const file = pick(r, [...inFolder, `project/${fx.sweep.folder}/sweep.lock`]);
  const how = int(r, 0, 4);
  if (how <= 2 && typeof files[file] !== 'undefined') {
    const text = String(files[file]);
    files[file] = file.endsWith('.json') ? mutateJsonText(text, r) : file.endsWith('.yaml') ? mutateYaml(text, r) : mutateBytes(files[file] as Buffer, r);
  } else if (how === 3) files[file] = pick(r, ['', '{}', JSON.stringify({ pid: 1, host: os.hostname(), started_at: 'x' }), 'x'.repeat(100_000)]);
  else files[file] = pick(r, [{ fifo: true }, { symlink: '../../../outside/secret.txt' }, { dir: true }, { device: true }] as FileSpec[]);
  const argv = chance(r, 0.5) ? ['sweep', 'status', fx.sweep.folder, '--json'] : ['report', fx.sweep.folder, '--out', 'report.html'];
  return { kind: 'sweep-folder', label: `${argv[0]} ${argv[1] === 'status' ? 'status ' : ''}<${path.basename(file)}>`, files, argv, outputs: ['project/report.html', `project/${fx.sweep.folder}/sweep.json`] };
}

export interface Kind {
  /** Inputs tried per suite run in CI (the long run multiplies these). */
  count: number;
  generate: (r: Rand, fx: Fixtures) => FuzzCase;
}

/** Every input kind the CLI reads, with its CI count. Adding a kind: one generator, one line here. */
export const KINDS: Record<string, Kind> = {
  spec: { count: 500, generate: (r) => specCase(r) },
  args: { count: 200, generate: argsCase },
  batch: { count: 60, generate: batchCase },
  safetensors: { count: 90, generate: safetensorsCase },
  png: { count: 60, generate: pngCase },
  jsonl: { count: 50, generate: (r) => jsonlCase(r) },
  tokenizer: { count: 40, generate: tokenizerCase },
  'run-folder': { count: 30, generate: runFolderCase },
  checkpoint: { count: 30, generate: checkpointCase },
  metrics: { count: 16, generate: metricsCase },
  report: { count: 24, generate: reportCase },
  generate: { count: 24, generate: generateCase },
  'sweep-folder': { count: 30, generate: sweepFolderCase },
};
