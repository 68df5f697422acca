/**
 * chamlab vs an independent PyTorch reference (test/ref/chameleon_ref.py, float64) over
 * qk_norm on/off x norm order pre/swin, with GQA (4 heads, 2 kv heads) and z-loss on: the loss,
 * the logits, every parameter gradient and the metric taps agree within 1e-4 relative error
 * (norm-wise per tensor) in float32.
 */
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { modelDims } from '../src/model/config';
import { initWeights } from '../src/model/init';
import { paramTable } from '../src/model/params';
import { readSafetensors } from '../src/model/safetensors';
import { saveWeights, writeHfConfig } from '../src/model/weights';
import { computeGrads, parseBatch } from '../src/model/grad';
import { PYTHON, refScript, relErr, tinySpec, torchAvailable } from './model-fixtures';

const TOL = 1e-4;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-xcheck-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const torch = torchAvailable();

const configs = [
  { qk_norm: true, order: 'pre' as const },
  { qk_norm: true, order: 'swin' as const },
  { qk_norm: false, order: 'pre' as const },
  { qk_norm: false, order: 'swin' as const },
  { qk_norm: true, order: 'pre' as const, tie: true },
];

/** A deterministic batch with some ignored labels, including a whole-row tail. */
function makeBatch(vocab: number, B: number, T: number) {
  const ids: number[][] = [];
  const labels: number[][] = [];
  let s = 12345;
  const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) % vocab;
  for (let b = 0; b < B; b++) {
    ids.push(Array.from({ length: T }, next));
    labels.push(Array.from({ length: T }, (_, t) => (t === 2 || (b === 1 && t >= T - 2) ? -100 : next())));
  }
  return { input_ids: ids, labels };
}

for (const cfg of configs) {
  const label = `qk_norm=${cfg.qk_norm} order=${cfg.order}${cfg.tie ? ' tied' : ''}`;
  test(`cross-check vs PyTorch: ${label}`, { skip: torch.ok ? false : torch.why }, async () => {
    const spec = tinySpec(cfg, 8, 2);
    const m = modelDims(spec.model);
    const dir = path.join(tmp, label.replace(/[^a-z0-9]+/gi, '_'));
    fs.mkdirSync(dir, { recursive: true });
    const wfile = path.join(dir, 'model.safetensors');
    const weights = initWeights(m, 11);
    // Non-trivial norm gains and QK-Norm affines, so that their gradients and roles are exercised.
    for (const p of paramTable(m))
      if (p.role === 'gain' || p.role === 'bias') {
        const w = weights.get(p.name)!;
        for (let i = 0; i < w.length; i++) w[i] += 0.1 * Math.sin(i + p.name.length);
      }
    saveWeights(wfile, m, weights);
    writeHfConfig(path.join(dir, 'config.json'), m);
    const batchJson = makeBatch(m.vocab, 2, 8);
    fs.writeFileSync(path.join(dir, 'batch.json'), JSON.stringify(batchJson));

    const refOut = path.join(dir, 'ref.safetensors');
    const r = spawnSync(
      PYTHON,
      [refScript, '--config', path.join(dir, 'config.json'), '--weights', wfile, '--batch', path.join(dir, 'batch.json'), '--out', refOut, '--z-loss', String(m.zLoss)],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, `reference failed: ${r.stderr}`);
    const ref = readSafetensors(refOut, 'float64');

    const ours = await computeGrads(spec, weights, parseBatch(batchJson, m.vocab, m.maxSeqLen));
    const errs: Record<string, number> = {};
    errs.loss = relErr([ours.loss], ref.get('loss')!.data);
    errs.logits = relErr(ours.logits, ref.get('logits')!.data);
    for (const p of paramTable(m)) errs[p.name] = relErr(ours.grads.get(p.name)!, ref.get(p.name)!.data);
    errs['tap.z'] = relErr([ours.metrics.z], ref.get('tap.z')!.data);
    errs['tap.max_abs_logit'] = relErr([ours.metrics.max_abs_logit], ref.get('tap.max_abs_logit')!.data);
    for (let i = 0; i < m.layers; i++) {
      errs[`tap.layer_rms.${i}`] = relErr([ours.metrics[`layer_rms.${i}`]], ref.get(`tap.layer_rms.${i}`)!.data);
      errs[`tap.max_attn_logit.${i}`] = relErr([ours.metrics[`max_attn_logit.${i}`]], ref.get(`tap.max_attn_logit.${i}`)!.data);
    }
    const worst = Object.entries(errs).sort((a, b) => b[1] - a[1]);
    process.stdout.write(`# ${label}: loss ${ours.loss.toFixed(6)} (ref ${ref.get('loss')!.data[0].toFixed(6)}), max rel err ${worst[0][1].toExponential(2)} (${worst[0][0]})\n`);
    for (const [k, e] of worst) assert.ok(e <= TOL, `${label}: ${k} rel err ${e.toExponential(3)} > ${TOL}`);
    // Every gradient is non-trivial (a zero gradient would pass a relative check against zero).
    for (const p of paramTable(m)) assert.ok(ref.get(p.name)!.data.some((v) => v !== 0), `${p.name} has a zero reference gradient`);
  });
}

test('train step vs torch.optim.AdamW + clip_grad_norm_ (3 steps, clipping active, decay flags)', { skip: torch.ok ? false : torch.why }, async () => {
  const { graphSession } = await import('../src/runtime/run');
  const { buildModelGraphs } = await import('../src/model/graphs');
  const spec = tinySpec({ qk_norm: true, order: 'swin' }, 8, 2);
  spec.optimizer = { ...spec.optimizer, lr: 1e-2, weight_decay: 0.1, grad_clip: 0.5, decay: 'matrices' };
  const m = modelDims(spec.model);
  const dir = path.join(tmp, 'adamw');
  fs.mkdirSync(dir, { recursive: true });
  const weights = initWeights(m, 21);
  const wfile = path.join(dir, 'model.safetensors');
  saveWeights(wfile, m, weights);
  writeHfConfig(path.join(dir, 'config.json'), m);
  const batchJson = makeBatch(m.vocab, 2, 8);
  fs.writeFileSync(path.join(dir, 'batch.json'), JSON.stringify(batchJson));
  const { trainStep } = buildModelGraphs(spec);
  const steps = 3;
  const opt = {
    lr: spec.optimizer.lr,
    betas: spec.optimizer.betas,
    eps: spec.optimizer.eps,
    weight_decay: spec.optimizer.weight_decay,
    grad_clip: spec.optimizer.grad_clip,
    no_decay: trainStep.params.filter((p) => !p.decay).map((p) => p.name),
    steps,
  };
  assert.ok(opt.no_decay.includes('model.layers.0.self_attn.q_norm.weight') && !opt.no_decay.includes('model.embed_tokens.weight'));
  fs.writeFileSync(path.join(dir, 'opt.json'), JSON.stringify(opt));
  const refOut = path.join(dir, 'ref.safetensors');
  const r = spawnSync(
    PYTHON,
    [refScript, '--config', path.join(dir, 'config.json'), '--weights', wfile, '--batch', path.join(dir, 'batch.json'), '--out', refOut, '--z-loss', String(m.zLoss), '--adamw', path.join(dir, 'opt.json')],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, `reference failed: ${r.stderr}`);
  const ref = readSafetensors(refOut, 'float64');

  const b = parseBatch(batchJson, m.vocab, m.maxSeqLen);
  const session = await graphSession(trainStep.graph);
  const state: Record<string, Float32Array> = {};
  for (const s of trainStep.state) state[s.input] = s.init === 'param' ? weights.get(s.param)! : new Float32Array(s.shape.reduce((x, y) => x * y, 1));
  const errs: Record<string, number> = {};
  try {
    for (let t = 1; t <= steps; t++) {
      const out = await session.run({ input_ids: b.input_ids, labels: b.labels, ...state, step: t, lr: opt.lr, seed: 0 });
      errs[`loss.${t}`] = relErr([out.loss[0] as number], ref.get(`train.loss.${t}`)!.data);
      errs[`grad_norm.${t}`] = relErr([out.grad_norm[0] as number], ref.get(`train.grad_norm.${t}`)!.data);
      for (const s of trainStep.state) state[s.input] = out[s.output] as Float32Array;
    }
  } finally {
    await session.release();
  }
  // Compare the total update (the parameters themselves would hide errors in it).
  for (const p of trainStep.params) {
    const w0 = weights.get(p.name)!;
    const ours = state[p.name].map((v, i) => v - w0[i]);
    const theirs = ref.get(`next.${p.name}`)!.data.map((v, i) => v - w0[i]);
    errs[`update.${p.name}`] = relErr(ours, theirs);
  }
  const worst = Object.entries(errs).sort((x, y) => y[1] - x[1]);
  process.stdout.write(`# train step vs torch AdamW: max rel err ${worst[0][1].toExponential(2)} (${worst[0][0]})\n`);
  assert.ok(Number(ref.get('train.grad_norm.1')!.data[0]) > opt.grad_clip, 'clipping is active');
  for (const [k, e] of worst) assert.ok(e <= TOL, `${k} rel err ${e.toExponential(3)} > ${TOL}`);
});
