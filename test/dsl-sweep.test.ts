/** Sweep expansion: counts, order, determinism, per-member resolution and errors. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { expandSweep, loadSpec, planSweep, prng } from '../dsl';
import { assertError, errorsOf, EXPERIMENTS, project, SMALL } from './dsl-fixtures';

test('shipped ablations expand to the expected members', () => {
  const count = (f: string) => planSweep(loadSpec(path.join(EXPERIMENTS, f))).length;
  assert.equal(count('ablate-qknorm-lr.yaml'), 12);
  assert.equal(count('ablate-norm-order.yaml'), 12);
  assert.equal(count('ablate-dropout.yaml'), 12);
  assert.equal(count('ablate-zloss.yaml'), 18);
  assert.equal(count('ablate-stages.yaml'), 2);
  assert.equal(count('tiny.yaml'), 1);
});

test('grid x zip x random x seeds, grid keys sorted, last varying fastest; members carry no sweep', () => {
  const dir = project({
    's.yaml': SMALL + `sweep:
  grid: { optimizer.lr: [0.1, 0.2], model.layers: [1, 2, 3] }
  zip: { model.dropout.after_ffn: [0, 0.1], model.dropout.after_attention: [0, 0.2] }
  random: { n: 2, seed: 7, params: { optimizer.weight_decay: { log_uniform: [0.001, 0.1] }, train.batch: { choice: [4, 8] } } }
  seeds: [5, 9]
`,
  });
  const members = planSweep(loadSpec(path.join(dir, 's.yaml')));
  assert.equal(members.length, 2 * 3 * 2 * 2 * 2);
  assert.deepEqual(Object.keys(members[0].overrides), ['model.layers', 'optimizer.lr', 'model.dropout.after_attention', 'model.dropout.after_ffn', 'optimizer.weight_decay', 'train.batch', 'train.seed']);
  assert.deepEqual(members.slice(0, 3).map((m) => m.overrides['train.seed']), [5, 9, 5]);
  assert.deepEqual([members[0].overrides['model.layers'], members[0].overrides['optimizer.lr']], [1, 0.1]);
  assert.deepEqual([members[8].overrides['model.layers'], members[8].overrides['optimizer.lr']], [1, 0.2]);
  const zipped = members.map((m) => [m.overrides['model.dropout.after_ffn'], m.overrides['model.dropout.after_attention']]);
  assert.ok(zipped.every(([f, a]) => (f === 0 && a === 0) || (f === 0.1 && a === 0.2)), 'zip varies together');
  for (const m of members) {
    assert.equal(m.spec.sweep, undefined);
    assert.equal(m.spec.model.layers, m.overrides['model.layers']);
    const wd = m.overrides['optimizer.weight_decay'] as number;
    assert.ok(wd >= 0.001 && wd <= 0.1);
  }
  assert.equal(new Set(members.map((m) => m.hash)).size, members.length, 'distinct members, distinct hashes');
  // Deterministic: the same plan twice, and the same random samples at every grid point.
  assert.deepEqual(planSweep(loadSpec(path.join(dir, 's.yaml'))).map((m) => m.hash), members.map((m) => m.hash));
  const wds = new Set(members.map((m) => m.overrides['optimizer.weight_decay']));
  assert.equal(wds.size, 2);
});

test('expressions are evaluated per member (final_lr follows each lr)', () => {
  const members = planSweep(loadSpec(path.join(EXPERIMENTS, 'ablate-qknorm-lr.yaml')));
  for (const m of members) assert.equal(m.spec.optimizer.schedule.final_lr, Number(((m.overrides['optimizer.lr'] as number) / 10).toPrecision(15)));
});

test('a bad sweep value is reported where it was written in the sweep', () => {
  const dir = project({ 's.yaml': SMALL + 'sweep:\n  grid:\n    model.layers: [1, -3, 2.5]\n' });
  const f = path.join(dir, 's.yaml');
  const lines = errorsOf(() => planSweep(loadSpec(f)));
  assertError(lines, `${f}:19:23`, /sweep member 1 \(model\.layers=-3\): model\.layers: must be > 0, got -3/);
  assertError(lines, `${f}:19:27`, /sweep member 2 \(model\.layers=2\.5\): model\.layers: expected an integer, got 2\.5/);
});

test('sweep paths must exist, zipped lists must match, ranges must be ordered, size is bounded', () => {
  const cases: [string, RegExp][] = [
    ['grid: { optimizer.lrr: [1] }', /sweep\.grid: 'optimizer\.lrr' is not a field \(did you mean 'optimizer\.lr'\?\)/],
    ['zip: { model.layers: [1, 2], model.heads: [2] }', /sweep\.zip: 'model\.heads' has 1 values but 'model\.layers' has 2/],
    ['random: { n: 2, params: { optimizer.lr: { uniform: [1, 0] } } }', /the range \[1, 0\] is empty/],
    ['grid: { sweep.seeds: [1] }', /'sweep\.seeds' cannot be swept/],
    ['grid: { model.layers: [1] }\n  zip: { model.layers: [2] }', /'model\.layers' is already swept in sweep\.grid/],
    ['grid: { model.layers: [1,2,3,4,5,6,7,8,9,10], model.heads: [1,2,3,4,5,6,7,8,9,10], optimizer.lr: [1,2,3,4,5,6,7,8,9,10] }\n  seeds: 11', /11000 members exceed the limit/],
  ];
  for (const [body, re] of cases) {
    const dir = project({ 's.yaml': SMALL + `sweep:\n  ${body}\n` });
    const lines = errorsOf(() => planSweep(loadSpec(path.join(dir, 's.yaml'))));
    assert.ok(lines.some((l) => re.test(l)), `${re} not in:\n${lines.join('\n')}`);
  }
});

test('expandSweep works on a resolved spec alone (a sweep whose members need no expression recomputed)', () => {
  const loaded = loadSpec(path.join(EXPERIMENTS, 'ablate-stages.yaml'));
  const fromSpec = expandSweep({ spec: loaded.spec });
  assert.deepEqual(fromSpec.map((m) => m.hash), planSweep(loaded).map((m) => m.hash));
});

test('prng: deterministic, seed-sensitive, in [0, 1)', () => {
  const a = prng(42);
  const b = prng(42);
  const xs = Array.from({ length: 1000 }, () => a());
  assert.deepEqual(xs, Array.from({ length: 1000 }, () => b()));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  assert.notEqual(prng(0)(), prng(1)());
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.05);
  // Pinned values: a change here changes every random sweep's members.
  const r = prng(7);
  assert.deepEqual([r(), r(), r()].map((x) => x.toFixed(6)), ['0.348338', '0.146830', '0.752246']);
});
