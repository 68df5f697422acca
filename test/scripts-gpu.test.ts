/**
 * The GPU scripts (scripts/gpu/) stay runnable: every script parses, device.sh calls scripts that
 * exist, and the GPU check (check.sh) and the GPU benchmark (bench.sh) run end to end, each on its
 * smallest setting, on whatever Vulkan driver this machine has (lavapipe here and in CI, NVIDIA's on a
 * GPU machine). pack.sh is only parsed: it archives node_modules, which a test should not do.
 * Nothing about speed is asserted.
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
const GPU = path.join(ROOT, 'scripts', 'gpu');

test('scripts/gpu: every script parses, and device.sh runs scripts that exist', () => {
  const scripts = fs.readdirSync(GPU).filter((f) => f.endsWith('.sh'));
  assert.deepEqual(scripts.sort(), ['bench.sh', 'check.sh', 'device.sh', 'env.sh', 'pack.sh']);
  for (const f of scripts) {
    const r = spawnSync('bash', ['-n', path.join(GPU, f)], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${f}: ${r.stderr}`);
  }
  const device = fs
    .readFileSync(path.join(GPU, 'device.sh'), 'utf8')
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n');
  const called = [...device.matchAll(/bash (scripts\/gpu\/[\w.-]+\.sh)/g)].map((m) => m[1]);
  assert.deepEqual(called, ['scripts/gpu/check.sh', 'scripts/gpu/bench.sh']);
  for (const f of [...called, 'dist/scripts/gpu/train.js', 'dist/bench/run.js']) assert.ok(fs.existsSync(path.join(ROOT, f)), `${f} exists`);
});

test('scripts/gpu/check.sh and bench.sh: the GPU check and the GPU benchmark, smallest settings', { timeout: 120_000 }, async (t) => {
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
    const run = (script: string, args: string[]) => spawnSync('bash', [path.join(GPU, script), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 55_000 });
    const check = run('check.sh', ['--skip-gradcheck', '--steps', '3']);
    assert.equal(check.status, 0, `check.sh failed:\n${check.stdout.slice(-3000)}\n${check.stderr.slice(-2000)}`);
    assert.match(check.stdout, /no CPU fallback/);
    assert.match(check.stdout, /tiny training exit 0/);
    assert.match(check.stdout, /gpu-check: OK/);
    const file = path.join(out, 'gpu-bench.json');
    const bench = run('bench.sh', ['--config', 'micro', '--steps', '1', '--warmup', '1', '--no-peak', '--save', file]);
    assert.equal(bench.status, 0, `bench.sh failed:\n${bench.stdout.slice(-3000)}\n${bench.stderr.slice(-2000)}`);
    const result = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert.equal(result.settings.device, 'webgpu');
    assert.equal(result.rows.length, 1);
    const row = result.rows[0];
    assert.equal(row.config, 'micro');
    assert.ok(row.chamlab_tokens_per_s > 0 && row.pytorch_tokens_per_s > 0, 'both sides trained');
    assert.ok(row.max_loss_diff !== null && row.max_loss_diff < 1e-4, `both sides trained the same model (loss difference ${row.max_loss_diff})`);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
