/** The YAML front end: positions, extends, safety limits, overrides. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadSpec, projectRoot } from '../dsl';
import { assertError, errorsOf, project, REPO, SMALL } from './dsl-fixtures';

test('errors point at the file where the value was written: child and base', () => {
  const dir = project({
    'base.yaml': SMALL.replace('layers: 1', 'layers: 0'),
    'child.yaml': 'extends: base.yaml\nmodel:\n  heads: -2\n',
  });
  const lines = errorsOf(() => loadSpec(path.join(dir, 'child.yaml')));
  assertError(lines, `${path.join(dir, 'base.yaml')}:5:11`, /model\.layers: must be > 0, got 0/);
  assertError(lines, `${path.join(dir, 'child.yaml')}:3:10`, /model\.heads: must be > 0, got -2/);
});

test('a value overridden by the child is reported in the child, not the base', () => {
  const dir = project({ 'base.yaml': SMALL, 'child.yaml': 'extends: base.yaml\ndata:\n  seq_len: 100000\n' });
  const lines = errorsOf(() => loadSpec(path.join(dir, 'child.yaml')));
  assertError(lines, `${path.join(dir, 'child.yaml')}:3:12`, /data\.seq_len: 100000 exceeds model\.max_seq_len/);
});

test('unknown keys: "did you mean", at the key, at any depth, and at the right level', () => {
  const dir = project({ 's.yaml': SMALL.replace('  heads: 2', '  heads: 2\n  qk_nrom: false').replace('train: { steps: 10 }', 'train: { steps: 10, lr: 0.1 }\noptimzer: {}') });
  const lines = errorsOf(() => loadSpec(path.join(dir, 's.yaml')));
  const f = path.join(dir, 's.yaml');
  assertError(lines, `${f}:7:3`, /unknown key 'qk_nrom' in model \(did you mean 'qk_norm'\?\)/);
  assertError(lines, `${f}:17:21`, /unknown key 'lr' in train \(did you mean 'optimizer\.lr'\?\)/);
  assertError(lines, `${f}:18:1`, /unknown key 'optimzer' at the top level \(did you mean 'optimizer'\?\)/);
});

test('enum values get "did you mean" too', () => {
  const dir = project({ 's.yaml': SMALL.replace('train: { steps: 10 }', 'train: { steps: 10, device: gpuu }') });
  const lines = errorsOf(() => loadSpec(path.join(dir, 's.yaml')));
  assertError(lines, `${path.join(dir, 's.yaml')}:16:29`, /train\.device: expected one of .* got 'gpuu' \(did you mean 'gpu'\?\)/);
});

test('missing required keys are reported at the mapping that lacks them', () => {
  const dir = project({ 's.yaml': SMALL.replace('  d_model: 32\n', '') });
  const lines = errorsOf(() => loadSpec(path.join(dir, 's.yaml')));
  assertError(lines, `${path.join(dir, 's.yaml')}:2:1`, /model: missing required key 'd_model'/);
});

test('extends: several bases merge in order, deep, under the child', () => {
  const dir = project({
    'a.yaml': SMALL,
    'b.yaml': 'model:\n  layers: 3\n  dropout: { after_ffn: 0.2 }\n',
    'sub/c.yaml': 'extends: [../a.yaml, ../b.yaml]\nmodel:\n  dropout: { attention: 0.1 }\n',
  });
  const { spec } = loadSpec(path.join(dir, 'sub/c.yaml'));
  assert.equal(spec.model.layers, 3);
  assert.equal(spec.model.d_model, 32);
  assert.deepEqual(spec.model.dropout, { attention: 0.1, after_attention: 0, after_ffn: 0.2 });
});

test('extends cycles are refused at the extends entry', () => {
  const dir = project({ 'a.yaml': 'extends: b.yaml\n', 'b.yaml': 'name: x\nextends: [a.yaml]\n', 'self.yaml': 'extends: ./self.yaml\n' });
  assertError(errorsOf(() => loadSpec(path.join(dir, 'a.yaml'))), `${path.join(dir, 'b.yaml')}:2:11`, /extends cycle: a\.yaml -> b\.yaml -> a\.yaml/);
  assertError(errorsOf(() => loadSpec(path.join(dir, 'self.yaml'))), `${path.join(dir, 'self.yaml')}:1:10`, /extends cycle/);
});

test('extends may not leave the project root (relative, absolute or through a symlink)', () => {
  const outside = project({ 'secret.yaml': SMALL });
  const dir = project({
    'up.yaml': 'extends: ../x.yaml\n',
    'abs.yaml': `extends: ${path.join(outside, 'secret.yaml')}\n`,
  });
  fs.symlinkSync(path.join(outside, 'secret.yaml'), path.join(dir, 'link.yaml'));
  fs.writeFileSync(path.join(dir, 'via-link.yaml'), 'extends: link.yaml\n');
  for (const f of ['up.yaml', 'abs.yaml', 'via-link.yaml']) {
    assertError(errorsOf(() => loadSpec(path.join(dir, f))), `${path.join(dir, f)}:1:10`, /outside the project root/);
  }
});

test('the project root is the nearest folder with package.json or .chamlab-root, else the spec folder', () => {
  assert.equal(projectRoot(path.join(REPO, 'experiments', 'tiny.yaml')), fs.realpathSync(REPO));
  const dir = project({ 'deep/er/s.yaml': SMALL });
  assert.equal(projectRoot(path.join(dir, 'deep/er/s.yaml')), fs.realpathSync(dir));
});

test('YAML tags are refused, whichever they are', () => {
  for (const tagged of ['!!python/object:os.system x', '!!str 5', '!custom x', '!!binary aGk=']) {
    const dir = project({ 's.yaml': SMALL.replace('name: small', `name: ${tagged}`) });
    const lines = errorsOf(() => loadSpec(path.join(dir, 's.yaml')));
    assert.match(lines[0], /:1:\d+: YAML tags such as '.+' are not allowed/);
  }
});

test('alias bombs are refused quickly', () => {
  const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 10; i++) levels.push(`${'abcdefghij'[i]}: &${'abcdefghij'[i]} [${Array(10).fill('*' + 'abcdefghij'[i - 1]).join(', ')}]`);
  const wide = project({ 's.yaml': levels.join('\n') + '\n' });
  const t0 = Date.now();
  assert.match(errorsOf(() => loadSpec(path.join(wide, 's.yaml')))[0], /more than 100 aliases/);
  // Few aliases, exponential expansion: 2^40 values if expanded.
  const deep = ['a0: &a0 [x, x]'];
  for (let i = 1; i <= 40; i++) deep.push(`a${i}: &a${i} [*a${i - 1}, *a${i - 1}]`);
  const narrow = project({ 's.yaml': deep.join('\n') + '\n' });
  assert.match(errorsOf(() => loadSpec(path.join(narrow, 's.yaml')))[0], /(more than \d+ values|more than 100 aliases|nests deeper)/);
  assert.ok(Date.now() - t0 < 2000, 'alias bombs must fail fast');
});

test('small, legitimate aliases work', () => {
  const dir = project({ 's.yaml': SMALL.replace('  stages:', '  x_weights: &w { t: 1, i: 1 }\n  stages:').replace('weights: { t: 1, i: 1 }', 'weights: *w').replace('  x_weights: &w { t: 1, i: 1 }\n', '') });
  // (the anchor must live in the document; put it on the first use instead)
  const text = SMALL.replace('weights: { t: 1, i: 1 } }', 'weights: &w { t: 1, i: 1 } }\n    - { name: s2, share: 0.5, weights: *w }').replace('share: 1,', 'share: 0.5,');
  fs.writeFileSync(path.join(dir, 's.yaml'), text);
  const { spec } = loadSpec(path.join(dir, 's.yaml'));
  assert.deepEqual(spec.data.stages[1].weights, { i: 0.5, t: 0.5 });
});

test('duplicate keys, several documents, merge keys and broken YAML are positioned errors', () => {
  const cases: [string, RegExp][] = [
    [SMALL + 'name: again\n', /:17:1: duplicate key 'name'/],
    [SMALL + '---\nname: second\n', /:1[78]:\d+: a spec file holds one YAML document/],
    [SMALL.replace('  layers: 1', '  <<: { layers: 1 }'), /:5:3: YAML merge keys/],
    ['name: [unclosed\nmodel: {}\n', /:\d+:\d+: YAML: /],
    ['\t- tab', /:\d+:\d+: /],
    ['', /:1:1: a spec is a mapping/],
    ['[1, 2]', /:1:1: a spec is a mapping/],
  ];
  for (const [text, re] of cases) {
    const dir = project({ 's.yaml': text });
    assert.match(errorsOf(() => loadSpec(path.join(dir, 's.yaml')))[0], re, JSON.stringify(text));
  }
});

test('files: wrong extension, missing file, directory', () => {
  const dir = project({ 's.json': '{}', 'd.yaml/x': '' });
  assert.match(errorsOf(() => loadSpec(path.join(dir, 's.json')))[0], /:1:1: a spec is a \.yaml, \.yml or \.ts file/);
  assert.match(errorsOf(() => loadSpec(path.join(dir, 'nope.yaml')))[0], /:1:1: no such file/);
  assert.match(errorsOf(() => loadSpec(path.join(dir, 'd.yaml')))[0], /:1:1: not a file/);
});

test('--set overrides: YAML values, flow lists, expressions, positioned errors', () => {
  const dir = project({ 's.yaml': SMALL });
  const f = path.join(dir, 's.yaml');
  const { spec } = loadSpec(f, { overrides: ['train.steps=20', 'optimizer.betas=[0.8, 0.99]', 'model.layers==model.heads * 2', 'data.stages.0.share=1'] });
  assert.equal(spec.train.steps, 20);
  assert.deepEqual(spec.optimizer.betas, [0.8, 0.99]);
  assert.equal(spec.model.layers, 4);
  assert.match(errorsOf(() => loadSpec(f, { overrides: ['train.steps=10', 'optimizer.lrr=1'] }))[0], /^--set:2:1: unknown path 'optimizer\.lrr' \(did you mean 'optimizer\.lr'\?\)$/);
  assert.match(errorsOf(() => loadSpec(f, { overrides: ['train.steps=abc'] }))[0], /^--set:1:13: train\.steps: expected a number, got 'abc'$/);
  assert.match(errorsOf(() => loadSpec(f, { overrides: ['nothing'] }))[0], /^--set:1:1: expected path=value/);
  assert.match(errorsOf(() => loadSpec(f, { overrides: ['data.stages.5.share=1'] }))[0], /^--set:1:1: cannot set 'data\.stages\.5\.share': index 5 is outside the list/);
  assert.match(errorsOf(() => loadSpec(f, { overrides: ['train.steps=!!str 5'] }))[0], /^--set:1:13: YAML tags/);
});
