/**
 * `npm run demo` in miniature: the QK-Norm x learning-rate sweep reduced to fit CI
 * (test/fixtures/qknorm-lr-ci.yaml: 3 learning rates a decade apart, 150 steps), end to end through
 * the CLI. The qualitative result must hold at this budget, so that a change to the model or the
 * optimizer that erases the effect fails CI: with QK-Norm the final loss is less sensitive to the
 * learning rate (Wortsman et al.'s LR sensitivity), lower at the high learning rates, and the
 * attention logits stay bounded while without it they grow by orders of magnitude.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { lrSweepReading } from '../src/report/reading';
import { loadSweep } from '../src/report/sweep';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'chamlab.js');
const SPEC = path.join(ROOT, 'test', 'fixtures', 'qknorm-lr-ci.yaml');

test('chamlab demo on the reduced QK-Norm x lr sweep: report, reading, and the effect holds', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-demo-'));
  try {
    const r = spawnSync(process.execPath, [BIN, 'demo', '--spec', SPEC, '--out', out], { cwd: ROOT, encoding: 'utf8', timeout: 1_200_000 });
    assert.equal(r.status, 0, r.stderr.slice(-3000));
    assert.match(r.stderr, /6 members, 0 already done or left as they are, 6 to train/);
    assert.match(r.stdout, /^qk_norm=true:$/m);
    assert.match(r.stdout, /^qk_norm=false:$/m);
    assert.match(r.stdout, /best final eval loss \d\.\d{3} at lr /);
    assert.match(r.stdout, /LR sensitivity \(Wortsman et al\.\)/);
    const reportFile = /^report: (.*) \(open it/m.exec(r.stdout)![1];
    assert.ok(fs.statSync(path.resolve(ROOT, reportFile)).size > 1_000_000, 'the report inlines plotly.js');
    const sweepDir = /^qknorm-lr-ci, 6 members: (.*)$/m.exec(r.stdout)![1];

    const reading = lrSweepReading(loadSweep(path.resolve(ROOT, sweepDir)))!;
    const by = (label: string) => reading.variants.find((v) => v.label === label)!;
    const qk = by('qk_norm=true');
    const plain = by('qk_norm=false');
    const log = `qk: ${JSON.stringify(qk.points)}\nno qk: ${JSON.stringify(plain.points)}`;
    assert.ok(qk.sensitivity! < 0.7 * plain.sensitivity!, `LR sensitivity with QK-Norm ${qk.sensitivity} vs ${plain.sensitivity}\n${log}`);
    const high = (v: typeof qk) => v.points.filter((p) => p.lr >= 3e-2).map((p) => p.loss!);
    const meanHigh = (v: typeof qk) => high(v).reduce((a, b) => a + b, 0) / high(v).length;
    assert.ok(meanHigh(qk) < meanHigh(plain) - 0.1, `final loss at lr >= 0.03: ${meanHigh(qk)} vs ${meanHigh(plain)}\n${log}`);
    const top = (v: typeof qk) => v.points.at(-1)!.maxAttnLogit!;
    assert.ok(top(plain) > 100 * top(qk), `max attention logit at the largest lr: ${top(plain)} without vs ${top(qk)} with QK-Norm\n${log}`);
    assert.ok(top(qk) < 1000, `QK-Norm keeps the attention logits bounded: ${top(qk)}`);

    // A second demo reuses every member: nothing is trained again.
    const again = spawnSync(process.execPath, [BIN, 'demo', '--spec', SPEC, '--out', out], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
    assert.equal(again.status, 0, again.stderr.slice(-2000));
    assert.match(again.stderr, /6 already done or left as they are, 0 to train/);
    assert.equal(again.stdout.replace(/report: .*/, ''), r.stdout.replace(/report: .*/, ''), 'the same reading');
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
