/**
 * `chamlab sweep --executor slurm` on a real Slurm cluster (scripts/slurm-local.sh start brings one
 * up on this machine; CI starts it before the tests). One array task is stopped with
 * `scancel --signal=TERM` (what preemption and time limits send), one worker is killed hard
 * (kill -9, as the OOM killer or a failing node would), one task is requeued by Slurm; the rerun
 * completes the sweep and those members equal the same members trained alone, bit for bit.
 *
 * Needs the cluster: under CI=true a missing cluster is a failure; elsewhere the test is skipped
 * with the reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readOutcome } from '../src/sweep/state';
import { alive, assertSameAsTrainedAlone, cliDone, freezeWorkers, makeProject, sh, state, sweepDir, waitFor } from './helpers/sweep-fixture';

/** The client environment of a running cluster: SLURM_CONF from the environment or slurm-local.sh's env.sh. */
function clusterEnv(): { env: NodeJS.ProcessEnv } | { why: string } {
  const env = { ...process.env };
  if (!env.SLURM_CONF) {
    const file = path.join(process.env.CHAMLAB_SLURM_DIR ?? '/tmp/chamlab-slurm', 'env.sh');
    const m = fs.existsSync(file) ? /SLURM_CONF=(\S+)/.exec(fs.readFileSync(file, 'utf8')) : null;
    if (m) env.SLURM_CONF = m[1];
  }
  const r = spawnSync('sinfo', ['-h', '-o', '%T'], { env, encoding: 'utf8', timeout: 15_000 });
  if (r.error) return { why: `no Slurm client (sinfo: ${(r.error as NodeJS.ErrnoException).code}); run 'npm run setup' and 'scripts/slurm-local.sh start'` };
  if (r.status !== 0) return { why: `no Slurm cluster answers (${(r.stderr || '').trim().split('\n')[0]}); run 'scripts/slurm-local.sh start'` };
  if (!/idle|mixed|allocated/.test(r.stdout)) return { why: `the cluster's node is not usable (sinfo: ${r.stdout.trim()})` };
  return { env };
}

const cluster = clusterEnv();
const skip = 'why' in cluster ? cluster.why : false;
if (skip) {
  if (process.env.CI === 'true') {
    test('a Slurm cluster is running (required under CI)', () => assert.fail(`${skip}: CI starts it with scripts/slurm-local.sh start`));
  } else process.stderr.write(`\n*** sweep-slurm.test: SKIPPED: ${skip} ***\n\n`);
}

test('Slurm sweep: scancel --signal=TERM, a hard kill and a requeue; the rerun completes with identical metrics', { skip: skip ? `SKIPPED: ${skip}` : false }, async () => {
  const env = (cluster as { env: NodeJS.ProcessEnv }).env;
  const p = makeProject({ name: 'slurm-sweep', steps: 60, sweep: 'sweep:\n  grid:\n    optimizer.lr: [1.0e-3, 2.0e-3, 3.0e-3]\n' });
  p.env = { ...p.env, SLURM_CONF: env.SLURM_CONF };
  const args = ['sweep', p.file, '--executor', 'slurm', '--out', p.out, '--cpus-per-task', '1'];

  const sub = await cliDone(p, [...args, '--no-wait']);
  assert.equal(sub.code, 0, sub.stderr);
  const job = /submitted Slurm job (\d+)/.exec(sub.stdout)?.[1];
  assert.ok(job, sub.stdout);
  const dir = sweepDir(p)!;
  assert.equal(state(dir).slurm_job, job, 'the job id is recorded in sweep.json');
  assert.deepEqual(state(dir).members.map((m) => m.slurm_task), [`${job}_0`, `${job}_1`, `${job}_2`]);

  // Two tasks run at once on the 2-CPU node. Their workers are frozen at step 3 (SIGSTOP) so that
  // what follows lands mid-run however fast the micro model trains.
  const frozen = await freezeWorkers(dir, [0, 1], 3);
  // Member 0: scancel --signal=TERM (pending while frozen, handled once it continues).
  sh('scancel', ['--signal=TERM', `${job}_0`], p.env);
  await new Promise((r) => setTimeout(r, 500));
  process.kill(frozen.get(0)!, 'SIGCONT');
  // Member 1: a hard kill of its worker.
  assert.equal(readOutcome(dir, 1)?.slurm_task, `${job}_1`);
  process.kill(frozen.get(1)!, 'SIGKILL');
  await waitFor('member 0 to checkpoint and stop', 60_000, () => readOutcome(dir, 0)?.status === 'interrupted');
  await waitFor('the killed worker to be gone', 30_000, () => !alive(frozen.get(1)!));

  // Member 2 starts in a freed slot; Slurm requeues it mid-run (its worker gets SIGTERM,
  // checkpoints, and the task goes back to the queue with a begin time, moved to now here).
  const frozen2 = await freezeWorkers(dir, [2], 3);
  sh('scontrol', ['requeue', `${job}_2`], p.env);
  process.kill(frozen2.get(2)!, 'SIGCONT');
  await waitFor('member 2 requeued', 60_000, () => readOutcome(dir, 2)?.status === 'interrupted' && !alive(frozen2.get(2)!));
  await waitFor('member 2 back in the queue', 60_000, () => new RegExp(`^${job}_2 PENDING BeginTime`, 'm').test(sh('squeue', ['-h', '-r', '-j', job!, '-o', '%i %T %r'], p.env)));
  // Slurm holds a requeued task back for a while (its credential is revoked for the old run): wait
  // a little, then let it start now instead of after the usual two minutes.
  await new Promise((r) => setTimeout(r, 2000));
  sh('scontrol', ['update', `JobId=${job}_2`, 'StartTime=now'], p.env);

  // Slurm's own view, in the status command (sacct records a task's end up to ~1.3 s after squeue
  // lets go of it; until then its state is unknown and shown as '-').
  let st = await cliDone(p, ['sweep', 'status', dir]);
  for (let i = 0; i < 20 && !/^0 .*interrupted\s+FAILED/m.test(st.stdout); i++) {
    await new Promise((r) => setTimeout(r, 500));
    st = await cliDone(p, ['sweep', 'status', dir]);
  }
  assert.equal(st.code, 0, st.stderr);
  assert.match(st.stdout, /^0 .*interrupted\s+FAILED/m, st.stdout);
  assert.match(st.stdout, new RegExp(`Slurm job ${job}`));

  // The rerun submits members 0 and 1 again, waits for those and for the requeued member 2.
  const r = await cliDone(p, args);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const final = state(dir);
  assert.deepEqual(final.members.map((m) => m.status), ['finished', 'finished', 'finished']);
  assert.deepEqual(final.members.map((m) => m.slurm_state), ['COMPLETED', 'COMPLETED', 'COMPLETED']);
  assert.notEqual(final.slurm_job, job, 'a new array job for the interrupted members');
  assert.equal(final.members[2].slurm_task, `${job}_2`, 'the requeued member finished in its own task');
  const summaries = final.members.map((m) => JSON.parse(fs.readFileSync(path.join(dir, m.run_dir, 'summary.json'), 'utf8')));
  assert.ok(summaries.every((s) => s.attempts >= 2), 'each member was resumed in a second process');

  for (let i = 0; i < 3; i++) await assertSameAsTrainedAlone(p, dir, i);
});
