/**
 * The sampling loop on a small random model: the KV-cache decoder must choose exactly the tokens
 * that re-running the full forward graph on the whole sequence chooses (greedy, one row and the two
 * rows of classifier-free guidance), obey the modality constraints on every sampled stream, repeat
 * itself for a seed, and run the same on WebGPU (GPU-resident cache and weights).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelSchema } from '../dsl/schema';
import { isUserError } from '../dsl/errors';
import { Graph, nextName, toOnnx } from '../src/graph';
import { graphSession, type GraphSession } from '../src/runtime/run';
import { buildChameleon } from '../src/model/chameleon';
import { modelDims, type ModelDims } from '../src/model/config';
import { buildDecodeStep, buildPrefill, cacheNames, rowName } from '../src/model/decode';
import { tinyCheckModel } from '../src/model/gradcheck';
import { initWeights } from '../src/model/init';
import { Rng } from '../src/random';
import { Decoder, type DecodeGraphs } from '../src/runtime/decoder';
import type { Backend } from '../src/runtime/device';
import { advance, allowedNext, resolveSampling, sampleToken, TEXT_STATE, type SamplingOptions, type TokenSpace } from '../src/runtime/sampling';
import { requireWebGpu } from './helpers/runtime-gpu';

const m: ModelDims = modelDims(ModelSchema.parse({ ...tinyCheckModel({ qk_norm: true, order: 'pre' }), max_seq_len: 48 }));
const weights = initWeights(m, 11);
/** tinyCheckModel's vocabulary: 40 text ids (specials 0..4), 24 image codes; 4 codes per image here. */
const SPACE: TokenSpace = { textStart: 5, textEnd: 40, imageStart: 40, imageCount: 24, codesPerImage: 4, bos: 0, eos: 1, pad: 2, beginImage: 3, endImage: 4 };

function graphs(device: Backend): DecodeGraphs {
  const target = device === 'webgpu' ? 'webgpu' : 'cpu';
  return {
    cache: cacheNames(m),
    output: (n, u) => (u === 'in-graph' ? nextName(n) : rowName(n)),
    prefill: (batch, promptLen, cacheLen) => toOnnx(buildPrefill(m, { batch, promptLen, cacheLen }).graph, { target }),
    decodeStep: (batch, cacheLen, cache) => toOnnx(buildDecodeStep(m, { batch, cacheLen, cache }).graph, { target }),
  };
}

const decoder = (device: Backend = 'cpu') => Decoder.create({ device, graphs: graphs(device), weights, maxContext: m.maxSeqLen });

/** The reference: every token re-runs the forward graph over the whole sequence (padded to the context). */
async function referenceTokens(forward: GraphSession, prompts: Int32Array[], o: SamplingOptions): Promise<number[]> {
  const r = resolveSampling(o);
  const S = m.maxSeqLen;
  const B = prompts.length;
  const rows = prompts.map((p) => [...p]);
  let state = TEXT_STATE;
  for (const t of prompts[0]) state = advance(state, t, SPACE);
  const rng = Rng.from('chamlab-generate', r.seed);
  const out: number[] = [];
  const budget = Math.min(r.maxTokens, S - Math.max(...rows.map((x) => x.length)));
  for (let t = 0; t < budget; t++) {
    const ids = new Int32Array(2 * S).fill(SPACE.pad);
    rows.forEach((x, b) => ids.set(x, b * S));
    const logits = (await forward.run({ ...Object.fromEntries(weights), input_ids: ids })).logits as Float32Array;
    const at = (b: number) => logits.subarray((b * S + rows[b].length - 1) * m.vocab, (b * S + rows[b].length) * m.vocab);
    const allowed = r.mode === 'image' && !state.inImage ? { forced: SPACE.beginImage } : allowedNext(state, SPACE, r.mode, budget - t);
    const tok = sampleToken(allowed, at(0), B === 2 ? at(1) : null, r, state, rng);
    out.push(tok);
    state = advance(state, tok, SPACE);
    rows.forEach((x) => x.push(tok));
    if (tok === SPACE.eos || (r.mode === 'image' && tok === SPACE.endImage)) break;
  }
  return out;
}

async function forwardGraph(): Promise<GraphSession> {
  const g = new Graph('forward');
  g.output('logits', buildChameleon(g, m, { batch: 2, seq: m.maxSeqLen, loss: false }).logits);
  return graphSession(g, { target: 'cpu' });
}

/** Checks a generated stream against the constraints; returns the number of images in it. */
function checkStream(tokens: number[], mode: 'text' | 'image' | 'mixed'): number {
  let images = 0;
  let codes = -1; // -1: text mode
  for (const [i, t] of tokens.entries()) {
    const where = `token ${i} (${t}) of ${tokens.join(',')}`;
    assert.ok(t !== SPACE.bos && t !== SPACE.pad, `${where}: bos/pad sampled`);
    if (codes >= 0) {
      if (codes === SPACE.codesPerImage) {
        assert.equal(t, SPACE.endImage, `${where}: end-image must follow the last code`);
        codes = -1;
        images++;
      } else {
        assert.ok(t >= SPACE.imageStart && t < SPACE.imageStart + SPACE.imageCount, `${where}: only image codes inside an image`);
        codes++;
      }
    } else if (t === SPACE.beginImage) {
      assert.notEqual(mode, 'text', `${where}: begin-image in mode text`);
      codes = 0;
    } else {
      assert.ok(t === SPACE.eos || (t >= SPACE.textStart && t < SPACE.textEnd), `${where}: only text, eos or begin-image in text mode`);
      assert.ok(t !== SPACE.eos || i === tokens.length - 1, `${where}: eos ends the stream`);
    }
  }
  assert.equal(codes, -1, 'a stream never ends inside an image');
  return images;
}

test('greedy KV-cache decoding picks the same tokens as re-running the full forward graph (1 row, and 2 rows with CFG)', async () => {
  const dec = await decoder();
  const forward = await forwardGraph();
  const prompt = Int32Array.from([0, 7, 9, 12, 30]);
  for (const o of [
    { temperature: 0, maxTokens: 30, mode: 'mixed' },
    { temperature: 0, maxTokens: 30, mode: 'text' },
    { temperature: 0, mode: 'image', cfg: 3 },
    { temperature: 1, topP: 0.95, seed: 4, mode: 'image', cfg: 2 },
  ] as SamplingOptions[]) {
    const rows = o.cfg && o.cfg !== 1 ? [prompt, Int32Array.of(0)] : [prompt];
    const got = await dec.generate(rows, SPACE, o);
    const want = await referenceTokens(forward, rows, o);
    assert.deepEqual(got.tokens, want, JSON.stringify(o));
    checkStream(got.tokens, o.mode!);
    if (o.mode === 'image') {
      assert.equal(got.stop, 'image');
      assert.equal(got.tokens.length, SPACE.codesPerImage + 2);
    }
  }
  await forward.release();
  await dec.release();
});

test('sampled streams obey the modality constraints, and a seed repeats its stream exactly', async () => {
  const dec = await decoder();
  let images = 0;
  const seen = new Set<string>();
  for (let seed = 0; seed < 12; seed++) {
    const o = { temperature: 1.3, topP: 1, seed, maxTokens: 40, mode: seed % 3 === 0 ? 'text' : 'mixed' } as const;
    const a = await dec.generate([Int32Array.of(0, 6)], SPACE, o);
    images += checkStream(a.tokens, o.mode);
    const b = await dec.generate([Int32Array.of(0, 6)], SPACE, o);
    assert.deepEqual(b.tokens, a.tokens, `seed ${seed} must repeat`);
    seen.add(a.tokens.join(','));
    assert.ok(a.tokens.length === 40 || a.stop === 'eos' || a.stop === 'context', `stop ${a.stop} after ${a.tokens.length}`);
  }
  assert.ok(seen.size >= 10, 'different seeds give different streams');
  assert.ok(images > 0, 'random weights at temperature 1.3 draw some images in mode mixed');
  await dec.release();
});

test('the context bounds generation; too long a prompt and an image that cannot fit are user errors', async () => {
  const dec = await decoder();
  const long = Int32Array.from({ length: m.maxSeqLen }, (_, i) => (i ? 5 + (i % 30) : 0));
  await assert.rejects(dec.generate([long], SPACE, {}), (e: unknown) => isUserError(e) && /prompt has 48 tokens but the model's context is 48/.test((e as Error).message));
  // 44 prompt tokens leave 4: not enough for begin-image, 4 codes and end-image
  await assert.rejects(dec.generate([long.subarray(0, 44)], SPACE, { mode: 'image' }), (e: unknown) => isUserError(e) && /one image needs 6 more tokens but only 4/.test((e as Error).message));
  const r = await dec.generate([long.subarray(0, 40)], SPACE, { temperature: 1, mode: 'text', maxTokens: 100, seed: 1 });
  assert.ok(r.tokens.length <= 8);
  if (r.tokens.length === 8) assert.equal(r.stop, 'context');
  await dec.release();
});

test('WebGPU: the same greedy tokens as the CPU, cache and weights resident on the GPU', async (t) => {
  if (!(await requireWebGpu(t))) return;
  const cpu = await decoder('cpu');
  const gpu = await decoder('webgpu');
  const prompt = Int32Array.from([0, 7, 9, 12, 30]);
  for (const o of [{ temperature: 0, maxTokens: 24, mode: 'mixed' }, { temperature: 0, mode: 'image', cfg: 3 }] as SamplingOptions[]) {
    const rows = o.cfg ? [prompt, Int32Array.of(0)] : [prompt];
    assert.deepEqual((await gpu.generate(rows, SPACE, o)).tokens, (await cpu.generate(rows, SPACE, o)).tokens, JSON.stringify(o));
  }
  await gpu.release();
  await cpu.release();
});
