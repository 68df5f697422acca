import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UserError } from '../dsl/errors';
import { probeWebGpu, resolveDevice } from '../src/runtime/device';
import { requireWebGpu } from './helpers/runtime-gpu';

/** An environment where the Vulkan loader finds no driver: what a machine without a GPU stack sees. */
const noVulkan = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, VK_DRIVER_FILES: '/nonexistent/icd.json' };
  delete env.VK_ICD_FILENAMES;
  return env;
};

test('cpu resolves without probing', async () => {
  assert.equal(await resolveDevice('cpu', { env: noVulkan(), timeoutMs: 1 }), 'cpu');
});

test('without a Vulkan driver: the probe says why, auto falls back to cpu, gpu is a UserError saying what to install', async () => {
  const probe = await probeWebGpu({ env: noVulkan() });
  assert.equal(probe.available, false);
  assert.ok(probe.reason && probe.reason.length > 0);
  assert.equal(await resolveDevice('auto', { env: noVulkan() }), 'cpu');
  await assert.rejects(resolveDevice('gpu', { env: noVulkan() }), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.match(e.message, /^train\.device: /);
    assert.match(e.message, /lavapipe/);
    assert.match(e.message, /mesa-vulkan-drivers libvulkan1/);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
});

test('with lavapipe (or a GPU): auto and gpu pick webgpu; the answer is cached', async (t) => {
  if (!(await requireWebGpu(t))) return;
  assert.equal(await resolveDevice('auto'), 'webgpu');
  const t0 = performance.now();
  assert.equal(await resolveDevice('gpu'), 'webgpu');
  assert.ok(performance.now() - t0 < 50, 'second resolve must come from the cache');
});
