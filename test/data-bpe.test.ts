/** Byte-level BPE: training, round trips, tokenizer.json compatibility, special-token safety. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { BpeTokenizer, WordCounter, trainBpe } from '../src/data';
import { mobyDickDocs } from '../src/data/sources/text-builtin';
import { SPECIALS } from './data-fixtures';

const corpus = mobyDickDocs().map((d) => (d.kind === 'text' ? d.text : ''));

function train(vocabSize = 1024, minFrequency = 2): BpeTokenizer {
  const wc = new WordCounter();
  for (const t of corpus) wc.add(t);
  return trainBpe(wc, { vocabSize, minFrequency, specials: SPECIALS });
}

const tok = train();

const HARD = [
  '',
  'Call me Ishmael.',
  '  leading and trailing spaces  ',
  'tabs\tand\r\nwindows newlines\n\n\nand runs   of    spaces',
  'unicode: naïve café, Ünïcödé, 日本語のテキスト, עברית, العربية, emoji 🐳🐋👩‍👩‍👧, e\u0301 (combining)',
  "contractions: don't, we'll, they're, I'd, it's",
  'digits 0123456789 and 3.14159e-10, symbols ~!@#$%^&*()_+{}|:"<>?',
  'looks special: <s> </s> <pad> <racm3:break> <eoss>',
  '\u0000 control \u0007 chars \u001b[0m',
];

test('BPE round trip: decode(encode(s)) === s, unicode and whitespace included', () => {
  for (const s of HARD) assert.equal(tok.decode(tok.encode(s)), s);
  for (const doc of corpus.slice(0, 200)) assert.equal(tok.decode(tok.encode(doc)), doc);
});

test('BPE uses the vocabulary it was asked for and compresses English', () => {
  assert.equal(tok.size, 1024);
  assert.equal(tok.merges.length, 1024 - 5 - 256);
  const text = corpus.slice(0, 100).join('\n');
  const ids = tok.encode(text);
  assert.ok(ids.every((id) => id >= 5 && id < 1024), 'plain text never encodes to specials or beyond the vocabulary');
  const bytes = Buffer.byteLength(text);
  // Bytes alone would be 1 per token; 763 merges learned on this corpus give about 2.6.
  assert.ok(bytes / ids.length > 2.4, `expected > 2.4 bytes per token, got ${(bytes / ids.length).toFixed(2)}`);
});

test('BPE training is deterministic', () => {
  assert.deepEqual(train().toJSON(), tok.toJSON());
});

test('min_frequency stops merging: rare pairs are never merged', () => {
  const wc = new WordCounter();
  wc.add('aaaa bbbb aaaa cd');
  const t = trainBpe(wc, { vocabSize: 400, minFrequency: 2, specials: SPECIALS });
  // "cd" occurs once: with min_frequency 2 it must stay two tokens.
  assert.equal(t.encode(' cd').length, 3);
  assert.ok(t.merges.length < 400 - 261, 'stops before the vocabulary is full');
});

test('special tokens are structural: text that looks like one is plain text', () => {
  const ids = tok.encode('<s></s><pad>');
  assert.ok(!ids.some((id) => id < 5));
  assert.equal(tok.decode([0, 1, 2, 3, 4]), '<s></s><pad><racm3:break><eoss>');
});

test('tokenizer.json: HuggingFace layout, loads back identically', () => {
  const json = tok.toJSON() as any;
  assert.equal(json.model.type, 'BPE');
  assert.equal(json.pre_tokenizer.type, 'ByteLevel');
  assert.equal(json.decoder.type, 'ByteLevel');
  assert.deepEqual(
    json.added_tokens.map((a: any) => [a.id, a.content, a.special]),
    [[0, '<s>', true], [1, '</s>', true], [2, '<pad>', true], [3, '<racm3:break>', true], [4, '<eoss>', true]],
  );
  assert.equal(Object.keys(json.model.vocab).length, 1024);
  assert.equal(json.model.vocab['Ġ'], 5 + 32, 'the space byte is Ġ, GPT-2 style');
  assert.ok(json.model.merges.every((m: string) => m.split(' ').length === 2));
  const back = BpeTokenizer.fromJSON(JSON.parse(JSON.stringify(json)), SPECIALS, 'tokenizer.json');
  assert.deepEqual(back.toJSON(), json);
  for (const s of HARD) assert.deepEqual(back.encode(s), tok.encode(s));
});

test("HuggingFace's own tokenizers.js reads our tokenizer.json and encodes and decodes exactly as we do", () => {
  const hf = new HfTokenizer(JSON.parse(JSON.stringify(tok.toJSON())), {});
  // HF matches added tokens inside raw text; we deliberately do not (see 'special tokens are
  // structural'), so the one string that spells specials is left out of the comparison.
  for (const s of [...HARD.filter((h) => !h.startsWith('looks special')), ...corpus.slice(300, 340)]) {
    const ids = tok.encode(s);
    assert.deepEqual(hf.encode(s, { add_special_tokens: false }).ids, ids, JSON.stringify(s.slice(0, 60)));
    if (ids.length > 0) assert.equal(hf.decode(ids), s); // tokenizers.js refuses to decode []
  }
  assert.equal(hf.decode([0, 3, 4, 1], { skip_special_tokens: false }), '<s><racm3:break><eoss></s>');
});

test('tokenizer.json from other tools: pair-array merges and reordered ids load', () => {
  const json = tok.toJSON() as any;
  const arrays = { ...json, model: { ...json.model, merges: json.model.merges.map((m: string) => m.split(' ')) } };
  const back = BpeTokenizer.fromJSON(arrays, SPECIALS, 'x.json');
  assert.deepEqual(back.encode(HARD[4]), tok.encode(HARD[4]));
});

test('tokenizer.json with other special tokens is rejected with a clear message', () => {
  const json = tok.toJSON() as any;
  assert.throws(
    () => BpeTokenizer.fromJSON(json, { ...SPECIALS, bos: '<|begin|>' }, 'tok.json'),
    /tok\.json: id 0 must be the bos token "<\|begin\|>", found "<s>"/,
  );
  assert.throws(() => BpeTokenizer.fromJSON({ model: { type: 'WordPiece' } }, SPECIALS, 'tok.json'), /tok\.json: not a BPE tokenizer\.json/);
});

// Measured 15-20M chars/s with a warm word cache on a quiet 2-core machine (0.5-1.2M under load
// averages of 8-12); the bound is far below both, so that a busy CI machine cannot fail it.
test('encoding is fast (word cache)', (t) => {
  const text = corpus.join('\n');
  tok.encode(text.slice(0, 200_000)); // warm the cache as a pipeline would be
  const t0 = performance.now();
  const ids = tok.encode(text);
  const secs = (performance.now() - t0) / 1000;
  const rate = text.length / secs;
  assert.ok(ids.length > 0);
  t.diagnostic(`encode: ${(rate / 1e6).toFixed(2)}M chars/s`);
  assert.ok(rate > 1e5, `encode ran at ${(rate / 1e6).toFixed(2)}M chars/s`);
});
