/**
 * Reports of folders written by the real run layer: a micro sweep (QK-Norm x learning rate, 20 steps
 * each) trained with runExperiment, in which the huge learning rate without QK-Norm diverges and one
 * member crashes mid-training (its listener throws, as an out-of-memory would: the run layer marks it
 * failed). The figures must have the right traces, names and axis types, and the sweep report, a
 * single run's report and a comparison of two runs must draw every figure in headless Chromium.
 *
 * sweep.json is written here from the sweep layout's contract (src/sweep/layout.ts: SweepState,
 * memberLabel), with each member's status read back from its own summary.json; the members
 * themselves are ordinary runs in ordinary run folders.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadSpec, planSweep } from '../dsl';
import { readRun, runExperiment, readSummary, toJsonLine, type RunRecord } from '../src/runs';
import { memberLabel, SWEEP_FILES, SWEEP_FORMAT, sweepFolder, type SweepMemberRecord, type SweepState } from '../src/sweep/layout';
import {
  buildReport,
  evalSourcesFigure,
  loadSweep,
  lossFigure,
  lrSensitivityFigure,
  membersTable,
  stabilityFigures,
  sweepHeatmap,
  sweepLossFigure,
  writeReport,
  type Figure,
} from '../src/report';
import { artifactPath, checkPage, requireBrowser, withBrowser } from './helpers/browser';
import { microProject } from './helpers/micro-run';
import { assertRendered } from './helpers/report-render';

const STEPS = 20;
const OVERRIDES = [`train.steps=${STEPS}`, 'train.eval_every=5', 'train.checkpoint_every=10'];
const SWEEP = `
sweep:
  grid:
    model.qk_norm: [true, false]
    optimizer.lr: [3.0e-3, 3.0e-2, 50]
`;
const CRASH_AT = 8;

interface Fixture {
  sweepDir: string;
  members: { overrides: Record<string, unknown>; dir: string; error: string | null }[];
  run: (qk: boolean, lr: number) => RunRecord;
}

let fixture: Fixture;
const project = microProject(SWEEP);
process.on('exit', () => project.cleanup());

/** The member that crashes: QK-Norm on, the middle learning rate. */
const crashes = (o: Record<string, unknown>) => o['model.qk_norm'] === true && o['optimizer.lr'] === 3e-2;

before(async () => {
  const loaded = loadSpec(project.spec, { overrides: OVERRIDES });
  const plan = planSweep(loaded);
  const members: Fixture['members'] = [];
  for (const m of plan) {
    let error: string | null = null;
    let dir: string;
    try {
      const r = await runExperiment({ spec: m.spec, hash: m.hash, file: project.spec }, {
        out: project.out,
        threads: 1,
        onEvent: (e) => {
          if (crashes(m.overrides) && e.type === 'step' && e.row.step === CRASH_AT) throw new RangeError('simulated crash: out of memory');
        },
      });
      dir = r.dir;
    } catch (e) {
      error = `${(e as Error).name}: ${(e as Error).message}`;
      dir = path.join(project.out, m.spec.name, m.hash.slice(0, 12));
    }
    members.push({ overrides: m.overrides, dir, error });
  }
  const sweepDir = sweepFolder(project.out, loaded.spec.name, loaded.hash);
  fs.mkdirSync(sweepDir, { recursive: true });
  fs.writeFileSync(path.join(sweepDir, SWEEP_FILES.spec), `# hash: ${loaded.hash}\n`);
  const records: SweepMemberRecord[] = plan.map((m, index) => {
    const s = readSummary(members[index].dir)!;
    return {
      index,
      hash: m.hash,
      overrides: m.overrides,
      label: memberLabel(m.overrides),
      run_dir: path.relative(sweepDir, members[index].dir),
      status: s.status,
      error: members[index].error,
      steps_done: s.step,
      final_eval_loss: s.final_eval_loss,
      best_eval_loss: s.best_eval_loss,
      diverged_at: s.divergence?.step ?? null,
      tokens_per_s: s.tokens_per_s,
      slurm_task: null,
      slurm_state: null,
      wall_s: null,
    };
  });
  const now = new Date().toISOString();
  const state: SweepState = {
    format: SWEEP_FORMAT,
    name: loaded.spec.name,
    hash: loaded.hash,
    keys: Object.keys(plan[0].overrides),
    file: null,
    overrides: [],
    executor: 'local',
    slurm_job: null,
    created_at: now,
    updated_at: now,
    members: records,
  };
  fs.writeFileSync(path.join(sweepDir, SWEEP_FILES.state), toJsonLine(state));
  const run = (qk: boolean, lr: number) => readRun(members.find((m) => m.overrides['model.qk_norm'] === qk && m.overrides['optimizer.lr'] === lr)!.dir);
  fixture = { sweepDir, members, run };
});

const names = (f: Figure) => f.data.map((t) => (t as { name?: string }).name);

test('the fixture is what the test needs: finished, diverged and failed members from the real run layer', () => {
  const statuses = fixture.members.map((m) => readSummary(m.dir)!.status);
  assert.ok(statuses.includes('finished'));
  assert.equal(readSummary(fixture.run(false, 50).dir)!.status, 'diverged');
  const failed = readSummary(fixture.run(true, 3e-2).dir)!;
  assert.equal(failed.status, 'failed');
  assert.match(failed.reason!, /simulated crash/);
});

test('figures of a real run: traces, names, axis types', () => {
  const run = fixture.run(true, 3e-3);
  assert.equal(run.summary!.status, 'finished');
  const loss = lossFigure(run);
  assert.deepEqual(names(loss), ['train (raw)', 'train (EMA, half-life 1 step)', 'eval (held-out mixture)']);
  assert.equal((loss.data[0] as any).x.length, STEPS);
  assert.deepEqual((loss.data[2] as any).x, [0, 5, 10, 15, 20]);
  assert.equal(loss.layout.yaxis?.type, 'linear');
  assert.deepEqual(names(evalSourcesFigure(run)), ['image_text (image-text)', 'interleaved', 'text']);
  const [rms, attn, logits, opt] = stabilityFigures(run);
  assert.deepEqual(names(rms), ['layer 0', 'layer 1']);
  assert.deepEqual(names(attn), ['layer 0', 'layer 1']);
  assert.deepEqual(names(logits), ['z', 'max |logit|']);
  assert.deepEqual(names(opt), ['grad norm', 'update ratio']);
  assert.equal(opt.layout.yaxis?.type, 'log');
  for (const f of [rms, attn, logits, opt]) for (const t of f.data as any[]) assert.equal(t.x.length, STEPS, `${t.name}: every step`);
});

test('figures of the diverged run: the divergence step is marked, non-finite values are markers', () => {
  const run = fixture.run(false, 50);
  const d = run.summary!.divergence!;
  assert.ok(d.step >= 1 && d.step < STEPS);
  const loss = lossFigure(run);
  assert.ok(loss.layout.shapes!.some((s) => s.x0 === d.step && /diverged at step/.test(String(s.label?.text))));
  // the loss explodes by orders of magnitude before it stops: a log axis
  assert.equal(loss.layout.yaxis?.type, 'log');
  const stability = stabilityFigures(run);
  for (const f of stability) assert.ok(f.layout.shapes!.some((s) => s.x0 === d.step));
  if (d.kind === 'non-finite') {
    // whichever quantity went non-finite (loss, grad norm, ...) has a red x at that step
    const markers = [loss, ...stability].flatMap((f) => (f.data as any[]).filter((t) => /non-finite/.test(t.name)));
    assert.ok(markers.some((t) => t.x.includes(d.step)), `${d.message}: ${markers.map((t) => t.name).join()}`);
  }
});

test('sweep figures of real members: members table, loss per variant, LR sensitivity with the diverged member capped, heatmap', () => {
  const sweep = loadSweep(fixture.sweepDir);
  assert.equal(sweep.members.length, 6);
  const table = (membersTable(sweep).data[0] as any).cells.values as string[][];
  assert.ok(table[3].includes('failed') && table[3].includes('diverged'), table[3].join());
  const loss = sweepLossFigure(sweep);
  assert.ok(names(loss).includes('qk_norm=false, lr=50'));
  // lr=50 sends the loss to ~1e7: the axis stays linear, clipped at 1.15 ln V, so the stable members stay legible
  const top = 1.15 * Math.log(512 + 64);
  assert.equal(loss.layout.yaxis?.type, 'linear');
  assert.ok(Math.abs(loss.layout.yaxis!.range![1] - top) < 1e-9);
  const crosses = (loss.data as any[]).find((t) => t.name === 'qk_norm=false, lr=50: diverged');
  assert.ok(crosses.y.every((y: number) => y <= top), 'the divergence cross is moved into view');
  const pair = lossFigure([fixture.run(true, 3e-3), fixture.run(false, 50)]);
  assert.equal(pair.layout.yaxis?.type, 'linear');
  assert.match(String((pair.layout.yaxis!.title as { text: string }).text), /clipped at/);
  assert.ok(names(loss).includes('qk_norm=true, lr=0.03'), 'the failed member trained 7 steps: its curve is drawn');
  const lr = lrSensitivityFigure(sweep);
  assert.equal(lr.layout.xaxis?.type, 'log');
  const off = (lr.data as any[]).find((t) => t.name.startsWith('qk_norm=false'));
  const on = (lr.data as any[]).find((t) => t.name.startsWith('qk_norm=true'));
  // dodged a little along the log axis (so coinciding markers of two lines stay visible), true lr in the hover
  [3e-3, 3e-2, 50].forEach((lr, i) => assert.ok(Math.abs(off.x[i] / lr - 1) < 0.05 && off.x[i] !== on.x[i]));
  assert.deepEqual(off.customdata.map((c: string[]) => c[0]), ['0.003', '0.03', '50']);
  assert.equal(off.y[2], Math.log(512 + 64), 'diverged: drawn at ln V');
  assert.equal(off.marker.symbol[2], 'x');
  assert.equal(on.y[1], null, 'the failed member has no result');
  assert.match(String(lr.layout.annotations![0].text), /qk_norm=true, lr=0.03 \[failed\]/);
  const heat = sweepHeatmap(sweep);
  assert.deepEqual(names(heat).sort(), ['diverged', 'final eval loss', 'no result'].filter((n) => names(heat).includes(n)).sort());
  assert.ok(names(heat).includes('diverged'));
  assert.ok(names(heat).includes('no result'));
});

test('in headless Chromium: the sweep report (diverged and failed members), a run report and a comparison draw every figure', async (t) => {
  if (!requireBrowser(t)) return;
  const a = fixture.run(true, 3e-3).dir;
  const b = fixture.run(false, 3e-3).dir;
  const cases = [
    { name: 'e2e-sweep', dirs: [fixture.sweepDir] },
    { name: 'e2e-run-diverged', dirs: [fixture.run(false, 50).dir] },
    { name: 'e2e-run-failed', dirs: [fixture.run(true, 3e-2).dir] },
    { name: 'e2e-runs', dirs: [a, b] },
  ];
  await withBrowser(async (ctx) => {
    for (const c of cases) {
      const { file, report } = writeReport(c.dirs, { out: path.join(project.dir, `${c.name}.html`) });
      const shot = artifactPath(`report-${c.name}.png`);
      const page = await checkPage(ctx, file, { screenshot: shot });
      assertRendered(report, page);
      t.diagnostic(`screenshot: ${shot}`);
    }
  });
  const sweepReport = buildReport([fixture.sweepDir]);
  assert.deepEqual(sweepReport.sections.find((s) => s.title === 'Sensitivity')!.figures.map((f) => f.id), ['lr-sensitivity', 'heatmap']);
});
