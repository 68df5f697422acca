/** The data pipeline: stages, mixtures, image-first rotation, packing, determinism, cursors, eval. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadSpec } from '../dsl';
import { BEGIN_IMAGE, BOS, END_IMAGE, EOS, IGNORE_INDEX, PAD, createDataPipeline, stageReport } from '../src/data';
import { CACHE, REPO, hashBatches, pipeline, project, smallSpec, steps } from './data-fixtures';

const base = pipeline();

test('realized token shares are within 2 points of the declared ones in every stage (>= 100k tokens)', async () => {
  const p = await base;
  for (const stage of p.schedule) {
    const { report } = stageReport(p, stage.name, 100_000);
    assert.ok(report.tokens >= 100_000);
    const sum = Object.values(report.realized).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-9, `realized shares sum to ${sum}`);
    for (const [name, declared] of Object.entries(report.declared)) {
      const realized = report.realized[name];
      assert.ok(Math.abs(realized - declared) < 0.02, `${stage.name}/${name}: declared ${declared}, realized ${realized}`);
    }
  }
});

test('tiny.yaml: two stages over 80%/20% of steps, stage 2 = stage 1 x 0.5 plus higher-quality text', async () => {
  const small = ['tokenizer.image.train_images=300', 'tokenizer.image.iterations=3', 'tokenizer.text.corpus=[text]'];
  const { spec, file, root } = loadSpec(path.join(REPO, 'experiments', 'tiny.yaml'), { overrides: small });
  const p = await createDataPipeline(spec, { specDir: path.dirname(file), projectDir: root, cacheDir: CACHE });
  const steps = spec.train.steps;
  assert.deepEqual(p.schedule.map((s) => [s.name, s.start, s.end]), [['stage1', 0, 0.8 * steps], ['stage2', 0.8 * steps, steps]]);
  const s1 = Object.fromEntries(p.schedule[0].weights);
  const s2 = Object.fromEntries(p.schedule[1].weights);
  const newShare = 1 - Object.keys(s1).reduce((a, n) => a + s2[n], 0);
  assert.ok(newShare > 0, 'stage 2 adds a source');
  for (const n of Object.keys(s1)) assert.ok(Math.abs(s2[n] - 0.5 * s1[n]) < 1e-12, `${n}: ${s1[n]} -> ${s2[n]}`);
  assert.equal(spec.data.sources[Object.keys(s1).find((n) => spec.data.sources[n].kind === 'image-text')!].image_first, 0.5);
  assert.deepEqual(new Set(Object.keys(s1).map((n) => spec.data.sources[n].kind)), new Set(['text', 'image-text', 'interleaved']));
  assert.equal(p.nextBatch(0).stage, 'stage1');
  assert.equal(p.nextBatch(0.8 * steps).stage, 'stage2');
});

test('image-first ratio within 2 points of image_first (0.5, and 0.2 when declared so)', async () => {
  for (const image_first of [0.5, 0.2]) {
    const p = image_first === 0.5 ? await base : await pipeline(smallSpec((s) => (s.data.sources.image_text.image_first = image_first)));
    const { report } = stageReport(p, 'stage1', 100_000);
    assert.ok(Math.abs(report.image_first_ratio! - image_first) < 0.02, `declared ${image_first}, realized ${report.image_first_ratio}`);
  }
});

test('the same seed gives the same first 1000 batches; another seed does not', async () => {
  const a = hashBatches(steps(await pipeline(), 0, 1000));
  const b = hashBatches(steps(await pipeline(), 0, 1000));
  const c = hashBatches(steps(await pipeline(smallSpec((s) => (s.train.seed = 1))), 0, 1000));
  assert.equal(a, b);
  assert.notEqual(a, c);
});

test('a restored cursor reproduces the continuation exactly (through JSON, in a new pipeline)', async () => {
  const p = await pipeline();
  for (const _ of steps(p, 0, 77)); // across the stage boundary at 80 below
  const cursor = JSON.parse(JSON.stringify(p.cursor()));
  const expected = hashBatches(steps(p, 77, 40));
  const q = await pipeline();
  q.restore(cursor);
  assert.equal(hashBatches(steps(q, 77, 40)), expected);
  p.restore(cursor);
  assert.equal(hashBatches(steps(p, 77, 40)), expected, 'restoring rewinds the same pipeline too');
});

test('a cursor from different data is refused', async () => {
  const p = await pipeline();
  const other = await pipeline(smallSpec((s) => (s.train.seed = 7)));
  assert.throws(() => other.restore(p.cursor()), /belongs to different data/);
  assert.throws(() => p.nextBatch(-1), /at step 0/);
});

test('asking for a later step replays the ones between (same batches as stepping)', async () => {
  const p = await pipeline();
  const q = await pipeline();
  for (const _ of steps(p, 0, 10));
  assert.equal(hashBatches([p.nextBatch(10)]), hashBatches([q.nextBatch(10)]));
});

test('pack mode: labels are the next tokens, across sequence boundaries; no padding; eos between documents', async () => {
  const p = await base;
  const q = await pipeline();
  const batches = [...steps(q, 0, 30)];
  const flat: number[] = [];
  const labels: number[] = [];
  for (const b of batches) {
    assert.equal(b.input_ids.length, b.batch * b.seq);
    assert.equal(b.seq, 64);
    flat.push(...b.input_ids);
    labels.push(...b.labels);
  }
  for (let i = 0; i + 1 < flat.length; i++) assert.equal(labels[i], flat[i + 1], `position ${i}`);
  assert.ok(!flat.includes(PAD) && !labels.includes(IGNORE_INDEX));
  for (let i = 0; i + 1 < flat.length; i++) if (flat[i] === EOS) assert.equal(flat[i + 1], BOS);
  assert.ok(flat.every((t) => t >= 0 && t < p.layout.total));
});

test('an image in a sequence is begin_image, 49 codes from the image range, end_image', async () => {
  const q = await pipeline();
  const flat = [...steps(q, 0, 40)].flatMap((b) => [...b.input_ids]);
  const lo = q.layout.imageOffset;
  let images = 0;
  for (let i = 0; i < flat.length; i++) {
    if (flat[i] !== BEGIN_IMAGE || i + 50 >= flat.length) continue;
    for (let j = 1; j <= 49; j++) assert.ok(flat[i + j] >= lo && flat[i + j] < lo + 128, `code at ${i + j}`);
    assert.equal(flat[i + 50], END_IMAGE);
    images++;
  }
  assert.ok(images > 20);
  // Image codes appear nowhere else.
  const inImage = new Set<number>();
  for (let i = 0; i < flat.length; i++) if (flat[i] === BEGIN_IMAGE) for (let j = 1; j <= 49; j++) inImage.add(i + j);
  for (let i = 50; i < flat.length - 50; i++) if (flat[i] >= lo) assert.ok(inImage.has(i), `stray image code at ${i}`);
});

test('pad mode: one document per sequence, pad positions labelled -100, long documents continue', async () => {
  const p = await pipeline(smallSpec((s) => (s.data.packing = { mode: 'pad' })));
  for (const b of steps(p, 0, 50)) {
    for (let r = 0; r < b.batch; r++) {
      const row = b.input_ids.subarray(r * b.seq, (r + 1) * b.seq);
      const lab = b.labels.subarray(r * b.seq, (r + 1) * b.seq);
      const bosAt = [...row].flatMap((t, i) => (t === BOS ? [i] : []));
      assert.ok(bosAt.length <= 1 && (bosAt.length === 0 || bosAt[0] === 0), 'at most one document, starting the row');
      for (let i = 0; i < b.seq; i++) {
        if (row[i] === PAD) assert.equal(lab[i], IGNORE_INDEX);
        else if (i + 1 < b.seq && row[i + 1] !== PAD) assert.equal(lab[i], row[i + 1]);
      }
      const eos = [...row].indexOf(EOS);
      if (eos >= 0) assert.equal(lab[eos], IGNORE_INDEX, 'nothing is predicted after eos');
    }
  }
});

test('eval batches come from held-out documents, are the same every call and every seed, and differ from training', async () => {
  const p = await base;
  const a = p.evalBatches(3);
  assert.equal(a.length, 3);
  assert.equal(hashBatches(a), hashBatches(p.evalBatches(3)));
  assert.notEqual(hashBatches(a), hashBatches(steps(await pipeline(), 0, 3)));
  assert.equal(p.evalBatches(2, { stage: 'stage2' }).length, 2);
  const otherSeed = await pipeline(smallSpec((s) => (s.train.seed = 3)));
  assert.equal(hashBatches(otherSeed.evalBatches(3)), hashBatches(a), 'seed replicates share the eval set');
});

test('tokenizer report: vocabulary layout and held-out reconstruction', async () => {
  const p = await base;
  assert.deepEqual([p.layout.text, p.layout.image, p.layout.total, p.layout.imageOffset], [512, 128, 640, 512]);
  assert.deepEqual(Object.values(p.layout.specials).map((s) => s.id), [0, 1, 2, 3, 4]);
  const r = p.tokenizerReport;
  assert.equal(r.text.size, 512);
  assert.equal(r.image.tokens_per_image, 51);
  assert.ok(r.image.heldout_images > 0 && r.image.heldout_psnr > 18, `PSNR ${r.image.heldout_psnr}`);
});

test('tokenizers saved to files and named by the spec give the same batches as the trained ones', async () => {
  const p = await base;
  const dir = project({});
  fs.copyFileSync(p.tokenizerReport.text.file, path.join(dir, 'tokenizer.json'));
  fs.copyFileSync(p.tokenizerReport.image.file!, path.join(dir, 'codebook.json'));
  const spec = smallSpec((s) => {
    s.tokenizer!.text!.file = 'tokenizer.json';
    s.tokenizer!.image!.file = 'codebook.json';
  });
  const q = await createDataPipeline(spec, { specDir: dir, cacheDir: CACHE });
  assert.deepEqual([q.tokenizerReport.text.origin, q.tokenizerReport.image.origin], ['file', 'file']);
  const fresh = await pipeline();
  assert.equal(hashBatches(steps(q, 0, 20)), hashBatches(steps(fresh, 0, 20)));
});

test('a text-only experiment needs no image codebook', async () => {
  const p = await pipeline(
    smallSpec((s) => {
      s.tokenizer!.text!.corpus = [];
      s.data.sources = { text: { kind: 'text', origin: 'builtin:moby-dick' } };
      s.data.stages = [{ name: 'only', share: 1, weights: { text: 1 } }];
    }),
  );
  assert.equal(p.tokenizerReport.image.origin, 'none');
  const b = p.nextBatch(0);
  assert.ok(b.input_ids.every((t) => t < p.layout.imageOffset));
});
