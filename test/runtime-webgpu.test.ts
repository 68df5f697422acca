/**
 * The WebGPU path (on lavapipe here, on a real GPU elsewhere) computes what the CPU path computes:
 * the real tiny Chameleon model, 3 AdamW steps with dropout, same loss, metrics and parameters
 * (normwise relative error <= 1e-4); and a resume on WebGPU reproduces the unbroken run exactly.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Trainer, type StepMetrics } from '../src/runtime/trainer';
import { relErr, requireWebGpu } from './helpers/runtime-gpu';
import { tinyModel } from './helpers/runtime-model';

const TOL = 1e-4;

async function run(t: Trainer, until: number): Promise<StepMetrics[]> {
  const out: StepMetrics[] = [];
  await t.train(until, (m) => void out.push(m));
  return out;
}

test('webgpu equals cpu over 3 steps of the tiny Chameleon model (loss, metrics, parameters, moments)', async (t) => {
  if (!(await requireWebGpu(t))) return;
  const tm = tinyModel({ d: 32, layers: 2, dropout: 0.1, lr: 1e-2 });
  const tg = tinyModel({ d: 32, layers: 2, dropout: 0.1, lr: 1e-2, target: 'webgpu' });
  const opts = { weights: tm.weights, batches: tm.batches, lr: () => 1e-2, seed: 5 };
  const cpu = await Trainer.create({ ...opts, trainStep: tm.trainStep, evalGraph: tm.evalGraph, device: 'cpu' });
  const gpu = await Trainer.create({ ...opts, trainStep: tg.trainStep, evalGraph: tg.evalGraph, device: 'webgpu' });
  const mc = await run(cpu, 3);
  const mg = await run(gpu, 3);
  for (let i = 0; i < 3; i++) {
    assert.ok(relErr([mg[i].loss], [mc[i].loss]) <= TOL, `step ${i + 1} loss ${mg[i].loss} vs ${mc[i].loss}`);
    for (const k of Object.keys(mc[i].metrics))
      assert.ok(relErr([mg[i].metrics[k]], [mc[i].metrics[k]]) <= 1e-3, `step ${i + 1} ${k}: ${mg[i].metrics[k]} vs ${mc[i].metrics[k]}`);
  }
  const sc = await cpu.getState();
  const sg = await gpu.getState();
  let worst = 0;
  for (const [name, v] of sc.values) {
    const e = relErr(sg.values.get(name)!, v);
    worst = Math.max(worst, e);
    // Adam's second moment is a square of gradients: compare it at the same relative tolerance.
    assert.ok(e <= TOL, `${name}: relative error ${e}`);
  }
  // The eval graph takes the GPU-resident parameters directly.
  const ec = await cpu.evaluate([tm.batches(777)]);
  const eg = await gpu.evaluate([tm.batches(777)]);
  assert.ok(relErr([eg.loss], [ec.loss]) <= TOL);
  process.stdout.write(
    `# cpu ${mc.map((m) => m.ms.toFixed(0)).join('/')} ms per step, webgpu(lavapipe) ${mg.map((m) => m.ms.toFixed(0)).join('/')} ms; ` +
      `worst state relative error ${worst.toExponential(2)}\n`,
  );
  await cpu.release();
  await gpu.release();
});

test('webgpu: resume from getState reproduces the continuation exactly', async (t) => {
  if (!(await requireWebGpu(t))) return;
  // Emitted for WebGPU: its deterministic scatter-add (the 'any' graph's ScatterElements adds with
  // atomics on WebGPU, in a different order from run to run).
  const tm = tinyModel({ d: 32, layers: 1, dropout: 0.1, target: 'webgpu' });
  const opts = { device: 'webgpu' as const, trainStep: tm.trainStep, weights: tm.weights, batches: tm.batches, lr: () => 3e-3, seed: 2 };
  const a = await Trainer.create(opts);
  await run(a, 2);
  const saved = await a.getState();
  const tail = await run(a, 4);
  const finalA = await a.getState();
  await a.release();
  const b = await Trainer.create(opts);
  b.setState(saved);
  const resumed = await run(b, 4);
  const finalB = await b.getState();
  await b.release();
  assert.deepEqual(resumed.map((m) => m.loss), tail.map((m) => m.loss));
  for (const [name, v] of finalA.values) assert.deepEqual(finalB.values.get(name), v, `${name} bit-identical`);
});
