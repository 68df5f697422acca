/**
 * `chamlab sweep` with the local executor, end to end through the CLI on a micro spec: stopped with
 * SIGTERM, then killed with kill -9, the same command finishes the sweep and every member equals the
 * same member trained alone with `chamlab train`, bit for bit (timing fields aside). A member that
 * diverges and members that crash (a data file with a broken record) do not stop the others; failed
 * members are rerun only with --retry-failed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { memberRecord, readOutcome } from '../src/sweep/state';
import { SWEEP_FILES } from '../src/sweep/layout';
import { alive, assertSameAsTrainedAlone, cli, cliDone, freezeWorkers, makeProject, state, sweepDir, waitFor } from './helpers/sweep-fixture';

const GRID = `sweep:
  grid:
    optimizer.lr: [1.0e-3, 3.0e-3]
  seeds: 2
`;

test('local sweep: SIGTERM, then kill -9, then the same command finishes; every member equals chamlab train alone', async () => {
  const p = makeProject({ name: 'e2e-sweep', steps: 60, sweep: GRID });
  const args = ['sweep', p.file, '--jobs', '2', '--out', p.out];

  // 1. SIGTERM while members 0 and 1 train (their workers frozen at step 3 so that the signal lands
  //    mid-run however fast the micro model is): the workers checkpoint, the command exits 130.
  const first = cli(p, args);
  const dir = await waitFor('the sweep folder', 60_000, () => sweepDir(p));
  const frozen1 = await freezeWorkers(dir, [0, 1], 3);
  first.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  for (const pid of frozen1.values()) process.kill(pid, 'SIGCONT');
  const r1 = await first.done;
  assert.equal(r1.code, 130, r1.stderr);
  const after1 = state(dir);
  assert.deepEqual(after1.members.map((m) => m.status), ['interrupted', 'interrupted', 'pending', 'pending']);
  for (const m of after1.members.slice(0, 2)) assert.ok(m.steps_done >= 3 && m.steps_done < 60, `member ${m.index} at step ${m.steps_done}`);
  assert.match(r1.stderr, /member 0 \[.*\] interrupted/);

  // 2. kill -9 of the sweep process while member 2 trains: its workers notice, checkpoint and stop.
  const second = cli(p, args);
  const frozen2 = await freezeWorkers(dir, [2], 3);
  const orphans = [0, 1, 2, 3].map((i) => readOutcome(dir, i)).filter((o) => o?.status === 'running').map((o) => o!.pid);
  second.child.kill('SIGKILL');
  await second.done;
  for (const pid of frozen2.values()) process.kill(pid, 'SIGCONT');
  await waitFor('orphaned workers to stop', 60_000, () => orphans.every((pid) => !alive(pid)));
  assert.equal(readOutcome(dir, 2)?.status, 'interrupted', 'the orphaned worker checkpointed and recorded that it was interrupted');

  // 3. The same command finishes the sweep.
  // (as the members' files say: sweep.json was last written by the killed process)
  const before3 = state(dir).members.map((m) => memberRecord(dir, m).status);
  const r3 = await cliDone(p, args);
  assert.equal(r3.code, 0, r3.stderr);
  const final = state(dir);
  assert.deepEqual(final.members.map((m) => m.status), ['finished', 'finished', 'finished', 'finished']);
  for (const m of final.members) {
    assert.equal(m.steps_done, 60);
    assert.ok(m.final_eval_loss !== null && Number.isFinite(m.final_eval_loss));
    assert.ok(m.tokens_per_s !== null && m.tokens_per_s > 0);
  }
  // the interrupted members were resumed (a second process trained in their folders), not restarted
  const attempts = final.members.map((m) => JSON.parse(fs.readFileSync(path.join(dir, m.run_dir, 'summary.json'), 'utf8')).attempts as number);
  assert.ok(attempts[0] >= 2 && attempts[1] >= 2 && attempts[2] >= 2, `members 0-2 were interrupted mid-run and resumed: attempts ${attempts}`);
  // one line per member as it ends
  for (const m of final.members.filter((x) => before3[x.index] !== 'finished')) assert.match(r3.stderr, new RegExp(`member ${m.index} \\[.*\\] finished`));
  const log = fs.readFileSync(path.join(dir, SWEEP_FILES.log), 'utf8');
  assert.match(log, /created: 4 members/);
  assert.match(log, /done: 4 finished/);

  // The members share one tokenizer and one compiled graph set (lr and seed are graph inputs):
  // every worker used the same cache, and each was built once.
  const cache = p.env.CHAMLAB_CACHE!;
  assert.equal(fs.readdirSync(path.join(cache, 'graphs')).length, 1, 'one compiled graph set for the four members');
  assert.equal(fs.readdirSync(cache).filter((f) => f.startsWith('bpe-')).length, 1, 'one trained tokenizer');

  // Nothing left to do: a rerun trains nothing and says so.
  const r4 = await cliDone(p, args);
  assert.equal(r4.code, 0);
  assert.match(r4.stderr, /4 already done or left as they are, 0 to train/);

  const status = await cliDone(p, ['sweep', 'status', dir]);
  assert.equal(status.code, 0);
  assert.match(status.stdout, /4 members: 4 finished/);

  // 4. Bit for bit against each member trained alone.
  for (let i = 0; i < 4; i++) await assertSameAsTrainedAlone(p, dir, i);
});

test('local sweep: a diverging member and crashing members do not stop the others; --retry-failed reruns the crashed ones', async () => {
  const good = Array.from({ length: 60 }, (_, i) => JSON.stringify({ text: `Call me Ishmael, line ${i}. Some years ago, never mind how long precisely.` })).join('\n') + '\n';
  // Line 3 is not JSON: the spec validates (the file exists, inside the project); reading it fails.
  const broken = good.split('\n').map((l, i) => (i === 2 ? '{"text": "unterminated' : l)).join('\n');
  const p = makeProject({
    name: 'e2e-sweep-fail',
    steps: 8,
    origin: 'data/a.jsonl',
    files: { 'data/a.jsonl': good, 'data/b.jsonl': broken },
    sweep: `sweep:
  grid:
    data.sources.t.origin: [data/a.jsonl, data/b.jsonl]
    optimizer.lr: [1.0e-3, 100]
`,
  });
  const args = ['sweep', p.file, '--jobs', '2', '--out', p.out];
  const r1 = await cliDone(p, args);
  assert.equal(r1.code, 1, 'exit 1: some members failed');
  const dir = sweepDir(p)!;
  const s1 = state(dir);
  // plan order: origin a (lr 1e-3, 100), origin b (lr 1e-3, 100)
  assert.deepEqual(s1.members.map((m) => m.status), ['finished', 'diverged', 'failed', 'failed'], JSON.stringify(s1.members, null, 1));
  assert.ok(s1.members[1].diverged_at !== null && s1.members[1].diverged_at <= 8);
  for (const m of s1.members.slice(2)) assert.match(m.error ?? '', /b\.jsonl:3/, 'the crash is recorded with its error');
  assert.match(r1.stderr, /member 2 \[.*\] failed, .*b\.jsonl:3/);

  // Without --retry-failed failed members stay as they are (and diverged ones are results).
  const r2 = await cliDone(p, args);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /0 to train/);

  // Fixed data, --retry-failed: they run now.
  fs.writeFileSync(path.join(p.dir, 'data/b.jsonl'), good);
  const r3 = await cliDone(p, [...args, '--retry-failed']);
  assert.equal(r3.code, 0, r3.stderr);
  assert.deepEqual(state(dir).members.map((m) => m.status), ['finished', 'diverged', 'finished', 'diverged']);
  assert.equal(state(dir).members[2].error, null);
});
