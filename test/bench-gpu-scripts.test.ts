/**
 * The prepared GPU command (bench/gpu-device.sh: bench/gpu-check.sh, then bench/gpu.sh) runs end to
 * end on whatever Vulkan driver this machine has: lavapipe here and in CI, NVIDIA's on a lent GPU
 * machine. The micro configuration keeps it to seconds; nothing about speed is asserted.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { probeWebGpu } from '../src/runtime/device';
import { torchAvailable } from './model-fixtures';

const ROOT = path.join(__dirname, '..', '..');

test('bench/gpu-device.sh: GPU check and GPU benchmark, both parts, logs and JSON in $OUT', { timeout: 600_000 }, async (t) => {
  const probe = await probeWebGpu();
  if (!probe.available) {
    const why = `no WebGPU adapter (${probe.reason}): npm run setup installs lavapipe`;
    if (process.env.CI === 'true') assert.fail(`CI=true: ${why}`);
    process.stderr.write(`\n*** SKIPPING the GPU scripts test: ${why} ***\n\n`);
    return t.skip(why);
  }
  const torch = torchAvailable();
  if (!torch.ok) return t.skip(torch.why);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-gpu-out-'));
  try {
    const r = spawnSync('bash', ['bench/gpu-device.sh', '--config', 'micro', '--steps', '1', '--warmup', '1', '--no-peak'], {
      cwd: ROOT,
      env: { ...process.env, OUT: out },
      encoding: 'utf8',
      timeout: 580_000,
    });
    assert.equal(r.status, 0, `gpu-device.sh failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
    assert.match(r.stdout, /gpu-device: OK/);
    const check = fs.readFileSync(path.join(out, 'gpu-check.txt'), 'utf8');
    assert.match(check, /gradcheck exit 0/);
    assert.match(check, /no CPU fallback/);
    assert.match(check, /gpu-check: OK/);
    const bench = JSON.parse(fs.readFileSync(path.join(out, 'gpu-bench.json'), 'utf8'));
    assert.equal(bench.settings.device, 'webgpu');
    assert.equal(bench.rows.length, 1);
    const row = bench.rows[0];
    assert.equal(row.config, 'micro');
    assert.ok(row.chamlab_tokens_per_s > 0 && row.pytorch_tokens_per_s > 0, 'both sides trained');
    assert.ok(row.max_loss_diff !== null && row.max_loss_diff < 1e-4, `both sides trained the same model (loss difference ${row.max_loss_diff})`);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
