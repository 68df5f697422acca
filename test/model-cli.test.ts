/**
 * The model commands end to end through bin/chamlab.js: info (text and JSON, fast), init, grad (CPU,
 * and WebGPU against the CPU when an adapter exists), compile, and one-line errors for bad inputs.
 */
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readSafetensors, writeSafetensors } from '../src/model/safetensors';
import { PYTHON, refScript, repoRoot, relErr, torchAvailable } from './model-fixtures';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-cli-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const bin = path.join(repoRoot, 'bin', 'chamlab.js');
const chamlab = (...args: string[]) => {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: tmp });
  return { ...r, ms: performance.now() - t0 };
};

const TINY = `name: tiny-cli
model:
  vocab: {text: 40, image: 24}
  d_model: 32
  layers: 2
  heads: 4
  kv_heads: 2
  ffn: 48
  z_loss: 0.01
  max_seq_len: 64
  init: {std: 0.2}
tokenizer:
  image: {codebook_size: 24}
data:
  seq_len: 8
  sources:
    t: {kind: text, origin: "builtin:moby-dick"}
  stages: [{name: s1, share: 1, weights: {t: 1}}]
train: {steps: 10, batch: 2}
`;
const spec = path.join(tmp, 'tiny.yaml');
fs.writeFileSync(spec, TINY);
const batchFile = path.join(tmp, 'batch.json');
fs.writeFileSync(batchFile, JSON.stringify({ input_ids: [[1, 5, 9, 63, 2, 0], [7, 7, 40, 41, 3, 8]], labels: [[5, 9, 63, 2, 0, -100], [7, 40, 41, 3, 8, 11]] }));

/** The shipped experiments when present, else the same sizes written here. */
function bigSpec(name: '7b' | '34b'): string {
  const shipped = path.join(repoRoot, 'experiments', `chameleon-${name}.yaml`);
  if (fs.existsSync(shipped)) return shipped;
  const model =
    name === '7b'
      ? '{vocab: {text: 57344, image: 8192}, d_model: 4096, layers: 32, heads: 32, ffn: 11008}'
      : '{vocab: {text: 57344, image: 8192}, d_model: 8192, layers: 48, heads: 64, kv_heads: 8, ffn: 22016, norm: {order: swin}}';
  const f = path.join(tmp, `chameleon-${name}.yaml`);
  fs.writeFileSync(f, TINY.replace(/model:\n(  .*\n)+?tokenizer:/, `model: ${model}\ntokenizer:`).replace('codebook_size: 24', 'codebook_size: 8192'));
  return f;
}

test('info --json: params by group, FLOPs, memory; 7B and 34B exact and quick', async () => {
  const { loadSpec } = await import('../dsl');
  const { sizeReport } = await import('../src/model/size');
  for (const [name, total] of [['7b', 7_013_666_816], ['34b', 34_294_308_864]] as const) {
    const r = chamlab('info', bigSpec(name), '--json');
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.params.total, total);
    for (const k of ['embeddings', 'attention', 'qk_norm', 'ffn', 'norms', 'lm_head']) assert.equal(typeof j.params[k], 'number', k);
    assert.equal(typeof j.flops_per_token.forward, 'number');
    assert.equal(typeof j.flops_per_token.train_step, 'number');
    for (const p of ['fp32', 'bf16']) assert.equal(typeof j.memory[p].total, 'number');
    assert.match(j.spec_hash, /^[0-9a-f]{16,}$/);
    // The answer itself (spec loading + accounting, modules already loaded) must take well under a
    // second; the whole process adds Node's start and module loading, reported for the record.
    // CPU time, not wall time: test machines run several suites at once. A first call warms up the
    // modules the spec loader loads lazily (mathjs for `=` expressions).
    sizeReport(loadSpec(bigSpec(name)).spec);
    const c0 = process.cpuUsage();
    sizeReport(loadSpec(bigSpec(name)).spec);
    const c = process.cpuUsage(c0);
    const ms = (c.user + c.system) / 1000;
    process.stdout.write(`# chamlab info ${name}: ${ms.toFixed(1)} ms CPU in process (modules loaded), ${r.ms.toFixed(0)} ms wall for the whole process\n`);
    assert.ok(ms < 1000, `info ${name} took ${ms.toFixed(0)} ms of CPU`);
  }
  const text = chamlab('info', spec);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /parameters: /);
  assert.match(text.stdout, /FLOPs per token/);
});

test('init, grad and compile from the command line', () => {
  const w = path.join(tmp, 'w', 'model.safetensors');
  const r1 = chamlab('init', spec, '--out', w);
  assert.equal(r1.status, 0, r1.stderr);
  assert.ok(fs.existsSync(path.join(tmp, 'w', 'config.json')));
  const out = path.join(tmp, 'g.safetensors');
  const r2 = chamlab('grad', spec, '--weights', w, '--batch', batchFile, '--out', out);
  assert.equal(r2.status, 0, r2.stderr);
  const g = readSafetensors(out);
  assert.deepEqual(g.get('loss')!.shape, []);
  assert.deepEqual(g.get('logits')!.shape, [2, 6, 64]);
  const weights = readSafetensors(w);
  for (const [name, t] of weights) assert.deepEqual(g.get(name)!.shape, t.shape, name);
  assert.equal(g.size, weights.size + 2);
  // The acceptance path: the reference reads the same weights and config.json and agrees.
  const torch = torchAvailable();
  if (torch.ok) {
    const refOut = path.join(tmp, 'ref.safetensors');
    const rr = spawnSync(PYTHON, [refScript, '--config', path.join(tmp, 'w', 'config.json'), '--weights', w, '--batch', batchFile, '--out', refOut, '--z-loss', '0.01'], { encoding: 'utf8' });
    assert.equal(rr.status, 0, rr.stderr);
    const ref = readSafetensors(refOut, 'float64');
    for (const [name, t] of g) assert.ok(relErr(t.data, ref.get(name)!.data) <= 1e-4, `${name} vs PyTorch`);
  }
  // --set reaches the model: QK-Norm off drops its parameters, so the old weights no longer fit.
  const r3 = chamlab('grad', spec, '--set', 'model.qk_norm=false', '--weights', w, '--batch', batchFile, '--out', out);
  assert.equal(r3.status, 1);
  assert.match(r3.stderr, /extra 8: model\.layers\.0\.self_attn\.q_norm\.weight/);
  // Same shapes, another architecture: computed, with a warning from config.json.
  const r5 = chamlab('grad', spec, '--set', 'model.norm.order=swin', '--weights', w, '--batch', batchFile, '--out', path.join(tmp, 'swin.safetensors'));
  assert.equal(r5.status, 0, r5.stderr);
  assert.match(r5.stderr, /warning: .*config\.json was written for another model: swin_norm is false, the spec gives true/);
  const dir = path.join(tmp, 'compiled');
  const r4 = chamlab('compile', spec, '--out', dir, '--shapes-only');
  assert.equal(r4.status, 0, r4.stderr);
  for (const f of ['train_step.onnx', 'eval.onnx', 'forward.onnx', 'manifest.json']) assert.ok(fs.existsSync(path.join(dir, f)), f);
});

test('grad: bad inputs are one-line errors naming the problem', async () => {
  const { readBatch } = await import('../src/model/grad');
  const { UserError } = await import('../dsl/errors');
  const cases: [string, string, RegExp][] = [
    ['not json', '{', /the batch is not JSON/],
    ['ragged', JSON.stringify({ input_ids: [[1, 2], [3]], labels: [[1, 2], [3]] }), /row 1 has 1 tokens, row 0 has 2/],
    ['out of vocab', JSON.stringify({ input_ids: [[1, 64]], labels: [[1, 2]] }), /input_ids\[0\]\[1\] = 64 is outside the vocabulary/],
    ['bad label', JSON.stringify({ input_ids: [[1, 2]], labels: [[1, -5]] }), /labels\[0\]\[1\] = -5/],
    ['shape', JSON.stringify({ input_ids: [[1, 2]], labels: [[1, 2, 3]] }), /"labels" is \[1\]\[3\], "input_ids" is \[1\]\[2\]/],
    ['float', JSON.stringify({ input_ids: [[1, 2.5]], labels: [[1, 2]] }), /not an integer/],
    ['key', JSON.stringify({ input_ids: [[1]], labels: [[1]], mask: [[1]] }), /unknown key\(s\) "mask"/],
    ['too long', JSON.stringify({ input_ids: [Array(65).fill(1)], labels: [Array(65).fill(1)] }), /exceed model.max_seq_len 64/],
    ['all ignored', JSON.stringify({ input_ids: [[1, 2]], labels: [[-100, -100]] }), /every label is -100/],
  ];
  for (const [name, body, re] of cases) {
    const f = path.join(tmp, `bad-${name.replace(/ /g, '_')}.json`);
    fs.writeFileSync(f, body);
    assert.throws(() => readBatch(f, 64, 64), (e: unknown) => e instanceof UserError && re.test(e.message) && !e.message.includes('\n') && e.message.startsWith(f), name);
  }
  // Through the CLI: exit 1, one line, no stack trace, for a bad batch and for a misshapen weights file.
  const w = path.join(tmp, 'w', 'model.safetensors');
  const out = path.join(tmp, 'bad-out.safetensors');
  const rb = chamlab('grad', spec, '--weights', w, '--batch', path.join(tmp, 'bad-ragged.json'), '--out', out);
  assert.equal(rb.status, 1, rb.stderr);
  assert.equal(rb.stderr.trim().split('\n').length, 1, rb.stderr);
  const bad = path.join(tmp, 'bad-weights.safetensors');
  const good = readSafetensors(w);
  writeSafetensors(bad, [...good].map(([name, t]) => (name === 'model.norm.weight' ? { name, shape: [31], data: new Float32Array(31) } : { name, shape: t.shape, data: t.data as Float32Array })));
  const r = chamlab('grad', spec, '--weights', bad, '--batch', batchFile, '--out', out);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /misshapen 1: model\.norm\.weight is \[31\], expected \[32\]/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.ok(!fs.existsSync(out), 'no output written on error');
});

test('grad --device gpu (WebGPU) equals the CPU within 1e-4', async (t) => {
  const { probeWebGpu } = await import('../src/runtime/device');
  const probe = await probeWebGpu();
  if (!probe.available) {
    if (process.env.CI === 'true') assert.fail(`CI=true: no WebGPU adapter (${probe.reason})`);
    process.stderr.write(`\n*** SKIPPING grad --device gpu: no WebGPU adapter (${probe.reason}) ***\n\n`);
    t.skip(`no WebGPU adapter: ${probe.reason}`);
    return;
  }
  const w = path.join(tmp, 'w', 'model.safetensors');
  const cpu = path.join(tmp, 'cpu.safetensors');
  const gpu = path.join(tmp, 'gpu.safetensors');
  assert.equal(chamlab('grad', spec, '--weights', w, '--batch', batchFile, '--out', cpu).status, 0);
  const r = chamlab('grad', spec, '--weights', w, '--batch', batchFile, '--out', gpu, '--device', 'gpu');
  assert.equal(r.status, 0, r.stderr);
  const a = readSafetensors(cpu);
  const b = readSafetensors(gpu);
  for (const [name, x] of a) {
    const e = relErr(b.get(name)!.data, x.data);
    assert.ok(e <= 1e-4, `${name}: gpu vs cpu rel err ${e}`);
  }
});
