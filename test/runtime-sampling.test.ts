/**
 * The sampler's rules on their own: modality constraints, temperature / top-k / top-p, classifier-
 * free guidance, seeding and option checks (no model involved).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUserError } from '../dsl/errors';
import { Rng } from '../src/random';
import { advance, allowedNext, resolveSampling, sampleToken, TEXT_STATE, type TokenSpace } from '../src/runtime/sampling';

/** specials 0..4, text 5..19, image codes 20..27, 3 codes per image. */
export const SPACE: TokenSpace = { textStart: 5, textEnd: 20, imageStart: 20, imageCount: 8, codesPerImage: 3, bos: 0, eos: 1, pad: 2, beginImage: 3, endImage: 4 };

const logits = (values: Record<number, number>, V = 28, fill = 0) => {
  const a = new Float32Array(V).fill(fill);
  for (const [k, v] of Object.entries(values)) a[Number(k)] = v;
  return a;
};
const ids = (a: ReturnType<typeof allowedNext>) => ('forced' in a ? [a.forced] : [...a.ranges.flatMap(([lo, hi]) => Array.from({ length: hi - lo }, (_, i) => lo + i)), ...a.ids]);

test('text mode allows text, eos and (mixed, when an image fits) begin-image; never bos, pad, end-image or codes', () => {
  const mixed = ids(allowedNext(TEXT_STATE, SPACE, 'mixed', 100));
  assert.deepEqual(mixed.sort((a, b) => a - b), [1, 3, ...Array.from({ length: 15 }, (_, i) => 5 + i)]);
  assert.ok(!ids(allowedNext(TEXT_STATE, SPACE, 'text', 100)).includes(SPACE.beginImage), 'mode text never opens an image');
  // begin-image needs room for 3 codes and end-image after it: a budget of 5 (this token + 4) fits, 4 does not
  assert.ok(ids(allowedNext(TEXT_STATE, SPACE, 'mixed', 5)).includes(SPACE.beginImage));
  assert.ok(!ids(allowedNext(TEXT_STATE, SPACE, 'mixed', 4)).includes(SPACE.beginImage));
});

test('after begin-image: exactly codesPerImage codes (only codes), then end-image is forced, then text again', () => {
  let s = advance(TEXT_STATE, SPACE.beginImage, SPACE);
  for (let k = 0; k < SPACE.codesPerImage; k++) {
    assert.deepEqual(ids(allowedNext(s, SPACE, 'mixed', 100)), [20, 21, 22, 23, 24, 25, 26, 27]);
    s = advance(s, 20 + k, SPACE);
  }
  assert.deepEqual(allowedNext(s, SPACE, 'mixed', 100), { forced: SPACE.endImage });
  s = advance(s, SPACE.endImage, SPACE);
  assert.deepEqual(s, TEXT_STATE);
  // a prompt that holds a whole image leaves the sampler in text mode
  let p = TEXT_STATE;
  for (const t of [0, 7, 3, 21, 22, 23, 4, 9]) p = advance(p, t, SPACE);
  assert.deepEqual(p, TEXT_STATE);
});

test('temperature 0 and top-k 1 pick the most likely allowed token; disallowed tokens never win', () => {
  const rng = Rng.from('t');
  const o = resolveSampling({ temperature: 0 });
  const l = logits({ 25: 50, 9: 10, 11: 9 }); // 25 is an image code: not allowed in text mode
  assert.equal(sampleToken(allowedNext(TEXT_STATE, SPACE, 'mixed', 100), l, null, o, TEXT_STATE, rng), 9);
  const k1 = resolveSampling({ temperature: 1.5, topK: 1 });
  for (let i = 0; i < 20; i++) assert.equal(sampleToken(allowedNext(TEXT_STATE, SPACE, 'mixed', 100), l, null, k1, TEXT_STATE, rng), 9);
  // ties go to the lower id
  assert.equal(sampleToken(allowedNext(TEXT_STATE, SPACE, 'mixed', 100), logits({ 12: 3, 8: 3 }), null, o, TEXT_STATE, rng), 8);
});

test('top-p keeps the smallest set reaching p; temperature flattens; the draw follows the probabilities', () => {
  const allowed = allowedNext(TEXT_STATE, SPACE, 'text', 100);
  // p(9) ~ 0.88 of the mass: top-p 0.8 keeps only 9
  const l = logits({ 9: 6, 10: 4 }, 28, -30);
  const rng = Rng.from('p');
  const p8 = resolveSampling({ temperature: 1, topP: 0.8 });
  for (let i = 0; i < 50; i++) assert.equal(sampleToken(allowed, l, null, p8, TEXT_STATE, rng), 9);
  // without the cut, 10 comes up about 12% of the time (e^4 / (e^6 + e^4))
  const full = resolveSampling({ temperature: 1, topP: 1 });
  let tens = 0;
  for (let i = 0; i < 4000; i++) if (sampleToken(allowed, l, null, full, TEXT_STATE, rng) === 10) tens++;
  assert.ok(Math.abs(tens / 4000 - 0.1192) < 0.02, `10 drawn ${tens} / 4000`);
  // a high temperature makes them nearly even
  const hot = resolveSampling({ temperature: 100, topP: 1, topK: 2 });
  tens = 0;
  for (let i = 0; i < 4000; i++) if (sampleToken(allowed, l, null, hot, TEXT_STATE, rng) === 10) tens++;
  assert.ok(Math.abs(tens / 4000 - 0.495) < 0.03, `10 drawn ${tens} / 4000 at temperature 100`);
});

test('the same seed gives the same draws, another seed other draws', () => {
  const allowed = allowedNext(TEXT_STATE, SPACE, 'text', 100);
  const o = resolveSampling({ temperature: 1, topP: 1 });
  const draw = (seed: number) => {
    const rng = Rng.from('chamlab-generate', seed);
    return Array.from({ length: 30 }, () => sampleToken(allowed, logits({}), null, o, TEXT_STATE, rng));
  };
  assert.deepEqual(draw(5), draw(5));
  assert.notDeepEqual(draw(5), draw(6));
});

test('classifier-free guidance moves image codes only: u + cfg * (c - u)', () => {
  const rng = Rng.from('g');
  const inImage = advance(TEXT_STATE, SPACE.beginImage, SPACE);
  // conditional prefers 21 slightly, unconditional prefers 21 strongly: guidance extrapolates away
  // from the unconditional stream, towards what the condition adds (22)
  const cond = logits({ 21: 5, 22: 4.5 });
  const uncond = logits({ 21: 8, 22: 3 });
  const greedy = (cfg: number) => sampleToken(allowedNext(inImage, SPACE, 'mixed', 100), cond, uncond, resolveSampling({ temperature: 0, cfg }), inImage, rng);
  assert.equal(greedy(1), 21, 'cfg 1 is the conditional stream alone');
  assert.equal(greedy(3), 22, '3 * (4.5 - 3) + 3 = 7.5 beats 3 * (5 - 8) + 8 = -1');
  // in text mode the unconditional logits are ignored whatever the scale
  const t = sampleToken(allowedNext(TEXT_STATE, SPACE, 'text', 100), logits({ 9: 2, 10: 1 }), logits({ 9: 9, 10: 0 }), resolveSampling({ temperature: 0, cfg: 5 }), TEXT_STATE, rng);
  assert.equal(t, 9);
});

test('NaN logits are never preferred to numbers', () => {
  const l = logits({ 9: NaN, 10: 1 });
  assert.equal(sampleToken(allowedNext(TEXT_STATE, SPACE, 'text', 100), l, null, resolveSampling({ temperature: 0 }), TEXT_STATE, Rng.from('n')), 10);
});

test('bad sampling options are user errors naming the option', () => {
  for (const [o, name] of [
    [{ temperature: -0.5 }, 'temperature'],
    [{ temperature: NaN }, 'temperature'],
    [{ topP: 0 }, 'topP'],
    [{ topP: 1.5 }, 'topP'],
    [{ topK: -1 }, 'topK'],
    [{ topK: 2.5 }, 'topK'],
    [{ maxTokens: 0 }, 'maxTokens'],
    [{ seed: 0.5 }, 'seed'],
    [{ cfg: -1 }, 'cfg'],
    [{ mode: 'video' as any }, 'mode'],
  ] as const) {
    assert.throws(
      () => resolveSampling(o),
      (e: unknown) => isUserError(e) && (e as Error).message.startsWith(`${name}: must be`),
      JSON.stringify(o),
    );
  }
  assert.throws(() => resolveSampling({ temperature: -1 }, (k) => `--${k}`), (e: unknown) => (e as Error).message.startsWith('--temperature: must be a number >= 0'));
  assert.deepEqual(resolveSampling({}), { temperature: 0.7, topP: 0.9, topK: 0, seed: 0, maxTokens: 256, mode: 'mixed', cfg: 1 });
});
