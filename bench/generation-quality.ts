/**
 * Generation quality on the built-in data: trains experiments/digits.yaml (or a variant), asks the
 * model to draw each digit and to caption held-out digits, and scores the drawings with an MNIST
 * classifier built from the `mnist` package's data (test/helpers/digits.ts).
 *
 *   node dist/bench/generation-quality.js [--steps N] [--set path=value ...] [--per-digit K]
 *        [--cfg S] [--temperature T] [--top-p P] [--threads N] [--eval-at 200,400] [--json FILE]
 *        [--save-run DIR]   also write the trained model as a run folder under DIR (chamlab generate reads it)
 *
 * Prints the training budget (steps, tokens, wall time), the classifier's own accuracy on held-out
 * real digits and on their VQ reconstructions, then per-digit accuracy of drawing and captioning.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadSpec } from '../dsl';
import { createDataPipeline } from '../src/data';
import type { Image } from '../src/data/image';
import { toOnnx } from '../src/graph';
import { Generator } from '../src/generate/generator';
import { buildModelGraphs, initWeights, modelDims } from '../src/model';
import { lrSchedule, Trainer } from '../src/runtime';
import { writeRunFolder } from '../test/helpers/run-folder';
import { DigitClassifier, mnistDigits, scoreCaptioning, scoreDrawing, toUnit, type DigitScores } from '../test/helpers/digits';
import { fmt, table } from './stats';

const root = path.resolve(__dirname, '..', '..');

export interface QualityOptions {
  specFile?: string;
  overrides?: string[];
  steps?: number;
  perDigit?: number;
  cfg?: number;
  temperature?: number;
  topP?: number;
  threads?: number;
  /** Also score at these earlier steps (same run: the schedule is the full run's), e.g. [200, 400]. */
  evalAt?: number[];
  /** Write the trained model as a run folder under this directory (returned as `runDir`). */
  saveRun?: string;
  log?: (line: string) => void;
}

export interface QualityResult {
  spec: string;
  steps: number;
  tokens: number;
  trainSeconds: number;
  finalLoss: number;
  classifier: { real: number; vq: number };
  drawing: DigitScores;
  captioning: DigitScores;
  sampling: { cfg: number; temperature: number; topP: number; perDigit: number };
  /** Scores at the `evalAt` steps of the same run. */
  trajectory: { step: number; seconds: number; loss: number; drawing: number; captioning: number }[];
  runDir?: string;
}

/** Trains the spec's model with Trainer + the data pipeline, then measures drawing and captioning. */
export async function measureQuality(o: QualityOptions = {}): Promise<QualityResult> {
  const log = o.log ?? (() => {});
  const specFile = o.specFile ?? path.join(root, 'experiments', 'digits.yaml');
  const overrides = [...(o.overrides ?? []), ...(o.steps ? [`train.steps=${o.steps}`] : [])];
  const { spec, hash } = await loadSpec(specFile, { overrides });
  const data = await createDataPipeline(spec, { specDir: path.dirname(specFile), projectDir: root });
  const graphs = buildModelGraphs(spec);
  const m = modelDims(spec.model);
  const trainer = await Trainer.create({
    device: 'cpu',
    trainStep: toOnnx(graphs.trainStep.graph, { params: 'inputs' }),
    weights: initWeights(m, spec.train.seed),
    batches: (step) => data.nextBatch(step - 1),
    lr: lrSchedule(spec.optimizer, spec.train.steps),
    seed: spec.train.seed,
    sessionOverrides: o.threads ? { intraOpNumThreads: o.threads } : undefined,
  });
  const digits = mnistDigits();
  const clf = DigitClassifier.train(digits, (i) => i % 2 === 0);
  const vq = data.encoder.vq!;
  const classifier = {
    real: clf.accuracy(digits, (i) => i % 2 === 1),
    vq: clf.accuracy(digits, (i) => i % 2 === 1, (x) => toUnit(vq.decode(vq.encode({ size: 28, pixels: Float32Array.from(x, (v) => v * 2 - 1) })))),
  };
  log(`classifier: ${(100 * classifier.real).toFixed(1)}% on held-out real digits, ${(100 * classifier.vq).toFixed(1)}% on their VQ reconstructions`);
  const perDigit = o.perDigit ?? 10;
  const sampling = { temperature: o.temperature ?? 0.7, topP: o.topP ?? 0.9 };
  const cfg = o.cfg ?? 3;
  const held = heldOutImages(data.sources, perDigit);
  const score = async () => {
    const gen = await Generator.create({ spec, weights: await trainer.getParams(), bpe: data.encoder.bpe, vq, label: 'in-memory' }, { threads: o.threads });
    try {
      const drawing = await scoreDrawing(gen, clf, perDigit, { ...sampling, cfg });
      const captioning = await scoreCaptioning(gen, held, sampling);
      log(`step ${trainer.step}: drawing ${(100 * drawing.overall).toFixed(1)}%, captioning ${(100 * captioning.overall).toFixed(1)}%`);
      return { drawing, captioning };
    } finally {
      await gen.release();
    }
  };

  let trainSeconds = 0;
  let last = NaN;
  const trajectory: QualityResult['trajectory'] = [];
  for (const until of [...(o.evalAt ?? []).filter((s) => s < spec.train.steps), spec.train.steps]) {
    const t0 = performance.now();
    await trainer.train(until, (s) => {
      last = s.loss;
      if (s.step % 50 === 0 || s.step === spec.train.steps) log(`step ${s.step}/${spec.train.steps} loss ${s.loss.toFixed(3)}`);
    });
    trainSeconds += (performance.now() - t0) / 1000;
    if (until < spec.train.steps) {
      const r = await score();
      trajectory.push({ step: until, seconds: trainSeconds, loss: last, drawing: r.drawing.overall, captioning: r.captioning.overall });
    }
  }
  const { drawing, captioning } = await score();
  trajectory.push({ step: spec.train.steps, seconds: trainSeconds, loss: last, drawing: drawing.overall, captioning: captioning.overall });
  const runDir = o.saveRun
    ? writeRunFolder(o.saveRun, { spec, hash, bpe: data.encoder.bpe, vq, weights: await trainer.getParams(), step: spec.train.steps })
    : undefined;
  await trainer.release();
  return {
    spec: `${path.relative(root, specFile)}${overrides.length ? ' ' + overrides.join(' ') : ''}`,
    steps: spec.train.steps,
    tokens: spec.train.steps * spec.train.batch * spec.data.seq_len,
    trainSeconds,
    finalLoss: last,
    classifier,
    drawing,
    captioning,
    sampling: { cfg, ...sampling, perDigit },
    trajectory,
    runDir,
  };
}

/** The first `n` held-out images of each digit from the spec's MNIST pair source (never trained on). */
export function heldOutImages(sources: { spec: { kind: string }; holdout: { length: number; get(i: number): any } }[], n: number): Image[][] {
  const src = sources.find((s) => s.spec.kind === 'image-text');
  if (!src) throw new Error('the spec has no image-text source');
  const out: Image[][] = Array.from({ length: 10 }, () => []);
  for (let i = 0; i < src.holdout.length; i++) {
    const doc = src.holdout.get(i);
    const label = Number(/^mnist:(\d):/.exec(doc.image.key)![1]);
    if (out[label].length < n) out[label].push(doc.image.load());
  }
  return out;
}

export function formatQuality(r: QualityResult): string {
  const pct = (x: number) => fmt(100 * x, 0) + '%';
  const rows = [...Array(10).keys()].map((d) => [String(d), pct(r.drawing.perDigit[d]), pct(r.captioning.perDigit[d])]);
  rows.push(['all', pct(r.drawing.overall), pct(r.captioning.overall)]);
  return [
    `spec: ${r.spec}`,
    `training: ${r.steps} steps, ${fmt(r.tokens)} tokens, ${fmt(r.trainSeconds, 0)} s on ${require('node:os').availableParallelism()} cores, final loss ${r.finalLoss.toFixed(3)}`,
    `classifier (logistic regression on MNIST): ${pct(r.classifier.real)} on held-out real digits, ${pct(r.classifier.vq)} on their VQ reconstructions`,
    `sampling: temperature ${r.sampling.temperature}, top-p ${r.sampling.topP}, cfg ${r.sampling.cfg} for drawing; ${r.sampling.perDigit} per digit`,
    table(['digit', 'drawn as prompted', 'caption names it'], rows),
    ...(r.trajectory.length > 1
      ? ['', table(['step', 'train s', 'loss', 'drawn as prompted', 'caption names it'], r.trajectory.map((t) => [t.step, fmt(t.seconds), t.loss.toFixed(3), pct(t.drawing), pct(t.captioning)]))]
      : []),
  ].join('\n');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const all = (name: string) => argv.flatMap((a, i) => (a === `--${name}` ? [argv[i + 1]] : []));
  const one = (name: string) => all(name).pop();
  const num = (name: string) => (one(name) !== undefined ? Number(one(name)) : undefined);
  const r = await measureQuality({
    specFile: one('spec') ? path.resolve(one('spec')!) : undefined,
    overrides: all('set'),
    steps: num('steps'),
    perDigit: num('per-digit'),
    cfg: num('cfg'),
    temperature: num('temperature'),
    topP: num('top-p'),
    threads: num('threads'),
    evalAt: one('eval-at')?.split(',').map(Number),
    saveRun: one('save-run'),
    log: (l) => process.stderr.write(l + '\n'),
  });
  process.stdout.write(formatQuality(r) + '\n');
  if (r.runDir) process.stdout.write(`run folder: ${r.runDir}\n`);
  const json = one('json');
  if (json) fs.writeFileSync(json, JSON.stringify(r, null, 1) + '\n');
}

if (require.main === module)
  main().catch((e) => {
    process.stderr.write(`${e instanceof Error ? e.stack : e}\n`);
    process.exitCode = 1;
  });
