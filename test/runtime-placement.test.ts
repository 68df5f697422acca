import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatPlacement, parsePlacementLog, placementReport } from '../src/runtime/placement';
import { encodeModel, modelNodes } from '../src/runtime/onnx-util';
import { requireWebGpu } from './helpers/runtime-gpu';
import { tinyModel } from './helpers/runtime-model';

/** y = x + x (float, WebGPU has it) and k = (i mod j) mod j (int32 Mod: no WebGPU kernel). */
function mixedGraph(): Uint8Array {
  const v = (name: string, dtype: string) => ({ name, dtype, shape: [4] });
  return encodeModel(
    'mixed',
    [
      { opType: 'Add', name: 'blk/add', input: ['x', 'x'], output: ['y'] },
      { opType: 'Mod', name: 'blk/mod', input: ['i', 'j'], output: ['m'] },
      { opType: 'Mod', name: 'blk/mod2', input: ['m', 'j'], output: ['k'] },
    ],
    [v('x', 'float32'), v('i', 'int32'), v('j', 'int32')],
    [v('y', 'float32'), v('k', 'int32')],
  );
}

test('parses ORT placement logs: per-provider lists, all-on-one, missing kernels', () => {
  const pre = '2026-11-27 07:36:48.44 [V:onnxruntime:, session_state.cc:1385 VerifyEachNodeIsAssignedToAnEp]';
  const log = [
    '2026-11-27 07:36:48.44 [I:onnxruntime:, webgpu_execution_provider.cc:665 GetCapability] webgpu kernel not found in registries for Op type: Mod node name: blk/mod',
    `${pre} Node placements`,
    `${pre}  Node(s) placed on [CPUExecutionProvider]. Number of nodes: 1`,
    `${pre}   Mod (blk/mod)`,
    `${pre}  Node(s) placed on [WebGpuExecutionProvider]. Number of nodes: 2`,
    `${pre}   Add (blk/add)`,
    `${pre}   MatMul (layers.0/attn/MatMul_3 (fused))`,
    '\x1b[0;93m2026-11-27 [W:onnxruntime:, session_state.cc:1397 VerifyEachNodeIsAssignedToAnEp] Some nodes were not assigned\x1b[m',
  ].join('\n');
  const p = parsePlacementLog(log);
  assert.equal(p.allOn, undefined);
  assert.deepEqual(p.lists.get('CPUExecutionProvider'), [{ opType: 'Mod', name: 'blk/mod' }]);
  assert.deepEqual(p.lists.get('WebGpuExecutionProvider')?.map((n) => n.name), ['blk/add', 'layers.0/attn/MatMul_3 (fused)']);
  assert.ok(p.noKernel.has('blk/mod'));
  assert.equal(parsePlacementLog(`${pre}  All nodes placed on [WebGpuExecutionProvider]. Number of nodes: 7`).allOn, 'WebGpuExecutionProvider');
});

test('cpu: every node on the CPU provider, none flagged', async () => {
  const r = await placementReport(mixedGraph(), 'cpu', { level: 'disabled' });
  assert.deepEqual(r.providers, { CPUExecutionProvider: ['blk/add', 'blk/mod', 'blk/mod2'] });
  assert.deepEqual(r.cpuFallbacks, []);
  assert.deepEqual(r.rewritten, []);
  assert.equal(r.copies, 0);
});

test('webgpu: lists every node with its provider and flags the int32 Mod fallbacks', async (t) => {
  if (!(await requireWebGpu(t))) return;
  const bytes = mixedGraph();
  const r = await placementReport(bytes, 'webgpu', { level: 'disabled' });
  assert.deepEqual(
    r.nodes.filter((n) => !n.opType.startsWith('Memcpy')).map((n) => n.name).sort(),
    modelNodes(bytes).map((n) => n.name).sort(),
    'with optimizations off, the report lists exactly the model nodes',
  );
  assert.deepEqual(r.providers.WebGpuExecutionProvider, ['blk/add']);
  assert.deepEqual(
    r.cpuFallbacks.map((n) => [n.name, n.opType, n.reason]),
    [
      ['blk/mod', 'Mod', 'no-webgpu-kernel'],
      ['blk/mod2', 'Mod', 'no-webgpu-kernel'],
    ],
  );
  assert.match(formatPlacement(r), /CPU fallback: Mod blk\/mod \(no WebGPU kernel/);
});

test('webgpu: the tiny Chameleon train step, every executed node placed; fallbacks printed', async (t) => {
  if (!(await requireWebGpu(t))) return;
  const tm = tinyModel({ d: 32, layers: 1 });
  const r = await placementReport(tm.trainStep, 'webgpu');
  const ran = new Set(r.nodes.map((n) => n.name));
  const rewritten = new Set(r.rewritten.map((n) => n.name));
  for (const n of modelNodes(tm.trainStep)) assert.ok(ran.has(n.name) !== rewritten.has(n.name), `node ${n.name} accounted for once`);
  for (const n of r.nodes) assert.ok(n.provider, `node ${n.name} has a provider`);
  // Every fallback is paid for with copies between the devices, and the report shows them.
  if (r.cpuFallbacks.length) assert.ok(r.copies > 0);
  const total = Object.values(r.providers).reduce((a, l) => a + l.length, 0);
  assert.equal(total, r.nodes.length);
  assert.ok(r.providers.WebGpuExecutionProvider.length > 0.95 * r.nodes.length, 'the step graph runs on the GPU');
  process.stdout.write(formatPlacement(r, 'train_step (tiny Chameleon)') + '\n');
});
