/** Resolution: shipped experiments, cross-field checks, stage folding, idempotency. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { canonicalJSON, loadSpec, planSweep, resolveSpec, specHash } from '../dsl';
import { shippedExperiments } from '../src/demo';
import { assertError, errorsOf, EXPERIMENTS, project, SMALL } from './dsl-fixtures';

test('every shipped experiment validates, sweep members included', () => {
  const files = shippedExperiments();
  for (const name of ['chameleon-7b.yaml', 'chameleon-34b.yaml', 'tiny.yaml', 'tiny.ts', 'ablate-qknorm-lr.yaml', 'ablate-norm-order.yaml', 'ablate-dropout.yaml', 'ablate-stages.yaml']) {
    assert.ok(files.includes(path.join(EXPERIMENTS, name)), `experiments/${name} is shipped`);
  }
  for (const f of files) {
    const loaded = loadSpec(f);
    assert.match(loaded.hash, /^[0-9a-f]{64}$/);
    assert.ok(planSweep(loaded).length >= 1);
  }
});

test('the Chameleon experiments carry the published sizes and recipe', () => {
  const b7 = loadSpec(path.join(EXPERIMENTS, 'chameleon-7b.yaml')).spec;
  const b34 = loadSpec(path.join(EXPERIMENTS, 'chameleon-34b.yaml')).spec;
  const { ffnHidden, kvHeads, vocabSize } = require('../dsl') as typeof import('../dsl');
  assert.deepEqual([b7.model.d_model, b7.model.layers, b7.model.heads, kvHeads(b7.model), ffnHidden(b7.model), vocabSize(b7.model)], [4096, 32, 32, 32, 11008, 65536]);
  assert.deepEqual([b34.model.d_model, b34.model.layers, b34.model.heads, kvHeads(b34.model), ffnHidden(b34.model), vocabSize(b34.model)], [8192, 48, 64, 8, 22016, 65536]);
  assert.equal(b7.model.norm.order, 'pre');
  assert.equal(b34.model.norm.order, 'swin');
  assert.deepEqual(b7.model.dropout, { attention: 0, after_attention: 0.1, after_ffn: 0.1 });
  assert.deepEqual(b34.model.dropout, { attention: 0, after_attention: 0, after_ffn: 0 });
  for (const s of [b7, b34]) {
    assert.equal(s.model.qk_norm, true);
    assert.equal(s.model.z_loss, 1e-5);
    assert.equal(s.model.max_seq_len, 4096);
    assert.equal(s.data.seq_len, 4096);
    assert.equal(s.optimizer.lr, 1e-4);
    assert.deepEqual(s.optimizer.betas, [0.9, 0.95]);
    assert.equal(s.optimizer.eps, 1e-5);
    assert.equal(s.optimizer.weight_decay, 0.1);
    assert.equal(s.optimizer.grad_clip, 1);
    assert.equal(s.optimizer.schedule.warmup, 4000);
    assert.equal(s.optimizer.schedule.decay, 'exponential');
    assert.equal(s.model.tie_embeddings, false);
    assert.equal(s.tokenizer.image.codebook_size, 8192);
    assert.equal((s.tokenizer.image.resolution / s.tokenizer.image.patch) ** 2, 1024);
    assert.deepEqual(s.data.stages.map((st) => st.share), [0.8, 0.2]);
  }
  assert.equal(b7.train.batch * b7.data.seq_len, 2 ** 23);
  assert.equal(b34.train.batch * b34.data.seq_len, 3 * 2 ** 22);
});

test('tiny: two stages as the paper, stage 2 = stage 1 x 0.5 plus a higher-quality source', () => {
  const { spec } = loadSpec(path.join(EXPERIMENTS, 'tiny.yaml'));
  assert.deepEqual(spec.data.stages.map((s) => [s.name, s.share]), [['stage1', 0.8], ['stage2', 0.2]]);
  assert.deepEqual(spec.data.stages[0].weights, { image_text: 0.3, interleaved: 0.2, text: 0.5 });
  assert.deepEqual(spec.data.stages[1].weights, { image_text: 0.15, interleaved: 0.1, quality: 0.5, text: 0.25 });
  assert.equal('from' in spec.data.stages[1], false, 'a resolved spec has no from');
  assert.equal(spec.data.sources.image_text.image_first, 0.5);
});

test('cross-field checks, each at the field concerned', () => {
  const cases: [string, string, RegExp][] = [
    ['  heads: 2', '  heads: 3', /model\.heads: d_model \(32\) must be divisible by heads \(3\)/],
    ['  d_model: 32', '  d_model: 34', /head_dim = d_model \/ heads = 17 must be even for RoPE/],
    ['  heads: 2', '  heads: 2\n  kv_heads: 4', /model\.kv_heads: heads \(2\) must be divisible by kv_heads \(4\)/],
    ['codebook_size: 64', 'codebook_size: 65', /tokenizer\.image\.codebook_size \(65\) must equal model\.vocab\.image \(64\)/],
    ['patch: 2', 'patch: 3', /tokenizer\.image\.patch: resolution \(8\) must be divisible by patch \(3\)/],
    ['seq_len: 64', 'seq_len: 5000', /data\.seq_len: 5000 exceeds model\.max_seq_len \(4096\)/],
    ['seq_len: 64', 'seq_len: 8', /data\.seq_len: 8 cannot hold one image \(18 tokens/],
    ['share: 1,', 'share: 0.9,', /data\.stages: the stages' shares sum to 0\.9, not 1/],
    ['weights: { t: 1, i: 1 }', 'weights: { t: 1, x: 1 }', /no data source named 'x'/],
    ['weights: { t: 1, i: 1 } }', 'weights: { t: 1 } }\n    - { name: s1, share: 0.5, weights: { t: 1 } }', /'s1' is already the name of stage 0/],
    ['weights: { t: 1, i: 1 } }', 'from: { stage: s2 } }\n    - { name: s2, share: 0.5, weights: { t: 1 } }', /from\.stage: 's2' is not an earlier stage/],
    ['weights: { t: 1, i: 1 } }', 'weights: { t: 0 } }', /stage 's1' has no positive weight/],
    ['builtin:moby-dick', 'builtin:moby-dik', /data\.sources\.t\.origin: unknown built-in source 'builtin:moby-dik' \(did you mean 'builtin:moby-dick'\?\)/],
    ['kind: image-text', 'kind: interleaved', /data\.sources\.i\.kind: builtin:mnist provides image-text documents, not interleaved/],
    ['train: { steps: 10 }', 'train: { steps: 10 }\noptimizer: { lr: 0.1, schedule: { final_lr: 0.2 } }', /final_lr: 0\.2 exceeds optimizer\.lr \(0\.1\)/],
  ];
  for (const [from, to, re] of cases) {
    const text = SMALL.replace(from, to).replace(/share: 1,(.*)\n(    - \{ name: s[12], share: 0\.5)/, 'share: 0.5,$1\n$2');
    const dir = project({ 's.yaml': text });
    let lines: string[] = [];
    assert.doesNotThrow(() => (lines = errorsOf(() => loadSpec(path.join(dir, 's.yaml')))), `${re}: no error for\n${text}`);
    assert.ok(lines.some((l) => re.test(l)), `${re} not in:\n${lines.join('\n')}`);
  }
});

test('the error for a missing stage names the candidates', () => {
  const dir = project({ 's.yaml': SMALL.replace('weights: { t: 1, i: 1 } }', 'weights: { t: 1 } }\n    - { name: s2, share: 0.5, from: { stage: s0 } }').replace('share: 1,', 'share: 0.5,') });
  const f = path.join(dir, 's.yaml');
  assertError(errorsOf(() => loadSpec(f)), `${f}:16:46`, /data\.stages\.1\.from\.stage: there is no stage 's0' \(did you mean 's1'\?\)/);
});

test('resolving a resolved spec gives the identical spec and hash', () => {
  for (const f of shippedExperiments()) {
    const first = loadSpec(f);
    const again = resolveSpec(JSON.parse(JSON.stringify(first.spec)), { source: f });
    assert.equal(canonicalJSON(again.spec), canonicalJSON(first.spec), f);
    assert.equal(again.hash, first.hash, f);
    for (const m of planSweep(first)) assert.equal(resolveSpec(m.spec, { source: f }).hash, m.hash);
  }
});

test('stage weights are normalized; uneven sums and from-scales fold exactly once', () => {
  const text = SMALL.replace('    - { name: s1, share: 1, weights: { t: 1, i: 1 } }', '    - { name: s1, share: 0.5, weights: { t: 3, i: 1 } }\n    - { name: s2, share: 0.5, from: { stage: s1, scale: 2 }, weights: { i: 0.5 } }');
  const dir = project({ 's.yaml': text });
  const { spec, hash } = loadSpec(path.join(dir, 's.yaml'));
  assert.deepEqual(spec.data.stages[0].weights, { i: 0.25, t: 0.75 });
  // s2 = {t: 1.5, i: 0.5 (own value replaces the inherited 0.5)} -> normalized over 2.
  assert.deepEqual(spec.data.stages[1].weights, { i: 0.25, t: 0.75 });
  assert.equal(resolveSpec(spec).hash, hash);
});

test('hash is unaffected by comments, formatting, key order and number spelling', () => {
  const a = project({ 's.yaml': SMALL });
  const reordered = `# a comment
train:   {steps: 10}   # trailing
data:
  stages: [{weights: {i: 1, t: 1}, share: 1.0, name: s1}]
  sources:
    i:
      origin: builtin:mnist
      kind: "image-text"
    t: {origin: 'builtin:moby-dick', kind: text}
  seq_len: 0x40
tokenizer: {image: {codebook_size: 64, patch: 2, resolution: 8.0}}
model:
  heads: "=2"
  layers: 1
  d_model: 3.2e1
  vocab:
    image: 64
    text: 300
name: small
`;
  const b = project({ 's.yaml': reordered });
  assert.equal(loadSpec(path.join(b, 's.yaml')).hash, loadSpec(path.join(a, 's.yaml')).hash);
  assert.notEqual(loadSpec(path.join(a, 's.yaml'), { overrides: ['train.steps=11'] }).hash, loadSpec(path.join(a, 's.yaml')).hash);
});

test('relative data paths: anchored at the file that wrote them, re-expressed from the top spec, never outside the project', () => {
  const dir = project({
    'bases/base.yaml': SMALL.replace('origin: "builtin:moby-dick"', 'origin: "../data/books.jsonl"'),
    'runs/child.yaml': 'extends: ../bases/base.yaml\n',
    'escape.yaml': SMALL.replace('origin: "builtin:moby-dick"', 'origin: "../../etc/passwd"'),
  });
  fs.mkdirSync(path.join(dir, 'data'));
  assert.equal(loadSpec(path.join(dir, 'runs/child.yaml')).spec.data.sources.t.origin, '../data/books.jsonl');
  assert.equal(loadSpec(path.join(dir, 'bases/base.yaml')).spec.data.sources.t.origin, '../data/books.jsonl');
  const f = path.join(dir, 'escape.yaml');
  assertError(errorsOf(() => loadSpec(f)), `${f}:12:31`, /data\.sources\.t\.origin: '\.\.\/\.\.\/etc\/passwd' is outside the project root/);
});

test('resolveSpec takes plain objects; specHash matches', () => {
  const { spec, hash } = loadSpec(path.join(EXPERIMENTS, 'tiny.yaml'));
  assert.equal(specHash(spec), hash);
  const lines = errorsOf(() => resolveSpec({ name: 'x' } as any, { source: '<notebook>' }));
  assert.match(lines[0], /^<notebook>:1:1: missing required section '(model|data|train)'$/);
});

test("other modules' smoke-run call works: loadSpec(file, { overrides: ['train.steps=10'] })", () => {
  for (const f of ['tiny.yaml', 'tiny.ts', 'chameleon-7b.yaml']) {
    const { spec, hash, file } = loadSpec(path.join(EXPERIMENTS, f), { overrides: ['train.steps=10'] });
    assert.equal(spec.train.steps, 10);
    assert.match(hash, /^[0-9a-f]{64}$/);
    assert.equal(file, path.join(EXPERIMENTS, f));
  }
});

test('several errors come out in file order (line, then column), whatever phase found them', () => {
  const dir = project({
    'base.yaml': SMALL,
    'child.yaml': 'extends: base.yaml\nmodel:\n  d_modle: 64\n  layers: "=evaluate(\'1+1\')"\ntrain:\n  steps: -5\n',
  });
  const lines = errorsOf(() => loadSpec(path.join(dir, 'child.yaml')));
  assert.equal(lines.length, 3, lines.join('\n'));
  const positions = lines.map((l) => l.split(': ')[0].split(':').slice(-2).map(Number));
  const sorted = [...positions].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  assert.deepEqual(positions, sorted, lines.join('\n'));
});
