/**
 * The WebGPU gate of the runtime tests: under CI a missing adapter fails the test (the CI image must
 * have lavapipe); elsewhere the test skips, saying loudly why and what to install.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { probeWebGpu, WEBGPU_INSTALL_HINT } from '../../src/runtime/device';

export const inCI = (): boolean => !!process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0';

export async function requireWebGpu(t: TestContext): Promise<boolean> {
  const probe = await probeWebGpu();
  if (probe.available) return true;
  const msg = `no WebGPU adapter (${probe.reason}); ${WEBGPU_INSTALL_HINT}`;
  if (inCI()) assert.fail(`WebGPU is required under CI: ${msg}`);
  process.stderr.write(`\n!!! SKIPPING ${t.name}: ${msg}\n\n`);
  t.skip(msg);
  return false;
}

/** Normwise relative error max|a-b| / max|b| (elementwise relative error is meaningless near 0). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return den === 0 ? num : num / den;
}
