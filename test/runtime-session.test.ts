/**
 * Training-state residency: on webgpu the state stays in GPU buffers between steps and only loss and
 * metrics come back; on cpu outputs are written into preallocated double buffers; on both, state can
 * be read back (through the identity graph on webgpu, never getData on a gpu-buffer tensor).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tensor } from 'onnxruntime-node';
import { ResidentState } from '../src/runtime/resident-state';
import { createSession, ReadBack } from '../src/runtime/session';
import { stepSignature } from '../src/runtime/signature';
import { batchFeeds, initialState, scalarFeeds } from '../src/runtime/trainer';
import { bigramBatches } from '../src/data/synthetic';
import { bigramTrainStep, bigramWeights } from './helpers/runtime-fixture';
import { requireWebGpu } from './helpers/runtime-gpu';

const spec = { vocab: 16, dim: 8, batch: 2, seq: 8, dropout: 0.1 };

async function stepper(device: 'cpu' | 'webgpu') {
  const bytes = bigramTrainStep(spec);
  const probe = await createSession(bytes, 'cpu');
  const sig = stepSignature(probe);
  await probe.release();
  const session = await createSession(bytes, device, { resident: sig.state.map((p) => p.output) });
  const state = new ResidentState(device, sig.state);
  state.load(initialState(sig, bigramWeights(spec)));
  const batches = bigramBatches({ ...spec, keep: 0.8, successor: (i) => (i * 7 + 3) % spec.vocab, seed: 7 });
  const run = async (step: number) => {
    const feeds = { ...batchFeeds(sig.batch, batches(step)), ...scalarFeeds(sig, { step, lr: 0.05, seed: 1 }), ...state.feeds() };
    const out = await session.run(feeds, state.fetches(sig.report));
    state.advance(out);
    return out;
  };
  return { sig, session, state, run };
}

test('the signature follows the next.X convention', async () => {
  const { sig, session, state } = await stepper('cpu');
  assert.deepEqual(sig.batch.map((b) => b.name), ['input_ids', 'labels']);
  assert.deepEqual(sig.scalars, { step: 'int32', lr: 'float32', seed: 'int32' });
  assert.deepEqual(sig.report, ['loss', 'grad_norm']);
  assert.deepEqual(
    sig.state.map((p) => [p.input, p.output]),
    ['E', 'adam_m.E', 'adam_v.E', 'W', 'adam_m.W', 'adam_v.W'].map((n) => [n, `next.${n}`]),
  );
  await state.release();
  await session.release();
});

test('cpu: the output tensors are the next inputs (no copy on the way in)', async () => {
  const { session, state, run } = await stepper('cpu');
  for (let s = 1; s <= 3; s++) {
    const out = await run(s);
    assert.equal(state.feeds().W, out['next.W']);
    assert.equal(state.feeds()['adam_v.E'], out['next.adam_v.E']);
  }
  await state.release();
  await session.release();
});

test('webgpu: state stays on the GPU, loss comes back, read-back equals the cpu run', async (t) => {
  if (!(await requireWebGpu(t))) return;
  const gpu = await stepper('webgpu');
  const cpu = await stepper('cpu');
  let previous: Tensor | undefined;
  for (let s = 1; s <= 3; s++) {
    const out = await gpu.run(s);
    await cpu.run(s);
    assert.equal(out.loss.location, 'cpu');
    assert.equal(out.grad_norm.location, 'cpu');
    for (const p of gpu.sig.state) assert.equal(out[p.output].location, 'gpu-buffer', `${p.output} stays on the GPU`);
    const w = gpu.state.feeds().W;
    assert.equal(w, out['next.W'], 'the output tensor itself is next step input');
    if (previous) assert.notEqual(previous, w);
    previous = w;
  }
  const g = await gpu.state.read();
  const c = await cpu.state.read();
  for (const [name, v] of c) {
    const gv = g.get(name)!;
    let err = 0;
    for (let i = 0; i < v.length; i++) err = Math.max(err, Math.abs(v[i] - gv[i]));
    assert.ok(err < 1e-4, `${name}: max abs diff ${err}`);
  }
  // Reading twice gives the same values and leaves the state usable.
  assert.deepEqual(await gpu.state.read(), g);
  await gpu.run(4);
  for (const x of [gpu, cpu]) {
    await x.state.release();
    await x.session.release();
  }
});

test('ReadBack copies cpu tensors without a session', async () => {
  const { Tensor } = require('onnxruntime-node') as typeof import('onnxruntime-node');
  const rb = new ReadBack('cpu');
  const src = new Float32Array([1, 2, 3]);
  const got = await rb.read(new Map([['a', new Tensor('float32', src, [3])]]));
  assert.deepEqual(Array.from(got.get('a')!), [1, 2, 3]);
  assert.notEqual(got.get('a'), src, 'a copy, not a view');
  await rb.release();
});

test('session options: webgpu places state outputs on the GPU and everything else on the CPU', () => {
  const { sessionOptions } = require('../src/runtime/session-options') as typeof import('../src/runtime/session-options');
  const o = sessionOptions('webgpu', { resident: ['next.W'], outputs: ['loss', 'grad_norm', 'next.W'] });
  assert.deepEqual(o.executionProviders, ['webgpu']);
  assert.deepEqual(o.preferredOutputLocation, { loss: 'cpu', grad_norm: 'cpu', 'next.W': 'gpu-buffer' });
  const c = sessionOptions('cpu');
  assert.deepEqual(c.executionProviders, ['cpu']);
  // Left unset, ORT runs one thread on these VMs (a 2-core machine's step measured 1.6x slower).
  assert.equal(c.intraOpNumThreads, require('node:os').availableParallelism(), 'one intra-op thread per core, explicitly');
  assert.deepEqual(c.extra, { session: { intra_op: { allow_spinning: '0' } } }, 'no spinning between ops');
  assert.equal(sessionOptions('cpu', { overrides: { intraOpNumThreads: 1 } }).intraOpNumThreads, 1);
});

test('batch feeds: sizes from the batch, extra inputs by name, clear errors', async () => {
  const inputs = [
    { name: 'input_ids', dtype: 'int32', shape: ['batch', 'seq'] },
    { name: 'loss_mask', dtype: 'float32', shape: [2, 3] },
  ];
  const ids = new Int32Array(6);
  const f = batchFeeds(inputs, { input_ids: ids, labels: ids, batch: 2, seq: 3, extra: { loss_mask: new Float32Array(6) } });
  assert.deepEqual(f.input_ids.dims, [2, 3]);
  assert.equal(f.loss_mask.type, 'float32');
  assert.throws(() => batchFeeds(inputs, { input_ids: ids, labels: ids, batch: 2, seq: 3 }), /no array 'loss_mask'/);
  assert.throws(() => batchFeeds(inputs.slice(0, 1), { input_ids: new Int32Array(5), labels: ids, batch: 2, seq: 3 }), /5 values/);
});
