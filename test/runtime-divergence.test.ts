import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DivergenceMonitor, MIN_HISTORY } from '../src/runtime/divergence';

const spec = (loss_above: number | null, spike_factor: number | null) => ({ action: 'stop' as const, loss_above, spike_factor });

test('NaN and Inf losses always count, even with no thresholds', () => {
  const m = new DivergenceMonitor(spec(null, null));
  assert.equal(m.check(1, 3), undefined);
  assert.equal(m.check(2, NaN)?.kind, 'non-finite');
  assert.equal(m.check(3, Infinity)?.kind, 'non-finite');
  assert.equal(m.check(4, 3, { grad_norm: NaN })?.kind, 'non-finite');
});

test('loss_above is an absolute ceiling', () => {
  const m = new DivergenceMonitor(spec(10, null));
  assert.equal(m.check(1, 9.9), undefined);
  const d = m.check(2, 10.5);
  assert.equal(d?.kind, 'loss_above');
  assert.match(d!.message, /step 2: loss 10\.5000 > loss_above 10/);
});

test('spike_factor compares with the trailing mean, after a few steps, and spikes stay out of the window', () => {
  const m = new DivergenceMonitor(spec(null, 2));
  // Early steps cannot trigger: 100 then 4 is a normal start of training.
  assert.equal(m.check(1, 100), undefined);
  for (let s = 2; s <= MIN_HISTORY + 20; s++) assert.equal(m.check(s, 4), undefined);
  const d = m.check(100, 9);
  assert.equal(d?.kind, 'spike');
  // The spike was not recorded: the same spike is caught again.
  assert.equal(m.check(101, 9)?.kind, 'spike');
  assert.equal(m.check(102, 7.9), undefined);
  // A restored monitor behaves the same as the original.
  const r = new DivergenceMonitor(spec(null, 2));
  r.restore(m.snapshot());
  assert.deepEqual(r.snapshot(), m.snapshot());
  assert.equal(r.check(103, 100)?.kind, 'spike');
});
