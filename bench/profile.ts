/**
 * Where a chamlab train step's time goes, from onnxruntime's own profiler (`enableProfiling`).
 *
 *   node dist/bench/profile.js [--config small] [--runs 3] [--level all|extended|basic|disabled]
 *                              [--threads N] [--json] [--keep FILE.json]
 *
 * One session with the runtime's CPU options (src/runtime/session-options.ts) plus profiling runs the
 * spec's train step `runs` times after one warm-up run (same inputs each time: the timing of a step
 * does not depend on the values). The trace's per-node kernel times are summed:
 *   - by op type (MatMul, Transpose, Softmax, ...), with the share of the step,
 *   - by phase, from the node names the graph compiler gives (forward: the model's scopes;
 *     backward: `grad/...`; optimizer: `optimizer/...`; metrics: `metrics/...`),
 *   - MatMul/Gemm/FusedMatMul nodes with their FLOPs from the recorded input shapes, hence the
 *     GFLOP/s each achieves, which says whether the matmuls are slow or the rest is,
 *   - the heaviest single nodes.
 * The sum of kernel times against the run's wall time shows the executor's own overhead.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { toOnnx } from '../src/graph/onnx';
import { modelDims } from '../src/model/config';
import { buildModelGraphs } from '../src/model/graphs';
import { initWeights } from '../src/model/init';
import { flopsPerToken } from '../src/model/size';
import { ort } from '../src/runtime/session';
import { sessionOptions, type OptimizationLevel } from '../src/runtime/session-options';
import { stepSignature } from '../src/runtime/signature';
import { batchFeeds, initialState, scalarFeeds } from '../src/runtime/trainer';
import { makeBatches } from './batches';
import { benchSpec, configNamed } from './configs';
import { fmt, table } from './stats';

interface TraceEvent {
  cat: string;
  name: string;
  dur: number;
  ts: number;
  args?: { op_name?: string; provider?: string; input_type_shape?: Record<string, number[]>[]; output_type_shape?: Record<string, number[]>[] };
}

export interface OpTypeTime {
  op: string;
  ms: number;
  share: number;
  nodes: number;
}

export interface MatmulTime {
  node: string;
  op: string;
  phase: string;
  shapes: string;
  ms: number;
  gflops: number;
}

export interface ProfileReport {
  config: string;
  level: OptimizationLevel;
  threads: number;
  runs: number;
  /** Median wall time of a session.run (ms). */
  run_ms: number;
  /** Sum of node kernel times per run (ms). */
  kernel_ms: number;
  by_op: OpTypeTime[];
  by_phase: { phase: string; ms: number; share: number }[];
  matmul: { ms: number; flops: number; gflops: number; model_train_flops: number };
  top_nodes: { node: string; op: string; ms: number }[];
  heaviest_matmuls: MatmulTime[];
  nodes_executed: number;
}

export function phaseOf(node: string): string {
  if (node.startsWith('grad/') || node.startsWith('grad_')) return 'backward';
  if (node.startsWith('optimizer')) return 'optimizer';
  if (node.startsWith('metrics')) return 'metrics';
  return 'forward';
}

/**
 * FLOPs of a MatMul-like node from its recorded shapes: 2 * (elements of the output) * k. The output
 * shape covers broadcasting; k is A's dimension that is not the output's row count, which also
 * handles FusedMatMul/Gemm with transposed operands (their trans flags are not in the trace).
 */
export function matmulFlops(inputs: number[][], output: number[]): number {
  if (inputs.length < 2 || output.length === 0) return 0;
  const a = inputs[0];
  if (a.length === 1) return 2 * output.reduce((x, y) => x * y, 1) * a[0];
  const rows = output.length >= 2 ? output[output.length - 2] : 1;
  const k = a[a.length - 2] === rows ? a[a.length - 1] : a[a.length - 2];
  return 2 * output.reduce((x, y) => x * y, 1) * k;
}

function shapesOf(e: TraceEvent, which: 'input_type_shape' | 'output_type_shape' = 'input_type_shape'): number[][] {
  return (e.args?.[which] ?? []).map((o) => Object.values(o)[0] ?? []);
}

/** Aggregates an ORT profile (the JSON array it writes) over `runs` timed runs. */
export function summarizeTrace(events: TraceEvent[], runs: number, trainFlops: number): Omit<ProfileReport, 'config' | 'level' | 'threads' | 'runs' | 'run_ms'> {
  const nodes = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  const byOp = new Map<string, { us: number; names: Set<string> }>();
  const byPhase = new Map<string, number>();
  const byNode = new Map<string, { op: string; us: number; shapes: number[][]; out: number[] }>();
  for (const e of nodes) {
    const op = e.args?.op_name ?? '?';
    const node = e.name.slice(0, -'_kernel_time'.length);
    const o = byOp.get(op) ?? { us: 0, names: new Set<string>() };
    o.us += e.dur;
    o.names.add(node);
    byOp.set(op, o);
    byPhase.set(phaseOf(node), (byPhase.get(phaseOf(node)) ?? 0) + e.dur);
    const n = byNode.get(node) ?? { op, us: 0, shapes: shapesOf(e), out: shapesOf(e, 'output_type_shape')[0] ?? [] };
    n.us += e.dur;
    byNode.set(node, n);
  }
  const totalUs = [...byOp.values()].reduce((a, b) => a + b.us, 0);
  const per = (us: number) => us / 1000 / runs;
  const mmOps = new Set(['MatMul', 'Gemm', 'FusedMatMul']);
  const mms: MatmulTime[] = [];
  let mmUs = 0;
  let mmFlops = 0;
  for (const [node, n] of byNode) {
    if (!mmOps.has(n.op)) continue;
    const flops = matmulFlops(n.shapes, n.out);
    mmUs += n.us;
    mmFlops += flops;
    mms.push({ node, op: n.op, phase: phaseOf(node), shapes: n.shapes.map((s) => `[${s}]`).join(' x '), ms: per(n.us), gflops: flops / (per(n.us) * 1e6) });
  }
  mms.sort((a, b) => b.ms - a.ms);
  return {
    kernel_ms: per(totalUs),
    by_op: [...byOp]
      .map(([op, o]) => ({ op, ms: per(o.us), share: o.us / totalUs, nodes: o.names.size }))
      .sort((a, b) => b.ms - a.ms),
    by_phase: [...byPhase].map(([phase, us]) => ({ phase, ms: per(us), share: us / totalUs })).sort((a, b) => b.ms - a.ms),
    matmul: { ms: per(mmUs), flops: mmFlops, gflops: mmUs > 0 ? mmFlops / (per(mmUs) * 1e6) : 0, model_train_flops: trainFlops },
    top_nodes: [...byNode]
      .map(([node, n]) => ({ node, op: n.op, ms: per(n.us) }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 15),
    heaviest_matmuls: mms.slice(0, 15),
    nodes_executed: byNode.size,
  };
}

export interface ProfileOptions {
  config: string;
  runs: number;
  level?: OptimizationLevel;
  threads?: number;
  keep?: string;
  extra?: InferenceSession.SessionOptions;
}

export async function profileStep(o: ProfileOptions): Promise<ProfileReport> {
  const cfg = configNamed(o.config);
  const spec = benchSpec(cfg, 2);
  const m = modelDims(spec.model);
  const bytes = toOnnx(buildModelGraphs(spec).trainStep.graph);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-profile-'));
  const threads = o.threads ?? os.availableParallelism();
  const level = o.level ?? 'all';
  const { InferenceSession } = ort();
  const session = await InferenceSession.create(
    bytes,
    sessionOptions('cpu', {
      overrides: { graphOptimizationLevel: level, intraOpNumThreads: threads, enableProfiling: true, profileFilePrefix: path.join(dir, 'step'), ...o.extra },
    }),
  );
  try {
    const sig = stepSignature(session);
    const state = initialState(sig, initWeights(m, 0));
    const { Tensor } = ort();
    const feeds: Record<string, Tensor> = {
      ...batchFeeds(sig.batch, makeBatches(1, cfg.batch, cfg.seq, m.vocab)[0]),
      ...scalarFeeds(sig, { step: 1, lr: spec.optimizer.lr, seed: 0 }),
    };
    for (const p of sig.state) feeds[p.input] = new Tensor(p.dtype as 'float32', state.get(p.input)!, p.shape);
    // One warm-up run; its events are dropped below (the node API cannot start profiling later).
    await session.run(feeds);
    const ms: number[] = [];
    for (let i = 0; i < o.runs; i++) {
      const t0 = performance.now();
      await session.run(feeds);
      ms.push(performance.now() - t0);
    }
    session.endProfiling();
    const file = fs.readdirSync(dir).find((f) => f.endsWith('.json'));
    if (!file) throw new Error(`onnxruntime wrote no profile into ${dir}`);
    const all = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as TraceEvent[];
    // Keep node events inside the last `runs` model_run windows (drops session setup and warm-up).
    const windows = all.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts).slice(-o.runs);
    const events = all.filter((e) => e.cat !== 'Node' || windows.some((w) => e.ts >= w.ts && e.ts <= w.ts + w.dur));
    if (o.keep) fs.copyFileSync(path.join(dir, file), o.keep);
    ms.sort((a, b) => a - b);
    const tokens = cfg.batch * cfg.seq;
    return {
      config: cfg.name,
      level,
      threads,
      runs: o.runs,
      run_ms: ms[Math.floor(ms.length / 2)],
      ...summarizeTrace(events, o.runs, flopsPerToken(m, cfg.seq).train_step * tokens),
    };
  } finally {
    await session.release();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function formatProfile(p: ProfileReport): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const out: string[] = [];
  out.push(
    `profile of one ${p.config} train step (optimization '${p.level}', ${p.threads} threads, ${p.runs} runs): ` +
      `run ${fmt(p.run_ms)} ms, kernels ${fmt(p.kernel_ms)} ms (${pct(p.kernel_ms / p.run_ms)} of the run), ${p.nodes_executed} nodes executed`,
  );
  out.push(
    `matmuls: ${fmt(p.matmul.ms)} ms, ${fmt(p.matmul.flops / 1e9, 1)} GFLOP executed (model's count: ${fmt(p.matmul.model_train_flops / 1e9, 1)}), ` +
      `${fmt(p.matmul.gflops, 1)} GFLOP/s inside matmul kernels`,
  );
  out.push('');
  out.push(table(['op type', 'ms/step', 'share', 'nodes'], p.by_op.slice(0, 20).map((o) => [o.op, fmt(o.ms, 1), pct(o.share), o.nodes])));
  out.push('');
  out.push(table(['phase', 'ms/step', 'share'], p.by_phase.map((o) => [o.phase, fmt(o.ms, 1), pct(o.share)])));
  out.push('');
  out.push(table(['heaviest matmuls', 'op', 'shapes', 'ms', 'GFLOP/s'], p.heaviest_matmuls.map((x) => [x.node.slice(0, 60), x.op, x.shapes, fmt(x.ms, 1), fmt(x.gflops, 1)])));
  out.push('');
  out.push(table(['heaviest nodes', 'op', 'ms'], p.top_nodes.map((x) => [x.node.slice(0, 70), x.op, fmt(x.ms, 1)])));
  return out.join('\n');
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const opts: ProfileOptions = { config: 'small', runs: 3 };
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${f} needs a value`);
      return x;
    };
    if (f === '--config') opts.config = v();
    else if (f === '--runs') opts.runs = Number(v());
    else if (f === '--level') opts.level = v() as OptimizationLevel;
    else if (f === '--threads') opts.threads = Number(v());
    else if (f === '--keep') opts.keep = v();
    else if (f === '--json') json = true;
    else throw new Error(`unknown option ${f}`);
  }
  const p = await profileStep(opts);
  process.stdout.write((json ? JSON.stringify(p, null, 2) : formatProfile(p)) + '\n');
  return 0;
}

if (require.main === module) {
  main().then(
    (c) => (process.exitCode = c),
    (e) => {
      process.stderr.write(`profile: ${e instanceof Error ? e.stack : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
