/**
 * `npm run bench`: chamlab against PyTorch eager on the same model, same weights, same batches, same
 * thread count, in one run.
 *
 *   node dist/bench/run.js [--config tiny,small|none] [--steps N] [--warmup W] [--block K] [--json]
 *                          [--device cpu|webgpu] [--torch-device cpu|cuda] [--threads N]
 *                          [--no-torch] [--no-compile] [--no-peak] [--no-generate] [--markdown] [--save FILE.json]
 *                          [--from FILE.json]   (print a saved result, e.g. with --markdown)
 *
 * Method (these machines are shared and noisy, so the design is about fair comparison):
 * - Both sides start from chamlab's seeded initial weights (written as safetensors for PyTorch) and
 *   train on the same token batches in the same order, so their losses agree step by step; the
 *   table's `loss Δ` column is that check (a benchmark of two different models would be worthless).
 * - Warm-up steps (session/allocator warm-up, first-touch of buffers) run first and are not timed.
 * - Timed steps alternate in blocks of K (chamlab K steps, PyTorch K steps, ...), so a burst of load
 *   from another process hits both sides alike; tokens/s is batch*seq / median step time.
 * - Achieved GFLOP/s uses src/model/size.ts's training FLOPs per token (3 x forward, full T x T
 *   attention as computed); the matmul peak is the best of a 2048^3 float32 matmul in PyTorch and in
 *   onnxruntime, measured in the same run, before and after the training steps.
 * - The step breakdown splits chamlab's step into graph run (ORT session.run), host work (feeds,
 *   state swap) and data (the batch provider).
 * - Process CPU time per step (all threads) is reported beside wall time for both sides: on a shared
 *   machine it excludes the waiting for a core, so its ratio is the steadier comparison.
 * - GPU (`--device webgpu --torch-device cuda`, see scripts/gpu/bench.sh): the same, chamlab's state resident
 *   on the GPU; PyTorch falls back to the CPU with a note when it has no CUDA device.
 *
 * `--json` prints {"machine", "peak_gflops", "rows": [{config, d_model, layers, heads, kv_heads, ffn,
 * vocab, batch, seq_len, chamlab_tokens_per_s, pytorch_tokens_per_s, ratio, gflops, ...}], ...} on
 * stdout; progress goes to stderr. Use `npm run --silent bench -- --json` so npm's banner stays out.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import { modelDims } from '../src/model/config';
import { countParams, flopsPerToken } from '../src/model/size';
import type { Backend } from '../src/runtime/device';
import { startChamlab, tempDir, type StepTiming } from './chamlab';
import { compileTimes, shippedExperiments, type CompileTime } from './compile-times';
import { benchSpec, configNamed, type BenchConfig } from './configs';
import { machineInfo, type MachineInfo } from './machine';
import { ortMatmulPeak } from './peak';
import { fmt, mdTable, median, table } from './stats';
import { benchGeneration, formatGeneration, type GenerationRow } from './generate';
import { pythonWithTorch, TorchWorker } from './torch';

export interface BenchArgs {
  configs: string[];
  /** Timed steps per side (default per config, see DEFAULT_STEPS). */
  steps: number | null;
  warmup: number;
  block: number;
  json: boolean;
  markdown: boolean;
  /** Also write the JSON result to this file (for RESULTS.md and later comparison). */
  save: string | null;
  /** Print a result saved with --save instead of measuring (e.g. with --markdown for RESULTS.md). */
  from: string | null;
  device: Backend;
  torchDevice: 'cpu' | 'cuda' | null;
  threads: number;
  torch: boolean;
  compile: boolean;
  peak: boolean;
  /** Also time generation (KV cache vs full forward per token; bench/generate.ts) on the CPU configs. */
  generate: boolean;
  /** Matmul size for the peak; null: 2048 on the CPU, 8192 on a CUDA GPU (2048^3 is too small to load one). */
  peakN: number | null;
}

/** Timed steps per side when --steps is not given: enough for a median, short enough for CI-less runs. */
const DEFAULT_STEPS: Record<string, number> = { micro: 4, tiny: 12, small: 10, gpu: 10 };

export function parseArgs(argv: string[]): BenchArgs {
  const a: BenchArgs = {
    configs: ['tiny', 'small'],
    steps: null,
    // Three: the trainer double-buffers its state on the CPU, so the first two steps each fault in
    // a fresh set of parameter-sized buffers (measured: ~1.5 s of system time per step on tiny).
    warmup: 3,
    block: 2,
    json: false,
    markdown: false,
    save: null,
    from: null,
    device: 'cpu',
    torchDevice: null,
    threads: os.availableParallelism(),
    torch: true,
    compile: true,
    peak: true,
    generate: true,
    peakN: null,
  };
  const value = (i: number, flag: string) => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value`);
    return v;
  };
  const int = (v: string, flag: string, minimum: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < minimum) throw new Error(`${flag} must be an integer >= ${minimum}, got '${v}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    switch (f) {
      case '--config':
        // `--config none`: no training comparison, e.g. only the compile times.
        a.configs = value(i++, f).split(',').filter((c) => c && c !== 'none');
        a.configs.forEach(configNamed);
        break;
      case '--steps':
        a.steps = int(value(i++, f), f, 1);
        break;
      case '--warmup':
        a.warmup = int(value(i++, f), f, 0);
        break;
      case '--block':
        a.block = int(value(i++, f), f, 1);
        break;
      case '--threads':
        a.threads = int(value(i++, f), f, 1);
        break;
      case '--peak-n':
        a.peakN = int(value(i++, f), f, 64);
        break;
      case '--device': {
        const d = value(i++, f);
        if (d !== 'cpu' && d !== 'webgpu') throw new Error(`--device is cpu or webgpu, got '${d}'`);
        a.device = d;
        break;
      }
      case '--torch-device': {
        const d = value(i++, f);
        if (d !== 'cpu' && d !== 'cuda') throw new Error(`--torch-device is cpu or cuda, got '${d}'`);
        a.torchDevice = d;
        break;
      }
      case '--json':
        a.json = true;
        break;
      case '--markdown':
        a.markdown = true;
        break;
      case '--save':
        a.save = value(i++, f);
        break;
      case '--from':
        a.from = value(i++, f);
        break;
      case '--no-torch':
        a.torch = false;
        break;
      case '--no-compile':
        a.compile = false;
        break;
      case '--no-peak':
        a.peak = false;
        break;
      case '--no-generate':
        a.generate = false;
        break;
      case '--help':
      case '-h':
        process.stdout.write(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 6).map((l) => l.replace(/^ \* ?/, '')).join('\n') + '\n');
        process.exit(0);
      // eslint-disable-next-line no-fallthrough
      default:
        throw new Error(`unknown option '${f}' (see --help)`);
    }
  }
  return a;
}

export interface BenchRow {
  config: string;
  d_model: number;
  layers: number;
  heads: number;
  kv_heads: number;
  ffn: number;
  vocab: number;
  batch: number;
  seq_len: number;
  params: number;
  device: string;
  torch_device: string | null;
  chamlab_tokens_per_s: number;
  pytorch_tokens_per_s: number | null;
  ratio: number | null;
  /** chamlab's achieved training GFLOP/s (model FLOPs / median step time). */
  gflops: number;
  pytorch_gflops: number | null;
  /** gflops / peak_gflops (null without a peak). */
  fraction_of_peak: number | null;
  train_flops_per_token: number;
  timed_steps: number;
  warmup_steps: number;
  chamlab_step_ms: number[];
  pytorch_step_ms: number[];
  /** Median process CPU time per step, all threads (ms): the work, without the waiting for a core. */
  chamlab_cpu_ms: number;
  pytorch_cpu_ms: number | null;
  /** pytorch_cpu_ms / chamlab_cpu_ms: the ratio on CPU time, robust to load from other processes. */
  cpu_ratio: number | null;
  /** Largest |chamlab loss - PyTorch loss| over the steps both ran: the same-model check. */
  max_loss_diff: number | null;
  first_loss: number;
  last_loss: number;
  breakdown_ms: { wall: number; graph: number; host: number; data: number };
  graph_build_s: number;
  session_create_s: number;
}

export interface BenchResult {
  machine: MachineInfo;
  peak_gflops: number | null;
  peak: { ort?: { gflops_best: number; gflops_median: number }; torch?: { gflops_best: number; gflops_median: number }; n: number };
  settings: { threads: number; warmup: number; block: number; device: Backend; torch_device: string | null; vocab_note: string };
  rows: BenchRow[];
  compile: CompileTime[];
  generation?: GenerationRow[];
  notes: string[];
}

function projectRoot(): string {
  let d = __dirname;
  for (let i = 0; i < 4; i++) {
    if (fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'experiments'))) return d;
    d = path.dirname(d);
  }
  return process.cwd();
}

const log = (args: BenchArgs, msg: string) => {
  // Progress goes to stderr so that `--json` output on stdout stays machine-readable.
  if (!args.json || process.env.CHAMLAB_BENCH_VERBOSE) process.stderr.write(msg + '\n');
};

async function peaks(args: BenchArgs, torch: TorchWorker | null, torchDevice: 'cpu' | 'cuda', into: BenchResult['peak']): Promise<void> {
  const n = into.n;
  // The ORT peak is measured on the CPU only: on WebGPU a single MatMul's time is dominated by the
  // copy of its result back to the host, which is not what a peak means.
  if (args.device === 'cpu') {
    const o = await ortMatmulPeak(n, 6, 'cpu');
    if (!into.ort || o.gflops_best > into.ort.gflops_best) into.ort = { gflops_best: o.gflops_best, gflops_median: o.gflops_median };
  }
  if (torch) {
    const t = await torch.matmul(n, 6, torchDevice);
    if (!into.torch || t.gflops_best > into.torch.gflops_best) into.torch = { gflops_best: t.gflops_best, gflops_median: t.gflops_median };
  }
}

async function benchConfig(args: BenchArgs, cfg: BenchConfig, torch: TorchWorker | null, torchDevice: 'cpu' | 'cuda', notes: string[]): Promise<BenchRow> {
  const steps = args.steps ?? DEFAULT_STEPS[cfg.name] ?? 6;
  const total = args.warmup + steps;
  const spec = benchSpec(cfg, total);
  const m = modelDims(spec.model);
  const overrides: InferenceSession.SessionOptions | undefined =
    args.device === 'cpu' && args.threads !== os.availableParallelism() ? { intraOpNumThreads: args.threads } : undefined;
  log(args, `[${cfg.name}] building the train step and the session ...`);
  const ch = await startChamlab(spec, { device: args.device, steps: total, sessionOverrides: overrides });
  const dir = tempDir('chamlab-bench-');
  const chamlab: StepTiming[] = [];
  const chamlabLoss: number[] = [];
  const torchMs: number[] = [];
  const torchCpu: number[] = [];
  const torchLoss: number[] = [];
  try {
    if (torch) {
      const files = ch.exportForTorch(dir);
      const o = spec.optimizer;
      await torch.setup({
        ...files,
        steps: total,
        batch: cfg.batch,
        seq: cfg.seq,
        lr: o.lr,
        betas: [o.betas[0], o.betas[1]],
        eps: o.eps,
        weight_decay: o.weight_decay,
        grad_clip: o.grad_clip,
        z_loss: spec.model.z_loss,
        decay: ch.decayed,
        device: torchDevice,
      });
    }
    log(args, `[${cfg.name}] warm-up: ${args.warmup} steps each`);
    for (let i = 0; i < args.warmup; i++) chamlabLoss.push((await ch.step()).loss);
    if (torch && args.warmup > 0) torchLoss.push(...(await torch.steps(args.warmup)).loss);
    let done = 0;
    while (done < steps) {
      const k = Math.min(args.block, steps - done);
      for (let i = 0; i < k; i++) {
        const t = await ch.step();
        chamlab.push(t);
        chamlabLoss.push(t.loss);
      }
      if (torch) {
        const r = await torch.steps(k);
        torchMs.push(...r.ms);
        torchCpu.push(...r.cpu_ms);
        torchLoss.push(...r.loss);
      }
      done += k;
      const last = chamlab.length - 1;
      log(args, `[${cfg.name}] ${done}/${steps}: chamlab ${fmt(chamlab[last].wall)} ms (sys ${fmt(chamlab[last].sys)}, ${chamlab[last].faults} faults)${torch ? `, pytorch ${fmt(torchMs[torchMs.length - 1])} ms` : ''}, loss ${chamlab[last].loss.toFixed(4)}`);
    }
  } finally {
    await ch.release();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const tokens = cfg.batch * cfg.seq;
  const fpt = flopsPerToken(m, cfg.seq).train_step;
  const wall = median(chamlab.map((t) => t.wall));
  const chTps = (tokens * 1000) / wall;
  const ptTps = torch ? (tokens * 1000) / median(torchMs) : null;
  const common = Math.min(chamlabLoss.length, torchLoss.length);
  let maxDiff: number | null = null;
  if (torch && common > 0) {
    maxDiff = 0;
    for (let i = 0; i < common; i++) maxDiff = Math.max(maxDiff, Math.abs(chamlabLoss[i] - torchLoss[i]));
    if (!(maxDiff < 1e-2)) notes.push(`${cfg.name}: chamlab and PyTorch losses differ by up to ${maxDiff.toExponential(2)}: check that both train the same model`);
  }
  return {
    config: cfg.name,
    d_model: m.d,
    layers: m.layers,
    heads: m.heads,
    kv_heads: m.kvHeads,
    ffn: m.ffn,
    vocab: m.vocab,
    batch: cfg.batch,
    seq_len: cfg.seq,
    params: countParams(m).total,
    device: args.device,
    torch_device: torch ? torchDevice : null,
    chamlab_tokens_per_s: chTps,
    pytorch_tokens_per_s: ptTps,
    ratio: ptTps ? chTps / ptTps : null,
    gflops: (chTps * fpt) / 1e9,
    pytorch_gflops: ptTps ? (ptTps * fpt) / 1e9 : null,
    fraction_of_peak: null,
    train_flops_per_token: fpt,
    timed_steps: steps,
    warmup_steps: args.warmup,
    chamlab_step_ms: chamlab.map((t) => t.wall),
    pytorch_step_ms: torchMs,
    chamlab_cpu_ms: median(chamlab.map((t) => t.cpu)),
    pytorch_cpu_ms: torch ? median(torchCpu) : null,
    cpu_ratio: torch ? median(torchCpu) / median(chamlab.map((t) => t.cpu)) : null,
    max_loss_diff: maxDiff,
    first_loss: chamlabLoss[0],
    last_loss: chamlabLoss[chamlabLoss.length - 1],
    breakdown_ms: {
      wall,
      graph: median(chamlab.map((t) => t.graph)),
      host: median(chamlab.map((t) => t.host)),
      data: median(chamlab.map((t) => t.data)),
    },
    graph_build_s: ch.buildSeconds,
    session_create_s: ch.sessionSeconds,
  };
}

export async function runBench(args: BenchArgs): Promise<BenchResult> {
  const machine = machineInfo();
  const notes: string[] = [];
  let torch: TorchWorker | null = null;
  let torchDevice: 'cpu' | 'cuda' = args.torchDevice ?? (args.device === 'webgpu' ? 'cuda' : 'cpu');
  if (args.torch) {
    const py = pythonWithTorch();
    if ('error' in py) notes.push(`PyTorch side skipped: ${py.error}`);
    else {
      torch = TorchWorker.start(py.python, args.threads);
      let info = await torch.info(torchDevice);
      if (torchDevice === 'cuda' && !info.cuda_available) {
        notes.push('PyTorch has no CUDA device here: its side ran on the CPU (a functional check of the script, not a GPU comparison)');
        torchDevice = 'cpu';
        info = await torch.info('cpu');
      }
      machine.torch = info.torch;
      machine.torch_threads = info.threads;
      machine.torch_blas = (info.libblas ?? info.blas) + (info.openblas_core ? `, ${info.openblas_core} kernels` : '');
      if (info.device_name) machine.gpu = info.device_name;
      if (torchDevice === 'cpu' && info.libblas && /\/blas\/libblas/.test(info.libblas))
        notes.push(`PyTorch uses the reference BLAS (${info.libblas}), which is ~50x slower than OpenBLAS: install libopenblas0-pthread for a fair baseline`);
    }
  }
  const result: BenchResult = {
    machine,
    peak_gflops: null,
    peak: { n: args.peakN ?? (torch && torchDevice === 'cuda' ? 8192 : 2048) },
    settings: {
      threads: args.threads,
      warmup: args.warmup,
      block: args.block,
      device: args.device,
      torch_device: torch ? torchDevice : null,
      vocab_note: 'vocab = text + image codes (4096 + 512 = 4608 for tiny/small/gpu)',
    },
    rows: [],
    compile: [],
    notes,
  };
  try {
    if (args.peak) {
      log(args, `matmul peak (${result.peak.n}^3 float32) ...`);
      await peaks(args, torch, torchDevice, result.peak);
    }
    for (const name of args.configs) result.rows.push(await benchConfig(args, configNamed(name), torch, torchDevice, notes));
    if (args.peak) await peaks(args, torch, torchDevice, result.peak);
    if (args.generate && args.device === 'cpu') result.generation = await benchGeneration(args.configs, { threads: args.threads, log: (l) => log(args, l) });
  } finally {
    await torch?.quit();
  }
  const candidates = [result.peak.ort?.gflops_best, result.peak.torch?.gflops_best].filter((x): x is number => x !== undefined);
  result.peak_gflops = candidates.length ? Math.max(...candidates) : null;
  for (const r of result.rows) r.fraction_of_peak = result.peak_gflops ? r.gflops / result.peak_gflops : null;
  if (args.compile) {
    result.compile = compileTimes(shippedExperiments(projectRoot()), (f) => log(args, `compiling ${path.basename(f)} ...`));
  }
  return result;
}

export function formatResult(r: BenchResult, markdown = false): string {
  const t = markdown ? mdTable : table;
  const m = r.machine;
  const out: string[] = [];
  out.push(`${m.date}  ${m.cpu}, ${m.cores} cores, ${m.memory_gib} GiB; load ${m.loadavg_1m} at start; commit ${m.commit}`);
  out.push(
    `node ${m.node}, onnxruntime-node ${m.onnxruntime_node}` +
      (m.torch ? `, torch ${m.torch} (${m.torch_threads} threads, BLAS ${m.torch_blas})` : '') +
      (m.gpu ? `, GPU ${m.gpu}` : ''),
  );
  const pk = r.peak;
  const peakParts = [pk.ort ? `onnxruntime ${fmt(pk.ort.gflops_best)} GFLOP/s` : '', pk.torch ? `PyTorch ${fmt(pk.torch.gflops_best)} GFLOP/s` : ''].filter(Boolean);
  out.push(
    peakParts.length
      ? `matmul peak ${pk.n}^3 fp32 (best of runs): ${peakParts.join(', ')}${r.peak_gflops ? ` -> peak ${fmt(r.peak_gflops)} GFLOP/s` : ''}`
      : 'matmul peak: not measured',
  );
  out.push(`chamlab on ${r.settings.device}, PyTorch eager fp32 on ${r.settings.torch_device ?? '(not run)'}; ${r.settings.threads} CPU threads both sides, ${r.settings.warmup} warm-up steps, blocks of ${r.settings.block} interleaved; ${r.settings.vocab_note}; QK-Norm on`);
  if (markdown) for (let i = 0; i < out.length; i++) out[i] = `- ${out[i]}`;
  if (r.rows.length) {
  out.push('');
  out.push(
    t(
      ['config', 'd', 'L', 'H/KV', 'ffn', 'vocab', 'B x T', 'params', 'chamlab tok/s', 'PyTorch tok/s', 'ratio', 'GFLOP/s', 'PyTorch GFLOP/s', '% peak', 'loss Δ'],
      r.rows.map((x) => [
        x.config,
        x.d_model,
        x.layers,
        `${x.heads}/${x.kv_heads}`,
        x.ffn,
        x.vocab,
        `${x.batch} x ${x.seq_len}`,
        `${(x.params / 1e6).toFixed(1)}M`,
        fmt(x.chamlab_tokens_per_s),
        fmt(x.pytorch_tokens_per_s),
        x.ratio === null ? '-' : `${x.ratio.toFixed(2)}x`,
        fmt(x.gflops, 1),
        fmt(x.pytorch_gflops, 1),
        x.fraction_of_peak === null ? '-' : `${(100 * x.fraction_of_peak).toFixed(1)}%`,
        x.max_loss_diff === null ? '-' : x.max_loss_diff.toExponential(1),
      ]),
    ),
  );
  out.push('');
  out.push('chamlab step-time breakdown and CPU time (medians, ms; CPU time = all threads of the process, i.e. the work without the waiting for a core):' + (markdown ? '\n' : ''));
  out.push(
    t(
      ['config', 'step', 'graph run', 'host work', 'data', 'CPU ms/step', 'PyTorch step', 'PyTorch CPU ms/step', 'CPU-time ratio', 'graph build (s)', 'session create (s)', 'timed steps'],
      r.rows.map((x) => [
        x.config,
        fmt(x.breakdown_ms.wall, 1),
        fmt(x.breakdown_ms.graph, 1),
        fmt(x.breakdown_ms.host, 2),
        fmt(x.breakdown_ms.data, 3),
        fmt(x.chamlab_cpu_ms),
        fmt(x.pytorch_step_ms.length ? median(x.pytorch_step_ms) : null, 1),
        fmt(x.pytorch_cpu_ms),
        x.cpu_ratio === null ? '-' : `${x.cpu_ratio.toFixed(2)}x`,
        fmt(x.graph_build_s, 2),
        fmt(x.session_create_s, 2),
        x.timed_steps,
      ]),
    ),
  );
  }
  if (r.compile.length) {
    out.push('');
    out.push('compile time of the shipped experiments (train step + eval + forward graphs, ONNX files, manifest):' + (markdown ? '\n' : ''));
    out.push(
      t(
        ['experiment', 'params', 'mode', 'seconds', 'train_step.onnx'],
        r.compile.map((c) => [
          c.experiment,
          c.params ? (c.params >= 1e9 ? `${(c.params / 1e9).toFixed(2)}B` : `${(c.params / 1e6).toFixed(2)}M`) : '-',
          c.error ? `FAILED (see notes)` : c.shapes_only ? 'shapes only' : 'with weights',
          fmt(c.seconds, 2),
          c.train_step_bytes ? `${(c.train_step_bytes / 2 ** 20).toFixed(1)} MiB` : '-',
        ]),
      ),
    );
  }
  if (r.generation?.length) out.push('', formatGeneration(r.generation, markdown));
  const notes = [...r.notes, ...r.compile.filter((c) => c.error).map((c) => `compile of ${c.experiment} failed: ${c.error}`)];
  if (notes.length) {
    out.push('');
    for (const n of notes) out.push(`note: ${n}`);
  }
  return out.join('\n');
}

async function main(): Promise<number> {
  // The sweep row lives in bench/sweep.ts: `npm run bench -- --sweep [its options]`.
  if (process.argv.includes('--sweep')) return require('./sweep').main(process.argv.slice(2).filter((a) => a !== '--sweep'));
  // The run layer's overhead and checkpoint times live in bench/runs.ts: `npm run bench -- --runs [its options]`.
  if (process.argv.includes('--runs')) return require('./runs').main(process.argv.slice(2).filter((a) => a !== '--runs'));
  let args: BenchArgs;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`bench: ${(e as Error).message}\n`);
    return 2;
  }
  const r = args.from ? (JSON.parse(fs.readFileSync(args.from, 'utf8')) as BenchResult) : await runBench(args);
  if (args.save) fs.writeFileSync(args.save, JSON.stringify(r, null, 2) + '\n');
  if (args.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  else process.stdout.write(formatResult(r, args.markdown) + '\n');
  return 0;
}

if (require.main === module) {
  main().then(
    (code) => (process.exitCode = code),
    (e) => {
      process.stderr.write(`bench: ${e instanceof Error ? e.stack : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
