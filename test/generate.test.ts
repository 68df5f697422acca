/**
 * Generation from run folders, through the library (Generator, generate) and through
 * `chamlab generate` (bin/chamlab.js): prompts with images, the files written, seeds, checkpoint
 * folders, and one-line errors with exit 1 for every bad input the issue lists. The run folder is
 * runExperiment's, for the digits spec at a small size trained 2 steps: these tests check the
 * plumbing and the constraints; generate-quality.test.ts checks what a trained model draws.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { isUserError } from '../dsl/errors';
import { readPng } from '../src/data/png';
import { BEGIN_IMAGE, END_IMAGE } from '../src/data/vocab';
import { Generator, generate, parsePrompt } from '../src/generate';
import { runExperiment } from '../src/runs';
import { CHECKPOINT_FILES, RUN_FILES } from '../src/runs/layout';

const root = path.resolve(__dirname, '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-generate-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const bin = path.join(root, 'bin', 'chamlab.js');
const chamlab = (...args: string[]) => spawnSync(process.execPath, [bin, 'generate', ...args], { encoding: 'utf8', cwd: tmp });

let run = '';
let emptyRun = '';

before(async () => {
  const overrides = ['model.d_model=32', 'model.layers=1', 'model.heads=2', 'tokenizer.image.train_images=300', 'tokenizer.image.iterations=3', 'train.steps=2', 'train.eval_batches=1'];
  run = (await runExperiment(path.join(root, 'experiments', 'digits.yaml'), { out: path.join(tmp, 'runs'), overrides })).dir;
  // the same run, but training never reached a checkpoint
  emptyRun = path.join(tmp, 'empty');
  fs.cpSync(run, emptyRun, { recursive: true });
  fs.rmSync(path.join(emptyRun, RUN_FILES.checkpoints), { recursive: true });
  // a 40 x 56 RGBA PNG (not the tokenizer's 28 x 28): a dark bar on white
  const png = new PNG({ width: 40, height: 56 });
  for (let i = 0; i < 40 * 56; i++) {
    const x = i % 40;
    const v = x > 15 && x < 25 ? 0 : 255;
    png.data.set([v, v, v, 255], 4 * i);
  }
  fs.writeFileSync(path.join(tmp, 'bar.png'), PNG.sync.write(png));
  fs.writeFileSync(path.join(tmp, 'not.png'), 'hello');
});

test('prompt syntax: <image> placeholders match the images given, in order', () => {
  assert.deepEqual(parsePrompt('a <image> and <image>.', 2), [{ text: 'a ' }, { image: 0 }, { text: ' and ' }, { image: 1 }, { text: '.' }]);
  assert.deepEqual(parsePrompt('<image>', 1), [{ image: 0 }]);
  assert.throws(() => parsePrompt('<image>', 0), (e: unknown) => isUserError(e) && /1 <image> placeholder but 0 images were given/.test((e as Error).message));
  assert.throws(() => parsePrompt('two', 1), /0 <image> placeholders but 1 image was given/);
});

test('library: drawing (mode image, CFG) and captioning with an image of another size; seeds repeat', async () => {
  const gen = await Generator.open(run);
  const codes = gen.space.codesPerImage;
  assert.equal(codes, 49);
  const draw = await gen.generate({ prompt: 'a handwritten digit seven', mode: 'image', cfg: 3, seed: 3 });
  assert.equal(draw.stop, 'image');
  assert.equal(draw.tokens.length, codes + 2);
  assert.equal(draw.tokens[0], BEGIN_IMAGE);
  assert.equal(draw.tokens[codes + 1], END_IMAGE);
  assert.equal(draw.images.length, 1);
  assert.equal(draw.images[0].size, 28);
  assert.equal(draw.text, '<image>');
  assert.ok(draw.uncondTokens && draw.uncondTokens.length === 1, 'the unconditional prompt is bos alone');
  assert.deepEqual((await gen.generate({ prompt: 'a handwritten digit seven', mode: 'image', cfg: 3, seed: 3 })).tokens, draw.tokens);

  const cap = await gen.generate({ prompt: '<image>', images: [path.join(tmp, 'bar.png')], mode: 'text', maxTokens: 12, seed: 1 });
  // bos, begin-image, 49 codes, end-image: the 40 x 56 PNG was resized and cropped to 28 x 28 first
  assert.equal(cap.promptTokens.length, 1 + codes + 2);
  assert.equal(cap.images.length, 0);
  assert.ok(cap.tokens.every((t) => t !== BEGIN_IMAGE), 'mode text never opens an image');
  assert.ok(cap.stop === 'eos' || cap.tokens.length === 12);
  await gen.release();
});

test('library: generate(dir) writes text.txt, image-1.png and tokens.json; a checkpoint folder works too', async () => {
  const out = path.join(tmp, 'lib-out');
  const ckpt = path.join(run, RUN_FILES.checkpoints, 'step-00000002');
  const g = await generate(ckpt, { prompt: 'a handwritten digit two', mode: 'image', seed: 2, out });
  assert.deepEqual(g.files!.images, [path.join(out, 'image-1.png')]);
  const img = readPng(g.files!.images[0]);
  assert.equal(img.width, 28);
  const rec = JSON.parse(fs.readFileSync(g.files!.tokens, 'utf8'));
  assert.equal(rec.format, 'chamlab.generation/1');
  assert.deepEqual(rec.generated_tokens, g.tokens);
  assert.equal(rec.image_codes[0].length, 49);
  assert.equal(rec.model, ckpt);
  assert.equal(fs.readFileSync(g.files!.text, 'utf8'), '<image>\n');
});

test('chamlab generate: prints the text and where the images are; same seed, same tokens', () => {
  const r = chamlab(run, '--prompt', 'a handwritten digit seven', '--mode', 'image', '--cfg', '2', '--seed', '5', '--out', 'a');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^<image>\nimage 1: a[/\\]image-1\.png\n$/);
  assert.match(r.stderr, /51 tokens \(stop: image\)/);
  const again = chamlab(run, '--prompt', 'a handwritten digit seven', '--mode', 'image', '--cfg', '2', '--seed', '5', '--out', 'b');
  assert.equal(again.status, 0, again.stderr);
  const tokens = (d: string) => JSON.parse(fs.readFileSync(path.join(tmp, d, 'tokens.json'), 'utf8')).generated_tokens;
  assert.deepEqual(tokens('b'), tokens('a'));
  const cap = chamlab(run, '--prompt', 'this: <image>', '--image', 'bar.png', '--mode', 'text', '--max-tokens', '5', '--json', '--out', 'c');
  assert.equal(cap.status, 0, cap.stderr);
  const j = JSON.parse(cap.stdout);
  assert.equal(typeof j.text, 'string');
  assert.deepEqual(j.images, []);
  const help = spawnSync(process.execPath, [bin, 'generate', '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /<image> where each --image goes/);
});

test('chamlab generate: bad input is one line on stderr and exit 1', () => {
  const long = 'seven '.repeat(200);
  const cases: [string[], RegExp][] = [
    [[path.join(tmp, 'nope'), '--prompt', 'x'], /nope: no such folder/],
    [[tmp, '--prompt', 'x'], /not a run folder .* nor a checkpoint folder/],
    [[emptyRun, '--prompt', 'x'], /the run has no complete checkpoint yet/],
    [[run, '--prompt', long], /the prompt has \d+ tokens but the model's context is 64/],
    [[run, '--prompt', 'x', '--temperature=-1'], /^--temperature: must be a number >= 0/],
    [[run, '--prompt', 'x', '--temperature', 'hot'], /^--temperature: must be a number, got 'hot'/],
    [[run, '--prompt', 'x', '--top-p', '0'], /^--top-p: must be in \(0, 1\]/],
    [[run, '--prompt', 'x', '--mode', 'video'], /^--mode: must be text, image or mixed/],
    [[run, '--prompt', 'x', '--cfg', '2', '--mode', 'text'], /cfg .* applies to image tokens/],
    [[run, '--prompt', '<image>'], /1 <image> placeholder but 0 images were given/],
    [[run, '--prompt', '<image>', '--image', 'not.png'], /not\.png: cannot read PNG/],
    [[run, '--prompt', '<image>', '--image', 'missing.png'], /missing\.png: the file does not exist/],
    [[run, '--prompt', 'x', '--checkpoint', 'step-9'], /no complete checkpoint 'step-9' \(the run has: step-00000002\)/],
    [[run, '--prompt', 'x', '--device', 'tpu'], /^--device: must be cpu, gpu or auto/],
    [[run], /usage: chamlab generate/],
    [[run, '--prompt', 'x', '--bogus'], /unknown option '--bogus'/],
  ];
  for (const [args, msg] of cases) {
    const r = chamlab(...args);
    assert.equal(r.status, 1, `${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${args.join(' ')}: one line, got\n${r.stderr}`);
    assert.match(lines[0], msg, args.join(' '));
  }
  // a checkpoint whose manifest is missing (its writer was interrupted) is refused too
  const torn = path.join(run, RUN_FILES.checkpoints, 'step-00000009');
  fs.cpSync(path.join(run, RUN_FILES.checkpoints, 'step-00000002'), torn, { recursive: true });
  fs.rmSync(path.join(torn, CHECKPOINT_FILES.manifest));
  const r = chamlab(torn, '--prompt', 'x');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /this checkpoint is incomplete/);
});
