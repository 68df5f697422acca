/**
 * Shared by the sweep end-to-end tests: a throwaway project with a micro sweep spec, the CLI as a
 * child process, waiting on files, and the bit-for-bit comparison of a member with the same member
 * trained alone.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TIMING_FIELDS, fromJsonLine, RUN_FILES } from '../../src/runs/layout';
import { readSweepState, memberRunDir, type SweepState } from '../../src/sweep/layout';
import { readOutcome } from '../../src/sweep/state';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const CLI = path.join(ROOT, 'bin', 'chamlab.js');

/** A micro model (d 32, seq 32): each step takes milliseconds; the sweep machinery is what is tested. */
export const MICRO = `name: NAME
model: { vocab: { text: 320, image: 16 }, d_model: 32, layers: 2, heads: 2, max_seq_len: 32 }
tokenizer: { image: { codebook_size: 16 } }
data:
  seq_len: 32
  sources: { t: { kind: text, origin: ORIGIN } }
  stages: [{ name: s, share: 1, weights: { t: 1 } }]
optimizer: { lr: 1.0e-3, schedule: { warmup: 2, final_lr: "=optimizer.lr / 10" } }
train: { steps: STEPS, batch: 2, eval_every: 20, eval_batches: 1, checkpoint_every: 5, divergence: { loss_above: 12 } }
`;

export interface Project {
  dir: string;
  /** Spec file with the sweep section. */
  file: string;
  /** The same spec without the sweep section (for `chamlab train` of one member). */
  base: string;
  out: string;
  env: NodeJS.ProcessEnv;
}

export function makeProject(opts: { name: string; steps: number; sweep: string; origin?: string; files?: Record<string, string> }): Project {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `chamlab-${opts.name}-`));
  fs.writeFileSync(path.join(dir, 'package.json'), '{"private": true}\n');
  for (const [rel, text] of Object.entries(opts.files ?? {})) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  const base = MICRO.replace('NAME', opts.name).replace('STEPS', String(opts.steps)).replace('ORIGIN', opts.origin ?? '"builtin:moby-dick"');
  fs.writeFileSync(path.join(dir, 'base.yaml'), base);
  fs.writeFileSync(path.join(dir, 'sweep.yaml'), base + opts.sweep);
  const cache = path.join(dir, 'cache');
  return {
    dir,
    file: path.join(dir, 'sweep.yaml'),
    base: path.join(dir, 'base.yaml'),
    out: path.join(dir, 'runs'),
    env: { ...process.env, CHAMLAB_CACHE: cache },
  };
}

export interface CliRun {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** Starts `chamlab ARGS` in the project folder. */
export function cli(p: Project, args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: p.dir, env: { ...p.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (b) => (stdout += b));
  child.stderr!.on('data', (b) => (stderr += b));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

export async function cliDone(p: Project, args: string[], env: NodeJS.ProcessEnv = {}) {
  return cli(p, args, env).done;
}

/** Polls `cond` every 100 ms until it holds (returns its value) or `ms` pass (throws with `what`). */
export async function waitFor<T>(what: string, ms: number, cond: () => T | null | undefined | false): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The project's one sweep folder (<out>/<name>/<hash12> holding sweep.json), once it exists. */
export function sweepDir(p: Project): string | null {
  if (!fs.existsSync(p.out)) return null;
  for (const name of fs.readdirSync(p.out)) {
    for (const h of fs.readdirSync(path.join(p.out, name))) {
      const d = path.join(p.out, name, h);
      if (fs.existsSync(path.join(d, 'sweep.json'))) return d;
    }
  }
  return null;
}

export function state(dir: string): SweepState {
  return readSweepState(dir)!;
}

/** Complete rows in a member's metrics.jsonl right now. */
export function metricRows(dir: string, index: number): number {
  const st = state(dir);
  try {
    const text = fs.readFileSync(path.join(memberRunDir(dir, st.members[index]), RUN_FILES.metrics), 'utf8');
    return text.split('\n').length - 1;
  } catch {
    return 0;
  }
}

function rowsWithoutTiming(file: string, timing: readonly string[]): unknown[] {
  const text = fs.readFileSync(file, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const row = fromJsonLine<Record<string, unknown>>(l);
      for (const k of timing) delete row[k];
      return row;
    });
}

/**
 * Trains member `index` alone with `chamlab train` (the spec without its sweep section, plus the
 * member's overrides, into another folder) and asserts that its run folder has the member's hash and
 * that metrics.jsonl and eval.jsonl equal the sweep's, bit for bit, except the timing fields.
 */
export async function assertSameAsTrainedAlone(p: Project, dir: string, index: number): Promise<void> {
  const m = state(dir).members[index];
  const soloOut = path.join(p.dir, 'solo');
  const sets = Object.entries(m.overrides).flatMap(([k, v]) => ['--set', `${k}=${JSON.stringify(v)}`]);
  const r = await cliDone(p, ['train', p.base, ...sets, '--out', soloOut]);
  assert.equal(r.code, 0, `chamlab train of member ${index} failed:\n${r.stderr}`);
  const solo = path.join(soloOut, path.basename(path.dirname(memberRunDir(dir, m))), m.hash.slice(0, 12));
  assert.ok(fs.existsSync(path.join(solo, RUN_FILES.metrics)), `chamlab train with member ${index}'s overrides did not produce its hash's folder ${solo}`);
  const swept = memberRunDir(dir, m);
  const a = rowsWithoutTiming(path.join(swept, RUN_FILES.metrics), TIMING_FIELDS);
  const b = rowsWithoutTiming(path.join(solo, RUN_FILES.metrics), TIMING_FIELDS);
  assert.ok(a.length > 0);
  assert.deepStrictEqual(a, b, `member ${index}: metrics.jsonl differs from the member trained alone`);
  const ea = rowsWithoutTiming(path.join(swept, RUN_FILES.eval), ['ms']);
  const eb = rowsWithoutTiming(path.join(solo, RUN_FILES.eval), ['ms']);
  assert.deepStrictEqual(ea, eb, `member ${index}: eval.jsonl differs from the member trained alone`);
}

/**
 * Freezes the worker of each member in `indices` (SIGSTOP) as soon as it has written `rows` metric
 * rows, so that a test can interrupt it mid-run however fast the micro model trains; resolves with
 * the frozen pids by member once all are frozen. Continue them with SIGCONT.
 */
export async function freezeWorkers(dir: string, indices: number[], rows: number, ms = 180_000): Promise<Map<number, number>> {
  const frozen = new Map<number, number>();
  await waitFor(`members ${indices.join(', ')} to reach ${rows} steps`, ms, () => {
    for (const i of indices) {
      if (frozen.has(i)) continue;
      const o = readOutcome(dir, i);
      if (o?.status !== 'running' || metricRows(dir, i) < rows) continue;
      try {
        process.kill(o.pid, 'SIGSTOP');
        frozen.set(i, o.pid);
      } catch {
        // it exited meanwhile (finished): the test's own assertions will say so
      }
    }
    return frozen.size === indices.length;
  });
  return frozen;
}

/** Whether a process is alive. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs a shell command with a timeout; its stdout (throws on failure). */
export function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 20_000): string {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', timeout: timeoutMs });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}
