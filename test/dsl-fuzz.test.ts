/**
 * Fuzz: thousands of seeded mutations of valid specs. Every outcome must be a valid spec or positioned
 * one-line user errors (file:line:col: message), never another exception. Reproducible: a failure
 * prints the seed and the mutated text.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { isUserError, UserErrors } from '../dsl/errors';
import { loadSpec, planSweep, prng } from '../dsl';
import { EXPERIMENTS, POSITIONED, project, SMALL } from './dsl-fixtures';

const MUTATIONS = Number(process.env.CHAMLAB_FUZZ ?? 1200);
const SEED = Number(process.env.CHAMLAB_FUZZ_SEED ?? 20240517);

const WEIRD_SCALARS = [
  '-1', '0', '-0', '1e400', '-1e400', '.nan', '.inf', '-.inf', '9007199254740993', '1e-400', '0x7fffffff', '0o17', '3.5',
  '""', "''", '~', 'null', 'true', 'no', '[]', '{}', '[1, [2, [3]]]', '{a: {b: {c: 1}}}', '"=import(\'fs\')"',
  '"=model.d_model / 0"', '"=1e308 * 10"', '"=model.layers"', '"=train.steps"', '"=(((1)))"', '"=sqrt(-4)"',
  '"=evaluate(\\"1\\")"', '"=x = 3"', '"=__proto__"', '"=constructor"', '"=model.__proto__"', '__proto__', 'constructor',
  '"\u{1F600}\u202E\u0000"', '"\u2028\u2029"', 'ünïcödé', '"' + 'x'.repeat(5000) + '"', '!!str 5', '!foo bar', '&a 5', '*nope',
  '"=' + '('.repeat(300) + '1' + ')'.repeat(300) + '"', '|\n  block\n  text', '>-\n  folded', '? complex\n: key',
];
const WEIRD_KEYS = ['qk_nrom', 'extends', '__proto__', 'constructor', 'prototype', '<<', '"a.b"', 'ünï', '1', 'null', 'sweep', 'from'];

type Rand = () => number;
const pick = <T>(r: Rand, xs: T[]): T => xs[Math.floor(r() * xs.length)];

/** Text-level mutations: they break the YAML as often as the spec. */
function mutateText(text: string, r: Rand): string {
  const lines = text.split('\n');
  const i = Math.floor(r() * lines.length);
  switch (Math.floor(r() * 12)) {
    case 0: // delete a line
      lines.splice(i, 1);
      return lines.join('\n');
    case 1: // duplicate a line
      lines.splice(i, 0, lines[i]);
      return lines.join('\n');
    case 2: { // replace a value
      const m = /^(\s*(?:- )?[\w.]+:\s*)(.*)$/.exec(lines[i]);
      if (m) lines[i] = m[1] + pick(r, WEIRD_SCALARS);
      return lines.join('\n');
    }
    case 3: { // replace a number anywhere
      let n = 0;
      const target = Math.floor(r() * 20);
      return text.replace(/-?\d+(\.\d+)?(e-?\d+)?/g, (x) => (n++ === target ? pick(r, WEIRD_SCALARS.slice(0, 14)) : x));
    }
    case 4: { // insert random characters
      const pos = Math.floor(r() * text.length);
      const junk = pick(r, ['{', '}', '[', ']', ':', '- ', '\t', '"', "'", '&', '*', '!', '#', '|', '>', '%', '@', '`', '\u0000', '\uFEFF', '\u{1F600}', '\n  ', '\r']);
      return text.slice(0, pos) + junk + text.slice(pos);
    }
    case 5: // truncate
      return text.slice(0, Math.floor(r() * text.length));
    case 6: { // rename a key
      const m = /^(\s*(?:- )?)([\w.]+)(:.*)$/.exec(lines[i]);
      if (m) lines[i] = m[1] + pick(r, WEIRD_KEYS) + m[3];
      return lines.join('\n');
    }
    case 7: // deep nesting
      return text + `\ndeep: ${'['.repeat(50 + Math.floor(r() * 2000))}${']'.repeat(50 + Math.floor(r() * 2000))}\n`;
    case 8: { // alias bomb
      const depth = 5 + Math.floor(r() * 30);
      const bomb = ['b0: &b0 [x, x]'];
      for (let k = 1; k < depth; k++) bomb.push(`b${k}: &b${k} [*b${k - 1}, *b${k - 1}, *b${k - 1}]`);
      return text + '\n' + bomb.join('\n') + '\n';
    }
    case 9: // a second document, a directive, or a tag
      return pick(r, [text + '\n---\nname: two\n', '%YAML 1.1\n---\n' + text, '!!map\n' + text, text.replace(/name: /, 'name: !!binary ')]);
    case 10: // long strings and unicode
      return text.replace(/description: .*/, `description: "${pick(r, ['\u{1F600}'.repeat(1000), 'x'.repeat(100000), '\u202E\u0301', 'a\\nb'])}"`);
    default: // change indentation
      lines[i] = (r() < 0.5 ? ' ' : '') + lines[i].replace(/^ /, '');
      return lines.join('\n');
  }
}

/** Tree-level mutations: valid YAML, invalid specs (deleted keys, wrong types, odd numbers). */
function mutateTree(text: string, r: Rand): string {
  let doc: any;
  try {
    doc = parse(text);
  } catch {
    return text;
  }
  const paths: (string | number)[][] = [];
  const walk = (v: any, p: (string | number)[]) => {
    paths.push(p);
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...p, i]));
    else if (v && typeof v === 'object') for (const k of Object.keys(v)) walk(v[k], [...p, k]);
  };
  walk(doc, []);
  const p = pick(r, paths.filter((x) => x.length > 0));
  if (!p) return text;
  const holder = p.slice(0, -1).reduce((o: any, k) => o[k], doc);
  const key = p[p.length - 1];
  const values = [undefined, null, -1, 0, 1e308, -1e308, 1.5, 2 ** 60, 'text', '', true, [], {}, [1, 2], { x: 1 }, '=1/3', '=model.d_model * 2', 'ü\u{1F600}'];
  const v = pick(r, values);
  if (v === undefined) {
    if (Array.isArray(holder)) holder.splice(key as number, 1);
    else delete holder[key];
  } else holder[key] = v;
  return stringify(doc);
}

test(`fuzz: ${MUTATIONS} mutations of valid specs give valid specs or positioned one-line errors`, () => {
  const bases = ['tiny.yaml', 'chameleon-7b.yaml', 'ablate-qknorm-lr.yaml', 'ablate-stages.yaml', 'ablate-norm-order.yaml'];
  const files: Record<string, string> = { 'small.yaml': SMALL };
  for (const b of bases) files[b] = fs.readFileSync(path.join(EXPERIMENTS, b), 'utf8');
  const dir = project(files);
  const texts = Object.entries(files);
  const r = prng(SEED);
  const outcomes = { valid: 0, invalid: 0 };
  const t0 = Date.now();
  for (let n = 0; n < MUTATIONS; n++) {
    const [name, base] = pick(r, texts);
    let text = base;
    const rounds = 1 + Math.floor(r() * 3);
    for (let k = 0; k < rounds; k++) text = r() < 0.5 ? mutateText(text, r) : mutateTree(text, r);
    // Mutants are written next to the bases, so those that keep `extends: tiny.yaml` still resolve it.
    const file = path.join(dir, `mutant-${name}`);
    fs.writeFileSync(file, text);
    const overrides = r() < 0.1 ? [`${pick(r, ['train.steps', 'model.d_model', 'optimizer.lr', 'data.stages.0.share', 'nope.x', 'model'])}=${pick(r, WEIRD_SCALARS)}`] : [];
    try {
      planSweep(loadSpec(file, { overrides }));
      outcomes.valid++;
    } catch (e) {
      if (!isUserError(e)) {
        assert.fail(`mutation ${n} (seed ${SEED}) threw ${(e as Error)?.stack ?? e}\n--- ${name} ---\n${text.slice(0, 3000)}`);
      }
      for (const err of e instanceof UserErrors ? e.errors : [e]) {
        assert.match(err.message, POSITIONED, `mutation ${n} (seed ${SEED}): not a positioned one-line error\n--- ${name} ---\n${text.slice(0, 3000)}`);
      }
      outcomes.invalid++;
    }
  }
  const seconds = (Date.now() - t0) / 1000;
  assert.ok(outcomes.valid > 0 && outcomes.invalid > 0, JSON.stringify(outcomes));
  assert.ok(seconds < 60, `fuzz took ${seconds}s`);
});
