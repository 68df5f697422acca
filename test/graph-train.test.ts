/** Training by repeatedly running the train-step graph on ORT CPU and feeding `next.*` back. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type BuildFn, TINY, type TrainStep, buildEval, buildTrainStep, tinyFeeds, tinyModel } from '../src/graph';
import { graphSession } from '../src/runtime/run';

const build: BuildFn = (g, ctx) => ({ loss: tinyModel(g, TINY, ctx.dropout).loss });
const optimizer = { betas: [0.9, 0.95] as [number, number], eps: 1e-8, weight_decay: 0.01, grad_clip: 1 };

type State = Record<string, Float32Array>;

function initialState(ts: TrainStep): State {
  const values = Object.fromEntries(ts.graph.params.map((p) => [p.name, p.attrs.value as Float32Array]));
  return Object.fromEntries(ts.state.map((s) => [s.input, s.init === 'param' ? values[s.param] : new Float32Array(values[s.param].length)]));
}

async function train(ts: TrainStep, state: State, from: number, to: number): Promise<{ state: State; losses: number[] }> {
  const session = await graphSession(ts.graph);
  const losses: number[] = [];
  try {
    for (let step = from; step <= to; step++) {
      const out = await session.run({ ...tinyFeeds(), ...state, step, lr: 3e-2, seed: 1234 });
      losses.push((out.loss as Float32Array)[0]);
      assert.ok(Number.isFinite((out.grad_norm as Float32Array)[0]));
      state = Object.fromEntries(ts.state.map((s) => [s.input, out[s.output] as Float32Array]));
    }
  } finally {
    await session.release();
  }
  return { state, losses };
}

test('a tiny model trained 50 steps (with dropout) lowers its loss', async () => {
  const ts = buildTrainStep({ build, optimizer });
  const { state, losses } = await train(ts, initialState(ts), 1, 50);
  assert.ok(losses[49] < 0.5 * losses[0], `loss ${losses[0]} -> ${losses[49]}`);
  // the eval graph (no dropout) agrees that the trained parameters are better
  const ev = buildEval({ build });
  const s = await graphSession(ev.graph);
  const params = Object.fromEntries(ev.params.map((p) => [p.name, state[p.name]]));
  const init = Object.fromEntries(ev.graph.params.map((p) => [p.name, p.attrs.value as Float32Array]));
  const before = ((await s.run({ ...tinyFeeds(), ...init })).loss as Float32Array)[0];
  const after = ((await s.run({ ...tinyFeeds(), ...params })).loss as Float32Array)[0];
  await s.release();
  assert.ok(after < 0.5 * before, `eval loss ${before} -> ${after}`);
});

test('resuming from saved state in a fresh session reproduces the run exactly (dropout included)', async () => {
  const ts = buildTrainStep({ build, optimizer });
  const straight = await train(ts, initialState(ts), 1, 8);
  const half = await train(ts, initialState(ts), 1, 4);
  const resumed = await train(buildTrainStep({ build, optimizer }), half.state, 5, 8);
  assert.deepEqual(resumed.losses, straight.losses.slice(4));
  for (const k of Object.keys(straight.state)) assert.deepEqual(resumed.state[k], straight.state[k], k);
});
