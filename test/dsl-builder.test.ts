/** The TypeScript builder: same hash as YAML, immutability, toYAML round trip, .ts spec files. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { canonicalJSON, experiment, expr, loadSpec, planSweep } from '../dsl';
import { errorsOf, EXPERIMENTS, project } from './dsl-fixtures';

test('experiments/tiny.ts and experiments/tiny.yaml resolve to the same canonical spec and hash', () => {
  const yaml = loadSpec(path.join(EXPERIMENTS, 'tiny.yaml'));
  const ts = loadSpec(path.join(EXPERIMENTS, 'tiny.ts'));
  assert.equal(canonicalJSON(ts.spec), canonicalJSON(yaml.spec));
  assert.equal(ts.hash, yaml.hash);
});

const small = () =>
  experiment('small')
    .model({ vocab: { text: 300, image: 64 }, d_model: 32, layers: 1, heads: 2 })
    .tokenizer({ image: { resolution: 8, patch: 2, codebook_size: expr('model.vocab.image') } })
    .data({ seq_len: 64 })
    .source('t', { kind: 'text', origin: 'builtin:moby-dick' })
    .source('i', { kind: 'image-text', origin: 'builtin:mnist' })
    .stage('s1', 0.5, { t: 1, i: 1 })
    .stage('s2', 0.5, { t: 1 }, { stage: 's1', scale: 0.5 })
    .train({ steps: 10 });

test('builders are immutable: variants branch from a base', () => {
  const base = small();
  const wide = base.model({ d_model: 64 });
  assert.equal(base.resolve().spec.model.d_model, 32);
  assert.equal(wide.resolve().spec.model.d_model, 64);
  assert.equal(wide.resolve().spec.model.layers, 1, 'deep merge keeps the rest of model');
  assert.notEqual(base.resolve().hash, wide.resolve().hash);
});

test('toYAML round-trips to the same hash, and carries the schema comment when asked', () => {
  const b = small().set('optimizer.lr', 1e-3).grid('model.layers', [1, 2]).seeds(2);
  const dir = project({});
  const file = path.join(dir, 'b.yaml');
  const text = b.toYAML({ schema: '../schema/chamlab.schema.json' });
  assert.match(text, /^# yaml-language-server: \$schema=\.\.\/schema\/chamlab\.schema\.json\n/);
  fs.writeFileSync(file, text);
  const loaded = loadSpec(file);
  assert.equal(loaded.hash, b.resolve().hash);
  assert.equal(planSweep(loaded).length, 4);
});

test('set, grid, zip, random and schedule helpers write the documented fields', () => {
  const input = small()
    .set('model.dropout.after_ffn', 0.1)
    .schedule({ warmup: 2, decay: 'linear' })
    .zip('optimizer.lr', [1e-3, 1e-2])
    .zip('optimizer.weight_decay', [0, 0.1])
    .random(3, { 'train.batch': { choice: [4, 8] } }, 5)
    .toSpecInput() as any;
  assert.equal(input.model.dropout.after_ffn, 0.1);
  assert.deepEqual(input.optimizer.schedule, { warmup: 2, decay: 'linear' });
  assert.deepEqual(input.sweep.zip, { 'optimizer.lr': [1e-3, 1e-2], 'optimizer.weight_decay': [0, 0.1] });
  assert.deepEqual(input.sweep.random, { n: 3, seed: 5, params: { 'train.batch': { choice: [4, 8] } } });
});

test('builder errors are positioned one-liners naming the source', () => {
  const lines = errorsOf(() => small().model({ heads: 3 }).resolve({ source: '<notebook>' }));
  assert.match(lines[0], /^<notebook>:1:1: model\.heads: d_model \(32\) must be divisible by heads \(3\)$/);
});

test('.ts spec files: default export may be a builder or a plain object; errors are positioned', () => {
  const dsl = path.join(__dirname, '..', '..', 'dsl');
  const dir = project({
    'obj.ts': `export default ${JSON.stringify(small().toSpecInput())};\n`,
    'builder.ts': `import { experiment } from ${JSON.stringify(dsl)};\nexport default experiment('x').extends('./obj.ts').set('name', 'small');\n`,
    'none.ts': 'export const x = 1;\n',
    'syntax.ts': 'export default {\n  name: ,\n};\n',
    'throws.ts': 'throw new Error("boom");\n',
  });
  const expected = small().resolve().hash;
  assert.equal(loadSpec(path.join(dir, 'obj.ts')).hash, expected);
  assert.equal(loadSpec(path.join(dir, 'builder.ts')).hash, expected);
  assert.match(errorsOf(() => loadSpec(path.join(dir, 'none.ts')))[0], /none\.ts:1:1: a TypeScript spec must `export default`/);
  assert.match(errorsOf(() => loadSpec(path.join(dir, 'syntax.ts')))[0], /syntax\.ts:\d+:\d+: cannot load the TypeScript spec: /);
  assert.match(errorsOf(() => loadSpec(path.join(dir, 'throws.ts')))[0], /throws\.ts:\d+:\d+: cannot load the TypeScript spec: .*boom/);
});

test('paths and values are typed (compile-time checks; tsc fails if an expected error disappears)', () => {
  const b = experiment('typed');
  b.set('optimizer.lr', 1e-3).set('model.norm.order', 'swin').set('data.sources.extra.origin', 'builtin:sotu');
  b.grid('model.qk_norm', [true, false]).zip('model.layers', [1, expr('model.heads')]);
  // @ts-expect-error: not a field
  b.set('optimizer.lrr', 1);
  // @ts-expect-error: a boolean field
  b.set('model.qk_norm', 'yes');
  // @ts-expect-error: not one of pre | swin
  b.set('model.norm.order', 'post');
  // @ts-expect-error: grid values must fit the field
  b.grid('optimizer.lr', ['fast']);
  // @ts-expect-error: d_model is a number
  b.model({ d_model: '128' });
  assert.ok(true);
});
