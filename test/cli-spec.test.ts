/** The spec commands as users run them: exit codes, one-line errors, no stack traces, JSON shapes. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { POSITIONED, project, REPO, SMALL } from './dsl-fixtures';

const BIN = path.join(REPO, 'bin', 'chamlab.js');

function chamlab(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: REPO, encoding: 'utf8', timeout: 240_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function assertUserErrors(err: string): string[] {
  const lines = err.trimEnd().split('\n');
  for (const l of lines) assert.match(l, POSITIONED);
  assert.doesNotMatch(err, /\n\s+at |internal error/);
  return lines;
}

test('validate: exit 0 for the shipped experiments', () => {
  const r = chamlab('validate', 'experiments/tiny.yaml', 'experiments/tiny.ts', 'experiments/chameleon-7b.yaml', 'experiments/ablate-qknorm-lr.yaml');
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, '');
});

test('validate: one file:line:col line per error on stderr, exit 1, across several files', () => {
  const dir = project({
    'a.yaml': SMALL.replace('  heads: 2', '  heads: 2\n  qk_nrom: true').replace('layers: 1', 'layers: -1'),
    'b.yaml': 'name: [broken\n',
  });
  const r = chamlab('validate', path.join(dir, 'a.yaml'), path.join(dir, 'b.yaml'), 'experiments/tiny.yaml');
  assert.equal(r.code, 1);
  const lines = assertUserErrors(r.err);
  assert.equal(lines.length, 3, r.err);
  assert.match(r.err, /a\.yaml:5:11: model\.layers: must be > 0, got -1/);
  assert.match(r.err, /a\.yaml:7:3: unknown key 'qk_nrom' in model \(did you mean 'qk_norm'\?\)/);
  assert.match(r.err, /b\.yaml:\d+:\d+: YAML: /);
});

test('validate: a missing file and no file at all are user errors', () => {
  const r = chamlab('validate', 'experiments/nope.yaml');
  assert.equal(r.code, 1);
  assert.match(r.err, /^experiments\/nope\.yaml:1:1: no such file\n$/);
  const none = chamlab('validate');
  assert.equal(none.code, 1);
  assert.match(none.err, /^chamlab validate: expected at least one spec file\n$/);
});

test('show --json: {spec, hash}; --set changes the spec and the hash; YAML by default', () => {
  const a = chamlab('show', 'experiments/tiny.yaml', '--json');
  assert.equal(a.code, 0, a.err);
  const j = JSON.parse(a.out);
  assert.deepEqual(Object.keys(j).sort(), ['hash', 'spec']);
  assert.match(j.hash, /^[0-9a-f]{64}$/);
  assert.equal(j.spec.name, 'tiny');
  const b = JSON.parse(chamlab('show', 'experiments/tiny.yaml', '--set', 'train.steps=10', '--set', 'optimizer.lr=1e-3', '--json').out);
  assert.equal(b.spec.train.steps, 10);
  assert.equal(b.spec.optimizer.lr, 1e-3);
  assert.equal(b.spec.optimizer.schedule.final_lr, 1e-4, 'expressions see overrides');
  assert.notEqual(b.hash, j.hash);
  const ts = JSON.parse(chamlab('show', 'experiments/tiny.ts', '--json').out);
  assert.equal(ts.hash, j.hash);
  const y = chamlab('show', 'experiments/tiny.yaml');
  assert.match(y.out, new RegExp(`^# hash: ${j.hash}\nname: tiny\n`));
});

test('show: bad --set is a positioned user error naming --set', () => {
  const r = chamlab('show', 'experiments/tiny.yaml', '--set', 'optimizer.lrr=1');
  assert.equal(r.code, 1);
  assert.equal(r.err, "--set:1:1: unknown path 'optimizer.lrr' (did you mean 'optimizer.lr'?)\n");
  const flag = chamlab('show', 'experiments/tiny.yaml', '--bogus');
  assert.equal(flag.code, 1);
  assert.match(flag.err, /^chamlab show: unknown option '--bogus' \(see 'chamlab show --help'\)\n$/);
});

test('sweep-plan --json: [{hash, overrides, spec}], members without sweep', () => {
  const r = chamlab('sweep-plan', 'experiments/ablate-qknorm-lr.yaml', '--json');
  assert.equal(r.code, 0, r.err);
  const members = JSON.parse(r.out);
  assert.equal(members.length, 12);
  for (const m of members) {
    assert.deepEqual(Object.keys(m).sort(), ['hash', 'overrides', 'spec']);
    assert.equal(m.spec.sweep, undefined);
    assert.equal(m.spec.optimizer.lr, m.overrides['optimizer.lr']);
  }
  const text = chamlab('sweep-plan', 'experiments/ablate-dropout.yaml');
  assert.match(text.out, /^12 member\(s\) of experiments\/ablate-dropout\.yaml\n/);
});

test('schema prints the JSON Schema', () => {
  const r = chamlab('schema');
  assert.equal(r.code, 0);
  assert.equal(JSON.parse(r.out).title, 'chamlab experiment spec');
});

test('a .ts spec with a syntax error is a one-line error', () => {
  const dir = project({ 'bad.ts': 'export default {\n  name: ,\n};\n' });
  const r = chamlab('validate', path.join(dir, 'bad.ts'));
  assert.equal(r.code, 1);
  assertUserErrors(r.err);
});
