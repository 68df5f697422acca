/**
 * `compile`: the three graphs and the manifest; same spec -> same bytes; the ONNX checker accepts the
 * graphs; the manifest alone is enough to drive training with onnxruntime (loss goes down, every tap
 * comes back); 7B and 34B compile shapes-only quickly without allocating weights.
 */
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compileSpec, type Manifest } from '../src/model/compile';
import { readSafetensors } from '../src/model/safetensors';
import { countParams } from '../src/model/size';
import { modelDims } from '../src/model/config';
import { PYTHON, spec34b, spec7b, specWith, tinySpec } from './model-fixtures';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-compile-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const FILES = ['train_step.onnx', 'eval.onnx', 'forward.onnx', 'manifest.json', 'weights.safetensors', 'config.json'];

function tinyWithDropout() {
  const s = tinySpec({ qk_norm: true, order: 'pre' }, 8, 4);
  s.model.dropout = { attention: 0.1, after_attention: 0.1, after_ffn: 0.1 };
  s.optimizer.lr = 1e-2;
  return s;
}

// Every test below reads the tiny compile in tmp/a.
before(() => {
  compileSpec(tinyWithDropout(), path.join(tmp, 'a'), { hash: 'h' });
});

test('compile: same spec, same bytes', () => {
  const a = path.join(tmp, 'a');
  const b = path.join(tmp, 'b');
  compileSpec(tinyWithDropout(), b, { hash: 'h' });
  for (const f of FILES) assert.ok(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(b, f))), `${f} differs`);
});

test('compile: manifest lists every input, output, parameter and state slot', () => {
  const dir = path.join(tmp, 'a');
  const man = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
  const spec = tinyWithDropout();
  const m = modelDims(spec.model);
  assert.equal(man.spec.hash, 'h');
  assert.equal(man.opset, 17);
  assert.equal(man.params.reduce((s, p) => s + p.shape.reduce((x, y) => x * y, 1), 0), countParams(m).total);
  assert.equal(man.state.slots.length, 3 * man.params.length);
  const ts = man.graphs.train_step;
  const names = (xs: { name: string }[]) => new Set(xs.map((x) => x.name));
  const tin = names(ts.inputs);
  const tout = names(ts.outputs);
  for (const k of ['input_ids', 'labels', 'step', 'lr', 'seed']) assert.ok(tin.has(k), `train_step input ${k}`);
  for (const s of man.state.slots) {
    assert.ok(tin.has(s.input), s.input);
    assert.ok(tout.has(s.output), s.output);
  }
  for (const k of ['loss', 'grad_norm', 'update_ratio', 'ce', 'z', 'max_abs_logit', 'layer_rms.0', 'layer_rms.1', 'max_attn_logit.0', 'max_attn_logit.1'])
    assert.ok(tout.has(k), `train_step output ${k}`);
  assert.deepEqual(ts.inputs.find((i) => i.name === 'input_ids'), { name: 'input_ids', dtype: 'int32', shape: [4, 8] });
  assert.deepEqual(names(man.graphs.forward.outputs), new Set(['logits']));
  assert.ok(!names(man.graphs.forward.inputs).has('labels'));
  assert.ok(names(man.graphs.eval.outputs).has('layer_rms.1'));
  // Decay flags: matrices and the embedding decay, norm gains and QK-Norm affines do not.
  const decay = new Map(man.params.map((p) => [p.name, p.decay]));
  assert.equal(decay.get('model.embed_tokens.weight'), true);
  assert.equal(decay.get('model.layers.0.mlp.down_proj.weight'), true);
  assert.equal(decay.get('model.layers.0.self_attn.q_norm.weight'), false);
  assert.equal(decay.get('model.norm.weight'), false);
  // The initial weights are the seeded init under HF names.
  const w = readSafetensors(path.join(dir, man.weights!.file));
  assert.equal(w.size, man.params.length);
});

test('compile: graphs pass onnx.checker.check_model(full_check=True)', (t) => {
  const probe = spawnSync(PYTHON, ['-c', 'import onnx'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    if (process.env.CI === 'true') assert.fail(`CI=true: python3-onnx is missing: ${probe.stderr}`);
    t.skip('*** python3-onnx missing: ONNX checker not run ***');
    return;
  }
  const dir = path.join(tmp, 'a');
  const code = `import onnx,sys\nfor f in sys.argv[1:]:\n    onnx.checker.check_model(onnx.load(f), full_check=True)\nprint('ok')`;
  const r = spawnSync(PYTHON, ['-c', code, ...['train_step', 'eval', 'forward'].map((g) => path.join(dir, `${g}.onnx`))], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test('compile: the manifest drives training with onnxruntime (loss falls, taps finite, dropout only in training)', async () => {
  const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
  const dir = path.join(tmp, 'a');
  const man = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
  const weights = readSafetensors(path.join(dir, man.weights!.file));
  const session = await ort.InferenceSession.create(path.join(dir, 'train_step.onnx'));
  const evalSession = await ort.InferenceSession.create(path.join(dir, 'eval.onnx'));
  const shapeOf = (n: string) => man.graphs.train_step.inputs.find((i) => i.name === n)!.shape as number[];
  const state: Record<string, import('onnxruntime-node').Tensor> = {};
  for (const s of man.state.slots) {
    const shape = shapeOf(s.input);
    const data = s.init === 'param' ? (weights.get(s.param)!.data as Float32Array) : new Float32Array(shape.reduce((a, b) => a * b, 1));
    state[s.input] = new ort.Tensor('float32', data, shape);
  }
  const [B, T] = shapeOf('input_ids');
  const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 13 + 5) % 64);
  const labels = Int32Array.from({ length: B * T }, (_, i) => (i * 13 + 18) % 64);
  const batch = { input_ids: new ort.Tensor('int32', ids, [B, T]), labels: new ort.Tensor('int32', labels, [B, T]) };
  const params = () => Object.fromEntries(man.params.map((p) => [p.name, state[p.name]]));
  const evalLoss = async () => Number((await evalSession.run({ ...batch, ...params() })).loss.data[0]);
  const e0a = await evalLoss();
  const e0b = await evalLoss();
  assert.equal(e0a, e0b, 'eval is deterministic (dropout off)');
  const controls = (step: number, seed: number) => ({
    step: new ort.Tensor('int32', Int32Array.of(step), []),
    lr: new ort.Tensor('float32', Float32Array.of(1e-2), []),
    seed: new ort.Tensor('int32', Int32Array.of(seed), []),
  });
  // Dropout masks are a function of (seed, step): the same pair replays, another pair differs.
  const first = Number((await session.run({ ...batch, ...state, ...controls(1, 0) })).loss.data[0]);
  assert.equal(Number((await session.run({ ...batch, ...state, ...controls(1, 0) })).loss.data[0]), first);
  assert.notEqual(Number((await session.run({ ...batch, ...state, ...controls(1, 1) })).loss.data[0]), first);
  assert.notEqual(Number((await session.run({ ...batch, ...state, ...controls(2, 0) })).loss.data[0]), first);
  const losses: number[] = [];
  for (let step = 1; step <= 15; step++) {
    const out = await session.run({ ...batch, ...state, ...controls(step, 0) });
    losses.push(Number(out.loss.data[0]));
    for (const k of man.graphs.train_step.metrics) assert.ok(Number.isFinite(Number(out[k].data[0])), `metric ${k}`);
    // update_ratio = ||p_next - p|| / ||p|| over all parameters, checked against the state itself.
    let num = 0;
    let den = 0;
    for (const p of man.params) {
      const a = state[p.name].data as Float32Array;
      const b = out[`next.${p.name}`].data as Float32Array;
      for (let i = 0; i < a.length; i++) {
        num += (b[i] - a[i]) ** 2;
        den += a[i] ** 2;
      }
    }
    const ratio = Number(out.update_ratio.data[0]);
    assert.ok(Math.abs(ratio / Math.sqrt(num / den) - 1) < 1e-3, `update_ratio ${ratio} vs ${Math.sqrt(num / den)}`);
    for (const s of man.state.slots) state[s.input] = out[s.output];
  }
  const e1 = await evalLoss();
  assert.ok(e1 < e0a - 0.5, `eval loss ${e0a} -> ${e1}`);
  assert.notEqual(losses[0], e0a, 'the first training loss differs from eval: dropout was on');
});

for (const [name, make, total] of [['7B', spec7b, 7_013_666_816], ['34B', spec34b, 34_294_308_864]] as const) {
  test(`compile --shapes-only ${name}: no weights, parameters as inputs, quick`, () => {
    const dir = path.join(tmp, name);
    const before = process.memoryUsage().rss;
    const r = compileSpec(make(), dir, { hash: name, shapesOnly: true });
    const grew = process.memoryUsage().rss - before;
    assert.ok(r.seconds < 60, `${r.seconds} s`);
    assert.ok(grew < 4e9, `rss grew by ${grew} bytes`);
    assert.equal(r.manifest.weights, null);
    assert.ok(!fs.existsSync(path.join(dir, 'weights.safetensors')));
    assert.equal(r.manifest.params.reduce((s, p) => s + p.shape.reduce((x, y) => x * y, 1), 0), total);
    const sizes = Object.values(r.manifest.graphs).map((g) => g.bytes);
    assert.ok(Math.max(...sizes) < 64e6, `graphs hold no weights: ${sizes}`);
    process.stdout.write(`# ${name} shapes-only compile: ${r.seconds.toFixed(2)} s, graphs ${sizes.map((b) => (b / 1e6).toFixed(1)).join(' / ')} MB\n`);
    if (name === '34B') {
      const again = path.join(tmp, `${name}-again`);
      compileSpec(make(), again, { hash: name, shapesOnly: true });
      for (const f of ['train_step.onnx', 'eval.onnx', 'forward.onnx', 'manifest.json'])
        assert.ok(fs.readFileSync(path.join(dir, f)).equals(fs.readFileSync(path.join(again, f))), `${name} ${f} differs between compiles`);
    }
  });
}

test('compile refuses to write float32 initial weights for a model too large, pointing at --shapes-only', () => {
  assert.throws(() => compileSpec(specWith({ d_model: 8192, layers: 48, heads: 64 }), path.join(tmp, 'big'), { hash: 'x' }), /--shapes-only/);
});

test('compile: the 7B at its published batch (2048 x 4096, dropout beyond 2^31 elements per site) compiles shapes-only', () => {
  const s = spec7b();
  s.train.batch = 2048;
  const dir = path.join(tmp, '7b-published-batch');
  compileSpec(s, dir, { hash: 'x', shapesOnly: true });
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  const ids = manifest.graphs.train_step.inputs.find((i: { name: string }) => i.name === 'input_ids');
  assert.deepEqual(ids.shape, [2048, 4096]);
});
