/** `chamlab placement`: the verbose report of which execution provider runs each node. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { requireWebGpu } from './helpers/runtime-gpu';

const root = path.resolve(__dirname, '..', '..');
const tinyOverrides = ['--set', 'model.layers=1', '--set', 'model.d_model=64', '--set', 'train.batch=2', '--set', 'data.seq_len=64'];

function chamlab(args: string[]) {
  return spawnSync(process.execPath, [path.join(root, 'bin', 'chamlab.js'), ...args], { cwd: root, encoding: 'utf8', timeout: 300_000 });
}

test('placement on the CPU: every executed node is on the CPU provider', () => {
  const r = chamlab(['placement', 'experiments/tiny.yaml', ...tinyOverrides, '--device', 'cpu', '--graph', 'forward', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout).forward;
  assert.ok(report.nodes.length > 50, `only ${report.nodes.length} nodes`);
  assert.deepEqual(Object.keys(report.providers), ['CPUExecutionProvider']);
});

test('placement on WebGPU: the tiny train step runs with no CPU fallback, and --verbose lists every node', async (t) => {
  if (!(await requireWebGpu(t))) return;
  const r = chamlab(['placement', 'experiments/tiny.yaml', ...tinyOverrides, '--device', 'gpu', '--verbose']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^train_step: \d+ nodes run \(webgpu/m);
  assert.match(r.stdout, /no CPU fallback/);
  const nodeLines = r.stdout.split('\n').filter((l) => l.startsWith('  WebGpuExecutionProvider'));
  const count = Number(/train_step: (\d+) nodes run/.exec(r.stdout)![1]);
  assert.equal(nodeLines.length, count, 'verbose lists each executed node once');
});

test('placement: a bad --graph is a one-line user error', () => {
  const r = chamlab(['placement', 'experiments/tiny.yaml', '--graph', 'nope']);
  assert.equal(r.status, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /--graph must be one of/);
});
