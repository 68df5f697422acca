/**
 * `await train(...)` in a real kernel: one output updated in place (display_data, then
 * update_display_data for the same display id, with the report's loss chart), no line per step,
 * the run in a normal run folder; a kernel interrupt during training leaves an interrupted run
 * with a checkpoint, which `chamlab train` resumes to the end; and a run the CLI interrupted is
 * continued by the same spec in a notebook, then found finished (not retrained).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { drive, installTestKernel, liveSpec, REPO, requireJupyter, streams } from './helpers/notebook';
import { readRun } from '../src/runs/read';

const CLI = path.join(REPO, 'bin', 'chamlab.js');

const SPEC = (steps: number) => liveSpec('live', steps);

function folder(steps: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-train-'));
  fs.writeFileSync(path.join(dir, '.chamlab-root'), '');
  fs.writeFileSync(path.join(dir, 'live.yaml'), SPEC(steps));
  return dir;
}

test('train shows one live output: display_data then updates of the same display id', (t) => {
  if (!requireJupyter(t)) return;
  const { env } = installTestKernel();
  const dir = folder(60);
  const runs = path.join(dir, 'my-runs');
  const [, cell] = drive(dir, { ...env, CHAMLAB_RUNS_DIR: runs }, [
    { code: "import { spec, train } from 'chamlab/kernel';\nimport * as fs from 'node:fs';\nconst s = spec`" + SPEC(60) + '`;' },
    { code: "const run = await train(s, { refreshMs: 200 });\nconsole.log('status', run.summary.status, run.summary.step, run.dir);", timeout: 600 },
  ]);
  assert.equal(cell.reply.status, 'ok', streams(cell, 'stderr'));
  const displays = cell.messages.filter((m) => m.type === 'display_data' || m.type === 'update_display_data');
  const live = displays.filter((m) => m.content.transient?.display_id);
  const ids = new Set(live.map((m) => m.content.transient.display_id));
  assert.equal(ids.size, 1, 'one live output');
  assert.equal(live[0].type, 'display_data');
  assert.ok(live.slice(1).every((m) => m.type === 'update_display_data'));
  assert.ok(live.length >= 3, `the output was updated while training (${live.length} messages)`);
  // The plotly.js bundle, when sent, is an output of its own (an updated output would lose it).
  const others = displays.filter((m) => !m.content.transient?.display_id);
  assert.ok(others.length <= 1);
  for (const o of others) assert.match(o.content.data['text/html'], /data-chamlab-plotly=/);
  const last = live.at(-1)!.content.data;
  assert.match(last['text/plain'], /step 60\/60 · loss \d+\.\d+ .*tokens\/s.* finished/);
  const fig = last['application/vnd.plotly.v1+json'];
  assert.ok(fig && Array.isArray(fig.data) && fig.data.length >= 1, 'the last update holds the loss chart');
  assert.match(fig.layout.title.text, /step 60\/60/);
  assert.match(last['text/html'], /<progress max="60" value="60"/);
  assert.match(last['text/html'], /class="chamlab-plot"/);
  // Updates during training carried the chart of the steps so far.
  const midway = live.filter((m) => m.content.data['application/vnd.plotly.v1+json']);
  assert.ok(midway.length >= 2, 'the chart was redrawn while training');
  // No line per step: stdout holds only the cell's own print.
  const out = streams(cell, 'stdout');
  assert.match(out, /^status finished 60 /);
  const runDir = out.trim().split(' ').at(-1)!;
  assert.equal(path.dirname(path.dirname(runDir)), runs, 'the run folder is under $CHAMLAB_RUNS_DIR');
  const rec = readRun(runDir);
  assert.equal(rec.summary!.status, 'finished');
  assert.equal(rec.metrics.length, 60);
});

test('a kernel interrupt during train checkpoints an interrupted run that `chamlab train` resumes to the end', (t) => {
  if (!requireJupyter(t)) return;
  const { env } = installTestKernel();
  const steps = 400;
  const dir = folder(steps);
  const [, cell, after] = drive(dir, { ...env, CHAMLAB_RUNS_DIR: '' }, [
    { code: "import { spec, train } from 'chamlab/kernel';\nconst s = spec`" + SPEC(steps) + '`;' },
    { code: 'await train(s, { refreshMs: 100 });', timeout: 600, interrupt_when: 'tokens/s' },
    { code: "console.log('kernel still here');" },
  ]);
  assert.ok(cell.messages.some((m) => m.type === '(interrupt sent)'), 'the interrupt was sent');
  assert.equal(cell.reply.status, 'error');
  const err = streams(cell, 'stderr');
  const m = /^interrupted at step (\d+) of 400; (\S+) resumes from its last checkpoint: run this cell again, or in a terminal: chamlab train (\S+) --out (\S+)\n$/.exec(err);
  assert.ok(m, `one line saying how to resume, got: ${JSON.stringify(err)}`);
  const step = Number(m[1]);
  assert.ok(step > 0 && step < steps, `stopped mid-run (step ${step})`);
  assert.match(streams(after, 'stdout'), /kernel still here/);
  const runDir = path.resolve(dir, m[2]);
  const rec = readRun(runDir);
  assert.equal(rec.summary!.status, 'interrupted');
  assert.equal(rec.summary!.step, step);
  assert.equal(rec.metrics.length, step);
  assert.ok(rec.checkpoints.length >= 1, 'a checkpoint was written at the interrupt');
  // The command the message gives, run from the notebook's folder, finishes the same run folder.
  const r = spawnSync(process.execPath, [CLI, 'train', m[3], '--out', m[4]], { cwd: dir, encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  const done = readRun(runDir);
  assert.equal(done.summary!.status, 'finished');
  assert.equal(done.metrics.length, steps);
  assert.deepEqual(
    done.metrics.slice(0, step).map((x) => x.loss),
    rec.metrics.map((x) => x.loss),
  );
});

test('a run the CLI interrupted is continued by the same spec in a notebook, and then found finished', async (t) => {
  if (!requireJupyter(t)) return;
  const { env } = installTestKernel();
  const steps = 400;
  const dir = folder(steps);
  const cliEnv = { ...env, CHAMLAB_RUNS_DIR: '' };
  // chamlab train, stopped with Ctrl-C (SIGINT) once it has trained a few steps.
  const child = spawn(process.execPath, [CLI, 'train', 'live.yaml', '--out', 'runs'], { cwd: dir, env: cliEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const metrics = () => {
    const runs = path.join(dir, 'runs', 'live');
    if (!fs.existsSync(runs)) return 0;
    const f = path.join(runs, fs.readdirSync(runs)[0] ?? '', 'metrics.jsonl');
    return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').length - 1 : 0;
  };
  while (metrics() < 20) {
    if (child.exitCode !== null) assert.fail(`chamlab train ended early: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGINT');
  assert.equal(await exited, 130, stderr);
  const runDir = path.join(dir, 'runs', 'live', fs.readdirSync(path.join(dir, 'runs', 'live'))[0]);
  const stopped = readRun(runDir);
  assert.equal(stopped.summary!.status, 'interrupted');
  assert.ok(stopped.summary!.step < steps);

  const [, cont, again] = drive(dir, cliEnv, [
    { code: "import { train } from 'chamlab/kernel';" },
    { code: "const run = await train('live.yaml');\nconsole.log('skipped', run.skipped, run.summary.status, run.summary.step, run.summary.attempts);", timeout: 600 },
    { code: "const again = await train('live.yaml');\nconsole.log('skipped', again.skipped, again.summary.step);", timeout: 300 },
  ]);
  assert.equal(cont.reply.status, 'ok', streams(cont, 'stderr'));
  assert.match(streams(cont, 'stdout'), new RegExp(`skipped false finished ${steps} 2`));
  const done = readRun(runDir);
  assert.equal(done.metrics.length, steps);
  assert.deepEqual(
    done.metrics.slice(0, stopped.metrics.length).map((x) => x.loss),
    stopped.metrics.map((x) => x.loss),
  );
  assert.equal(again.reply.status, 'ok', streams(again, 'stderr'));
  assert.match(streams(again, 'stdout'), new RegExp(`skipped true ${steps}`));
  const last = again.messages.filter((m) => m.content?.transient?.display_id).at(-1)!.content.data;
  assert.match(last['text/plain'], new RegExp(`live [0-9a-f]{12}: live: finished at step ${steps} of ${steps}`));
  assert.ok(last['application/vnd.plotly.v1+json'].data.length >= 1, 'the finished run is shown with its loss chart');
});
