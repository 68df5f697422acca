/** Dropout masks hashed from (seed, step, salt, index) in the graph: statistics and reproducibility. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, dropout, dropoutMaskReference, grad } from '../src/graph';
import { graphSession } from '../src/runtime/run';

const N = 100_000;

function dropoutGraph(p: number, salt: number, n = N): Graph {
  const g = new Graph('dropout');
  const seed = g.input('seed', 'int32', []);
  const step = g.input('step', 'int32', []);
  const x = g.input('x', 'float32', [n]);
  g.output('y', dropout(x, p, { seed, step, salt }));
  return g;
}

async function masks(p: number, salt: number, runs: [number, number][]): Promise<{ mask: Uint8Array; y: Float32Array }[]> {
  const s = await graphSession(dropoutGraph(p, salt));
  const x = new Float32Array(N).fill(1);
  try {
    const out = [];
    for (const [seed, step] of runs) {
      const y = (await s.run({ seed, step, x })).y as Float32Array;
      out.push({ y, mask: Uint8Array.from(y, (v) => (v !== 0 ? 1 : 0)) });
    }
    return out;
  } finally {
    await s.release();
  }
}

const mean = (m: Uint8Array) => m.reduce((a, b) => a + b, 0) / m.length;
function corr(a: Uint8Array, b: Uint8Array): number {
  const ma = mean(a);
  const mb = mean(b);
  let c = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < a.length; i++) {
    c += (a[i] - ma) * (b[i] - mb);
    va += (a[i] - ma) ** 2;
    vb += (b[i] - mb) ** 2;
  }
  return c / Math.sqrt(va * vb);
}

for (const p of [0.1, 0.5]) {
  test(`p=${p}: keep rate within 1% of 1-p on 1e5 elements, kept values scaled by 1/(1-p)`, async () => {
    const [{ mask, y }] = await masks(p, 3, [[1234, 1]]);
    const rate = mean(mask);
    assert.ok(Math.abs(rate / (1 - p) - 1) <= 0.01, `keep rate ${rate} vs ${1 - p}`);
    for (let i = 0; i < N; i++) if (mask[i]) assert.ok(Math.abs(y[i] - 1 / (1 - p)) < 1e-6);
  });
}

test('masks differ between steps, seeds and salts, and are uncorrelated', async () => {
  const p = 0.1;
  const [a, b, c] = await masks(p, 3, [[7, 1], [7, 2], [8, 1]]);
  const [d] = await masks(p, 4, [[7, 1]]);
  for (const [name, other] of [['step', b], ['seed', c], ['salt', d]] as const) {
    const differ = a.mask.reduce((s, v, i) => s + (v !== other.mask[i] ? 1 : 0), 0) / N;
    // independent masks differ on 2p(1-p) = 18% of positions
    assert.ok(Math.abs(differ - 2 * p * (1 - p)) < 0.01, `${name}: masks differ on ${differ}`);
    assert.ok(Math.abs(corr(a.mask, other.mask)) < 0.02, `${name}: correlation ${corr(a.mask, other.mask)}`);
  }
  // neighbouring elements are independent too (a weak hash shows structure here first)
  for (const lag of [1, 2, 64, 256]) {
    const r = corr(a.mask.subarray(0, N - lag), a.mask.subarray(lag));
    assert.ok(Math.abs(r) < 0.02, `lag ${lag}: correlation ${r}`);
  }
});

test('the same (seed, step) repeats exactly in a fresh session and matches the TypeScript reference', async () => {
  const [first] = await masks(0.25, 9, [[42, 17]]);
  const [again] = await masks(0.25, 9, [[42, 17]]);
  assert.deepEqual(again.mask, first.mask);
  assert.deepEqual(first.mask, dropoutMaskReference(N, 0.25, 42, 17, 9));
  // large and negative seeds and steps wrap the same way in the graph and in TypeScript
  const [big] = await masks(0.25, 9, [[-2_000_000_000, 1_999_999_999]]);
  assert.deepEqual(big.mask, dropoutMaskReference(N, 0.25, -2_000_000_000, 1_999_999_999, 9));
});

test('the gradient of dropout is the same mask, scaled', async () => {
  const g = new Graph('t', { dtype: 'float64' });
  const seed = g.input('seed', 'int32', []);
  const step = g.input('step', 'int32', []);
  const x = g.input('x', 'float64', [4, 50]);
  const [gx] = grad(dropout(x, 0.3, { seed, step, salt: 1 }).sum(), [x]);
  g.output('gx', gx);
  const s = await graphSession(g);
  const out = (await s.run({ seed: 5, step: 6, x: new Float64Array(200).fill(0.5) })).gx as Float64Array;
  await s.release();
  const ref = dropoutMaskReference(200, 0.3, 5, 6, 1);
  for (let i = 0; i < 200; i++) assert.ok(Math.abs(out[i] - ref[i] / 0.7) < 1e-12);
});

test('dropout rejects bad arguments', () => {
  const g = new Graph('t');
  const seed = g.input('seed', 'int32', []);
  const fstep = g.input('step', 'float32', []);
  const x = g.input('x', 'float32', [3]);
  assert.throws(() => dropout(x, 1, { seed, step: seed, salt: 0 }), /p must be in \[0, 1\)/);
  assert.throws(() => dropout(x, 0.1, { seed, step: fstep, salt: 0 }), /step must be an int32 scalar/);
  assert.equal(dropout(x, 0, { seed, step: seed, salt: 0 }), x);
});

test('tensors beyond the int32 counter fold the leading index into the key (tested with a small limit)', async () => {
  const shape = [64, 2000];
  const g = new Graph('split');
  const seed = g.input('seed', 'int32', []);
  const step = g.input('step', 'int32', []);
  const x = g.input('x', 'float32', shape);
  g.output('y', dropout(x, 0.1, { seed, step, salt: 5, counterLimit: 2001 }));
  const s = await graphSession(g);
  const y = (await s.run({ seed: 3, step: 4, x: new Float32Array(128_000).fill(1) })).y as Float32Array;
  await s.release();
  const mask = Uint8Array.from(y, (v) => (v !== 0 ? 1 : 0));
  assert.deepEqual(mask, dropoutMaskReference(shape, 0.1, 3, 4, 5, 2001));
  assert.ok(Math.abs(mean(mask) / 0.9 - 1) <= 0.01, `keep rate ${mean(mask)}`);
  // rows (different leading index) are independent, not copies
  const r = corr(mask.subarray(0, 2000), mask.subarray(2000, 4000));
  assert.ok(Math.abs(r) < 0.1, `row correlation ${r}`);
  assert.notDeepEqual(mask.subarray(0, 2000), mask.subarray(2000, 4000));
  // below the limit the masks are the ones of the flat counter (unchanged for tensors that fit)
  assert.deepEqual(dropoutMaskReference([10, 20], 0.3, 1, 2, 3), dropoutMaskReference(200, 0.3, 1, 2, 3));
  assert.throws(() => dropout(x, 0.1, { seed, step, salt: 5, counterLimit: 100 }), /cannot be indexed with int32 counters/);
});
