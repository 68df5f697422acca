/**
 * `await sweep(...)` in a real kernel: runSweep's members trained in worker processes, shown as one
 * output updated in place (members done, the report's sweep loss figure), the sweep folder readable
 * by the report; a kernel interrupt stops the workers with checkpoints and the cell says how to go on,
 * and running the cell again finishes the sweep.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { drive, installTestKernel, liveSpec, requireJupyter, streams } from './helpers/notebook';
import { loadSweep } from '../src/report';

const SPEC = (steps: number) => liveSpec('live-sweep', steps, 'sweep:\n  grid:\n    optimizer.lr: [1.0e-3, 3.0e-3]\n');

test('sweep shows one live output while its members train, then an interrupt and a rerun finish it', (t) => {
  if (!requireJupyter(t)) return;
  const { env } = installTestKernel();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-sweep-'));
  fs.writeFileSync(path.join(dir, '.chamlab-root'), '');
  const runs = path.join(dir, 'runs');
  const [, first, second] = drive(dir, { ...env, CHAMLAB_RUNS_DIR: runs }, [
    { code: "import { spec, sweep } from 'chamlab/kernel';\nconst s = spec`" + SPEC(400) + '`;' },
    { code: 'await sweep(s, { jobs: 2, refreshMs: 200 });', timeout: 600, interrupt_when: 'k tokens/s' },
    { code: "const r = await sweep(s, { jobs: 2 });\nconsole.log('ok', r.ok, r.state.members.length);", timeout: 900 },
  ]);
  assert.equal(first.reply.status, 'error');
  assert.match(streams(first, 'stderr'), /^sweep interrupted \(.*\); \S+ continues where it stopped: run this cell again\n$/);
  const live = first.messages.filter((m) => m.content?.transient?.display_id);
  assert.equal(new Set(live.map((m) => m.content.transient.display_id)).size, 1, 'one live output');
  assert.ok(live.slice(1).every((m) => m.type === 'update_display_data'));
  assert.equal(second.reply.status, 'ok', streams(second, 'stderr'));
  assert.match(streams(second, 'stdout'), /ok true 2/);
  const last = second.messages.filter((m) => m.content?.transient?.display_id).at(-1)!.content.data;
  assert.match(last['text/plain'], /2\/2 members done/);
  assert.ok(last['application/vnd.plotly.v1+json'].data.length >= 2, 'the sweep loss figure');
  const named = path.join(runs, 'live-sweep');
  const sw = loadSweep(path.join(named, fs.readdirSync(named).find((n) => fs.existsSync(path.join(named, n, 'sweep.json')))!));
  const how = sw.members.map((m) => `${m.status} after ${m.run?.summary?.attempts} attempts`).join(', ');
  assert.ok(sw.members.every((m) => m.status === 'finished' && m.run!.metrics.length === 400), how);
  assert.ok(sw.members.some((m) => m.run!.summary!.attempts === 2), `a member interrupted mid-run was resumed: ${how}`);
});
