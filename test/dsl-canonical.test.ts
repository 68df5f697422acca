/** Canonical JSON and the spec hash. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { canonicalJSON, canonicalize, specHash } from '../dsl';

test('keys sorted at every depth, arrays kept in order, no whitespace', () => {
  assert.equal(canonicalJSON({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } }), '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
});

test('numbers: shortest round-trip form, -0 is 0, spellings agree', () => {
  assert.equal(canonicalJSON([1e-4, 0.0001, 1.0, -0, 1e21, 2 ** 53 - 1]), '[0.0001,0.0001,1,0,1e+21,9007199254740991]');
  assert.throws(() => canonicalJSON({ a: NaN }), /a is not a finite number/);
  assert.throws(() => canonicalJSON({ a: Infinity }), /not a finite number/);
});

test('undefined members are dropped; strings escape as JSON', () => {
  assert.equal(canonicalJSON({ a: undefined, b: 'é"\n' }), '{"b":"é\\"\\n"}');
});

test('specHash is SHA-256 of the canonical JSON, independent of key order', () => {
  const h = createHash('sha256').update('{"a":1,"b":2}').digest('hex');
  assert.equal(specHash({ b: 2, a: 1 }), h);
  assert.equal(specHash({ a: 1, b: 2 }), h);
  assert.deepEqual(Object.keys(canonicalize({ b: 2, a: 1 })), ['a', 'b']);
});
