/**
 * `runExperiment`: one experiment, from a spec to a finished run folder (layout.ts). It compiles the
 * graphs (or reuses them from the cache), builds or reuses the tokenizers, creates the data pipeline
 * and the trainer, trains, evaluates, checkpoints, and tells its listeners every step (events.ts).
 * The CLI's progress bar, a sweep's workers and a notebook's live chart all call this one function.
 *
 * Exact resume: the same call on a folder whose run was interrupted (Ctrl-C, SIGTERM, kill -9, a
 * crash) continues from the newest checkpoint that verifies, drops the metric rows written after it
 * and recomputes them; every row equals the uninterrupted run's, bit for bit on the same backend,
 * except the TIMING_FIELDS. A finished or diverged run is not trained again.
 *
 * Steps: the trainer counts updates from 1 (the graph's `step` input, Adam's t); the data pipeline
 * counts batches from 0. This module is the one place that maps between them: update s trains on
 * batch s - 1.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify as toYaml } from 'yaml';
import { loadSpec, type LoadedSpec } from '../../dsl';
import { UserError, isUserError } from '../../dsl/errors';
import { applyOverrides, projectRoot } from '../../dsl/load';
import { fromPlain, type LNode } from '../../dsl/located';
import { resolveTree } from '../../dsl/resolve';
import type { Spec } from '../../dsl/schema';
import { defaultCacheDir } from '../data/cache';
import { createDataPipeline, type DataPipeline } from '../data/pipeline';
import type { Batch } from '../data/pipeline';
import { BOS, EOS, PAD } from '../data/vocab';
import { openAppend, prepareOutputDir, readInputFile, writeAll, writeFileAtomic } from '../files';
import { modelDims, type ModelDims } from '../model/config';
import { graphManifest, writeGraphs } from '../model/compile';
import { initWeights } from '../model/init';
import { probeWebGpu, resolveDevice, type Backend } from '../runtime/device';
import { lrSchedule } from '../runtime/schedule';
import { Trainer, type StepMetrics } from '../runtime/trainer';
import { chamlabVersion } from '../version';
import { findResumePoint, pruneCheckpoints, writeCheckpoint, writePointer } from './checkpoint';
import type { RunEvent, RunInfo, RunListener } from './events';
import { cachedGraphs } from './graph-cache';
import {
  BEST_POINTER,
  CHECKPOINT_FORMAT,
  RUN_FILES,
  RUN_FORMAT,
  runFolder,
  TOKENIZER_FILES,
  toJsonLine,
  type CheckpointState,
  type DivergenceRecord,
  type EvalRow,
  type MetricsRow,
  type RunStatus,
  type RunSummary,
} from './layout';
import { RunLock } from './lock';
import { readEvals, readMetrics, readRunSpec, readSummary } from './read';


export type RunSource = string | LoadedSpec | { spec: Spec; hash?: string; file?: string; root?: string };

export interface RunOptions {
  /** Where run folders go (default `runs`): the run lands in `<out>/<name>/<hash12>`. */
  out?: string;
  /** `path=value` overrides, like the CLI's --set. */
  overrides?: string[];
  /** Sets train.device (part of the hash: a CPU and a GPU run of one spec are two runs). */
  device?: 'cpu' | 'gpu' | 'auto';
  /** Discard the folder's results and start over. */
  fresh?: boolean;
  onEvent?: RunListener;
  /** Abort = finish the current step, write a checkpoint, mark the run interrupted, return. */
  signal?: AbortSignal;
  /** onnxruntime intra-op threads on the CPU (default: one per core). Results do not depend on it. */
  threads?: number;
  /** Tokenizer and compiled-graph cache (default $CHAMLAB_CACHE or ~/.cache/chamlab). */
  cacheDir?: string;
}

export interface RunResult {
  dir: string;
  summary: RunSummary;
  /** The run was already finished (or diverged) and was not trained again. */
  skipped: boolean;
}

interface ResolvedSource {
  spec: Spec;
  hash: string;
  /** The spec file; relative data paths are relative to its folder. */
  file: string;
  root: string;
}

/** Resolves what the caller gave, with overrides and the device applied, to a spec and its hash. */
export function resolveRunSource(source: RunSource, opts: Pick<RunOptions, 'overrides' | 'device'> = {}): ResolvedSource {
  const overrides = [...(opts.overrides ?? []), ...(opts.device ? [`train.device=${opts.device}`] : [])];
  if (typeof source === 'string') {
    if (!fs.existsSync(source)) throw new UserError('no such spec file; give the path of a .yaml or .ts spec', source);
    const l = loadSpec(source, { overrides });
    return { spec: l.spec, hash: l.hash, file: l.file, root: l.root };
  }
  const file = source.file ?? path.join(process.cwd(), '<spec>');
  const root = 'root' in source && source.root ? source.root : projectRoot(file);
  if (overrides.length === 0 && source.hash) return { spec: source.spec, hash: source.hash, file, root };
  const tree: LNode = 'tree' in source && source.tree ? source.tree : fromPlain(source.spec, { file, line: 1, col: 1 });
  const ctx = 'context' in source && source.context ? source.context : { file, root };
  const r = resolveTree(applyOverrides(tree, overrides), ctx);
  return { spec: r.spec, hash: r.hash, file, root };
}

export async function runExperiment(source: RunSource, opts: RunOptions = {}): Promise<RunResult> {
  const src = resolveRunSource(source, opts);
  if (src.spec.sweep)
    throw new UserError(`has a sweep section (${src.spec.name}); run it with 'chamlab sweep' (or runSweep), or train one member with --set`, displayFile(src.file));
  const out = path.resolve(opts.out ?? 'runs');
  const dir = runFolder(out, src.spec.name, src.hash);
  makeRunDir(dir);
  const lock = RunLock.acquire(dir, RUN_FILES.lock);
  try {
    return await new Run(src, dir, opts, lock).execute();
  } finally {
    lock.release();
  }
}

function makeRunDir(dir: string): void {
  // The output rule every writer follows (src/files.ts): made level by level, never through a file.
  prepareOutputDir(dir, '--out');
}

function displayFile(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') ? rel : file;
}

/** Everything one process does in one run folder. */
class Run {
  private readonly emit: RunListener;
  private readonly m: ModelDims;
  private readonly t0 = performance.now();
  private summary!: RunSummary;
  private priorWall = 0;
  private trainer?: Trainer;
  private data!: DataPipeline;
  private evalSets: { overall: Batch[]; sources: Array<{ name: string; kind: EvalRow['sources'][string]['kind']; batches: Batch[] }> } | null = null;
  private metricsFd?: number;
  private evalFd?: number;
  private best: { loss: number; step: number } | null = null;
  private divergence: DivergenceRecord | null = null;
  private warnings = 0;
  private lastStage = '';
  private graphMs = 0;
  private graphTokens = 0;
  private lastCheckpointStep = -1;
  private bestCheckpoint: string | null = null;

  constructor(
    private readonly src: ResolvedSource,
    private readonly dir: string,
    private readonly opts: RunOptions,
    private readonly lock: RunLock,
  ) {
    this.emit = (e: RunEvent) => {
      this.logEvent(e);
      opts.onEvent?.(e);
    };
    this.m = modelDims(src.spec.model);
  }

  private get spec(): Spec {
    return this.src.spec;
  }

  private file(name: string): string {
    return path.join(this.dir, name);
  }

  async execute(): Promise<RunResult> {
    const spec = this.spec;
    this.checkFolderSpec();
    const prior = readSummary(this.dir);
    if (prior && !this.opts.fresh && (prior.status === 'finished' || prior.status === 'diverged')) {
      this.emit({ type: 'log', level: 'info', message: `already ${prior.status} at step ${prior.step}: ${this.dir} (--fresh starts over)` });
      return { dir: this.dir, summary: prior, skipped: true };
    }
    if (this.opts.fresh) this.clearResults();
    this.priorWall = this.opts.fresh ? 0 : prior?.wall_s ?? 0;
    const attempts = (this.opts.fresh ? 0 : prior?.attempts ?? 0) + 1;
    this.writeSpecFile();

    this.summary = {
      format: RUN_FORMAT,
      name: spec.name,
      hash: this.src.hash,
      status: 'running',
      reason: null,
      step: 0,
      steps: spec.train.steps,
      tokens: 0,
      divergence: null,
      warnings: 0,
      final_eval_loss: null,
      best_eval_loss: null,
      best_eval_step: null,
      tokens_per_s: null,
      wall_s: this.priorWall,
      last_checkpoint: null,
      chamlab_version: chamlabVersion(),
      backend: 'cpu',
      device: spec.train.device,
      attempts,
      started_at: prior && !this.opts.fresh ? prior.started_at : new Date().toISOString(),
      updated_at: new Date().toISOString(),
    };
    try {
      // ---- set-up: data and tokenizers, graphs, device
      const cacheDir = this.opts.cacheDir ?? defaultCacheDir();
      this.emit({ type: 'phase', phase: 'tokenizers and data' });
      this.data = await createDataPipeline(spec, {
        specDir: path.dirname(this.src.file),
        projectDir: this.src.root,
        cacheDir,
        onProgress: (phase, done, total) => this.emit({ type: 'phase', phase, done, total }),
      });
      this.writeTokenizers();
      const { backend, reason } = await chooseBackend(spec.train.device);
      this.summary.backend = backend;
      this.emit({ type: 'phase', phase: 'graphs' });
      const graphs = cachedGraphs(spec, cacheDir, backend);
      writeGraphs(this.file(RUN_FILES.graphs), graphs.compiled, graphManifest(spec, this.src.hash, graphs.compiled, { shapesOnly: true, weights: null }));

      this.emit({ type: 'phase', phase: 'trainer' });
      const trainer = await Trainer.create({
        device: backend,
        trainStep: graphs.compiled.bytes.train_step,
        evalGraph: graphs.compiled.bytes.eval,
        weights: initWeights(this.m, spec.train.seed),
        // The one bridge between the trainer's 1-based updates and the pipeline's 0-based batches.
        batches: (step) => {
          const b = this.data.nextBatch(step - 1);
          this.lastStage = b.stage;
          return b;
        },
        lr: lrSchedule(spec.optimizer, spec.train.steps),
        seed: spec.train.seed,
        divergence: spec.train.divergence,
        sessionOverrides: backend === 'cpu' && this.opts.threads ? { intraOpNumThreads: this.opts.threads } : undefined,
      });
      this.trainer = trainer;
      const startStep = this.resume();
      this.summary.step = startStep;
      this.summary.tokens = startStep * this.tokensPerStep;
      this.writeSummary('running');
      const info: RunInfo = {
        dir: this.dir,
        name: spec.name,
        hash: this.src.hash,
        steps: spec.train.steps,
        startStep,
        tokensPerStep: this.tokensPerStep,
        logEvery: spec.train.log_every,
        backend,
        backendReason: reason,
      };
      this.emit({ type: 'start', run: info });
      this.emit({ type: 'status', status: 'running', summary: { ...this.summary } });
      const status = await this.loop(startStep);
      return { dir: this.dir, summary: this.finish(status), skipped: false };
    } catch (e) {
      const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0];
      this.summary.reason = isUserError(e) ? msg : `internal error: ${msg}`;
      this.finish('failed');
      throw e;
    } finally {
      this.closeFiles();
      await this.trainer?.release();
    }
  }

  private get tokensPerStep(): number {
    return this.spec.train.batch * this.spec.data.seq_len;
  }

  /** The folder belongs to this spec (its spec.yaml states the same hash) or is new. */
  private checkFolderSpec(): void {
    if (!fs.existsSync(this.file(RUN_FILES.spec))) return;
    const { hash } = readRunSpec(this.dir);
    if (hash !== this.src.hash)
      throw new UserError(
        `this run folder holds spec ${hash.slice(0, 16)}..., not ${this.src.hash.slice(0, 16)}... (${this.spec.name}); it was written by another spec: use another --out or move the folder away`,
        this.dir,
      );
  }

  private clearResults(): void {
    for (const f of [RUN_FILES.metrics, RUN_FILES.eval, RUN_FILES.summary, RUN_FILES.checkpoints, RUN_FILES.graphs, RUN_FILES.tokenizers]) {
      fs.rmSync(this.file(f), { recursive: true, force: true });
    }
    this.appendLog('--fresh: previous results removed');
  }

  private writeSpecFile(): void {
    if (fs.existsSync(this.file(RUN_FILES.spec))) return;
    const rel = path.relative(this.src.root, this.src.file);
    const header = [
      '# chamlab run spec: resolved (every default filled, every expression evaluated, extends flattened)',
      `# hash: ${this.src.hash}`,
      `# from: ${rel.startsWith('..') ? this.src.file : rel} (relative data paths are relative to that file)`,
    ].join('\n');
    writeFileAtomic(this.file(RUN_FILES.spec), header + '\n' + toYaml(this.spec, { lineWidth: 0 }));
  }

  private writeTokenizers(): void {
    const dir = this.file(RUN_FILES.tokenizers);
    writeFileAtomic(path.join(dir, TOKENIZER_FILES.text), JSON.stringify(this.data.encoder.bpe.toJSON()) + '\n');
    if (this.data.encoder.vq) writeFileAtomic(path.join(dir, TOKENIZER_FILES.image), JSON.stringify(this.data.encoder.vq.toJSON()) + '\n');
  }

  // ---------------------------------------------------------------------------------------------
  // Resume

  /** Restores the newest good checkpoint (returns its step), or prepares a fresh start (0). */
  private resume(): number {
    const trainer = this.trainer!;
    const shapes = new Map(trainer.signature.state.map((s) => [s.input, s.shape.reduce((a, b) => a * b, 1)]));
    const point = findResumePoint(this.dir, this.m, this.src.hash, shapes);
    for (const w of point.skipped) this.emit({ type: 'log', level: 'warn', message: `checkpoint not usable, falling back to an older one: ${w}` });
    const metrics = readMetrics(this.dir);
    const evals = readEvals(this.dir);
    if (metrics.torn) this.emit({ type: 'log', level: 'warn', message: `${RUN_FILES.metrics}: a torn last line (an interrupted write) was dropped` });
    if (point.dir === null) {
      if (metrics.rows.length || evals.rows.length || point.skipped.length)
        this.emit({ type: 'log', level: 'warn', message: 'no usable checkpoint: starting over from step 0' });
      this.rewriteRows(RUN_FILES.metrics, []);
      this.rewriteRows(RUN_FILES.eval, []);
      this.openFiles();
      return 0;
    }
    const st = point.state;
    trainer.setState({ step: st.step, values: point.values, lossWindow: st.loss_window });
    try {
      this.data.restore(st.data_cursor as Parameters<DataPipeline['restore']>[0]);
    } catch (e) {
      throw new UserError(`${(e as Error).message}; the checkpoint does not fit this run's data: run with --fresh to start over`, point.dir);
    }
    this.best = st.best_eval_loss === null || st.best_eval_step === null ? null : { loss: st.best_eval_loss, step: st.best_eval_step };
    this.divergence = st.divergence;
    this.warnings = st.warnings;
    this.lastCheckpointStep = st.step;
    this.summary.last_checkpoint = path.basename(point.dir);
    this.bestCheckpoint = this.best ? readBestName(this.dir) : null;
    const keptMetrics = metrics.rows.filter((r) => r.step <= st.step);
    if (keptMetrics.length < st.step)
      this.emit({ type: 'log', level: 'warn', message: `${RUN_FILES.metrics} has ${keptMetrics.length} rows up to step ${st.step}; the missing ones cannot be recomputed without --fresh` });
    this.rewriteRows(RUN_FILES.metrics, keptMetrics);
    const keptEvals = evals.rows.filter((r) => r.step <= st.step);
    this.rewriteRows(RUN_FILES.eval, keptEvals);
    this.summary.final_eval_loss = keptEvals.at(-1)?.loss ?? null;
    this.openFiles();
    this.emit({ type: 'log', level: 'info', message: `resuming from ${path.basename(point.dir)} (step ${st.step} of ${this.spec.train.steps})` });
    return st.step;
  }

  private rewriteRows(name: string, rows: object[]): void {
    const file = this.file(name);
    if (rows.length === 0) {
      fs.rmSync(file, { force: true });
      return;
    }
    writeFileAtomic(file, rows.map((r) => toJsonLine(r) + '\n').join(''));
  }

  private openFiles(): void {
    this.metricsFd = openAppend(this.file(RUN_FILES.metrics));
    this.evalFd = openAppend(this.file(RUN_FILES.eval));
  }

  private closeFiles(): void {
    for (const fd of [this.metricsFd, this.evalFd]) if (fd !== undefined) fs.closeSync(fd);
    this.metricsFd = this.evalFd = undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // The loop

  private async loop(startStep: number): Promise<RunStatus> {
    const spec = this.spec;
    const { steps, eval_every: evalEvery, checkpoint_every: ckptEvery } = spec.train;
    const trainer = this.trainer!;
    if (startStep === 0 && !this.aborted()) await this.evaluate(0);
    for (let step = startStep + 1; step <= steps; step++) {
      if (this.aborted()) return this.interrupt();
      const m = await trainer.runStep();
      this.recordStep(m);
      if (m.divergence) {
        const d: DivergenceRecord = { step: m.divergence.step, kind: m.divergence.kind, loss: m.divergence.loss, message: m.divergence.message };
        this.divergence ??= d;
        // A non-finite loss ends the run whatever the action: its gradients, moments and parameters
        // are non-finite too, so no later step can be finite.
        if (spec.train.divergence.action === 'stop' || d.kind === 'non-finite') {
          this.divergence = d;
          this.summary.reason = d.message;
          return 'diverged';
        }
        this.warnings++;
        this.emit({ type: 'log', level: 'warn', message: `divergence warning: ${d.message}` });
      }
      const last = step === steps;
      let improved = false;
      if ((evalEvery > 0 && step % evalEvery === 0) || last) improved = await this.evaluate(step);
      if ((ckptEvery > 0 && step % ckptEvery === 0) || last || improved) await this.checkpoint(improved);
      this.lock.beat();
    }
    return 'finished';
  }

  private aborted(): boolean {
    return !!this.opts.signal?.aborted;
  }

  private async interrupt(): Promise<RunStatus> {
    const step = this.trainer!.step;
    if (step > 0 && step > this.lastCheckpointStep) await this.checkpoint(false);
    this.summary.reason = `interrupted at step ${this.trainer!.step}; run the same command to continue`;
    return 'interrupted';
  }

  private recordStep(m: StepMetrics): void {
    const tokens = m.step * this.tokensPerStep;
    const row: MetricsRow = {
      step: m.step,
      tokens,
      loss: m.loss,
      lr: m.lr,
      stage: this.lastStage,
      tokens_per_s: m.ms > 0 ? (m.tokens * 1000) / m.ms : 0,
      ms: m.ms,
      ...m.metrics,
    };
    fs.writeSync(this.metricsFd!, toJsonLine(row) + '\n');
    this.graphMs += m.ms;
    this.graphTokens += m.tokens;
    this.summary.step = m.step;
    this.summary.tokens = tokens;
    this.emit({ type: 'step', row });
  }

  /** Evaluates on the held-out sets; returns whether this is the best held-out loss so far. */
  private async evaluate(step: number): Promise<boolean> {
    const t0 = performance.now();
    const trainer = this.trainer!;
    const sets = (this.evalSets ??= this.buildEvalSets());
    const overall = await trainer.evaluate(sets.overall);
    const sources: EvalRow['sources'] = {};
    for (const s of sets.sources) {
      const r = await trainer.evaluate(s.batches);
      sources[s.name] = { kind: s.kind, loss: r.loss, ce: r.ce ?? r.loss };
    }
    const { loss, ce, ...metrics } = overall;
    const row: EvalRow = { step, tokens: step * this.tokensPerStep, loss, ce: ce ?? loss, metrics, sources, ms: performance.now() - t0 };
    fs.writeSync(this.evalFd!, toJsonLine(row) + '\n');
    this.summary.final_eval_loss = loss;
    this.emit({ type: 'eval', row });
    if (step > 0 && Number.isFinite(loss) && (this.best === null || loss < this.best.loss)) {
      this.best = { loss, step };
      return true;
    }
    return false;
  }

  private buildEvalSets(): NonNullable<Run['evalSets']> {
    const n = this.spec.train.eval_batches;
    const withHoldout = this.data.sources.filter((s) => s.holdout.length > 0);
    if (withHoldout.length === 0) throw new UserError('no data source holds out documents for evaluation; set holdout > 0 on at least one source', 'data.sources');
    return {
      overall: this.data.evalBatches(n),
      sources: withHoldout.map((s) => ({ name: s.name, kind: s.spec.kind, batches: this.data.evalBatches(n, { source: s.name }) })),
    };
  }

  private async checkpoint(isBest: boolean): Promise<void> {
    const trainer = this.trainer!;
    const st = await trainer.getState();
    const state: CheckpointState = {
      format: CHECKPOINT_FORMAT,
      spec_hash: this.src.hash,
      step: st.step,
      tokens: st.step * this.tokensPerStep,
      data_cursor: this.data.cursor(),
      loss_window: st.lossWindow,
      seed: this.spec.train.seed,
      best_eval_loss: this.best?.loss ?? null,
      best_eval_step: this.best?.step ?? null,
      divergence: this.divergence,
      warnings: this.warnings,
    };
    const values = new Map<string, Float32Array>();
    for (const [k, v] of st.values) {
      if (!(v instanceof Float32Array)) throw new Error(`state ${k} is not float32`);
      values.set(k, v);
    }
    const w = writeCheckpoint(this.dir, this.m, { state, values }, { bos: BOS, eos: EOS, pad: PAD });
    if (isBest) {
      writePointer(this.dir, BEST_POINTER, w.name);
      this.bestCheckpoint = w.name;
    }
    pruneCheckpoints(this.dir, this.spec.train.keep_checkpoints, this.bestCheckpoint);
    this.lastCheckpointStep = st.step;
    this.summary.last_checkpoint = w.name;
    this.writeSummary('running');
    this.emit({ type: 'checkpoint', step: st.step, dir: w.dir, ms: w.ms, state: { step: st.step, tokens: state.tokens } });
  }

  // ---------------------------------------------------------------------------------------------
  // Summary, log

  private writeSummary(status: RunStatus): void {
    const s = this.summary;
    s.status = status;
    s.divergence = this.divergence;
    s.warnings = this.warnings;
    s.best_eval_loss = this.best?.loss ?? null;
    s.best_eval_step = this.best?.step ?? null;
    s.tokens_per_s = this.graphMs > 0 ? (this.graphTokens * 1000) / this.graphMs : s.tokens_per_s;
    s.wall_s = this.priorWall + (performance.now() - this.t0) / 1000;
    s.updated_at = new Date().toISOString();
    writeFileAtomic(this.file(RUN_FILES.summary), toJsonLine(s) + '\n');
  }

  private finish(status: RunStatus): RunSummary {
    if (status !== 'failed') this.summary.reason ??= null;
    if (status === 'finished') this.summary.reason = null;
    this.writeSummary(status);
    const summary = { ...this.summary };
    this.emit({ type: 'status', status, summary });
    return summary;
  }

  private appendLog(line: string): void {
    try {
      const fd = openAppend(this.file(RUN_FILES.log));
      try {
        writeAll(fd, Buffer.from(`${new Date().toISOString()} ${line}\n`));
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      /* the log is for people; never fail a run over it */
    }
  }

  /** run.log: set-up, evaluations, checkpoints, warnings, status, and a step line every log_every steps. */
  private logEvent(e: RunEvent): void {
    switch (e.type) {
      case 'start':
        this.appendLog(`start ${e.run.name} ${e.run.hash.slice(0, 12)} at step ${e.run.startStep}/${e.run.steps} on ${e.run.backend} (${e.run.backendReason}), chamlab ${chamlabVersion()}, host ${os.hostname()}, pid ${process.pid}`);
        break;
      case 'step':
        if (e.row.step % this.spec.train.log_every === 0) this.appendLog(formatStepLine(e.row, this.spec.train.steps));
        break;
      case 'eval':
        this.appendLog(`eval step ${e.row.step}: loss ${fmt(e.row.loss)} (${Object.entries(e.row.sources).map(([k, v]) => `${k} ${fmt(v.loss)}`).join(', ')})`);
        break;
      case 'checkpoint':
        this.appendLog(`checkpoint ${path.basename(e.dir)} (${e.ms.toFixed(0)} ms)`);
        break;
      case 'status':
        this.appendLog(`status ${e.status}${e.summary.reason ? `: ${e.summary.reason}` : ''}`);
        break;
      case 'log':
        this.appendLog(`${e.level}: ${e.message}`);
        break;
      case 'phase':
        if (e.done === undefined) this.appendLog(`phase: ${e.phase}`);
        break;
    }
  }
}

function readBestName(dir: string): string | null {
  try {
    return readInputFile(path.join(dir, RUN_FILES.checkpoints, BEST_POINTER), { maxBytes: 4096 }).toString('utf8').trim() || null;
  } catch {
    return null;
  }
}

async function chooseBackend(device: Spec['train']['device']): Promise<{ backend: Backend; reason: string }> {
  if (device === 'cpu') return { backend: 'cpu', reason: 'train.device is cpu' };
  const backend = await resolveDevice(device);
  if (backend === 'webgpu') return { backend, reason: `train.device is ${device}: onnxruntime's WebGPU provider found an adapter` };
  const probe = await probeWebGpu();
  return { backend, reason: `train.device is auto and no WebGPU adapter is usable (${probe.reason ?? 'unknown'}): using the CPU` };
}

export const fmt = (x: number): string => (!Number.isFinite(x) ? String(x) : Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(3) : x.toFixed(4));

/** One plain line per logged step: what the CLI prints on a pipe and what run.log keeps. */
export function formatStepLine(r: MetricsRow, steps: number): string {
  const gn = typeof r.grad_norm === 'number' ? ` grad_norm ${fmt(r.grad_norm)}` : '';
  return `step ${r.step}/${steps} loss ${fmt(r.loss)} lr ${r.lr.toExponential(3)}${gn} ${Math.round(r.tokens_per_s)} tok/s stage ${r.stage}`;
}
