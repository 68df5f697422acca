/** safetensors round trip, HF names and config.json, clear errors for a wrong weights file, seeded init. */
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { modelDims } from '../src/model/config';
import { initWeights, initParam, Rng } from '../src/model/init';
import { paramTable } from '../src/model/params';
import { readHeader, readSafetensors, writeSafetensors } from '../src/model/safetensors';
import { configPathFor, hfConfig, loadWeights, saveWeights, writeHfConfig } from '../src/model/weights';
import { UserError } from '../dsl/errors';
import { tinySpec } from './model-fixtures';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-weights-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const m = modelDims(tinySpec({ qk_norm: true, order: 'pre' }).model);

test('safetensors: round trip is bit-exact, header aligned, offsets contiguous', () => {
  const f = path.join(tmp, 'rt.safetensors');
  const a = new Float32Array([1, -2.5, Math.PI, 1e-30, -0, 3.4e38]);
  const b = new Float64Array([Math.E, -1 / 3]);
  writeSafetensors(f, [
    { name: 'a', shape: [2, 3], data: a },
    { name: 'b', shape: [2], data: b },
    { name: 's', shape: [], data: new Float32Array([7]) },
  ], { format: 'pt' });
  const h = readHeader(f);
  assert.equal(h.dataStart % 8, 0);
  assert.deepEqual(h.metadata, { format: 'pt' });
  assert.deepEqual(h.tensors.get('a'), { dtype: 'F32', shape: [2, 3], begin: 0, end: 24 });
  assert.deepEqual(h.tensors.get('b'), { dtype: 'F64', shape: [2], begin: 24, end: 40 });
  const back = readSafetensors(f, 'float64');
  assert.deepEqual([...back.get('a')!.data], [...a]);
  assert.deepEqual([...back.get('b')!.data], [...b]);
  assert.deepEqual(back.get('s')!.shape, []);
  assert.ok(!fs.readdirSync(tmp).some((n) => n.endsWith('.tmp')), 'no temporary file left behind');
});

test('safetensors: BF16 and F16 read as float32', () => {
  const f = path.join(tmp, 'half.safetensors');
  // bf16 of 1.5 = 0x3FC0; f16 of -2.0 = 0xC000, f16 of 0.5 = 0x3800
  const header = JSON.stringify({ x: { dtype: 'BF16', shape: [1], data_offsets: [0, 2] }, y: { dtype: 'F16', shape: [2], data_offsets: [2, 6] } });
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  const data = Buffer.from([0xc0, 0x3f, 0x00, 0xc0, 0x00, 0x38]);
  fs.writeFileSync(f, Buffer.concat([len, Buffer.from(header), data]));
  const t = readSafetensors(f);
  assert.deepEqual([...t.get('x')!.data], [1.5]);
  assert.deepEqual([...t.get('y')!.data], [-2, 0.5]);
});

test('safetensors: a corrupt file is a one-line UserError', () => {
  const f = path.join(tmp, 'bad.safetensors');
  fs.writeFileSync(f, Buffer.from('hello'));
  assert.throws(() => readHeader(f), (e: unknown) => e instanceof UserError && /not a valid safetensors file/.test(e.message) && !e.message.includes('\n'));
  const g = path.join(tmp, 'trunc.safetensors');
  const header = JSON.stringify({ x: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } });
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  fs.writeFileSync(g, Buffer.concat([len, Buffer.from(header), Buffer.alloc(8)]));
  assert.throws(() => readHeader(g), /past the data section/);
});

test('weights: save and load under HF names, with config.json', () => {
  const f = path.join(tmp, 'w', 'model.safetensors');
  const w = initWeights(m, 3);
  saveWeights(f, m, w);
  writeHfConfig(configPathFor(f), m);
  const back = loadWeights(f, m);
  for (const p of paramTable(m)) assert.deepEqual(back.get(p.name), w.get(p.name), p.name);
  const cfg = JSON.parse(fs.readFileSync(path.join(tmp, 'w', 'config.json'), 'utf8'));
  assert.equal(cfg.hidden_size, 32);
  assert.equal(cfg.num_key_value_heads, 2);
  assert.equal(cfg.intermediate_size, 48);
  assert.equal(cfg.vocab_size, 64);
  assert.equal(cfg.swin_norm, false);
  assert.equal(cfg.tie_word_embeddings, false);
  assert.deepEqual(Object.keys(hfConfig(m)).filter((k) => !(k in cfg)), []);
});

test('weights: a wrong file names what is missing, extra and misshapen in one line', () => {
  const f = path.join(tmp, 'wrong.safetensors');
  const table = paramTable(m);
  const tensors = table
    .filter((p) => p.name !== 'model.layers.1.self_attn.q_norm.bias' && p.name !== 'lm_head.weight')
    .map((p) => {
      const shape = p.name === 'model.layers.0.self_attn.k_proj.weight' ? [32, 32] : p.shape;
      return { name: p.name, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
    });
  tensors.push({ name: 'model.layers.2.mlp.up_proj.weight', shape: [2], data: new Float32Array(2) });
  writeSafetensors(f, tensors);
  assert.throws(
    () => loadWeights(f, m),
    (e: unknown) => {
      assert.ok(e instanceof UserError);
      const msg = (e as Error).message;
      assert.ok(!msg.includes('\n'), msg);
      assert.match(msg, /missing 2: .*model\.layers\.1\.self_attn\.q_norm\.bias.*lm_head\.weight/);
      assert.match(msg, /extra 1: model\.layers\.2\.mlp\.up_proj\.weight/);
      assert.match(msg, /misshapen 1: model\.layers\.0\.self_attn\.k_proj\.weight is \[32,32\], expected \[16,32\]/);
      return true;
    },
  );
  assert.throws(() => loadWeights(path.join(tmp, 'nope.safetensors'), m), /nope\.safetensors: the file does not exist/);
});

test('init: deterministic, per-parameter streams, scheme and std honoured', () => {
  const a = initWeights(m, 7);
  const b = initWeights(m, 7);
  const c = initWeights(m, 8);
  for (const p of paramTable(m)) assert.deepEqual(a.get(p.name), b.get(p.name));
  assert.notDeepEqual(a.get('model.embed_tokens.weight'), c.get('model.embed_tokens.weight'));
  assert.ok(a.get('model.layers.0.input_layernorm.weight')!.every((v) => v === 1));
  assert.ok(a.get('model.layers.0.self_attn.q_norm.weight')!.every((v) => v === 1));
  assert.ok(a.get('model.layers.0.self_attn.k_norm.bias')!.every((v) => v === 0));
  // A parameter's values do not depend on which other parameters exist (ablations start alike).
  const noQk = modelDims(tinySpec({ qk_norm: false, order: 'pre' }).model);
  assert.deepEqual(initWeights(noQk, 7).get('model.layers.1.mlp.up_proj.weight'), a.get('model.layers.1.mlp.up_proj.weight'));
  // Standard deviations: a big matrix for the statistics.
  const big = modelDims(tinySpec({ qk_norm: true, order: 'pre' }).model);
  const std = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
  const table = paramTable(big);
  const emb = initParam({ ...table.find((p) => p.name === 'model.embed_tokens.weight')!, shape: [512, 512] }, big, 1);
  assert.ok(Math.abs(std(emb) / 0.2 - 1) < 0.03, `embedding std ${std(emb)}`);
  const down = initParam({ ...table.find((p) => p.name === 'model.layers.0.mlp.down_proj.weight')!, shape: [256, 256] }, big, 1);
  assert.ok(Math.abs(std(down) / (0.2 / Math.sqrt(4)) - 1) < 0.03, `scaled down_proj std ${std(down)}`);
});

test('Rng: uniform in (0,1), normal moments', () => {
  const r = Rng.fromSeed(42);
  let s = 0;
  let s2 = 0;
  const n = 200000;
  for (let i = 0; i < n; i++) {
    const x = r.normal();
    s += x;
    s2 += x * x;
  }
  assert.ok(Math.abs(s / n) < 0.01);
  assert.ok(Math.abs(s2 / n - 1) < 0.01);
});

test('weights: HF sharded checkpoints and folders load; the VQ-VAE tensors are skipped', () => {
  const dir = path.join(tmp, 'sharded');
  fs.mkdirSync(dir, { recursive: true });
  const w = initWeights(m, 4);
  const table = paramTable(m);
  const half = Math.floor(table.length / 2);
  const shards = [table.slice(0, half), table.slice(half)];
  const weightMap: Record<string, string> = {};
  shards.forEach((ps, i) => {
    const name = `model-0000${i + 1}-of-00002.safetensors`;
    const tensors = ps.map((p) => ({ name: p.name, shape: p.shape, data: w.get(p.name)! }));
    if (i === 0) tensors.push({ name: 'model.vqmodel.quantize.embedding.weight', shape: [4, 2], data: new Float32Array(8) });
    writeSafetensors(path.join(dir, name), tensors);
    for (const t of tensors) weightMap[t.name] = name;
  });
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  for (const where of [dir, path.join(dir, 'model.safetensors.index.json')]) {
    const back = loadWeights(where, m);
    for (const p of table) assert.deepEqual(back.get(p.name), w.get(p.name), p.name);
  }
  // An index that points at the wrong shard is a clear error.
  const bad = { weight_map: { ...weightMap, 'model.norm.weight': 'model-00001-of-00002.safetensors' } };
  if (weightMap['model.norm.weight'] !== 'model-00001-of-00002.safetensors') {
    fs.writeFileSync(path.join(dir, 'bad.index.json'), JSON.stringify(bad));
    assert.throws(() => loadWeights(path.join(dir, 'bad.index.json'), m), /places model\.norm\.weight in model-00001-of-00002\.safetensors, which does not hold them/);
  }
  assert.throws(() => loadWeights(tmp, m), /must hold model\.safetensors or model\.safetensors\.index\.json/);
});
