/** Graph IR: shape inference, error messages, naming, autodiff plumbing, symbolic dims. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { Graph, GraphError, concat, crossEntropy, gather, grad, layerNorm, logsumexp, rmsNorm, softmax, where, liveNodes } from '../src/graph';
import { runGraph } from '../src/runtime/run';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol * Math.max(1, Math.abs(b[i])), `element ${i}: ${a[i]} vs ${b[i]}`);
};

test('shape inference: broadcasting, matmul batch broadcast, reductions', () => {
  const g = new Graph('t');
  const a = g.input('a', 'float32', [2, 1, 3, 4]);
  const b = g.input('b', 'float32', [5, 4, 6]);
  assert.deepEqual(a.matmul(b).shape, [2, 5, 3, 6]);
  assert.deepEqual(a.add(g.input('c', 'float32', [5, 1, 4])).shape, [2, 5, 3, 4]);
  assert.deepEqual(a.sum([1, -1]).shape, [2, 3]);
  assert.deepEqual(a.mean([1], true).shape, [2, 1, 3, 4]);
  assert.deepEqual(a.reshape([6, -1]).shape, [6, 4]);
  assert.deepEqual(a.transpose([3, 2, 1, 0]).shape, [4, 3, 1, 2]);
  assert.deepEqual(a.slice([1, -3], [-1, 100], [2, 3]).shape, [2, 1, 1, 3]);
  assert.deepEqual(concat([a, a], 1).shape, [2, 2, 3, 4]);
  const ids = g.input('ids', 'int32', [7, 9]);
  assert.deepEqual(gather(g.param('E', [10, 4]), ids).shape, [7, 9, 4]);
});

test('shape errors name the op, the scope and the call site', () => {
  const g = new Graph('t');
  const x = g.input('x', 'float32', [8, 64]);
  const w = g.param('w', [32, 16]);
  assert.throws(
    () => g.scope('layers.3.attn', () => x.matmul(w)),
    (e: Error) => {
      assert.ok(e instanceof GraphError);
      assert.match(e.message, /^matmul: shapes \[8,64\] and \[32,16\] do not agree in layers\.3\.attn \(at .*graph-ir\.test\.[jt]s:\d+:\d+\)$/);
      return true;
    },
  );
  assert.throws(() => x.add(g.input('y', 'float32', [3])), /GraphError: add: shapes \[8,64\] and \[3\] do not agree/);
  assert.throws(() => x.add(g.input('z', 'int32', [8, 64])), /GraphError: add: dtypes float32 and int32 differ/);
  assert.throws(() => x.reshape([7, -1]), /GraphError: reshape: cannot reshape \[8,64\] to \[7,-1\]/);
  assert.throws(() => x.sum([2]), /GraphError: sum: axis 2 is out of range for rank 2/);
  const other = new Graph('other');
  assert.throws(() => x.add(other.input('q', 'float32', [1])), /belongs to graph 'other'/);
});

test('node names carry scopes and are stable', () => {
  const build = () => {
    const g = new Graph('t');
    const x = g.input('x', 'float32', [2, 3]);
    const y = g.scope('layers.3', () => g.scope('attn', () => softmax(x.mul(2), -1)));
    g.output('y', y);
    return liveNodes(g).map((t) => t.name);
  };
  const names = build();
  assert.ok(names.some((n) => /^layers\.3\/attn\/Softmax_\d+$/.test(n)), names.join(' '));
  assert.deepEqual(build(), names);
});

test('grad: integer inputs get no gradient, unused params get zeros, fan-out accumulates', async () => {
  const g = new Graph('t', { dtype: 'float64' });
  const x = g.input('x', 'float64', [3]);
  const unused = g.param('unused', [2]);
  const ints = new Graph('ints');
  assert.throws(() => grad(ints.input('f', 'float32', [3]).sum(), [ints.input('i', 'int32', [3])]), /cannot differentiate with respect to i \(int32\)/);
  // y = sum(x*x + x) -> dy/dx = 2x + 1 (x used three times)
  const y = x.mul(x).add(x).sum();
  const [gx, gu] = grad(y, [x, unused]);
  g.output('gx', gx);
  g.output('gu', gu);
  const out = await runGraph(g, { x: [1, -2, 0.5], unused: [0, 0] });
  close(out.gx as Float64Array, [3, -3, 2], 1e-12);
  close(out.gu as Float64Array, [0, 0], 0);
});

test('composites compute what they claim (float64 on ORT vs TypeScript)', async () => {
  const g = new Graph('t', { dtype: 'float64' });
  const x = g.input('x', 'float64', [2, 3]);
  const t = g.input('t', 'int32', [2]);
  g.output('lse', logsumexp(x, -1));
  g.output('ln', layerNorm(x, null, null, 0));
  g.output('rms', rmsNorm(x, null, 0));
  g.output('ce', crossEntropy(x, t));
  g.output('ce_ignore', crossEntropy(x, t, { ignoreIndex: 2 }));
  g.output('w', where(x.gt(0), x, 0));
  const xs = [1, 2, 3, -1, 0, 4];
  const out = await runGraph(g, { x: xs, t: [2, 0] });
  const rows = [xs.slice(0, 3), xs.slice(3)];
  const lse = rows.map((r) => Math.log(r.reduce((s, v) => s + Math.exp(v), 0)));
  close(out.lse as Float64Array, lse, 1e-12);
  const ln = rows.flatMap((r) => {
    const m = r.reduce((a, b) => a + b) / 3;
    const v = r.reduce((a, b) => a + (b - m) ** 2, 0) / 3;
    return r.map((e) => (e - m) / Math.sqrt(v));
  });
  close(out.ln as Float64Array, ln, 1e-6); // InvStdDev path of LayerNormalization is float32-stashed
  const rms = rows.flatMap((r) => r.map((e) => e / Math.sqrt(r.reduce((a, b) => a + b * b, 0) / 3)));
  close(out.rms as Float64Array, rms, 1e-12);
  const nll = [lse[0] - rows[0][2], lse[1] - rows[1][0]];
  close(out.ce as Float64Array, [(nll[0] + nll[1]) / 2], 1e-12);
  close(out.ce_ignore as Float64Array, [nll[1]], 1e-9);
  close(out.w as Float64Array, xs.map((v) => (v > 0 ? v : 0)), 0);
});

test('symbolic batch dims: a forward graph runs on several batch sizes', async () => {
  const g = new Graph('t');
  const x = g.input('x', 'float32', ['batch', 'seq', 4]);
  const w = g.param('w', [4, 2], { value: Float32Array.from([1, 0, 0, 1, 1, 0, 0, 1]) });
  const h = x.matmul(w); // [batch, seq, 2]
  const flat = h.reshape([-1, 2]);
  assert.deepEqual(flat.shape, ['batch*seq', 2]);
  g.output('y', softmax(flat, -1).mean([-1]).reshape(['batch', 'seq']));
  g.output('m', h.mean([1]));
  for (const [b, s] of [[1, 3], [2, 5]]) {
    const n = b * s * 4;
    const out = await runGraph(g, { x: new ort.Tensor('float32', new Float32Array(n).fill(1), [b, s, 4]) }, { params: 'initializers' });
    assert.equal(out.y.length, b * s);
    close(out.y as Float32Array, new Array(b * s).fill(0.5), 1e-6);
    close(out.m as Float32Array, new Array(b * 2).fill(2), 1e-6);
  }
});

test('a train step with symbolic batch and sequence dims equals the static one', async () => {
  const { buildTrainStep } = await import('../src/graph');
  const make = (dims: [number | string, number | string]) =>
    buildTrainStep({
      optimizer: { betas: [0.9, 0.95], eps: 1e-8, weight_decay: 0.1, grad_clip: 1 },
      build: (g) => {
        const ids = g.input('ids', 'int32', dims);
        const tg = g.input('targets', 'int32', dims);
        const E = g.param('E', [10, 4], { value: Float32Array.from({ length: 40 }, (_, i) => Math.sin(i)) });
        const W = g.param('W', [4, 10], { value: Float32Array.from({ length: 40 }, (_, i) => Math.cos(i)) });
        let x = gather(E, ids);
        x = layerNorm(x, null, null, 1e-5);
        x = rmsNorm(x, null).mul(x.mean([1], true)); // a mean over the (symbolic) sequence axis
        return { loss: crossEntropy(x.reshape([-1, 4]).matmul(W), tg.reshape([-1])) };
      },
    });
  const sym = make(['batch', 'seq']);
  const stat = make([3, 5]);
  const feeds = (ts: ReturnType<typeof make>) => {
    const f: Record<string, ort.Tensor> = {
      ids: new ort.Tensor('int32', Int32Array.from({ length: 15 }, (_, i) => i % 10), [3, 5]),
      targets: new ort.Tensor('int32', Int32Array.from({ length: 15 }, (_, i) => (i * 3) % 10), [3, 5]),
      step: new ort.Tensor('int32', Int32Array.from([2]), []),
      lr: new ort.Tensor('float32', Float32Array.from([0.01]), []),
      seed: new ort.Tensor('int32', Int32Array.from([1]), []),
    };
    for (const s of ts.state) {
      const v = ts.graph.params.find((p) => p.name === s.param)!.attrs.value as Float32Array;
      f[s.input] = new ort.Tensor('float32', s.init === 'param' ? v : new Float32Array(v.length).fill(0.01), s.shape);
    }
    return f;
  };
  const a = await runGraph(sym.graph, feeds(sym));
  const b = await runGraph(stat.graph, feeds(stat));
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  for (const k of Object.keys(b)) close(a[k] as Float32Array, b[k] as Float32Array, 1e-6);
});

test('grad builds backward nodes only on paths from the requested inputs', () => {
  const g = new Graph('t');
  const a = g.param('a', [4, 4]);
  const b = g.param('b', [4, 4]);
  const x = g.input('x', 'float32', [2, 4]);
  const ya = g.scope('branch_a', () => softmax(x.matmul(a), -1));
  const yb = g.scope('branch_b', () => softmax(x.matmul(b), -1));
  const loss = ya.add(yb).sum();
  const before = g.nodes.length;
  const [ga] = grad(loss, [a]);
  const added = g.nodes.slice(before).map((t) => t.name);
  assert.ok(added.some((n) => n.startsWith('grad/branch_a/')), added.join(' '));
  assert.ok(!added.some((n) => n.startsWith('grad/branch_b/')), `branch_b was differentiated: ${added.join(' ')}`);
  assert.deepEqual(ga.shape, [4, 4]);
});

test('simplifications at build time: transposes compose, an Expand operand is read through', () => {
  const g = new Graph('t');
  const x = g.input('x', 'float32', [2, 3, 4]);
  assert.equal(x.mT.mT, x, 'a transpose of its own inverse is the original tensor');
  const t = x.transpose([2, 0, 1]).transpose([0, 2, 1]);
  assert.equal(t.op, 'Transpose');
  assert.equal(t.inputs[0], x, 'two transposes become one');
  assert.deepEqual(t.attrs.perm, [2, 1, 0]);
  assert.deepEqual(t.shape, [4, 3, 2]);
  const c = g.input('c', 'float32', [2, 3, 1]);
  const y = x.mul(c.expand([2, 3, 4]));
  assert.deepEqual(y.inputs.map((i) => i.name), [x.name, c.name], 'the Mul broadcasts c itself');
  const r = g.input('r', 'float32', [1, 1, 4]);
  const z = c.add(r.expand([2, 3, 4]));
  assert.deepEqual(z.inputs.map((i) => i.name), [c.name, r.name], 'c + r broadcasts to [2,3,4] by itself');
  assert.deepEqual(z.shape, [2, 3, 4]);
  // ...but not where the Expand is what gives the result its shape
  const w = c.mul(c.expand([2, 3, 4]));
  assert.equal(w.inputs[1].op, 'Expand', 'c * expand(c) keeps the Expand: without it the result would be [2,3,1]');
  assert.deepEqual(w.shape, [2, 3, 4]);
});

test('x @ W^T: the weight gradient is one GEMM in W\'s layout, with no Transpose after it', async () => {
  const g = new Graph('t');
  const x = g.input('x', 'float32', [2, 3, 4]);
  const W = g.param('W', [5, 4]);
  const loss = x.matmul(W.mT).mul(x.matmul(W.mT)).sum();
  const [dW] = grad(loss, [W]);
  assert.equal(dW.op, 'Add', 'two uses of W: the gradients add');
  for (const part of dW.inputs) {
    assert.equal(part.op, 'MatMul', `each part is the GEMM itself, not ${part.op}`);
    assert.deepEqual(part.shape, [5, 4]);
  }
  const xv = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i));
  const Wv = Float32Array.from({ length: 20 }, (_, i) => Math.cos(i));
  g.output('dW', dW);
  const out = await runGraph(g, { x: xv, W: Wv });
  // loss = sum(y * y), y = x W^T: dW = sum over rows of 2 * y[r, o] * x[r, i]
  const want = new Float32Array(20);
  for (let r = 0; r < 6; r++)
    for (let o = 0; o < 5; o++) {
      let y = 0;
      for (let i = 0; i < 4; i++) y += xv[r * 4 + i] * Wv[o * 4 + i];
      for (let i = 0; i < 4; i++) want[o * 4 + i] += 2 * y * xv[r * 4 + i];
    }
  close(out.dW as Float32Array, want, 1e-4);
});
