/**
 * The sweep benchmark: what running members through `runSweep` (local worker processes) costs or
 * gains against running the same members one after another in one process with all threads.
 *
 *   node dist/bench/sweep.js [--config tiny] [--steps N] [--jobs J] [--pairs P] [--json] [--markdown] [--save FILE]
 *                            [--from FILE]   (print a saved result, e.g. with --markdown)
 *   npm run bench -- --sweep [same options]
 *
 * - Members: 4 (learning rate 3e-4 and 1e-3, seeds 0 and 1) of the benchmark's tiny spec (d 256,
 *   4 layers, batch 8 x 256; bench/configs.ts), N steps each, evaluation at the start and the end.
 * - Sequential reference: `runExperiment` for each member in this process, in plan order, with one
 *   onnxruntime thread per core.
 * - Sweep: `runSweep` with --jobs J (default 2) worker processes of cores / J threads each.
 * - Each side starts from its own empty cache folder, so each trains the tokenizer and compiles the
 *   graphs once (members share them: same tokenizer spec, same model shape; lr and seed are graph
 *   inputs) and reuses them for the other members.
 * - Aggregate tokens/s = training tokens of all members / wall time of the whole side, set-up
 *   included. The ratio is sweep / sequential (goal >= 0.9). Sides alternate over P pairs (the
 *   second pair runs the sweep first), since the machine is shared and its load drifts.
 * - Per member, from the event times: process start (worker spawned -> its first event), set-up
 *   (first event -> `start`: tokenizers and data, graphs, sessions; `cold` = the first member, which
 *   builds the shared tokenizer and graphs), training (start -> final status) and teardown (final
 *   status -> the worker's exit). The sweep machinery's overhead per member is its process start plus
 *   teardown plus the set-up beyond what the same member's set-up took in-process.
 * - Step times (median graph ms per training step) separate the training itself from everything
 *   around it: the step-rate ratio is J concurrent sweep steps against J sequential ones.
 * - CPU time per side (user + system of every thread, the workers included): on a shared machine
 *   wall time depends on how much CPU the side was given; tokens per CPU second does not.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runExperiment } from '../src/runs/run';
import { runSweep } from '../src/sweep/run';
import { planSweepInput } from '../src/sweep/plan';
import type { SweepEvent } from '../src/sweep/events';
import type { RunEvent } from '../src/runs/events';
import { benchSpec, configNamed } from './configs';
import { machineInfo, type MachineInfo } from './machine';
import { fmt, mdTable, median, table } from './stats';

export interface SweepBenchArgs {
  config: string;
  steps: number;
  jobs: number;
  pairs: number;
  json: boolean;
  markdown: boolean;
  save: string | null;
  /** Print a result saved with --save instead of measuring. */
  from: string | null;
}

/** Event times of one member, seconds from when its side started it. */
export interface MemberTimes {
  index: number;
  /** Process start: spawned -> first event (sweep); 0 in-process. */
  start_s: number;
  /** First event -> `start` event. */
  setup_s: number;
  /** `start` -> final status. */
  train_s: number;
  /** Final status -> exit (sweep) or return (in-process). */
  teardown_s: number;
  tokens: number;
  /** Median graph time of one training step (the step rows' ms), ms. */
  step_ms: number;
}

export interface SideResult {
  side: 'sequential' | 'sweep';
  wall_s: number;
  tokens: number;
  tokens_per_s: number;
  /** Median step time over all members' steps, ms. */
  step_ms: number;
  /** CPU time of the side (user + system, every thread; the sweep's worker processes included), s. */
  cpu_s: number;
  /** Training tokens per CPU second: what the side got done with the CPU it was given. */
  tokens_per_cpu_s: number;
  members: MemberTimes[];
}

export interface SweepBenchResult {
  machine: MachineInfo;
  settings: { config: string; steps: number; members: number; jobs: number; threads_per_worker: number; sequential_threads: number; pairs: number };
  pairs: Array<{ sequential: SideResult; sweep: SideResult; ratio: number; cpu_ratio: number }>;
  ratio_median: number;
  cpu_ratio_median: number;
  overhead: {
    /** Median over warm members (cache hits) of all pairs. */
    process_start_s: number;
    teardown_s: number;
    setup_sweep_warm_s: number;
    setup_sequential_warm_s: number;
    setup_sweep_cold_s: number;
    setup_sequential_cold_s: number;
    /** process start + teardown + (sweep set-up - in-process set-up), warm members. */
    per_member_s: number;
  };
}

export function parseSweepBenchArgs(argv: string[]): SweepBenchArgs {
  const a: SweepBenchArgs = { config: 'tiny', steps: 16, jobs: 2, pairs: 1, json: false, markdown: false, save: null, from: null };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${f} needs a value`);
      return v;
    };
    const int = (min: number) => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < min) throw new Error(`${f} must be an integer >= ${min}`);
      return n;
    };
    if (f === '--config') a.config = value();
    else if (f === '--steps') a.steps = int(1);
    else if (f === '--jobs') a.jobs = int(1);
    else if (f === '--pairs') a.pairs = int(1);
    else if (f === '--json') a.json = true;
    else if (f === '--markdown') a.markdown = true;
    else if (f === '--save') a.save = value();
    else if (f === '--from') a.from = value();
    else throw new Error(`unknown option ${f}`);
  }
  configNamed(a.config);
  return a;
}

/** The bench config as a spec that really trains (the main benchmark feeds its own batches instead). */
function sweepInput(config: string, steps: number) {
  const c = configNamed(config);
  const spec = benchSpec(c, steps);
  return {
    spec: {
      ...spec,
      name: `bench-sweep-${config}`,
      tokenizer: { ...spec.tokenizer, image: { ...spec.tokenizer.image, codebook_size: c.image } },
      data: { ...spec.data, stages: [{ name: 's', share: 1, weights: { t: 1 } }] },
      sweep: { grid: { 'optimizer.lr': [3e-4, 1e-3] }, seeds: 2 },
    },
  };
}

const now = () => performance.now() / 1000;

class Clock {
  readonly t: { begin: number; first?: number; start?: number; status?: number; end?: number; tokens: number; ms: number[] }[] = [];
  begin(i: number) {
    this.t[i] = { begin: now(), tokens: 0, ms: [] };
  }
  event(i: number, e: RunEvent) {
    const t = this.t[i];
    t.first ??= now();
    if (e.type === 'step') t.ms.push(e.row.ms);
    if (e.type === 'start') t.start = now();
    if (e.type === 'status' && e.status !== 'running') {
      t.status = now();
      t.tokens = e.summary.tokens;
    }
  }
  end(i: number) {
    this.t[i].end = now();
  }
  members(inProcess: boolean): MemberTimes[] {
    return this.t.map((t, index) => ({
      index,
      start_s: inProcess ? 0 : (t.first ?? t.begin) - t.begin,
      setup_s: (t.start ?? t.first ?? t.begin) - (inProcess ? t.begin : t.first ?? t.begin),
      train_s: (t.status ?? t.end ?? 0) - (t.start ?? t.begin),
      teardown_s: (t.end ?? 0) - (t.status ?? t.end ?? 0),
      tokens: t.tokens,
      step_ms: median(t.ms),
    }));
  }
}

/**
 * CPU seconds of this process and of its children that have exited (the sweep's workers, reaped by
 * Node): /proc/self/stat's utime, stime, cutime, cstime. Linux only; null elsewhere.
 */
function cpuSeconds(): number | null {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields 14-17 of stat(5), counted from the state field (3): indices 11-14 here
    const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    return ticks / clockTicks();
  } catch {
    return null;
  }
}

let hz: number | undefined;
function clockTicks(): number {
  if (hz === undefined) {
    try {
      hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      hz = 100;
    }
  }
  return hz;
}

async function sequential(a: SweepBenchArgs, work: string): Promise<SideResult> {
  const planned = planSweepInput(sweepInput(a.config, a.steps));
  const clock = new Clock();
  const t0 = now();
  const c0 = cpuSeconds();
  for (const [i, m] of planned.members.entries()) {
    clock.begin(i);
    await runExperiment(
      { spec: m.spec, hash: m.hash },
      { out: path.join(work, 'runs'), cacheDir: path.join(work, 'cache'), threads: os.availableParallelism(), onEvent: (e) => clock.event(i, e) },
    );
    clock.end(i);
  }
  return side('sequential', now() - t0, clock.members(true), c0);
}

async function swept(a: SweepBenchArgs, work: string): Promise<SideResult> {
  const clock = new Clock();
  const t0 = now();
  const c0 = cpuSeconds();
  const r = await runSweep(sweepInput(a.config, a.steps), {
    out: path.join(work, 'runs'),
    cacheDir: path.join(work, 'cache'),
    jobs: a.jobs,
    onEvent: (e: SweepEvent) => {
      if (e.type === 'member-start') clock.begin(e.index);
      else if (e.type === 'member') clock.event(e.index, e.event);
      else if (e.type === 'member-end') clock.end(e.index);
    },
  });
  if (!r.ok) throw new Error(`the sweep did not finish: ${r.state.members.map((m) => `${m.index} ${m.status} ${m.error ?? ''}`).join('; ')}`);
  return side('sweep', now() - t0, clock.members(false), c0);
}

function side(name: SideResult['side'], wall: number, members: MemberTimes[], cpu0: number | null): SideResult {
  const tokens = members.reduce((s, m) => s + m.tokens, 0);
  const c1 = cpuSeconds();
  const cpu = cpu0 === null || c1 === null ? NaN : c1 - cpu0;
  return { side: name, wall_s: wall, tokens, tokens_per_s: tokens / wall, step_ms: median(members.map((m) => m.step_ms)), cpu_s: cpu, tokens_per_cpu_s: tokens / cpu, members };
}

function log(a: SweepBenchArgs, msg: string) {
  if (!a.json) process.stderr.write(msg + '\n');
}

export async function runSweepBench(a: SweepBenchArgs): Promise<SweepBenchResult> {
  const machine = machineInfo();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-bench-sweep-'));
  const pairs: SweepBenchResult['pairs'] = [];
  try {
    for (let p = 0; p < a.pairs; p++) {
      const order: Array<'sequential' | 'sweep'> = p % 2 === 0 ? ['sequential', 'sweep'] : ['sweep', 'sequential'];
      const res: Partial<Record<'sequential' | 'sweep', SideResult>> = {};
      for (const s of order) {
        log(a, `pair ${p + 1}/${a.pairs}: ${s} ...`);
        const work = path.join(root, `${p}-${s}`);
        res[s] = s === 'sequential' ? await sequential(a, work) : await swept(a, work);
        log(a, `  ${fmt(res[s]!.tokens_per_s)} tokens/s over ${res[s]!.wall_s.toFixed(1)} s`);
      }
      pairs.push({
        sequential: res.sequential!,
        sweep: res.sweep!,
        ratio: res.sweep!.tokens_per_s / res.sequential!.tokens_per_s,
        cpu_ratio: res.sweep!.tokens_per_cpu_s / res.sequential!.tokens_per_cpu_s,
      });
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  const warm = (s: 'sequential' | 'sweep', k: keyof MemberTimes) => median(pairs.flatMap((p) => p[s].members.slice(1).map((m) => m[k] as number)));
  const cold = (s: 'sequential' | 'sweep') => median(pairs.map((p) => p[s].members[0].setup_s));
  const processStart = warm('sweep', 'start_s');
  const teardown = warm('sweep', 'teardown_s');
  const setupSweep = warm('sweep', 'setup_s');
  const setupSeq = warm('sequential', 'setup_s');
  return {
    machine,
    settings: {
      config: a.config,
      steps: a.steps,
      members: 4,
      jobs: a.jobs,
      threads_per_worker: Math.max(1, Math.floor(os.availableParallelism() / a.jobs)),
      sequential_threads: os.availableParallelism(),
      pairs: a.pairs,
    },
    pairs,
    ratio_median: median(pairs.map((p) => p.ratio)),
    cpu_ratio_median: median(pairs.map((p) => p.cpu_ratio)),
    overhead: {
      process_start_s: processStart,
      teardown_s: teardown,
      setup_sweep_warm_s: setupSweep,
      setup_sequential_warm_s: setupSeq,
      setup_sweep_cold_s: cold('sweep'),
      setup_sequential_cold_s: cold('sequential'),
      per_member_s: processStart + teardown + (setupSweep - setupSeq),
    },
  };
}

export function formatSweepBench(r: SweepBenchResult, markdown = false): string {
  const t = markdown ? mdTable : table;
  const m = r.machine;
  const s = r.settings;
  const out: string[] = [];
  const head = [
    `${m.date}  ${m.cpu}, ${m.cores} cores; load ${m.loadavg_1m} at start; commit ${m.commit}`,
    `${s.members} members of the ${s.config} bench spec, ${s.steps} steps each; sweep: --jobs ${s.jobs} (${s.threads_per_worker} thread(s) per worker); sequential: one process, ${s.sequential_threads} threads; ${s.pairs} pair(s), alternating order`,
  ];
  out.push(...(markdown ? head.map((l) => `- ${l}`) : head), '');
  out.push(
    t(
      ['pair', 'sequential tok/s', 'sweep tok/s', 'ratio', 'sequential wall (s)', 'sweep wall (s)', 'step ms, sequential', `step ms, sweep (${s.jobs} at once)`, 'step-rate ratio', 'CPU s, sequential', 'CPU s, sweep', 'CPU-time ratio'],
      r.pairs.map((p, i) => [
        i + 1,
        fmt(p.sequential.tokens_per_s),
        fmt(p.sweep.tokens_per_s),
        `${p.ratio.toFixed(2)}x`,
        fmt(p.sequential.wall_s, 1),
        fmt(p.sweep.wall_s, 1),
        fmt(p.sequential.step_ms),
        fmt(p.sweep.step_ms),
        // training steps alone: J concurrent steps of sweep_ms against one of sequential_ms each
        `${((s.jobs * p.sequential.step_ms) / p.sweep.step_ms).toFixed(2)}x`,
        fmt(p.sequential.cpu_s, 1),
        fmt(p.sweep.cpu_s, 1),
        p.cpu_ratio === undefined || !Number.isFinite(p.cpu_ratio) ? '-' : `${p.cpu_ratio.toFixed(2)}x`,
      ]),
    ),
  );
  out.push('', `aggregate tokens/s ratio, sweep / sequential: ${r.ratio_median.toFixed(2)}x (median of ${r.pairs.length}; goal >= 0.9)`);
  if (r.cpu_ratio_median !== undefined && Number.isFinite(r.cpu_ratio_median))
    out.push(`tokens per CPU second, sweep / sequential: ${r.cpu_ratio_median.toFixed(2)}x (what each side did with the CPU it got; the steadier number on a shared machine)`);
  out.push('');
  out.push('per member (seconds; warm = members 1-3, which find the tokenizer and graphs in the cache; medians):' + (markdown ? '\n' : ''));
  const o = r.overhead;
  out.push(
    t(
      ['', 'process start', 'set-up, cold (member 0)', 'set-up, warm', 'teardown'],
      [
        ['sweep worker', fmt(o.process_start_s, 2), fmt(o.setup_sweep_cold_s, 2), fmt(o.setup_sweep_warm_s, 2), fmt(o.teardown_s, 2)],
        ['in-process', '-', fmt(o.setup_sequential_cold_s, 2), fmt(o.setup_sequential_warm_s, 2), '-'],
      ],
    ),
  );
  out.push('', `sweep machinery overhead per member: ${o.per_member_s.toFixed(2)} s (process start + teardown + set-up beyond the in-process set-up)`);
  return out.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  let a: SweepBenchArgs;
  try {
    a = parseSweepBenchArgs(argv);
  } catch (e) {
    process.stderr.write(`bench sweep: ${(e as Error).message}\n`);
    return 2;
  }
  const r = a.from ? (JSON.parse(fs.readFileSync(a.from, 'utf8')) as SweepBenchResult) : await runSweepBench(a);
  if (a.save) fs.writeFileSync(a.save, JSON.stringify(r, null, 2) + '\n');
  process.stdout.write(a.json ? JSON.stringify(r, null, 2) + '\n' : formatSweepBench(r, a.markdown) + '\n');
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (e) => {
      process.stderr.write(`bench sweep: ${e instanceof Error ? e.stack : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
