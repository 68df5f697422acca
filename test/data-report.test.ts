/** What `chamlab data` shows: stage reports and decoded sequences with image placeholders. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { BEGIN_IMAGE, BOS, END_IMAGE, EOS, renderSequence, stageReport } from '../src/data';
import { pipeline } from './data-fixtures';

const base = pipeline();

test('a sequence renders as text with <image k>, and cut images are marked partial', async () => {
  const p = await base;
  const codes = (n: number, from = 0) => Array.from({ length: n }, (_, i) => p.layout.imageOffset + ((from + i) % 128));
  const text = (s: string) => p.encoder.bpe.encode(s);
  const ids = [...codes(5), END_IMAGE, ...text(' a seven'), EOS, BOS, ...text('Look: '), BEGIN_IMAGE, ...codes(49), END_IMAGE, ...text(' and '), BEGIN_IMAGE, ...codes(10)];
  const r = renderSequence(p, ids);
  assert.equal(r.text, '<image 0: partial, 5 of 49 codes> a seven</s><s>Look: <image 1> and <image 2: partial, 10 of 49 codes>');
  assert.deepEqual(r.images.map((im) => im.complete), [false, true, false]);
  assert.equal(r.images[1].image?.size, 28);
  assert.deepEqual(r.images[1].codes, codes(49).map((c) => c - p.layout.imageOffset));
});

test('stage report: counts, shares and samples agree with each other', async () => {
  const p = await base;
  const { report, samples } = stageReport(p, 'stage1', 20_000, 3);
  assert.equal(samples.length, 3);
  assert.ok(report.tokens >= 20_000);
  assert.deepEqual(Object.keys(report.realized), Object.keys(report.declared));
  assert.ok(report.images > 0 && report.image_token_share > 0 && report.image_token_share < 1);
  assert.equal(report.declared_image_first, 0.5);
  // Sampled sequences are the first ones of the same stream the shares were measured on.
  assert.ok(samples[0].text.startsWith('<s>'));
});
