/** The JSON Schema for editors: derived from zod, shipped, and pointed at by the example files. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { jsonSchema } from '../dsl';
import { EXPERIMENTS, REPO } from './dsl-fixtures';

test('the shipped schema/chamlab.schema.json equals the generated one (regenerate: chamlab schema --out schema/chamlab.schema.json)', () => {
  const shipped = fs.readFileSync(path.join(REPO, 'schema', 'chamlab.schema.json'), 'utf8');
  assert.equal(shipped, JSON.stringify(jsonSchema(), null, 2) + '\n');
});

test('numbers and booleans also accept =expressions; extends is allowed; typos are not', () => {
  const s = jsonSchema() as any;
  const dModel = s.properties.model.properties.d_model;
  assert.ok(dModel.anyOf.some((a: any) => a.type === 'integer'));
  assert.ok(dModel.anyOf.some((a: any) => a.type === 'string' && a.pattern === '^='));
  assert.ok(s.properties.model.properties.qk_norm.anyOf.some((a: any) => a.pattern === '^='));
  assert.ok(s.properties.extends);
  assert.equal(s.properties.model.additionalProperties, false);
  assert.equal(JSON.stringify(s).includes('"required"'), false, 'partial files (bases, children) must not be flagged');
  assert.equal(s.$schema, 'http://json-schema.org/draft-07/schema#');
});

test('every example YAML starts with the yaml-language-server schema comment', () => {
  for (const f of fs.readdirSync(EXPERIMENTS).filter((x) => /\.ya?ml$/.test(x))) {
    const first = fs.readFileSync(path.join(EXPERIMENTS, f), 'utf8').split('\n')[0];
    assert.equal(first, '# yaml-language-server: $schema=../schema/chamlab.schema.json', f);
  }
});
