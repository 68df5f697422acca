/**
 * Client of bench/torch_worker.py: one long-lived Python process per benchmark run, JSON lines both
 * ways. It is long-lived so that chamlab and PyTorch steps can be interleaved in blocks (see run.ts).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';

/**
 * Debian's python3-torch lives under /usr/bin/python3; a pyenv or venv `python3` first on PATH
 * usually has no torch. CHAMLAB_PYTHON overrides.
 */
export function pythonWithTorch(): { python: string } | { error: string } {
  const candidates = [process.env.CHAMLAB_PYTHON, '/usr/bin/python3', 'python3'].filter((c): c is string => !!c);
  const tried: string[] = [];
  for (const py of candidates) {
    const r = spawnSync(py, ['-c', 'import torch, numpy'], { encoding: 'utf8', timeout: 120_000 });
    if (r.status === 0) return { python: py };
    tried.push(`${py}: ${(r.error?.message ?? r.stderr ?? '').trim().split('\n').pop()}`);
  }
  return { error: `no Python with torch and numpy (tried ${tried.join('; ')}); install Debian's python3-torch or set CHAMLAB_PYTHON` };
}

/** The source tree's bench/ folder (the .py file is not copied to dist/ by tsc). */
export function benchSourceDir(): string {
  let d = __dirname;
  for (let i = 0; i < 4; i++) {
    if (fs.existsSync(path.join(d, 'bench', 'torch_worker.py'))) return path.join(d, 'bench');
    if (fs.existsSync(path.join(d, 'torch_worker.py'))) return d;
    d = path.dirname(d);
  }
  throw new Error(`bench/torch_worker.py not found above ${__dirname}`);
}

export interface TorchInfo {
  torch: string;
  numpy: string;
  python: string;
  threads: number;
  interop_threads: number;
  blas: string;
  libblas?: string;
  /** OpenBLAS's kernel family for this CPU (Cooperlake, SkylakeX, Haswell, ...). */
  openblas_core?: string;
  cuda_available: boolean;
  device_name?: string;
  cuda?: string;
}

export interface TorchSetup {
  config: string;
  weights: string;
  batches: string;
  steps: number;
  batch: number;
  seq: number;
  lr: number;
  betas: [number, number];
  eps: number;
  weight_decay: number;
  grad_clip: number;
  z_loss: number;
  decay: string[];
  device: 'cpu' | 'cuda';
}

/**
 * The worker's environment. OPENBLAS_CORETYPE is removed so that OpenBLAS picks its kernels for the
 * CPU it runs on: some machines pin it (this project's build VMs set Haswell, i.e. AVX2, on an
 * AVX-512 CPU), which halves PyTorch's matmul speed (2048^3 at 2 threads, measured: 188 GFLOP/s
 * pinned, 360 detected) and would make the baseline unfair. CHAMLAB_OPENBLAS_CORETYPE pins it on purpose.
 */
export function torchWorkerEnv(threads: number, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, CHAMLAB_BENCH_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads), PYTHONUNBUFFERED: '1' };
  delete env.OPENBLAS_CORETYPE;
  if (base.CHAMLAB_OPENBLAS_CORETYPE) env.OPENBLAS_CORETYPE = base.CHAMLAB_OPENBLAS_CORETYPE;
  return env;
}

export class TorchWorker {
  private readonly lines: AsyncIterableIterator<string>;
  private stderr = '';

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    this.lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    child.stderr.on('data', (b: Buffer) => {
      // Keep the tail only: enough to explain a crash.
      this.stderr = (this.stderr + b.toString()).slice(-4000);
    });
  }

  static start(python: string, threads: number): TorchWorker {
    const child = spawn(python, [path.join(benchSourceDir(), 'torch_worker.py')], {
      // Same thread count as onnxruntime: torch's OpenMP pool (set in the worker) and OpenBLAS's own
      // pthread pool, which Debian's torch (BLAS_INFO=generic) does not size itself and which reads
      // its size from the environment when the library loads.
      env: torchWorkerEnv(threads),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return new TorchWorker(child);
  }

  async request<T>(req: Record<string, unknown>): Promise<T> {
    this.child.stdin.write(JSON.stringify(req) + '\n');
    const next = await this.lines.next();
    if (next.done) throw new Error(`the PyTorch worker exited (${this.child.exitCode}): ${this.stderr.trim()}`);
    const out = JSON.parse(next.value) as { ok: boolean; error?: string; trace?: string } & T;
    if (!out.ok) throw new Error(`PyTorch worker, ${String(req.op)}: ${out.error}\n${out.trace ?? ''}`);
    return out;
  }

  info(device: 'cpu' | 'cuda'): Promise<TorchInfo> {
    return this.request<TorchInfo>({ op: 'info', device });
  }

  matmul(n: number, reps: number, device: 'cpu' | 'cuda'): Promise<{ gflops_best: number; gflops_median: number }> {
    return this.request({ op: 'matmul', n, reps, device });
  }

  setup(s: TorchSetup): Promise<{ params: number }> {
    return this.request({ op: 'setup', ...s });
  }

  steps(n: number): Promise<{ ms: number[]; cpu_ms: number[]; loss: number[]; step: number }> {
    return this.request({ op: 'steps', n });
  }

  async quit(): Promise<void> {
    try {
      await this.request({ op: 'quit' });
    } catch {
      // already gone
    }
    this.child.kill();
  }
}
