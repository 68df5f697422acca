/**
 * Sources: builtin corpora cut into documents, the held-out split, and user data files read strictly
 * (every record becomes a document or the run stops with `file:line: message`; nothing is skipped).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { isUserError } from '../dsl/errors';
import { createSources, encodePng, type RawDoc } from '../src/data';
import { holdoutIndices } from '../src/data/sources/split';
import { chunk, mobyDickDocs } from '../src/data/sources/text-builtin';
import { mnistPairs } from '../src/data/sources/mnist';
import { REPO, project, smallSpec } from './data-fixtures';

const digit = (i: number) => {
  const d = mnistPairs(28, 0.05).train.get(i);
  return d.kind === 'pair' ? encodePng(d.image.load()) : assert.fail('not a pair');
};

/** Sources of a spec whose one source is `source`, read from `dir`. */
function userSources(dir: string, source: { kind: 'text' | 'image-text' | 'interleaved'; origin: string; holdout?: number }) {
  const spec = smallSpec((s) => {
    s.data.sources = { user: source };
    s.data.stages = [{ name: 'only', share: 1, weights: { user: 1 } }];
  });
  return createSources(spec, { specDir: dir });
}

/** The one-line message of the UserError `fn` throws. */
function userError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (!isUserError(e)) throw e;
    assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
    return e.message;
  }
  return assert.fail('expected a UserError');
}

const all = (s: { train: { length: number; get(i: number): RawDoc }; holdout: { length: number; get(i: number): RawDoc } }) => [
  ...Array.from({ length: s.train.length }, (_, i) => s.train.get(i)),
  ...Array.from({ length: s.holdout.length }, (_, i) => s.holdout.get(i)),
];

test('JSONL text: every line is a document (blank lines are not records), none skipped', () => {
  const lines = Array.from({ length: 40 }, (_, i) => JSON.stringify({ text: `document number ${i} ✓` }));
  const dir = project({ 'data/t.jsonl': lines.slice(0, 20).join('\n') + '\n\n' + lines.slice(20).join('\n') + '\n' });
  const [src] = userSources(dir, { kind: 'text', origin: 'data/t.jsonl', holdout: 0.1 });
  assert.equal(src.train.length + src.holdout.length, 40);
  assert.equal(src.holdout.length, 4);
  const texts = all(src).map((d) => (d.kind === 'text' ? d.text : '')).sort();
  assert.deepEqual(texts, lines.map((l) => JSON.parse(l).text).sort());
});

test('JSONL text: malformed lines stop the run naming file and line', () => {
  const cases: Array<[string | Buffer, RegExp]> = [
    ['{"text": "ok"}\n{"text": "ok"}\n{"text": broken}\n', /^data\/t\.jsonl:3: invalid JSON/],
    ['{"text": "ok"}\n{"txt": "typo"}\n', /^data\/t\.jsonl:2: unknown key "txt"/],
    ['{"text": "ok"}\n{"text": ""}\n', /^data\/t\.jsonl:2: "text" is empty/],
    ['{"text": 5}\n', /^data\/t\.jsonl:1: "text" must be a string/],
    ['["text"]\n', /^data\/t\.jsonl:1: expected a JSON object/],
    ['\n\n', /^data\/t\.jsonl: no records/],
  ];
  const invalidUtf8 = Buffer.concat([Buffer.from('{"text": "ok"}\n{"text": "'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')]);
  for (const [content, want] of [...cases, [invalidUtf8, /^data\/t\.jsonl:2: not valid UTF-8/] as [Buffer, RegExp]]) {
    const dir = project({ 'data/t.jsonl': content });
    const cwd = process.cwd();
    process.chdir(dir); // messages show paths relative to the working directory
    try {
      assert.match(userError(() => userSources(dir, { kind: 'text', origin: 'data/t.jsonl' })), want);
    } finally {
      process.chdir(cwd);
    }
  }
});

test('PNG + caption folder: pairs in name order; a missing caption or a stray file is an error', () => {
  const dir = project({ 'pngs/b.png': digit(1), 'pngs/b.txt': 'a one\n', 'pngs/a.png': digit(0), 'pngs/a.txt': 'a zero' });
  const [src] = userSources(dir, { kind: 'image-text', origin: 'pngs', holdout: 0 });
  const docs = all(src);
  assert.deepEqual(docs.map((d) => (d.kind === 'pair' ? d.caption : '')), ['a zero', 'a one']);
  const img = docs[0].kind === 'pair' ? docs[0].image.load() : assert.fail();
  assert.equal(img.size, 28);

  const noCaption = project({ 'pngs/a.png': digit(0), 'pngs/a.txt': 'a zero', 'pngs/b.png': digit(1) });
  assert.match(userError(() => userSources(noCaption, { kind: 'image-text', origin: 'pngs' })), /pngs\/b\.png: no caption file b\.txt/);
  const stray = project({ 'pngs/a.png': digit(0), 'pngs/a.txt': 'a zero', 'pngs/notes.md': 'x' });
  assert.match(userError(() => userSources(stray, { kind: 'image-text', origin: 'pngs' })), /pngs\/notes\.md: unexpected file/);
  const broken = project({ 'pngs/a.png': 'not a png', 'pngs/a.txt': 'a zero' });
  assert.match(userError(() => userSources(broken, { kind: 'image-text', origin: 'pngs' })), /pngs\/a\.png: cannot read PNG/);
});

test('JSONL interleaved: text and images in order; bad parts and paths name file and line', () => {
  const good = [
    { parts: [{ text: 'Two digits: ' }, { image: 'img/a.png' }, { text: ' and ' }, { image: 'img/b.png' }] },
    { parts: [{ image: 'img/b.png' }, { text: 'alone' }] },
  ];
  const dir = project({ 'docs.jsonl': good.map((g) => JSON.stringify(g)).join('\n'), 'img/a.png': digit(0), 'img/b.png': digit(1) });
  const [src] = userSources(dir, { kind: 'interleaved', origin: 'docs.jsonl', holdout: 0 });
  const first = src.train.get(0);
  assert.equal(first.kind, 'interleaved');
  if (first.kind === 'interleaved') assert.deepEqual(first.parts.map((p) => ('text' in p ? 'text' : 'image')), ['text', 'image', 'text', 'image']);

  const bad: Array<[object, RegExp]> = [
    [{ parts: [{ text: 'x' }, { image: 'img/missing.png' }] }, /docs\.jsonl:2: "img\/missing\.png" does not exist/],
    [{ parts: [{ text: 'x' }, { image: '../../etc/passwd' }] }, /docs\.jsonl:2: "\.\.\/\.\.\/etc\/passwd" is outside the project folder/],
    [{ parts: [{ text: 'x', image: 'img/a.png' }] }, /docs\.jsonl:2: parts\[0\]: each part needs exactly one of "text" or "image"/],
    [{ parts: [{ text: 'only text' }] }, /docs\.jsonl:2: an interleaved document needs at least one image part/],
    [{ parts: [] }, /docs\.jsonl:2: "parts" must be a non-empty array/],
  ];
  for (const [record, want] of bad) {
    const d = project({ 'docs.jsonl': `${JSON.stringify(good[0])}\n${JSON.stringify(record)}\n`, 'img/a.png': digit(0), 'img/b.png': digit(1) });
    assert.match(userError(() => userSources(d, { kind: 'interleaved', origin: 'docs.jsonl' })), want);
  }
});

test('origins: kind mismatches, unknown builtins and paths outside the project are refused', () => {
  const dir = project({});
  assert.match(userError(() => userSources(dir, { kind: 'text', origin: 'builtin:mnist' })), /data\.sources\.user\.origin: builtin:mnist provides image-text documents/);
  assert.match(userError(() => userSources(dir, { kind: 'text', origin: 'builtin:wiki' })), /unknown builtin "builtin:wiki"/);
  assert.match(userError(() => userSources(dir, { kind: 'text', origin: '../outside.jsonl' })), /is outside the project folder/);
});

test('held-out split: exact count, spread over the corpus, deterministic', () => {
  const h = [...holdoutIndices(1000, 0.05)];
  assert.equal(h.length, 50);
  assert.ok(h[0] < 20 && h[h.length - 1] > 980, 'spread from start to end, not the first 50');
  assert.deepEqual([...holdoutIndices(1000, 0.05)], h);
  assert.equal(holdoutIndices(3, 0.05).size, 1, 'a small source still gets one held-out document');
  assert.equal(holdoutIndices(1, 0.5).size, 0, 'a single document is never held out');
  assert.equal(holdoutIndices(100, 0).size, 0);
});

test('builtin corpora: documents of bounded size, nothing lost but blank lines', () => {
  const docs = mobyDickDocs().map((d) => (d.kind === 'text' ? d.text : ''));
  assert.ok(docs.length > 1000);
  assert.ok(docs.every((d) => d.length > 0 && d.length <= 4000), 'documents are at most a long paragraph');
  const paragraphs = ['First paragraph here.', '', 'Second one.', 'A'.repeat(50) + '. ' + 'B'.repeat(2500) + '. Next sentence.'];
  const joined = chunk(paragraphs).join(' ');
  for (const word of ['First paragraph here.', 'Second one.', 'Next sentence.']) assert.ok(joined.includes(word));
});

test('the CLI reports a malformed data file as one line `file:line: message`, exit 1, no stack trace', () => {
  const spec = `name: bad-data
model: { vocab: { text: 300, image: 16 }, d_model: 16, layers: 1, heads: 1 }
tokenizer: { image: { codebook_size: 16, train_images: 20, iterations: 1 } }
data:
  sources:
    user: { kind: text, origin: data/t.jsonl }
    digits: { kind: image-text, origin: "builtin:mnist" }
  stages: [{ name: only, share: 1, weights: { user: 0.5, digits: 0.5 } }]
train: { steps: 10 }
`;
  const dir = project({ 'spec.yaml': spec, 'data/t.jsonl': '{"text": "fine"}\n{"text": "fine"}\n{"text" "oops"}\n' });
  const r = spawnSync(process.execPath, [path.join(REPO, 'bin', 'chamlab.js'), 'data', 'spec.yaml'], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^data\/t\.jsonl:3: invalid JSON \(.*\)\n$/);
});

test('builtin:mnist: every digit is captioned with every template', () => {
  const { train } = mnistPairs(28, 0.05);
  const seen = new Map<string, Set<string>>();
  for (let i = 0; i < 2000; i++) {
    const doc = train.get(i) as { caption: string; image: { key: string } };
    const label = doc.image.key.split(':')[1];
    const template = doc.caption.replace(/\d|zero|one|two|three|four|five|six|seven|eight|nine/g, '#');
    if (!seen.has(label)) seen.set(label, new Set());
    seen.get(label)!.add(template);
  }
  assert.equal(seen.size, 10);
  for (const [label, templates] of seen) assert.equal(templates.size, 4, `digit ${label}: templates ${[...templates].join(' | ')}`);
});
