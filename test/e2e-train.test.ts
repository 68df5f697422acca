/**
 * The whole one-way flow on real data: tiny.yaml (two data stages over moby-dick, MNIST pairs and
 * MNIST arithmetic documents, dropout on) -> data pipeline -> Chameleon train-step graph -> the CPU
 * trainer. The loss must fall, and a run stopped halfway and resumed from (trainer state, data
 * cursor) in fresh objects must reproduce the unbroken run's losses bit for bit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { loadSpec, type Spec } from '../dsl';
import { createDataPipeline, type DataPipeline } from '../src/data';
import { buildModelGraphs, initWeights, modelDims } from '../src/model';
import { toOnnx } from '../src/graph';
import { lrSchedule, Trainer } from '../src/runtime';

const root = path.resolve(__dirname, '..', '..');
const STEPS = 24;
const HALF = 12;

async function setup() {
  const { spec } = await loadSpec(path.join(root, 'experiments', 'tiny.yaml'), {
    overrides: [
      'model.d_model=64',
      'model.layers=2',
      'data.seq_len=96',
      'train.batch=4',
      `train.steps=${STEPS}`,
      'optimizer.schedule.warmup=4',
      'tokenizer.image.train_images=600',
      'tokenizer.image.iterations=6',
    ],
  });
  const graphs = buildModelGraphs(spec);
  return {
    spec,
    trainStep: toOnnx(graphs.trainStep.graph, { params: 'inputs' }),
    evalGraph: toOnnx(graphs.eval.graph, { params: 'inputs' }),
  };
}

async function trainer(spec: Spec, bytes: { trainStep: Uint8Array; evalGraph: Uint8Array }, data: DataPipeline) {
  return Trainer.create({
    device: 'cpu',
    trainStep: bytes.trainStep,
    evalGraph: bytes.evalGraph,
    weights: initWeights(modelDims(spec.model), spec.train.seed),
    // the trainer counts updates from 1, the data pipeline its batches from 0
    batches: (step) => data.nextBatch(step - 1),
    lr: lrSchedule(spec.optimizer, spec.train.steps),
    seed: spec.train.seed,
  });
}

test('tiny.yaml trains on real mixed-modal data and resumes exactly from (state, cursor)', async () => {
  const { spec, ...bytes } = await setup();
  const pipelineOpts = { specDir: path.join(root, 'experiments'), projectDir: root };

  const data = await createDataPipeline(spec, pipelineOpts);
  const full = await trainer(spec, bytes, data);
  const losses: number[] = [];
  const before = await full.evaluate(data.evalBatches(2));
  const result = await full.train(STEPS, (m) => void losses.push(m.loss));
  const after = await full.evaluate(data.evalBatches(2));
  await full.release();
  assert.equal(result.stopped, 'done');
  assert.equal(losses.length, STEPS);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(mean(losses.slice(-6)) < mean(losses.slice(0, 6)) - 0.5, `training loss did not fall: ${losses.map((l) => l.toFixed(2)).join(' ')}`);
  assert.ok(after.loss < before.loss - 0.5, `held-out loss did not fall: ${before.loss} -> ${after.loss}`);

  // Stop at HALF, keep only JSON-able data cursor and the trainer's state, then continue in new objects.
  const data1 = await createDataPipeline(spec, pipelineOpts);
  const first = await trainer(spec, bytes, data1);
  await first.train(HALF);
  const state = await first.getState();
  const cursor = JSON.parse(JSON.stringify(data1.cursor()));
  await first.release();

  const data2 = await createDataPipeline(spec, pipelineOpts);
  data2.restore(cursor);
  const second = await trainer(spec, bytes, data2);
  second.setState(state);
  const resumed: number[] = [];
  await second.train(STEPS, (m) => void resumed.push(m.loss));
  await second.release();
  assert.deepEqual(resumed, losses.slice(HALF), 'the resumed run must repeat the unbroken run bit for bit');
});
