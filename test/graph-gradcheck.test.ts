/** gradcheck: every registered primitive and the tiny model, against finite differences in float64. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PRIMITIVES, tinyFeeds, tinyModel } from '../src/graph';
import { GRADCHECK_TOLERANCE, gradcheckModel, gradcheckOps } from '../src/runtime/gradcheck';

test('every differentiable primitive passes gradcheck (max relative error <= 1e-6)', async () => {
  const reports = await gradcheckOps();
  const differentiable = Object.keys(PRIMITIVES).filter((k) => PRIMITIVES[k].vjp);
  assert.deepEqual(reports.map((r) => r.op), differentiable, 'every differentiable op is checked');
  for (const r of reports) {
    assert.equal(r.error, undefined, `${r.op}: ${r.error}`);
    assert.ok(r.cases > 0, `${r.op} has cases`);
    assert.ok(r.max_rel_err <= GRADCHECK_TOLERANCE, `${r.op}: ${r.max_rel_err} (${r.worst_case})`);
  }
  // the core operations of an autodiff library are all present
  for (const op of ['MatMul', 'Add', 'Sub', 'Mul', 'Div', 'Neg', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Pow', 'Sigmoid', 'Tanh', 'ReduceSum', 'ReduceMean', 'ReduceMax', 'Reshape', 'Transpose', 'Slice', 'Concat', 'Gather', 'Where', 'Cast', 'Softmax', 'LogSoftmax', 'LayerNorm', 'Expand'])
    assert.ok(differentiable.includes(op), op);
});

test('a differentiable op without gradcheck cases fails the check', async () => {
  PRIMITIVES.__Uncovered = { ...PRIMITIVES.Neg, cases: undefined };
  try {
    const [r] = await gradcheckOps({ only: ['__Uncovered'] });
    assert.match(r.error ?? '', /no gradcheck cases/);
    assert.equal(r.max_rel_err, Infinity);
  } finally {
    delete PRIMITIVES.__Uncovered;
  }
});

test('a wrong VJP rule is caught', async () => {
  // Sigmoid with the derivative of tanh: gradcheck must flag it
  PRIMITIVES.__Wrong = {
    ...PRIMITIVES.Sigmoid,
    vjp: (g, y) => [g.mul(y.mul(y).rsub(1))],
    cases: () => [{ name: '[6]', inputs: [{ shape: [6] }], f: (x) => x.graph.apply('__Wrong', [x]) }],
  };
  try {
    const [r] = await gradcheckOps({ only: ['__Wrong'] });
    assert.ok(r.max_rel_err > 1e-2, `error ${r.max_rel_err}`);
  } finally {
    delete PRIMITIVES.__Wrong;
  }
});

test('whole-model gradient along a random direction (embedding, attention, layerNorm, MLP, cross-entropy)', async () => {
  const res = await gradcheckModel((g) => tinyModel(g).loss, { feeds: tinyFeeds(), seed: 4 });
  assert.ok(res.params > 500);
  assert.ok(Math.abs(res.analytic) > 1e-6, 'the directional derivative is not trivially zero');
  assert.ok(res.max_rel_err <= GRADCHECK_TOLERANCE, `model: ${res.max_rel_err}`);
});

test('chamlab gradcheck --json prints the documented shape and exits 0', () => {
  const bin = join(__dirname, '..', '..', 'bin', 'chamlab.js');
  const r = spawnSync(process.execPath, [bin, 'gradcheck', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const out = JSON.parse(r.stdout);
  assert.ok(Array.isArray(out.ops) && out.ops.length >= 27);
  for (const o of out.ops) assert.ok(typeof o.op === 'string' && o.max_rel_err <= 1e-6, JSON.stringify(o));
  assert.ok(out.model.max_rel_err <= 1e-6);
  // the whole-model check covers the real Chameleon model in both norm orders, not only a composite
  const names = out.model.models.map((m: { name: string }) => m.name).join(' | ');
  assert.match(names, /chameleon \(pre/);
  assert.match(names, /chameleon \(swin/);
  const bad = spawnSync(process.execPath, [bin, 'gradcheck', '--op', 'NoSuchOp'], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^chamlab gradcheck: unknown or non-differentiable op 'NoSuchOp'/);
  assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace');
});
