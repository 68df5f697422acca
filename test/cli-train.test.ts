/**
 * `chamlab train` as a real process: kill -9 at a random step and SIGTERM mid-run both resume to
 * the uninterrupted run's metrics bit for bit; a second process on the same run folder refuses;
 * bad arguments give one line and exit 1; the GPU path (WebGPU on lavapipe in CI) agrees with the
 * CPU over 5 steps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../src/random';
import { readRun, RunLock, RUN_FILES } from '../src/runs';
import { probeWebGpu } from '../src/runtime/device';
import { microProject, withoutTiming } from './helpers/micro-run';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'chamlab.js');
/** Long enough that a kill lands mid-run: about 2-4 s of steps for the micro model. */
const LONG = ['--set', 'train.steps=300', '--set', 'train.checkpoint_every=20', '--set', 'train.eval_every=50'];

function train(args: string[], cwd: string) {
  return spawnSync(process.execPath, [BIN, 'train', ...args], { cwd, encoding: 'utf8', timeout: 300_000 });
}

/** Starts `chamlab train`, waits for the line "step K/..." and sends `signal`; resolves with the exit. */
function trainUntil(args: string[], cwd: string, step: number, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'train', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let sent = false;
    const onData = (d: Buffer) => {
      output += d.toString();
      const m = [...output.matchAll(/^step (\d+)\//gm)].pop();
      if (!sent && m && Number(m[1]) >= step) {
        sent = true;
        child.kill(signal);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('exit', (code, sig) => resolve({ code, signal: sig, output }));
  });
}

let reference: { dir: string; metrics: unknown[]; evals: unknown[] } | undefined;
function referenceRun() {
  if (reference) return reference;
  const p = microProject();
  const r = train([p.spec, '--out', p.out, ...LONG], p.dir);
  assert.equal(r.status, 0, r.stderr);
  const dir = /^results: (.*)$/m.exec(r.stdout)![1];
  const run = readRun(path.resolve(p.dir, dir));
  reference = { dir, metrics: withoutTiming(run.metrics), evals: withoutTiming(run.evals as any[]) };
  assert.equal(run.metrics.length, 300);
  return reference;
}

test('kill -9 at a random step, then the same command: every metric row equals the uninterrupted run', async () => {
  const ref = referenceRun();
  const p = microProject();
  try {
    const at = 10 + Rng.from('kill-9-step').int(200);
    const killed = await trainUntil([p.spec, '--out', p.out, ...LONG], p.dir, at, 'SIGKILL');
    assert.equal(killed.signal, 'SIGKILL');
    const runDir = fs.readdirSync(path.join(p.out, 'micro')).map((d) => path.join(p.out, 'micro', d))[0];
    const before = readRun(runDir);
    assert.equal(before.summary!.status, 'running', 'killed mid-run, so the summary still says running');
    assert.ok(before.metrics.length >= at && before.metrics.length < 300, `killed at step ${before.metrics.length}, target ${at}`);
    assert.ok(fs.existsSync(path.join(runDir, RUN_FILES.lock)), 'the dead process left its lock behind');

    const resumed = train([p.spec, '--out', p.out, ...LONG], p.dir);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, /resuming from step-\d{8}/);
    const after = readRun(runDir);
    assert.equal(after.summary!.status, 'finished');
    assert.equal(after.summary!.attempts, 2);
    assert.deepEqual(withoutTiming(after.metrics), ref.metrics);
    assert.deepEqual(withoutTiming(after.evals as any[]), ref.evals);
  } finally {
    p.cleanup();
  }
});

test('SIGTERM mid-run: finishes the step, checkpoints, status interrupted, exit 143; the rerun is exact', async () => {
  const ref = referenceRun();
  const p = microProject();
  try {
    const stopped = await trainUntil([p.spec, '--out', p.out, ...LONG], p.dir, 50, 'SIGTERM');
    assert.equal(stopped.code, 143, stopped.output);
    assert.match(stopped.output, /SIGTERM: finishing the current step/);
    assert.match(stopped.output, /interrupted at step \d+; run the same command to continue/);
    const runDir = fs.readdirSync(path.join(p.out, 'micro')).map((d) => path.join(p.out, 'micro', d))[0];
    const mid = readRun(runDir);
    assert.equal(mid.summary!.status, 'interrupted');
    const step = mid.summary!.step;
    assert.ok(step >= 50 && step < 300, `stopped at ${step}`);
    assert.equal(mid.summary!.last_checkpoint, `step-${String(step).padStart(8, '0')}`, 'a checkpoint of the very step it stopped at');
    assert.ok(!fs.existsSync(path.join(runDir, RUN_FILES.lock)));

    const resumed = train([p.spec, '--out', p.out, ...LONG], p.dir);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.deepEqual(withoutTiming(readRun(runDir).metrics), ref.metrics);
  } finally {
    p.cleanup();
  }
});

test('a second process on a run folder that is training refuses with one line', () => {
  const p = microProject();
  try {
    const first = train([p.spec, '--out', p.out, '--set', 'train.steps=2'], p.dir);
    assert.equal(first.status, 0, first.stderr);
    const runDir = path.resolve(p.dir, /^results: (.*)$/m.exec(first.stdout)![1]);
    fs.rmSync(path.join(runDir, 'summary.json')); // make it look unfinished
    const held = RunLock.acquire(runDir, RUN_FILES.lock); // this test process is the live owner
    try {
      const second = train([p.spec, '--out', p.out, '--set', 'train.steps=2'], p.dir);
      assert.equal(second.status, 1);
      assert.match(second.stderr, new RegExp(`another process is training in this run folder \\(pid ${process.pid}`));
      assert.equal(second.stderr.trim().split('\n').length, 1, second.stderr);
      assert.doesNotMatch(second.stderr, /at .*\.js:\d+/);
    } finally {
      held.release();
    }
  } finally {
    p.cleanup();
  }
});

test('bad arguments: one line naming what is wrong, exit 1, nothing written', () => {
  const p = microProject();
  try {
    const cases: Array<[string[], RegExp]> = [
      [['no-such.yaml'], /no-such\.yaml: no such spec file/],
      [[p.spec, '--set', 'model.d_model'], /--set|expected path=value|d_model/],
      [[p.spec, '--set', 'model.nope=3'], /nope/],
      [[p.spec, '--device', 'tpu'], /--device: is 'tpu'; expected cpu, gpu or auto/],
      [[p.spec, '--threads', '0'], /--threads/],
      [[p.spec, '--out', path.join(p.spec, 'runs')], /lies under .*micro\.yaml, which is a file, not a folder/],
      [[], /expected one spec file/],
    ];
    for (const [args, want] of cases) {
      const r = train(args, p.dir);
      assert.equal(r.status, 1, `${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
      assert.match(r.stderr, want, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line, got\n${r.stderr}`);
    }
    assert.ok(!fs.existsSync(p.out), 'no run folder was created');
    const help = spawnSync(process.execPath, [BIN, 'train', '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^usage: chamlab train FILE/);
    assert.match(help.stdout, /example:/);
  } finally {
    p.cleanup();
  }
});

test('--device gpu trains through WebGPU and agrees with the CPU over 5 steps', async (t) => {
  const probe = await probeWebGpu();
  if (!probe.available) {
    if (process.env.CI === 'true') assert.fail(`no WebGPU adapter in CI: ${probe.reason} (npm run setup installs lavapipe)`);
    process.stderr.write(`\n*** SKIPPING the GPU run test: no WebGPU adapter (${probe.reason}) ***\n\n`);
    t.skip(probe.reason);
    return;
  }
  const p = microProject();
  try {
    const common = [p.spec, '--out', p.out, '--set', 'train.steps=5', '--set', 'train.eval_every=5'];
    const cpu = train([...common, '--device', 'cpu'], p.dir);
    const gpu = train([...common, '--device', 'gpu'], p.dir);
    assert.equal(cpu.status, 0, cpu.stderr);
    assert.equal(gpu.status, 0, gpu.stderr);
    assert.match(gpu.stderr, /on webgpu: train\.device is gpu/);
    const a = readRun(path.resolve(p.dir, /^results: (.*)$/m.exec(cpu.stdout)![1]));
    const b = readRun(path.resolve(p.dir, /^results: (.*)$/m.exec(gpu.stdout)![1]));
    assert.notEqual(a.dir, b.dir, 'the device is part of the hash: two runs');
    assert.equal(b.summary!.backend, 'webgpu');
    assert.equal(a.metrics.length, 5);
    // float32 on two backends: the same math in a different order; 1e-4 relative over 5 steps
    const tol = 1e-4;
    for (let i = 0; i < 5; i++) {
      for (const k of ['loss', 'ce', 'grad_norm', 'update_ratio', 'layer_rms.1']) {
        const x = a.metrics[i][k] as number;
        const y = b.metrics[i][k] as number;
        assert.ok(Math.abs(x - y) <= tol * Math.abs(x), `step ${i + 1} ${k}: cpu ${x} gpu ${y}`);
      }
    }
    assert.ok(Math.abs(a.evals.at(-1)!.loss - b.evals.at(-1)!.loss) <= tol * a.evals.at(-1)!.loss);
  } finally {
    p.cleanup();
  }
});
