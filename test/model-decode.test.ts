/**
 * The decoding graphs against the full forward graph: prefill a prompt, then feed the rest of the
 * sequence one token per decode step; the logits at every position must equal the forward graph's
 * logits of the whole sequence (float32 on onnxruntime CPU). With and without QK-Norm, both norm
 * orders, GQA (4 heads over 2 kv heads), and two rows with prompts of different lengths (the CFG
 * layout: right-padded rows, per-row positions).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelSchema } from '../dsl/schema';
import { Graph } from '../src/graph';
import { graphSession, type GraphSession } from '../src/runtime/run';
import { buildChameleon } from '../src/model/chameleon';
import { modelDims, type ModelDims } from '../src/model/config';
import { buildDecodeStep, buildPrefill, cacheNames, rowName, type CacheUpdate } from '../src/model/decode';
import { tinyCheckModel } from '../src/model/gradcheck';
import { initWeights } from '../src/model/init';
import { paramTable } from '../src/model/params';
import { Rng } from '../src/random';

/**
 * Tolerance: max |decode - forward| over all logits, relative to the largest |forward| logit. The
 * two paths run the same sums with other shapes (a GEMV per token against a GEMM over the sequence,
 * softmax over L masked positions against T causal ones; with cache 'caller' the keys come in two
 * blocks). Measured on onnxruntime CPU: bit-identical with cache 'in-graph' (each dot product
 * accumulates in the same order, masked positions add exact zeros), at most 7e-7 with 'caller'.
 * 1e-4 leaves room for kernels that block differently, while a wrong position, mask or RoPE row
 * gives errors of order 1 (last test).
 */
const TOL = 1e-4;

function weightsFor(m: ModelDims): Map<string, Float32Array> {
  const w = initWeights(m, 3);
  // Gains and biases start at exactly 1 and 0: perturb them so that QK-Norm's affine, the RMSNorm
  // gains and their placement in the block all matter for the comparison.
  const rng = Rng.from('decode-test');
  for (const p of paramTable(m)) {
    if (p.role !== 'gain' && p.role !== 'bias') continue;
    const a = w.get(p.name)!;
    for (let i = 0; i < a.length; i++) a[i] += 0.3 * rng.normal();
  }
  return w;
}

async function forwardLogits(m: ModelDims, w: Map<string, Float32Array>, ids: Int32Array, B: number, S: number): Promise<Float32Array> {
  const g = new Graph('forward');
  const built = buildChameleon(g, m, { batch: B, seq: S, loss: false });
  g.output('logits', built.logits);
  const c = await graphSession(g, { target: 'cpu' });
  const out = await c.run({ ...Object.fromEntries(w), input_ids: ids });
  await c.release();
  return out.logits as Float32Array;
}

/** The caller's half of cache 'caller': row b's new key (or value) rows go to position pos[b]. */
function writeRows(cache: Float32Array, rows: Float32Array, pos: number[], K: number, L: number, hd: number): void {
  pos.forEach((p, b) => {
    if (p >= L) return;
    for (let h = 0; h < K; h++) cache.set(rows.subarray((b * K + h) * hd, (b * K + h + 1) * hd), ((b * K + h) * L + p) * hd);
  });
}

interface Case {
  qk: boolean;
  order: 'pre' | 'swin';
  tie?: boolean;
  /** A wider model and a longer sequence (GEMM blocking differs from the GEMV of a decode step). */
  wide?: boolean;
}

function dimsOf(c: Case): ModelDims {
  const base = tinyCheckModel({ qk_norm: c.qk, order: c.order, tie: c.tie });
  const model = c.wide ? { ...base, vocab: { text: 300, image: 64 }, d_model: 128, heads: 8, kv_heads: 2, ffn: 352, init: { scheme: 'scaled_normal' as const, std: 0.1 } } : base;
  return modelDims(ModelSchema.parse(model));
}

async function check(c: Case, update: CacheUpdate): Promise<number> {
  const { qk, order } = c;
  const m = dimsOf(c);
  assert.ok(m.kvHeads < m.heads, 'the fixture must use GQA');
  const w = weightsFor(m);
  const params = Object.fromEntries(w);
  const B = 2;
  const S = c.wide ? 40 : 14; // whole sequence per row
  const L = c.wide ? 48 : 16; // cache: more positions than used, so masking of unused ones is exercised
  const prompt = c.wide ? [17, 9] : [5, 3]; // real prompt length per row; rows are right-padded to T
  const T = c.wide ? 20 : 6;
  const rng = Rng.from('decode-ids', order, String(qk));
  const seqs = Array.from({ length: B }, () => Int32Array.from({ length: S }, () => rng.int(m.vocab)));

  // Reference: each row's whole sequence through the forward graph (row by row: rows differ in where
  // their prompt ends, but each row's sequence is one contiguous stream of tokens).
  const ref = await forwardLogits(m, w, Int32Array.from(seqs.flatMap((s) => [...s])), B, S);
  const V = m.vocab;
  const refAt = (b: number, t: number) => ref.subarray((b * S + t) * V, (b * S + t + 1) * V);

  const prefill = await graphSession(buildPrefill(m, { batch: B, promptLen: T, cacheLen: L }).graph, { target: 'cpu' });
  const step: GraphSession = await graphSession(buildDecodeStep(m, { batch: B, cacheLen: L, cache: update }).graph, { target: 'cpu' });
  const padded = new Int32Array(B * T).fill(2);
  seqs.forEach((s, b) => padded.set(s.subarray(0, prompt[b]), b * T));
  const out = await prefill.run({ ...params, input_ids: padded, last: Int32Array.from(prompt, (p) => p - 1) });
  let cache = Object.fromEntries(cacheNames(m).map((n) => [n, out[n] as Float32Array]));

  let scale = 0;
  for (const v of ref) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  let compared = 0;
  const compare = (logits: Float32Array, b: number, t: number) => {
    compared++;
    const r = refAt(b, t);
    for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(logits[b * V + v] - r[v]) / scale);
  };
  for (let b = 0; b < B; b++) compare(out.logits as Float32Array, b, prompt[b] - 1);

  // Decode: row b feeds its own next token at its own position until its sequence ends.
  const pos = [...prompt];
  while (pos.some((p) => p < S)) {
    const ids = Int32Array.from(seqs, (s, b) => s[Math.min(pos[b], S - 1)]);
    const o = await step.run({ ...params, ...cache, input_ids: ids, pos: Int32Array.from(pos, (p) => Math.min(p, L - 1)) });
    for (let b = 0; b < B; b++) if (pos[b] < S) compare(o.logits as Float32Array, b, pos[b]);
    if (update === 'in-graph') cache = Object.fromEntries(cacheNames(m).map((n) => [n, o[`next.${n}`] as Float32Array]));
    else for (const n of cacheNames(m)) writeRows(cache[n], o[rowName(n)] as Float32Array, pos, m.kvHeads, L, m.headDim);
    // A finished row keeps rewriting its last position with the same token: harmless, like padding.
    for (let b = 0; b < B; b++) if (pos[b] < S) pos[b]++;
  }
  await prefill.release();
  await step.release();
  // every position from each row's last prompt token to the end was compared once
  assert.equal(compared, prompt.reduce((a, p) => a + S - p + 1, 0));
  return worst;
}

for (const c of [
  { qk: true, order: 'pre' },
  { qk: false, order: 'pre' },
  { qk: true, order: 'swin' },
  { qk: false, order: 'swin', tie: true },
  { qk: true, order: 'pre', wide: true },
  { qk: true, order: 'swin', wide: true },
] as Case[]) {
  for (const update of ['in-graph', 'caller'] as CacheUpdate[]) {
    const name = `qk_norm=${c.qk}, ${c.order}${c.tie ? ', tied' : ''}${c.wide ? ', d 128' : ''}, GQA, 2 rows, cache ${update}`;
    test(`prefill + decode steps = full forward at every position (${name})`, async () => {
      const worst = await check(c, update);
      assert.ok(worst < TOL, `max |decode - forward| / max|logit| = ${worst.toExponential(2)} >= ${TOL}`);
      process.stderr.write(`  ${name}: max relative logit error ${worst.toExponential(2)}\n`);
    });
  }
}

test('a wrong decode position is caught (the comparison has teeth)', async () => {
  // Feeding position + 1 shifts RoPE and the mask: the logits must differ well above TOL.
  const m = modelDims(ModelSchema.parse(tinyCheckModel({ qk_norm: true, order: 'pre' })));
  const w = weightsFor(m);
  const params = Object.fromEntries(w);
  const ids = Int32Array.from([7, 1, 9, 4]);
  const ref = await forwardLogits(m, w, ids, 1, 4);
  const prefill = await graphSession(buildPrefill(m, { batch: 1, promptLen: 3, cacheLen: 8 }).graph, { target: 'cpu' });
  const step = await graphSession(buildDecodeStep(m, { batch: 1, cacheLen: 8 }).graph, { target: 'cpu' });
  const out = await prefill.run({ ...params, input_ids: ids.subarray(0, 3), last: Int32Array.of(2) });
  const cache = Object.fromEntries(cacheNames(m).map((n) => [n, out[n] as Float32Array]));
  const errAt = async (p: number) => {
    const o = await step.run({ ...params, ...cache, input_ids: ids.subarray(3, 4), pos: Int32Array.of(p) });
    const got = o.logits as Float32Array;
    let e = 0;
    for (let v = 0; v < m.vocab; v++) e = Math.max(e, Math.abs(got[v] - ref[3 * m.vocab + v]));
    return e;
  };
  assert.ok((await errAt(3)) < 1e-4);
  assert.ok((await errAt(4)) > 1e-2, 'a shifted position should change the logits');
  await prefill.release();
  await step.release();
});
