import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UserError } from '../dsl/errors';
import { lrSchedule } from '../src/runtime/schedule';

const sched = (decay: 'constant' | 'linear' | 'cosine' | 'exponential', warmup = 0, final_lr = 0, expression: string | null = null) =>
  lrSchedule({ lr: 1e-3, schedule: { warmup, decay, final_lr, expression } }, 100);
const close = (a: number, b: number, tol = 1e-15) => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

test('warmup rises linearly from lr/W to lr, never 0', () => {
  const f = sched('constant', 10);
  close(f(1), 1e-4);
  close(f(5), 5e-4);
  close(f(10), 1e-3);
  close(f(11), 1e-3);
  close(f(100), 1e-3);
});

test('cosine decays from lr to final_lr over the steps after warmup', () => {
  const f = sched('cosine', 10, 1e-4);
  close(f(10), 1e-3);
  close(f(55), 1e-4 + 0.9e-3 / 2); // midpoint of the decay
  close(f(100), 1e-4);
  for (let s = 11; s < 100; s++) assert.ok(f(s + 1) < f(s), `cosine not decreasing at ${s}`);
});

test('linear decay reaches final_lr at the last step', () => {
  const f = sched('linear', 0, 2e-4);
  close(f(50), 1e-3 + (2e-4 - 1e-3) * 0.5);
  close(f(100), 2e-4);
});

test('exponential decay ends at max(final_lr, lr * 1e-3) and is geometric', () => {
  const f = sched('exponential', 0, 0);
  close(f(100), 1e-6, 1e-18);
  close(f(50) / f(25), f(75) / f(50), 1e-12);
  const g = sched('exponential', 0, 1e-4);
  close(g(100), 1e-4, 1e-18);
});

test('constant ignores final_lr', () => {
  const f = sched('constant', 0, 5e-4);
  for (const s of [1, 50, 100]) close(f(s), 1e-3);
});

test('an expression replaces warmup and decay, evaluated in the dsl sandbox', () => {
  const f = sched('cosine', 10, 0, 'lr * min(1, step / warmup) * 0.5 ^ floor(step / 50)');
  close(f(5), 5e-4);
  close(f(20), 1e-3);
  close(f(60), 5e-4);
  close(f(100), 2.5e-4);
});

test('a bad expression is a UserError naming the field', () => {
  assert.throws(() => sched('constant', 0, 0, 'import("fs")'), (e: unknown) => e instanceof UserError && /optimizer\.schedule\.expression/.test(e.message));
  const neg = sched('constant', 0, 0, 'lr - step * 1e-4');
  close(neg(5), 5e-4);
  assert.throws(() => neg(20), (e: unknown) => e instanceof UserError && /step 20/.test(e.message));
});
