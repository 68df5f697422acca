/** Expressions: the sandbox, references, cycles, positions. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { checkExpression, compileSchedule, ExpressionError, loadSpec } from '../dsl';
import { assertError, errorsOf, project, SMALL } from './dsl-fixtures';

/** SMALL with `model.rope_theta: "<text>"` on line 7 (the value's text starts at column 16). */
function withExpression(text: string) {
  const dir = project({ 's.yaml': SMALL.replace('  heads: 2\n', `  heads: 2\n  rope_theta: "${text}"\n`) });
  return path.join(dir, 's.yaml');
}

test('functions that reach outside are refused, with the position of the call', () => {
  const forbidden = ['import', 'createUnit', 'evaluate', 'parse', 'compile', 'simplify', 'derivative', 'resolve', 'reviver', 'chain', 'rationalize', 'help', 'parser'];
  for (const fn of forbidden) {
    const f = withExpression(`=1 + ${fn}('1')`);
    const lines = errorsOf(() => loadSpec(f));
    // "=1 + " is 5 characters: the call starts 5 columns after the value's first character (16).
    assertError(lines, `${f}:7:21`, new RegExp(`model\\.rope_theta: (function '${fn}' is not allowed|only numbers)`));
  }
});

test('everything but arithmetic on numbers is refused', () => {
  const cases: [string, RegExp][] = [
    ['=x = 5', /assignments are not allowed/],
    ['=f(x) = x', /function definitions are not allowed/],
    ['=[1, 2]', /lists and matrices are not allowed/],
    ['={a: 1}', /objects are not allowed/],
    ['=1:3', /ranges are not allowed/],
    ['="abc"', /only numbers and booleans/],
    ['=5 cm', /unknown name 'cm'/],
    ['=1; 2', /several statements are not allowed/],
    ['=sqrt(-1)', /gave NaN, not a finite number/],
    ['=10^400', /not a finite number/],
    ['=1/0', /not a finite number/],
    ['=foo(2)', /unknown function 'foo'/],
    ['=flor(2.5)', /unknown function 'flor' \(did you mean 'floor'\?\)/],
    ['=model["d_model"]', /only dotted field references/],
    ['=model.d_model.x', /is not a field/],
    ['=cos.constructor', /only dotted field references|not a field/],
    ['=(1', /cannot parse expression/],
    ['=' + '('.repeat(5000) + '1' + ')'.repeat(5000), /longer than|nests too deeply/],
    ['=5!', /operator '!' is not allowed/],
    ['=3 & 1', /operator '&' is not allowed/],
  ];
  for (const [text, re] of cases) {
    const f = withExpression(text.replace(/"/g, '\\"'));
    const lines = errorsOf(() => loadSpec(f));
    assert.match(lines[0], /:7:\d+: model\.rope_theta: /, text);
    assert.match(lines[0], re, text);
  }
});

test('references: written values, expressions in any order, defaults', () => {
  const dir = project({
    's.yaml': SMALL.replace('  heads: 2\n', '  heads: "=model.layers * 2"\n  layers: "=data.seq_len / 64"\n  ffn: "=round(8/3 * model.d_model / 16) * 16"\n  rope_theta: "=model.max_seq_len * 2"\n')
      .replace('  layers: 1\n', '')
      .replace('train: { steps: 10 }', 'train: { steps: 10, batch: "=model.layers > 0 ? 4 : 2" }'),
  });
  const { spec } = loadSpec(path.join(dir, 's.yaml'));
  assert.equal(spec.model.layers, 1);
  assert.equal(spec.model.heads, 2);
  assert.equal(spec.model.ffn, 80);
  assert.equal(spec.model.rope_theta, 8192, 'max_seq_len is a default (4096)');
  assert.equal(spec.train.batch, 4);
});

test('expression results are rounded to 15 significant digits', () => {
  const f = withExpression('=0.1 + 0.2');
  assert.equal(loadSpec(f).spec.model.rope_theta, 0.3);
});

test('expression cycles are errors at the expression', () => {
  const dir = project({ 's.yaml': SMALL.replace('  layers: 1', '  layers: "=model.heads"').replace('  heads: 2', '  heads: "=model.layers"') });
  const f = path.join(dir, 's.yaml');
  const lines = errorsOf(() => loadSpec(f));
  assert.ok(lines.some((l) => /expression cycle: model\.(layers|heads) -> model\.(heads|layers) -> model\.(layers|heads)/.test(l)), lines.join('\n'));
});

test('references to text, unset fields and non-fields are explained', () => {
  assert.match(errorsOf(() => loadSpec(withExpression('=name * 2')))[0], /'name' is a string|unknown name 'name'/);
  assert.match(errorsOf(() => loadSpec(withExpression('=model.kv_heads')))[0], /'model\.kv_heads' is not set \(its default is null\)/);
  assert.match(errorsOf(() => loadSpec(withExpression('=model.d_modle')))[0], /'model\.d_modle' is not a field \(did you mean 'model\.d_model'\?\)/);
  assert.match(errorsOf(() => loadSpec(withExpression('=model.vocab')))[0], /'model\.vocab' is a mapping, not a number/);
});

test('an = in a text field is text, not an expression', () => {
  const dir = project({ 's.yaml': SMALL.replace('name: small', 'name: small\ndescription: "=not an expression"') });
  assert.equal(loadSpec(path.join(dir, 's.yaml')).spec.description, '=not an expression');
});

test('the learning-rate schedule expression runs in the same sandbox', () => {
  const f = compileSchedule('lr * min(1, step / warmup) * 0.5 ^ (step / 1000)');
  assert.equal(f({ step: 0, steps: 100, lr: 1, warmup: 10 }), 0);
  assert.equal(f({ step: 1000, steps: 2000, lr: 1, warmup: 10 }), 0.5);
  assert.throws(() => compileSchedule('import(1)'), ExpressionError);
  assert.throws(() => compileSchedule('model.d_model * step'), /not allowed here/);
  const dir = project({ 's.yaml': SMALL.replace('train: { steps: 10 }', 'train: { steps: 10 }\noptimizer:\n  schedule: { expression: "lr * stpe" }') });
  assertError(errorsOf(() => loadSpec(path.join(dir, 's.yaml'))), `${path.join(dir, 's.yaml')}:18:33`, /unknown name 'stpe' \(did you mean 'step'\?\)/);
});

test('checkExpression reports references', () => {
  assert.deepEqual(checkExpression('model.d_model * 2 + train.batch').refs, [['model', 'd_model'], ['train', 'batch']]);
});

test('defense in depth: the sandbox instance itself has the dangerous functions disabled', () => {
  const { sandboxInstance } = require('../dsl/expr') as typeof import('../dsl/expr');
  const math = sandboxInstance() as any;
  for (const fn of ['import', 'createUnit', 'evaluate', 'parse', 'compile', 'simplify', 'derivative', 'resolve', 'chain']) {
    assert.throws(() => math[fn]('1'), /is disabled/, fn);
  }
  assert.equal(math.round(2.5), 3, 'numeric functions still work');
});
