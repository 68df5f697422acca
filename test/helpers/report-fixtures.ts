/**
 * Hand-made run and sweep folders for the report's unit tests, written exactly as src/runs/layout.ts
 * and src/sweep/layout.ts lay them out (the layout's own toJsonLine, spec.yaml with its hash header,
 * specs and members from the real loadSpec/planSweep). The metrics are synthetic but shaped like a
 * real run's: they let the tests pin down cases a real micro run cannot produce on demand (a NaN at
 * a chosen step, a torn last line of a run still training, a member that crashed before writing
 * anything). test/report-e2e.test.ts covers folders written by the real run layer.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { loadSpec, planSweep, type Spec } from '../../dsl';
import { RUN_FILES, RUN_FORMAT, runFolder, toJsonLine, type EvalRow, type MetricsRow, type RunStatus, type RunSummary } from '../../src/runs/layout';
import { freshRecord } from '../../src/sweep/plan';
import { SWEEP_FILES, SWEEP_FORMAT, sweepFolder, type SweepMemberRecord, type SweepState } from '../../src/sweep/layout';

/** The repository root, from dist/test/helpers (compiled) or test/helpers (tsx). */
function repoRoot(): string {
  let d = __dirname;
  while (!fs.existsSync(path.join(d, 'experiments', 'tiny.yaml')) && path.dirname(d) !== d) d = path.dirname(d);
  return d;
}
const root = repoRoot();
export const TINY = path.join(root, 'experiments', 'tiny.yaml');

/** tiny.yaml at micro size: 2 layers so per-layer figures have several lines. */
export const MICRO = ['model.d_model=32', 'model.layers=2', 'model.heads=2', 'data.seq_len=64', 'model.max_seq_len=64', 'train.batch=2', 'train.steps=40', 'train.eval_every=10', 'optimizer.schedule.warmup=5'];

export interface SyntheticRun {
  /** Steps actually recorded (default: spec.train.steps). */
  steps?: number;
  status?: RunStatus | null;
  /** Step at which the loss becomes NaN (and the run stops when status is diverged). */
  nanAt?: number;
  /** A divergence warning at this step without stopping (action warn). */
  warnAt?: number;
  /** Final loss level (the loss decays from ln V towards it). */
  floor?: number;
  /** Append half a metrics line (a run killed mid-write, or still writing). */
  torn?: boolean;
  reason?: string | null;
}

export function writeSpec(dir: string, spec: Spec, hash: string) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, RUN_FILES.spec), `# hash: ${hash}\n${stringify(spec)}`);
}

/** Writes a run folder for `spec` under `out` with synthetic metrics; returns the folder. */
export function writeSyntheticRun(out: string, spec: Spec, hash: string, o: SyntheticRun = {}): string {
  const dir = runFolder(out, spec.name, hash);
  writeSpec(dir, spec, hash);
  const planned = spec.train.steps;
  const done = o.steps ?? (o.nanAt && o.status === 'diverged' ? o.nanAt : planned);
  const V = spec.model.vocab.text + spec.model.vocab.image;
  const start = Math.log(V);
  const floor = o.floor ?? 3.5;
  const tps = spec.train.batch * spec.data.seq_len;
  const layers = spec.model.layers;
  const lossAt = (step: number) => {
    if (o.nanAt && step >= o.nanAt) return NaN;
    const wiggle = 0.05 * Math.sin(step * 1.7 + spec.train.seed);
    const spike = o.warnAt === step ? 3 : 0;
    return floor + (start - floor) * Math.exp(-step / (planned / 4)) + wiggle + spike;
  };
  const metrics: MetricsRow[] = [];
  for (let step = 1; step <= done; step++) {
    const loss = lossAt(step);
    const row: MetricsRow = {
      step,
      tokens: step * tps,
      loss,
      lr: spec.optimizer.lr * Math.min(1, step / Math.max(1, spec.optimizer.schedule.warmup)),
      stage: step <= planned * spec.data.stages[0].share ? spec.data.stages[0].name : spec.data.stages[spec.data.stages.length - 1].name,
      tokens_per_s: 5000,
      ms: 10,
      ce: loss - 0.001,
      z: Number.isFinite(loss) ? 0.5 + step * 0.01 : NaN,
      max_abs_logit: Number.isFinite(loss) ? 2 + step * 0.1 : Infinity,
      grad_norm: Number.isFinite(loss) ? 10 * Math.exp(-step / 10) + 0.01 : NaN,
      update_ratio: 1e-3 * Math.exp(-step / 20) + 1e-5,
    };
    for (let i = 0; i < layers; i++) {
      row[`layer_rms.${i}`] = 1 + i * 0.5 + step * 0.01;
      row[`max_attn_logit.${i}`] = Number.isFinite(loss) ? 2 + i + step * (spec.model.qk_norm ? 0.01 : 0.3) : NaN;
    }
    metrics.push(row);
  }
  const evals: EvalRow[] = [];
  const every = spec.train.eval_every || planned;
  const sources = Object.entries(spec.data.sources);
  for (let step = 0; step <= done; step += every) {
    const loss = lossAt(Math.max(step, 0.001)) + 0.1;
    evals.push({
      step,
      tokens: step * tps,
      loss,
      ce: loss - 0.001,
      metrics: { z: 0.5 },
      sources: Object.fromEntries(sources.map(([name, s], k) => [name, { kind: s.kind, loss: loss + 0.2 * k, ce: loss + 0.2 * k }])),
      ms: 50,
    });
  }
  let text = metrics.map((r) => toJsonLine(r) + '\n').join('');
  if (o.torn) text += toJsonLine({ ...metrics[metrics.length - 1], step: done + 1 }).slice(0, 40);
  fs.writeFileSync(path.join(dir, RUN_FILES.metrics), text);
  fs.writeFileSync(path.join(dir, RUN_FILES.eval), evals.map((r) => toJsonLine(r) + '\n').join(''));
  if (o.status === null) return dir;
  const status = o.status ?? 'finished';
  const finite = evals.filter((e) => Number.isFinite(e.loss));
  const best = finite.reduce<EvalRow | null>((b, e) => (!b || e.loss < b.loss ? e : b), null);
  const divStep = o.nanAt ?? o.warnAt;
  const summary: RunSummary = {
    format: RUN_FORMAT,
    name: spec.name,
    hash,
    status,
    reason: o.reason ?? (status === 'diverged' ? `loss is NaN at step ${o.nanAt}` : null),
    step: done,
    steps: planned,
    tokens: done * tps,
    divergence: divStep
      ? { step: divStep, kind: o.nanAt ? 'non-finite' : 'spike', loss: lossAt(divStep), message: `step ${divStep}: loss is ${lossAt(divStep)}` }
      : null,
    warnings: o.warnAt ? 1 : 0,
    final_eval_loss: status === 'finished' ? evals[evals.length - 1]?.loss ?? null : null,
    best_eval_loss: best?.loss ?? null,
    best_eval_step: best?.step ?? null,
    tokens_per_s: 5000,
    wall_s: done * 0.01,
    last_checkpoint: null,
    chamlab_version: '0.1.0',
    backend: 'cpu',
    device: 'cpu',
    attempts: 1,
    started_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:01:00.000Z',
  };
  fs.writeFileSync(path.join(dir, RUN_FILES.summary), toJsonLine(summary));
  return dir;
}

/** A micro tiny.yaml run (overrides on top of MICRO). */
export function syntheticRun(out: string, overrides: string[] = [], o: SyntheticRun = {}): string {
  const { spec, hash } = loadSpec(TINY, { overrides: [...MICRO, ...overrides] });
  return writeSyntheticRun(out, spec, hash, o);
}

export interface SyntheticSweep {
  /** The sweep section in YAML (`sweep:\n  grid: ...`). */
  sweepYaml: string;
  /** Per member index: how it went (default finished). 'failed' members get no run folder at all. */
  outcome?: (i: number, overrides: Record<string, unknown>) => SyntheticRun & { failed?: string; pending?: boolean };
}

/**
 * A sweep folder over MICRO tiny.yaml: sweep.yaml, sweep.json (SweepState) and one run folder per
 * member that got to run, laid out as `<out>/<name>/<hash12>` beside the sweep folder.
 */
export function syntheticSweep(out: string, s: SyntheticSweep): string {
  const tmpSpec = path.join(out, 'sweep-spec.yaml');
  fs.mkdirSync(out, { recursive: true });
  // tiny.yaml is self-contained (built-in data), so a renamed copy plus a sweep section is a sweep spec.
  const tiny = fs.readFileSync(TINY, 'utf8').replace(/^name: tiny$/m, 'name: micro-sweep');
  fs.writeFileSync(tmpSpec, `${tiny}\n${s.sweepYaml}\n`);
  const loaded = loadSpec(tmpSpec, { overrides: MICRO });
  const members = planSweep(loaded);
  const dir = sweepFolder(out, loaded.spec.name, loaded.hash);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, SWEEP_FILES.spec), `# hash: ${loaded.hash}\n${stringify(loaded.spec)}`);
  const records: SweepMemberRecord[] = members.map((m, index) => {
    const o = s.outcome?.(index, m.overrides) ?? {};
    const runDir = runFolder(out, m.spec.name, m.hash);
    const rec: SweepMemberRecord = { ...freshRecord(dir, out, m, index), status: 'finished' };
    if (o.pending) return { ...rec, status: 'pending' };
    if (o.failed) {
      // crashed after writing its spec, before the first step
      writeSpec(runDir, m.spec, m.hash);
      return { ...rec, status: 'failed', error: o.failed };
    }
    writeSyntheticRun(out, m.spec, m.hash, o);
    const summary = JSON.parse(fs.readFileSync(path.join(runDir, RUN_FILES.summary), 'utf8')) as RunSummary;
    return {
      ...rec,
      status: summary.status,
      steps_done: summary.step,
      final_eval_loss: summary.final_eval_loss,
      best_eval_loss: summary.best_eval_loss,
      diverged_at: summary.divergence?.step ?? null,
      tokens_per_s: summary.tokens_per_s,
    };
  });
  const keys = Object.keys(members[0].overrides);
  const state: SweepState = {
    format: SWEEP_FORMAT,
    name: loaded.spec.name,
    hash: loaded.hash,
    keys,
    file: null,
    overrides: [],
    executor: 'local',
    slurm_job: null,
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:05:00.000Z',
    members: records,
  };
  fs.writeFileSync(path.join(dir, SWEEP_FILES.state), toJsonLine(state));
  return dir;
}

/**
 * A 2 x 3 x 2-seed sweep (qk_norm x lr) with every kind of member: qk_norm=false at lr 0.1 diverges
 * (both seeds), member 3 crashed, member `pending` (if given) has not started, the rest finished.
 */
export function mixedSweep(out: string, o: { pending?: number } = {}): string {
  return syntheticSweep(out, {
    sweepYaml: 'sweep:\n  grid:\n    model.qk_norm: [true, false]\n    optimizer.lr: [0.001, 0.01, 0.1]\n  seeds: 2\n',
    outcome: (i, ov) =>
      ov['model.qk_norm'] === false && ov['optimizer.lr'] === 0.1
        ? { status: 'diverged', nanAt: 17 }
        : i === 3
          ? { failed: 'RangeError: out of memory' }
          : i === o.pending
            ? { pending: true }
            : { floor: 3 + (ov['optimizer.lr'] as number) * (ov['model.qk_norm'] ? 1 : 10) },
  });
}
