/** Size accounting: exact parameter totals of the published configurations, FLOPs and memory formulas. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { modelDims } from '../src/model/config';
import { countParams, flopsPerToken, sizeReport } from '../src/model/size';
import { paramTable } from '../src/model/params';
import { spec7b, spec34b, specWith } from './model-fixtures';

test('Chameleon-7B has exactly 7,013,666,816 parameters', () => {
  const c = countParams(modelDims(spec7b().model));
  // Worked by hand (d 4096, V 65536, L 32, H = K = 32, head_dim 128, ffn 11008):
  //   embeddings = lm_head = 65536 * 4096                      =   268,435,456 each
  //   per layer: q,k,v,o 4 * 4096^2 = 67,108,864; QK-Norm 2*(32*128)*2 = 16,384;
  //              ffn 3 * 4096 * 11008 = 135,266,304; norms 2 * 4096 = 8,192  -> 202,399,744
  //   32 layers = 6,476,791,808; + final norm 4096; + 2 * 268,435,456
  assert.equal(c.embeddings, 268_435_456);
  assert.equal(c.lm_head, 268_435_456);
  assert.equal(c.attention, 32 * 67_108_864);
  assert.equal(c.qk_norm, 32 * 16_384);
  assert.equal(c.ffn, 32 * 135_266_304);
  assert.equal(c.norms, 32 * 8_192 + 4096);
  assert.equal(c.total, 7_013_666_816);
  // The same arithmetic in HF ChameleonConfig terms (vocab_size, hidden_size, intermediate_size, ...):
  const [V, h, I, L, nH, nKV] = [65536, 4096, 11008, 32, 32, 32];
  const hd = h / nH;
  const hf = V * h * 2 + L * (h * nH * hd + 2 * h * nKV * hd + nH * hd * h + 2 * nH * hd + 2 * nKV * hd + 3 * h * I + 2 * h) + h;
  assert.equal(c.total, hf);
});

test('Chameleon-34B has exactly 34,294,308,864 parameters (about 34.3B)', () => {
  const c = countParams(modelDims(spec34b().model));
  // d 8192, L 48, H 64, K 8, head_dim 128, ffn 22016:
  //   q, o 8192^2 each; k, v 8192 * 1024 each -> 150,994,944; QK-Norm 2*64*128 + 2*8*128 = 18,432
  //   ffn 3 * 8192 * 22016 = 541,065,216; norms 16,384 -> 692,094,976 per layer
  //   48 layers = 33,220,558,848; + embeddings and lm_head 2 * 536,870,912; + final norm 8192
  assert.equal(c.attention, 48 * 150_994_944);
  assert.equal(c.qk_norm, 48 * 18_432);
  assert.equal(c.total, 34_294_308_864);
  assert.ok(Math.abs(c.total / 1e9 - 34.3) < 0.01);
});

test('tied embeddings drop lm_head; no QK-Norm drops its parameters', () => {
  const tied = countParams(modelDims(spec7b().model));
  const c = countParams(modelDims(specWith({ ffn: 11008, tie_embeddings: true, qk_norm: false }).model));
  assert.equal(c.lm_head, 0);
  assert.equal(c.qk_norm, 0);
  assert.equal(c.total, tied.total - 268_435_456 - 32 * 16_384);
});

test('the llama FFN rule gives 11008 for d 4096', () => {
  assert.equal(modelDims(specWith({}).model).ffn, 11008);
});

test('parameter table: HF names, [out, in] layout, unique', () => {
  const t = paramTable(modelDims(spec34b().model));
  const names = t.map((p) => p.name);
  assert.equal(new Set(names).size, names.length);
  const get = (n: string) => t.find((p) => p.name === n)!.shape;
  assert.deepEqual(get('model.layers.0.self_attn.k_proj.weight'), [1024, 8192]);
  assert.deepEqual(get('model.layers.47.self_attn.k_norm.bias'), [8, 128]);
  assert.deepEqual(get('model.layers.3.mlp.down_proj.weight'), [8192, 22016]);
  assert.deepEqual(get('lm_head.weight'), [65536, 8192]);
});

test('FLOPs: forward = 2 N_matmul + 4 L T d, training = 3 x forward', () => {
  const m = modelDims(spec7b().model);
  const f = flopsPerToken(m, 4096);
  const nMatmul = 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008) + 65536 * 4096;
  assert.equal(f.matmul, 2 * nMatmul);
  assert.equal(f.attention, 4 * 32 * 4096 * 4096);
  assert.equal(f.train_step, 3 * f.forward);
});

test('sizeReport: JSON shape and memory arithmetic, fast for 34B', () => {
  const t0 = performance.now();
  const r = sizeReport(spec34b());
  const ms = performance.now() - t0;
  assert.ok(ms < 200, `sizeReport took ${ms} ms`);
  const j = JSON.parse(JSON.stringify(r));
  assert.equal(j.params.total, 34_294_308_864);
  for (const k of ['embeddings', 'attention', 'qk_norm', 'ffn', 'norms', 'lm_head']) assert.equal(typeof j.params[k], 'number');
  for (const k of ['forward', 'train_step']) assert.equal(typeof j.flops_per_token[k], 'number');
  const fp32 = j.memory.fp32;
  assert.equal(fp32.params, 4 * 34_294_308_864);
  assert.equal(fp32.adamw_state, 8 * 34_294_308_864);
  assert.equal(fp32.total, fp32.params + fp32.grads + fp32.adamw_state + fp32.activations);
  assert.equal(j.memory.bf16.params * 2, fp32.params);
  assert.ok(fp32.activations > 0);
});
