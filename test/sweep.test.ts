/**
 * src/sweep without training: planning and its errors, the sweep folder (created once, refused when
 * another spec wrote it), where a member stands as read from run folders, outcome files and Slurm,
 * the Slurm array syntax, and the sweep lock. The executors are tested end to end in
 * e2e-sweep.test.ts (local) and sweep-slurm.test.ts (a real Slurm cluster).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserErrors, isUserError } from '../dsl';
import { writeFileAtomic } from '../src/files';
import { RUN_FILES, RUN_FORMAT, toJsonLine, type RunSummary } from '../src/runs/layout';
import { memberOutcomeFile, memberRunDir, readSweepState, SWEEP_FILES, type MemberOutcome, type SweepMemberRecord } from '../src/sweep/layout';
import { openSweepFolder, planMember, planSweepInput, readPlan } from '../src/sweep/plan';
import { arraySpec, firstWord, parseArrayTaskId } from '../src/sweep/slurm';
import { memberRecord, sweepProgress, writeState } from '../src/sweep/state';
import { runSweep, sweepStatus } from '../src/sweep/run';

const SPEC = `name: unit
model: { vocab: { text: 320, image: 512 }, d_model: 32, layers: 1, heads: 2, max_seq_len: 32 }
data:
  seq_len: 32
  sources: { t: { kind: text, origin: "builtin:moby-dick" } }
  stages: [{ name: s, share: 1, weights: { t: 1 } }]
optimizer: { lr: 1.0e-3, schedule: { final_lr: "=optimizer.lr / 10" } }
train: { steps: 4, batch: 2, eval_every: 0 }
sweep:
  grid:
    optimizer.lr: [1.0e-3, 3.0e-3]
  seeds: 2
`;

function project(spec = SPEC): { dir: string; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-sweep-unit-'));
  fs.writeFileSync(path.join(dir, 'package.json'), '{}');
  const file = path.join(dir, 'sweep.yaml');
  fs.writeFileSync(file, spec);
  return { dir, file };
}

function summary(over: Partial<RunSummary>): RunSummary {
  const now = new Date().toISOString();
  return {
    format: RUN_FORMAT, name: 'unit', hash: 'x', status: 'running', reason: null, step: 0, steps: 4, tokens: 0, divergence: null,
    warnings: 0, final_eval_loss: null, best_eval_loss: null, best_eval_step: null, tokens_per_s: null, wall_s: 0,
    last_checkpoint: null, chamlab_version: 'test', backend: 'cpu', device: 'cpu', attempts: 1, started_at: now, updated_at: now,
    ...over,
  };
}

function outcome(m: SweepMemberRecord, over: Partial<MemberOutcome>): MemberOutcome {
  return { index: m.index, hash: m.hash, status: 'running', error: null, pid: process.pid, host: os.hostname(), slurm_task: null, started_at: '', ended_at: null, ...over };
}

test('planning: members per position, expressions re-evaluated per member, overrides change the sweep hash', () => {
  const { file } = project();
  const a = planSweepInput(file);
  assert.equal(a.members.length, 4);
  assert.deepEqual(a.members.map((m) => m.overrides), [
    { 'optimizer.lr': 0.001, 'train.seed': 0 },
    { 'optimizer.lr': 0.001, 'train.seed': 1 },
    { 'optimizer.lr': 0.003, 'train.seed': 0 },
    { 'optimizer.lr': 0.003, 'train.seed': 1 },
  ]);
  // final_lr is an expression of the swept lr: each member resolves it for its own lr
  assert.equal(a.members[2].spec.optimizer.schedule.final_lr, 0.0003);
  assert.equal(new Set(a.members.map((m) => m.hash)).size, 4);
  const b = planSweepInput(file, ['train.steps=5']);
  assert.notEqual(a.hash, b.hash);
  // a spec object (what a notebook holds) plans the same members as the file
  const fromObject = planSweepInput({ spec: require('yaml').parse(SPEC), file });
  assert.deepEqual(fromObject.members.map((m) => m.hash), a.members.map((m) => m.hash));
});

test('planning: members that fail to resolve are each reported at their position, and nothing is created', async () => {
  const { dir, file } = project(SPEC.replace('optimizer.lr: [1.0e-3, 3.0e-3]', 'model.heads: [2, 3, 5]'));
  const out = path.join(dir, 'runs');
  await assert.rejects(runSweep(file, { out }), (e: unknown) => {
    assert.ok(e instanceof UserErrors, String(e));
    const lines = e.errors.map((x) => x.message);
    // heads 3 and 5 (2 seeds each: members 2-5) fail; 2 divides 32
    assert.equal(lines.length, 4);
    assert.match(lines[0], /sweep\.yaml:\d+:\d+: sweep member 2 \(model\.heads=3, train\.seed=0\): .*divisible by heads \(3\)/);
    assert.match(lines[3], /sweep member 5 \(model\.heads=5, train\.seed=1\)/);
    return true;
  });
  assert.equal(fs.existsSync(out), false, 'no sweep folder for a sweep that cannot run');
});

test('planning: a spec without a sweep section is refused with what to do', () => {
  const { file } = project(SPEC.replace(/sweep:[\s\S]*$/, ''));
  assert.throws(() => planSweepInput(file), (e: unknown) => isUserError(e) && /no 'sweep' section.*chamlab train/.test((e as Error).message));
});

test('sweep folder: created once with sweep.yaml, plan.json and sweep.json; reopened by the same spec; refused for another', () => {
  const { dir, file } = project();
  const out = path.join(dir, 'runs');
  const planned = planSweepInput(file);
  const { dir: sweepDir, state, created } = openSweepFolder(out, planned, 'local');
  assert.ok(created);
  assert.equal(sweepDir, path.join(out, 'unit', planned.hash.slice(0, 12)));
  writeState(sweepDir, state);
  assert.match(fs.readFileSync(path.join(sweepDir, SWEEP_FILES.spec), 'utf8'), new RegExp(`^# hash: ${planned.hash}$`, 'm'));
  const plan = readPlan(sweepDir);
  assert.equal(plan.members.length, 4);
  // members' run folders sit beside the sweep folder, keyed by their own hash
  assert.equal(memberRunDir(sweepDir, state.members[1]), path.join(out, 'unit', planned.members[1].hash.slice(0, 12)));
  const m = planMember(sweepDir, plan, 3);
  assert.equal(m.hash, planned.members[3].hash);
  assert.equal(m.file, file);

  const again = openSweepFolder(out, planSweepInput(file), 'slurm');
  assert.equal(again.created, false);
  assert.equal(readSweepState(sweepDir)!.hash, planned.hash);

  // Another sweep spec's files in this folder (copied, or a 12-digit prefix collision): refused.
  const other = planSweepInput(file, ['train.steps=7']);
  const otherDir = openSweepFolder(out, other, 'local').dir;
  writeState(otherDir, openSweepFolder(out, other, 'local').state);
  for (const f of [SWEEP_FILES.spec, SWEEP_FILES.state, SWEEP_FILES.plan]) fs.copyFileSync(path.join(otherDir, f), path.join(sweepDir, f));
  assert.throws(
    () => openSweepFolder(out, planned, 'local'),
    (e: unknown) => isUserError(e) && /written by another sweep spec/.test((e as Error).message) && (e as Error).message.startsWith(sweepDir),
  );

  // a plan edited by hand is refused by the worker
  const pfile = path.join(otherDir, SWEEP_FILES.plan);
  const p = JSON.parse(fs.readFileSync(pfile, 'utf8'));
  p.members[0].spec.optimizer.lr = 0.5;
  fs.writeFileSync(pfile, JSON.stringify(p));
  assert.throws(() => planMember(otherDir, readPlan(otherDir), 0), /does not match its hash/);
});

test('member status: read from the run summary, the outcome file and Slurm', () => {
  const { dir, file } = project();
  const { dir: sd, state } = openSweepFolder(path.join(dir, 'runs'), planSweepInput(file), 'local');
  const [m0, m1, m2, m3] = state.members;
  const writeSummary = (m: SweepMemberRecord, s: Partial<RunSummary>) => writeFileAtomic(path.join(memberRunDir(sd, m), RUN_FILES.summary), toJsonLine(summary(s)));
  const writeOut = (m: SweepMemberRecord, o: Partial<MemberOutcome>) => writeFileAtomic(memberOutcomeFile(sd, m.index), toJsonLine(outcome(m, o)));

  assert.equal(memberRecord(sd, m0).status, 'pending');

  writeSummary(m0, { status: 'finished', step: 4, tokens: 256, final_eval_loss: 3.5, best_eval_loss: 3.25, tokens_per_s: 1000, wall_s: 2 });
  const r0 = memberRecord(sd, m0);
  assert.deepEqual([r0.status, r0.steps_done, r0.final_eval_loss, r0.best_eval_loss, r0.tokens_per_s], ['finished', 4, 3.5, 3.25, 1000]);

  // a worker that died (pid no longer alive) mid-run: interrupted, to be resumed
  writeSummary(m1, { status: 'running', step: 2 });
  writeOut(m1, { status: 'running', pid: 2 ** 22 + 12345 });
  assert.equal(memberRecord(sd, m1).status, 'interrupted');
  // ... while its worker lives: running (a process with "worker" in its command line stands in for it)
  const stand = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)', 'worker'], { stdio: 'ignore' });
  try {
    writeOut(m1, { status: 'running', pid: stand.pid! });
    assert.equal(memberRecord(sd, m1).status, 'running');
  } finally {
    stand.kill('SIGKILL');
  }
  // a live pid that is not a worker (a reused pid) does not count
  writeOut(m1, { status: 'running', pid: process.pid });
  assert.equal(memberRecord(sd, m1).status, 'interrupted');

  // diverged is a result, with the step it diverged at
  writeSummary(m2, { status: 'diverged', step: 3, reason: 'loss is NaN', divergence: { step: 3, kind: 'non-finite', loss: NaN, message: 'loss is NaN' } });
  const r2 = memberRecord(sd, m2);
  assert.deepEqual([r2.status, r2.diverged_at, r2.error], ['diverged', 3, 'loss is NaN']);

  // a crash: failed with its error
  writeOut(m3, { status: 'failed', error: 'data/bad.jsonl:3: invalid JSON', ended_at: 'x' });
  assert.deepEqual([memberRecord(sd, m3).status, memberRecord(sd, m3).error], ['failed', 'data/bad.jsonl:3: invalid JSON']);

  // Slurm: a queued task is pending; a task Slurm has no record of was cancelled while pending
  fs.rmSync(memberOutcomeFile(sd, m3.index));
  const queued = memberRecord(sd, { ...m3, slurm_task: '41_3' }, { task: '41_3', state: 'PENDING', exit: null });
  assert.deepEqual([queued.status, queued.slurm_state], ['pending', 'PENDING']);
  const gone = memberRecord(sd, { ...m3, slurm_task: '41_3' }, null);
  assert.deepEqual([gone.status, gone.slurm_state], ['pending', 'CANCELLED']);
  const failedTask = memberRecord(sd, { ...m3, slurm_task: '41_3' }, { task: '41_3', state: 'FAILED', exit: '1:0' });
  assert.equal(failedTask.status, 'failed');
  assert.match(failedTask.error!, /Slurm task 41_3 ended FAILED \(exit 1:0\) before the member started/);

  // progress: finished and diverged members are done, failed ones leave the ETA; ETA from the measured rate
  const st = { ...state, members: [r0, memberRecord(sd, m1), r2, { ...m3, status: 'failed' as const }, { ...m3, index: 4, status: 'pending' as const }] };
  const p = sweepProgress(st, { planned: [256, 256, 256, 256, 256], done: [256, 128, 192, 64, 0] }, { tokensPerS: 64, elapsedS: 10 });
  assert.deepEqual([p.done, p.running, p.interrupted, p.failed, p.pending], [2, 0, 1, 1, 1]);
  assert.equal(p.eta_s, (256 - 128 + 256) / 64);
});

test('Slurm array syntax: ranges, % limit, task ids, states', () => {
  assert.equal(arraySpec([0, 1, 2, 3, 7, 9, 10]), '0-3,7,9-10');
  assert.equal(arraySpec([5, 1, 0], 2), '0-1,5%2');
  assert.deepEqual(parseArrayTaskId('17_4'), { job: '17', indices: [4] });
  assert.deepEqual(parseArrayTaskId('17_[0-2,5%2]'), { job: '17', indices: [0, 1, 2, 5] });
  assert.equal(parseArrayTaskId('17.batch'), null);
  assert.equal(firstWord('CANCELLED by 0'), 'CANCELLED');
  assert.equal(firstWord('RUNNING'), 'RUNNING');
});

test('sweep lock: a second process driving the same sweep folder is refused', async () => {
  const { dir, file } = project();
  const out = path.join(dir, 'runs');
  const { dir: sd } = openSweepFolder(out, planSweepInput(file), 'local');
  // held by a live process (this one, as if another sweep command ran here)
  fs.writeFileSync(path.join(sd, SWEEP_FILES.lock), toJsonLine({ pid: process.pid, host: os.hostname(), started_at: 'now' }));
  await assert.rejects(runSweep(file, { out, jobs: 1 }), /another process \(pid \d+, since now\) drives this sweep/);
});

test('Slurm executor without sbatch: says how to install or point at Slurm, before planning anything', async () => {
  const { dir, file } = project();
  const saved = process.env.PATH;
  process.env.PATH = path.join(dir, 'no-such-bin');
  try {
    await assert.rejects(runSweep(file, { out: path.join(dir, 'runs'), executor: 'slurm' }), (e: unknown) => {
      assert.ok(isUserError(e));
      assert.match((e as Error).message, /sbatch not found on PATH.*apt-get install slurm-client.*SLURM_CONF.*scripts\/slurm-local\.sh start/);
      return true;
    });
  } finally {
    process.env.PATH = saved;
  }
  assert.equal(fs.existsSync(path.join(dir, 'runs')), false);
});

test('sweep status of a folder that is not a sweep folder is a user error naming it', async () => {
  const { dir } = project();
  await assert.rejects(sweepStatus(dir), (e: unknown) => isUserError(e) && (e as Error).message.startsWith(dir) && /not a sweep folder/.test((e as Error).message));
});

test('an --out that cannot hold the sweep folder (a file) is a user error naming the folder', async () => {
  const { dir, file } = project();
  const out = path.join(dir, 'not-a-folder');
  fs.writeFileSync(out, '');
  await assert.rejects(runSweep(file, { out }), (e: unknown) => isUserError(e) && /lies under .*not-a-folder, which is a file, not a folder/.test((e as Error).message));
});
