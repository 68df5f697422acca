/**
 * Generation quality on the built-in data: trains experiments/digits.yaml (or a variant) with
 * runExperiment, asks the run's checkpoints to draw each digit and to caption held-out digits through
 * the generation library, and scores the drawings with an MNIST classifier built from the `mnist`
 * package's data (test/helpers/digits.ts).
 *
 *   node dist/bench/generation-quality.js [--steps N] [--set path=value ...] [--per-digit K]
 *        [--cfg S] [--temperature T] [--top-p P] [--threads N] [--eval-at 200,400] [--json FILE]
 *        [--grid FILE.png]  the last checkpoint's drawings, one row per digit
 *        [--out DIR]   keep the run folder there (default: a temporary folder, removed afterwards;
 *                      a finished run found there is scored again, not retrained)
 *
 * Prints the training budget (steps, tokens, wall time), the classifier's own accuracy on held-out
 * real digits and on their VQ reconstructions, then per-digit accuracy of drawing and captioning.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSources } from '../src/data/sources';
import { Generator } from '../src/generate/generator';
import { runExperiment } from '../src/runs/run';
import { checkpointName } from '../src/runs/layout';
import { readMetrics, readRunSpec } from '../src/runs/read';
import { encodePng } from '../src/data/png';
import { DigitClassifier, heldOutPairs, tile, mnistDigits, scoreCaptioning, scoreDrawing, toUnit, type DigitScores } from '../test/helpers/digits';
import { UserError } from '../dsl/errors';
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
  /** Also score the run's checkpoints at these earlier steps (same run: the schedule is the full run's). */
  evalAt?: number[];
  /** Keep the run folder under this directory (default: a temporary one, removed). */
  out?: string;
  log?: (line: string) => void;
}

export interface QualityResult {
  spec: string;
  runDir: string | null;
  steps: number;
  tokens: number;
  trainSeconds: number;
  finalLoss: number;
  classifier: { real: number; vq: number };
  drawing: DigitScores;
  captioning: DigitScores;
  sampling: { cfg: number; temperature: number; topP: number; perDigit: number };
  /** Scores of the checkpoints at the `evalAt` steps and at the end. */
  trajectory: { step: number; loss: number; drawing: number; captioning: number }[];
}

/** Trains the spec with runExperiment, then measures drawing and captioning of its checkpoints. */
export async function measureQuality(o: QualityOptions = {}): Promise<QualityResult> {
  const log = o.log ?? (() => {});
  const specFile = o.specFile ?? path.join(root, 'experiments', 'digits.yaml');
  const evalAt = o.evalAt ?? [];
  // Checkpoints at the scored steps (all kept); held-out evaluation only at the end (it is not scored here).
  const every = evalAt.length ? evalAt.reduce(gcd) : 0;
  const overrides = [
    ...(o.overrides ?? []),
    ...(o.steps ? [`train.steps=${o.steps}`] : []),
    `train.checkpoint_every=${every}`,
    'train.keep_checkpoints=1000',
    'train.eval_every=0',
  ];
  const out = o.out ?? fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-quality-'));
  try {
    const run = await runExperiment(specFile, {
      out,
      overrides,
      threads: o.threads,
      onEvent: (e) => {
        if (e.type === 'step' && e.row.step % 100 === 0) log(`step ${e.row.step} loss ${e.row.loss.toFixed(3)}`);
      },
    });
    const { spec } = readRunSpec(run.dir);
    const losses = new Map(readMetrics(run.dir).rows.map((r) => [r.step, r.loss]));

    const digits = mnistDigits();
    const clf = DigitClassifier.train(digits, (i) => i % 2 === 0);
    const perDigit = o.perDigit ?? 10;
    const sampling = { temperature: o.temperature ?? 0.7, topP: o.topP ?? 0.9 };
    const cfg = o.cfg ?? 3;
    const pairs = createSources(spec, { specDir: path.dirname(specFile), projectDir: root }).find((x) => x.spec.kind === 'image-text');
    if (!pairs) throw new UserError('the spec has no image-text source to take digits and captions from', specFile);
    const held = heldOutPairs(pairs.holdout, perDigit);

    let classifier = { real: NaN, vq: NaN };
    const trajectory: QualityResult['trajectory'] = [];
    let last: { drawing: DigitScores; captioning: DigitScores } | undefined;
    for (const step of [...evalAt.filter((s) => s < spec.train.steps), spec.train.steps]) {
      const gen = await Generator.open(run.dir, { checkpoint: checkpointName(step), threads: o.threads });
      try {
        if (Number.isNaN(classifier.real)) {
          const vq = gen.parts.vq!;
          const roundTrip = (x: Float32Array) => toUnit(vq.decode(vq.encode({ size: 28, pixels: Float32Array.from(x, (v) => v * 2 - 1) })));
          classifier = { real: clf.accuracy(digits, (i) => i % 2 === 1), vq: clf.accuracy(digits, (i) => i % 2 === 1, roundTrip) };
          log(`classifier: ${(100 * classifier.real).toFixed(1)}% on held-out real digits, ${(100 * classifier.vq).toFixed(1)}% on their VQ reconstructions`);
        }
        const drawing = await scoreDrawing(gen, clf, held.captions, { ...sampling, cfg });
        const captioning = await scoreCaptioning(gen, held.images, sampling);
        log(`step ${step}: drawing ${(100 * drawing.overall).toFixed(1)}%, captioning ${(100 * captioning.overall).toFixed(1)}%`);
        trajectory.push({ step, loss: losses.get(step) ?? NaN, drawing: drawing.overall, captioning: captioning.overall });
        last = { drawing, captioning };
      } finally {
        await gen.release();
      }
    }
    return {
      spec: `${path.relative(root, specFile)}${o.overrides?.length || o.steps ? ' ' + [...(o.overrides ?? []), ...(o.steps ? [`train.steps=${o.steps}`] : [])].join(' ') : ''}`,
      runDir: o.out ? run.dir : null,
      steps: spec.train.steps,
      tokens: run.summary.tokens,
      trainSeconds: run.summary.wall_s,
      finalLoss: losses.get(spec.train.steps) ?? NaN,
      classifier,
      drawing: last!.drawing,
      captioning: last!.captioning,
      sampling: { cfg, ...sampling, perDigit },
      trajectory,
    };
  } finally {
    if (!o.out) fs.rmSync(out, { recursive: true, force: true });
  }
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

export function formatQuality(r: QualityResult): string {
  const pct = (x: number) => fmt(100 * x, 0) + '%';
  const rows = [...Array(10).keys()].map((d) => [String(d), pct(r.drawing.perDigit[d]), pct(r.captioning.perDigit[d])]);
  rows.push(['all', pct(r.drawing.overall), pct(r.captioning.overall)]);
  return [
    `spec: ${r.spec}`,
    `training: ${r.steps} steps, ${fmt(r.tokens)} tokens, ${fmt(r.trainSeconds, 0)} s on ${require('node:os').availableParallelism()} cores, final loss ${r.finalLoss.toFixed(3)}`,
    `classifier (logistic regression on MNIST): ${pct(r.classifier.real)} on held-out real digits, ${pct(r.classifier.vq)} on their VQ reconstructions`,
    `sampling: temperature ${r.sampling.temperature}, top-p ${r.sampling.topP}, cfg ${r.sampling.cfg} for drawing; ${r.sampling.perDigit} per digit; drawing prompts: the captions of held-out pairs; captioning: their images`,
    table(['digit', 'drawn as prompted', 'caption names it'], rows),
    ...(r.trajectory.length > 1
      ? ['', table(['checkpoint', 'loss', 'drawn as prompted', 'caption names it'], r.trajectory.map((t) => [t.step, t.loss.toFixed(3), pct(t.drawing), pct(t.captioning)]))]
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
    out: one('out'),
    log: (l) => process.stderr.write(l + '\n'),
  });
  process.stdout.write(formatQuality(r) + '\n');
  if (r.runDir) process.stdout.write(`run folder: ${r.runDir}\n`);
  const grid = one('grid');
  if (grid && r.drawing.images) {
    fs.writeFileSync(grid, encodePng(tile(r.drawing.images)));
  }
  const json = one('json');
  if (json) fs.writeFileSync(json, JSON.stringify({ ...r, drawing: { ...r.drawing, images: undefined } }, null, 1) + '\n');
}

if (require.main === module)
  main().catch((e) => {
    process.stderr.write(`${e instanceof Error ? e.stack : e}\n`);
    process.exitCode = 1;
  });
