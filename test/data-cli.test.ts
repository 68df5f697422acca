/** `chamlab data`: the JSON report (declared vs realized mixture, image-first ratio, samples) and --png. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { PNG } from 'pngjs';
import { CACHE, REPO, project } from './data-fixtures';

const SPEC = `name: cli-data
model: { vocab: { text: 400, image: 64 }, d_model: 16, layers: 1, heads: 1 }
tokenizer:
  text: { corpus: [pairs, worked] }
  image: { codebook_size: 64, train_images: 200, iterations: 3 }
data:
  seq_len: 128
  sources:
    pairs: { kind: image-text, origin: "builtin:mnist", image_first: 0.25 }
    worked: { kind: interleaved, origin: "builtin:mnist-arithmetic" }
    notes: { kind: text, origin: notes.jsonl }
  stages:
    - { name: first, share: 0.5, weights: { pairs: 0.6, worked: 0.4 } }
    - { name: second, share: 0.5, from: { stage: first, scale: 0.5 }, weights: { notes: 0.5 } }
train: { steps: 20, batch: 2 }
`;

const NOTES = Array.from({ length: 30 }, (_, i) => JSON.stringify({ text: `Note ${i}: digits are written by hand and scanned at 28 by 28 pixels.` })).join('\n');

function chamlab(dir: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(REPO, 'bin', 'chamlab.js'), 'data', ...args, '--cache', CACHE], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test('--json: per stage declared and realized shares (summing to 1, within 2 points), image-first ratio, samples', () => {
  const dir = project({ 'spec.yaml': SPEC, 'notes.jsonl': NOTES });
  const out = JSON.parse(chamlab(dir, 'spec.yaml', '--json', '--samples', '2', '--png', 'out'));
  assert.deepEqual(out.stages.map((s: any) => s.name), ['first', 'second']);
  for (const s of out.stages) {
    assert.ok(s.tokens >= 100_000);
    for (const which of ['declared', 'realized']) {
      const sum = Object.values<number>(s[which]).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-9, `${s.name} ${which} sums to ${sum}`);
    }
    for (const [n, d] of Object.entries<number>(s.declared)) assert.ok(Math.abs(s.realized[n] - d) < 0.02, `${s.name}/${n}: ${d} vs ${s.realized[n]}`);
    assert.ok(Math.abs(s.image_first_ratio - 0.25) < 0.02, `image-first ${s.image_first_ratio}`);
    assert.equal(s.tokens_per_image, 51);
  }
  assert.deepEqual(out.stages[1].declared, { notes: 0.5, pairs: 0.3, worked: 0.2 });
  assert.equal(out.samples.length, 4);
  const withImages = out.samples.flatMap((s: any) => s.images.filter((im: any) => im.complete));
  assert.ok(withImages.length > 0);
  for (const im of withImages) {
    const png = PNG.sync.read(fs.readFileSync(path.join(dir, im.png)));
    assert.deepEqual([png.width, png.height], [28, 28]);
  }
  assert.ok(out.samples.some((s: any) => /<image \d+>/.test(s.text)));
});

test('text output and --stage: one stage, a table and decoded samples', () => {
  const dir = project({ 'spec.yaml': SPEC, 'notes.jsonl': NOTES });
  const out = chamlab(dir, 'spec.yaml', '--stage', 'second', '--samples', '1', '--tokens', '20000');
  assert.match(out, /stage second: steps 10\.\.19/);
  assert.doesNotMatch(out, /stage first/);
  assert.match(out, /image-first ratio \d+\.\d% \(declared 25\.0%\)/);
  assert.match(out, /held-out reconstruction: PSNR \d+\.\d+ dB/);
  assert.match(out, /\[second #0\]/);
});
