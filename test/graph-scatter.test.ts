/**
 * The row scatter-add behind every Gather gradient (the embedding's above all) must be correct and
 * give the same bits at any intra-op thread count: onnxruntime's CPU ScatterND with reduction add
 * races across threads (lost updates, a different result every run), so the compiler emits
 * ScatterElements instead. Many rows share few ids here, as frequent tokens do in a real batch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../src/graph';
import { gatherRowsAdd } from '../src/graph/ops';
import { graphSession } from '../src/runtime/run';
import { Rng } from '../src/random';
import { requireWebGpu } from './helpers/runtime-gpu';

test('row scatter-add: exact to float32 rounding and identical across 1 and 2 threads over repeated runs', async () => {
  const V = 2560;
  const N = 2048;
  const D = 128;
  const g = new Graph('scatter_rows', { dtype: 'float32' });
  const idx = g.input('idx', 'int32', [N]);
  const upd = g.input('upd', 'float32', [N, D]);
  g.output('y', gatherRowsAdd(g.zeros([V, D], 'float32'), idx, upd));

  const rng = Rng.from('scatter-add-rows');
  const ids = Int32Array.from({ length: N }, () => rng.nextU32() % 50);
  const u = Float32Array.from({ length: N * D }, () => rng.nextU32() / 2 ** 32 - 0.5);
  const ref = new Float64Array(V * D);
  for (let i = 0; i < N; i++) for (let j = 0; j < D; j++) ref[ids[i] * D + j] += u[i * D + j];

  const results: string[] = [];
  for (const threads of [1, 2]) {
    const c = await graphSession(g, { overrides: { intraOpNumThreads: threads } });
    try {
      for (let r = 0; r < 8; r++) {
        const y = (await c.run({ idx: ids, upd: u })).y as Float32Array;
        let err = 0;
        for (let i = 0; i < y.length; i++) err = Math.max(err, Math.abs(y[i] - ref[i]));
        // ~50 float32 additions of values in [-0.5, 0.5] per element: rounding stays far below 1e-4
        assert.ok(err < 1e-4, `threads ${threads}, run ${r}: max error ${err} against the float64 sum (lost updates?)`);
        results.push(Buffer.from(y.buffer, y.byteOffset, y.byteLength).toString('base64'));
      }
    } finally {
      await c.release();
    }
  }
  assert.equal(new Set(results).size, 1, 'every run at every thread count must give the same bits');
});

test('row scatter-add emitted for WebGPU: exact and the same bits over repeated runs on the WebGPU provider', async (t) => {
  if (!(await requireWebGpu(t))) return;
  const V = 2560;
  const N = 2048;
  const D = 128;
  const g = new Graph('scatter_rows_webgpu', { dtype: 'float32' });
  const idx = g.input('idx', 'int32', [N]);
  const upd = g.input('upd', 'float32', [N, D]);
  g.output('y', gatherRowsAdd(g.zeros([V, D], 'float32'), idx, upd));
  const rng = Rng.from('scatter-add-rows-webgpu');
  const ids = Int32Array.from({ length: N }, () => rng.nextU32() % 50);
  const u = Float32Array.from({ length: N * D }, () => rng.nextU32() / 2 ** 32 - 0.5);
  const ref = new Float64Array(V * D);
  for (let i = 0; i < N; i++) for (let j = 0; j < D; j++) ref[ids[i] * D + j] += u[i * D + j];
  const s = await graphSession(g, { device: 'webgpu', target: 'webgpu' });
  const results = new Set<string>();
  try {
    for (let r = 0; r < 10; r++) {
      const y = (await s.run({ idx: ids, upd: u })).y as Float32Array;
      let err = 0;
      for (let i = 0; i < y.length; i++) err = Math.max(err, Math.abs(y[i] - ref[i]));
      assert.ok(err < 1e-4, `run ${r}: max error ${err} against the float64 sum`);
      results.add(Buffer.from(y.buffer, y.byteOffset, y.byteLength).toString('base64'));
    }
  } finally {
    await s.release();
  }
  assert.equal(results.size, 1, 'every run must give the same bits');
});
