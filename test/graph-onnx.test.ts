/** ONNX emission: the official checker, byte-for-byte determinism, signatures, shapes-only graphs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import { type BuildFn, Graph, TINY, buildEval, buildForward, buildTrainStep, signature, tinyModel, toModelProto, toOnnx } from '../src/graph';

const PYTHON = '/usr/bin/python3';
const CHECK = join(__dirname, '..', '..', 'scripts', 'onnx_check.py');
const optimizer = { betas: [0.9, 0.95] as [number, number], eps: 1e-8, weight_decay: 0.1, grad_clip: 1 };
const build: BuildFn = (g, ctx) => {
  const m = tinyModel(g, TINY, ctx.dropout);
  return { loss: m.loss, metrics: { accuracy_proxy: m.logits.max([-1]).mean() }, outputs: { logits: m.logits } };
};

function pythonOnnx(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import onnx'], { encoding: 'utf8' });
  return r.status === 0 ? null : `${PYTHON} cannot import onnx: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`;
}

test('train-step, eval and forward graphs pass onnx.checker.check_model(full_check=True)', (t) => {
  const missing = pythonOnnx();
  if (missing) {
    // under CI a missing checker is a failure, never a skip
    if (process.env.CI === 'true') assert.fail(missing);
    process.stderr.write(`\n*** SKIPPING the ONNX checker test: ${missing} (install python3-onnx) ***\n\n`);
    t.skip(missing);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'chamlab-onnx-'));
  try {
    const files: string[] = [];
    const graphs = {
      train_step: buildTrainStep({ build, optimizer }).graph,
      eval: buildEval({ build }).graph,
      forward: buildForward({ build }).graph,
    };
    for (const [name, g] of Object.entries(graphs)) {
      for (const params of ['inputs', 'initializers'] as const) {
        const f = join(dir, `${name}.${params}.onnx`);
        writeFileSync(f, toOnnx(g, { params }));
        files.push(f);
      }
    }
    const out = execFileSync(PYTHON, [CHECK, ...files], { encoding: 'utf8' });
    assert.equal(out.trim().split('\n').filter((l) => l.startsWith('ok ')).length, files.length, out);
    // and the checker does reject a broken model (so the test above can fail)
    const bad = toModelProto(graphs.eval);
    bad.graph!.node![0].input = ['no_such_value'];
    const badFile = join(dir, 'bad.onnx');
    writeFileSync(badFile, onnx.ModelProto.encode(bad).finish());
    const r = spawnSync(PYTHON, [CHECK, badFile], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^FAIL /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the same graph gives the same bytes (two independent builds, both parameter modes)', () => {
  for (const params of ['inputs', 'initializers'] as const) {
    const a = toOnnx(buildTrainStep({ build, optimizer }).graph, { params });
    const b = toOnnx(buildTrainStep({ build, optimizer }).graph, { params });
    assert.ok(Buffer.from(a).equals(Buffer.from(b)), `train step bytes differ (${params})`);
  }
  const f1 = toOnnx(buildForward({ build }).graph);
  const f2 = toOnnx(buildForward({ build }).graph);
  assert.ok(Buffer.from(f1).equals(Buffer.from(f2)));
});

test('model header, readable names, inputs and outputs with dtypes and shapes', () => {
  const ts = buildTrainStep({ build, optimizer });
  const m = onnx.ModelProto.decode(toOnnx(ts.graph));
  assert.equal(Number(m.irVersion), 8);
  assert.deepEqual(m.opsetImport.map((o) => [o.domain, Number(o.version)]), [['', 17]]);
  const names = m.graph!.node!.map((n) => n.name);
  assert.ok(names.some((n) => /^attn\/Softmax_\d+$/.test(n!)), 'scoped forward names');
  assert.ok(names.some((n) => /^grad\/attn\/MatMul_\d+$/.test(n!)), 'scoped backward names');
  assert.ok(names.some((n) => n!.startsWith('optimizer/attn.wq/')), 'per-parameter optimizer scope');
  assert.equal(new Set(names).size, names.length, 'node names are unique');
  const inputs = m.graph!.input!.map((i) => i.name);
  for (const n of ['step', 'lr', 'seed', 'input_ids', 'targets', 'attn.wq', 'adam_m.attn.wq', 'adam_v.attn.wq']) assert.ok(inputs.includes(n), n);
  const outputs = m.graph!.output!.map((o) => o.name);
  for (const n of ['loss', 'accuracy_proxy', 'grad_norm', 'next.attn.wq', 'next.adam_m.attn.wq', 'next.adam_v.attn.wq']) assert.ok(outputs.includes(n), n);
  const ids = m.graph!.input!.find((i) => i.name === 'input_ids')!;
  assert.equal(ids.type!.tensorType!.elemType, 6); // int32
  assert.deepEqual(ids.type!.tensorType!.shape!.dim!.map((d) => Number(d.dimValue)), [TINY.batch, TINY.seq]);
  // every state input has its next.* output with the same type
  const sig = signature(ts.graph);
  for (const s of ts.state) {
    const i = sig.inputs.find((x) => x.name === s.input)!;
    const o = sig.outputs.find((x) => x.name === s.output)!;
    assert.deepEqual([o.dtype, o.shape], [i.dtype, i.shape]);
  }
});

test('symbolic dims become dim_param; shapes-only graphs store no weights', () => {
  const g = new Graph('big');
  const x = g.input('x', 'float32', ['batch', 4096]);
  const w = g.param('w', [4096, 4096]); // 64 MiB of float32 if it were stored
  g.output('y', x.matmul(w));
  const bytes = toOnnx(g);
  assert.ok(bytes.length < 4096, `a shapes-only graph is small (${bytes.length} bytes)`);
  const m = onnx.ModelProto.decode(bytes);
  assert.deepEqual(m.graph!.input![0].type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue)), ['batch', 4096]);
  assert.throws(() => toOnnx(g, { params: 'initializers' }), /param w has no value to embed/);
});

test('outputs that alias inputs, parameters or each other get Identity nodes and run', async () => {
  const { runGraph } = await import('../src/runtime/run');
  const g = new Graph('alias');
  const x = g.input('x', 'float32', [2]);
  const w = g.param('w', [2], { value: Float32Array.from([5, 6]) });
  const y = x.add(w);
  g.output('x_copy', x);
  g.output('w_copy', w);
  g.output('y', y);
  g.output('y_again', y);
  assert.throws(() => g.output('y', x), /output 'y' is defined twice/);
  const out = await runGraph(g, { x: [1, 2] }, { params: 'initializers' });
  assert.deepEqual(Array.from(out.x_copy as Float32Array), [1, 2]);
  assert.deepEqual(Array.from(out.w_copy as Float32Array), [5, 6]);
  assert.deepEqual(Array.from(out.y as Float32Array), [6, 8]);
  assert.deepEqual(Array.from(out.y_again as Float32Array), [6, 8]);
  const bad = new Graph('bad');
  bad.output('x', bad.input('x', 'float32', [1]).mul(2));
  assert.throws(() => toOnnx(bad), /output name 'x' is already the name of a value/);
});
