/**
 * Smoke test of the benchmark (bench/run.ts): the `--json` output has the documented shape on the
 * micro config with one warm-up and one timed step. Never a timing assertion: speed is measured by
 * `npm run bench`, not asserted.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { matmulFlops, phaseOf, summarizeTrace } from '../bench/profile';

const RUN = path.join(__dirname, '..', 'bench', 'run.js');

const isNum = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
const numOrNull = (x: unknown) => x === null || isNum(x);

test('bench --json prints machine, peak_gflops and one row per config with the documented keys', { timeout: 600_000 }, () => {
  const r = spawnSync(process.execPath, [RUN, '--json', '--config', 'micro', '--steps', '1', '--warmup', '1', '--no-compile', '--peak-n', '256'], {
    encoding: 'utf8',
    timeout: 590_000,
  });
  assert.equal(r.status, 0, `bench exited ${r.status}: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  const machine = out.machine as Record<string, unknown>;
  for (const k of ['cpu', 'cores', 'node', 'onnxruntime_node', 'commit', 'date']) assert.ok(k in machine, `machine.${k}`);
  assert.ok(isNum(machine.cores));
  assert.ok(numOrNull(out.peak_gflops));
  const rows = out.rows as Record<string, unknown>[];
  assert.equal(rows.length, 1);
  const row = rows[0];
  const keys = ['config', 'd_model', 'layers', 'heads', 'kv_heads', 'ffn', 'vocab', 'batch', 'seq_len', 'chamlab_tokens_per_s', 'pytorch_tokens_per_s', 'ratio', 'gflops'];
  for (const k of keys) assert.ok(k in row, `row.${k}`);
  assert.equal(row.config, 'micro');
  for (const k of ['d_model', 'layers', 'heads', 'kv_heads', 'ffn', 'vocab', 'batch', 'seq_len', 'chamlab_tokens_per_s', 'gflops']) assert.ok(isNum(row[k]), `row.${k} is a number`);
  assert.ok((row.chamlab_tokens_per_s as number) > 0);
  // PyTorch may be missing on a machine: then its numbers are null and a note says why.
  assert.ok(numOrNull(row.pytorch_tokens_per_s));
  assert.ok(numOrNull(row.ratio));
  if (row.pytorch_tokens_per_s === null) assert.ok((out.notes as string[]).some((n) => /PyTorch/.test(n)));
  else {
    // Same weights, same batches: the two losses agree (a check of the benchmark's setup, not of speed).
    assert.ok((row.max_loss_diff as number) < 1e-3, `loss difference ${row.max_loss_diff}`);
  }
  const b = row.breakdown_ms as Record<string, number>;
  for (const k of ['wall', 'graph', 'host', 'data']) assert.ok(isNum(b[k]), `breakdown_ms.${k}`);
});

test('bench rejects unknown options and configs with a message', () => {
  const r = spawnSync(process.execPath, [RUN, '--config', 'huge'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown bench config 'huge'/);
});

test('profile: matmul FLOPs from recorded shapes, plain, transposed and broadcast', () => {
  assert.equal(matmulFlops([[8, 256, 256], [256, 768]], [8, 256, 768]), 2 * 8 * 256 * 768 * 256);
  // x @ W^T fused (FusedMatMul transB): B is [n, k]
  assert.equal(matmulFlops([[8, 256, 256], [768, 256]], [8, 256, 768]), 2 * 8 * 256 * 768 * 256);
  // A transposed (gradient of a weight): [T, m]^T x [T, n]
  assert.equal(matmulFlops([[2048, 256], [2048, 4608]], [256, 4608]), 2 * 256 * 4608 * 2048);
  // broadcast group axis
  assert.equal(matmulFlops([[8, 2, 4, 16, 8], [8, 2, 1, 8, 16]], [8, 2, 4, 16, 16]), 2 * 8 * 2 * 4 * 16 * 16 * 8);
});

test('profile: phases come from the graph compiler\'s node names; the trace is summed per run', () => {
  assert.equal(phaseOf('layers.0/attn/MatMul_3'), 'forward');
  assert.equal(phaseOf('grad/layers.0/attn/MatMul_9'), 'backward');
  assert.equal(phaseOf('optimizer/model.norm.weight/Mul_1'), 'optimizer');
  assert.equal(phaseOf('metrics/Sqrt_4'), 'metrics');
  const ev = (name: string, op: string, dur: number, shapes: number[][] = [], out: number[] = []) => ({
    cat: 'Node',
    name: `${name}_kernel_time`,
    dur,
    ts: 0,
    args: { op_name: op, input_type_shape: shapes.map((s) => ({ float: s })), output_type_shape: [{ float: out }] },
  });
  const s = summarizeTrace(
    [ev('a/MatMul_1', 'MatMul', 2000, [[4, 8], [8, 2]], [4, 2]), ev('grad/a/Mul_2', 'Mul', 1000), ev('a/MatMul_1', 'MatMul', 2000, [[4, 8], [8, 2]], [4, 2])],
    2,
    0,
  );
  assert.equal(s.kernel_ms, 2.5);
  assert.deepEqual(s.by_op.map((o) => o.op), ['MatMul', 'Mul']);
  assert.equal(s.by_op[0].ms, 2);
  assert.equal(s.matmul.flops, 2 * 4 * 2 * 8);
  assert.deepEqual(s.by_phase.map((p) => p.phase), ['forward', 'backward']);
});

test('PyTorch worker environment: OpenBLAS picks its own kernels unless CHAMLAB_OPENBLAS_CORETYPE pins them', () => {
  const { torchWorkerEnv } = require('../bench/torch') as typeof import('../bench/torch');
  const env = torchWorkerEnv(2, { PATH: '/usr/bin', OPENBLAS_CORETYPE: 'Haswell' });
  assert.equal(env.OPENBLAS_CORETYPE, undefined, 'a pinned AVX2 core type halves PyTorch matmul speed on AVX-512 machines');
  assert.equal(env.OMP_NUM_THREADS, '2');
  assert.equal(env.OPENBLAS_NUM_THREADS, '2');
  assert.equal(env.PATH, '/usr/bin');
  assert.equal(torchWorkerEnv(1, { OPENBLAS_CORETYPE: 'Haswell', CHAMLAB_OPENBLAS_CORETYPE: 'SkylakeX' }).OPENBLAS_CORETYPE, 'SkylakeX');
});
