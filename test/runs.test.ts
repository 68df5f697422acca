/**
 * The run layer in-process (runExperiment): folder layout, events, skip of finished runs, exact
 * resume after an abort, a damaged checkpoint, a torn metrics line, divergence, stale locks and the
 * bad folders it must refuse. Process-level behaviour (kill -9, SIGTERM, two processes) is in
 * cli-train.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../dsl/errors';
import {
  CHECKPOINT_FILES,
  listCheckpoints,
  readPointer,
  readRun,
  runExperiment,
  RUN_FILES,
  type RunEvent,
  type RunResult,
} from '../src/runs';
import { microProject, withoutTiming } from './helpers/micro-run';

async function run(spec: string, out: string, opts: Parameters<typeof runExperiment>[1] = {}): Promise<{ result: RunResult; events: RunEvent[] }> {
  const events: RunEvent[] = [];
  const result = await runExperiment(spec, {
    out,
    ...opts,
    onEvent: (e) => {
      events.push(e);
      opts.onEvent?.(e);
    },
  });
  return { result, events };
}

/** A reference run of the micro spec, trained once and shared by the tests that compare with it. */
let reference: Promise<{ metrics: unknown[]; evals: unknown[]; dir: string }> | undefined;
function referenceRun() {
  reference ??= (async () => {
    const p = microProject();
    const { result } = await run(p.spec, p.out);
    const r = readRun(result.dir);
    return { metrics: withoutTiming(r.metrics), evals: withoutTiming(r.evals as any[]), dir: result.dir };
  })();
  return reference;
}

test('a run writes the documented folder: spec, graphs, tokenizers, metrics, eval, checkpoints, summary, log', async () => {
  const p = microProject();
  try {
    const { result, events } = await run(p.spec, p.out);
    const dir = result.dir;
    assert.equal(path.dirname(path.dirname(dir)), p.out);
    assert.equal(path.basename(path.dirname(dir)), 'micro');
    assert.match(path.basename(dir), /^[0-9a-f]{12}$/);
    assert.equal(result.summary.hash.slice(0, 12), path.basename(dir));
    for (const f of ['spec.yaml', 'graphs/train_step.onnx', 'graphs/eval.onnx', 'graphs/forward.onnx', 'graphs/manifest.json', 'tokenizers/tokenizer.json', 'tokenizers/vq.json', 'metrics.jsonl', 'eval.jsonl', 'summary.json', 'run.log'])
      assert.ok(fs.existsSync(path.join(dir, f)), `missing ${f}`);
    assert.ok(!fs.existsSync(path.join(dir, RUN_FILES.lock)), 'the lock is released at the end');
    const spec = fs.readFileSync(path.join(dir, 'spec.yaml'), 'utf8');
    assert.match(spec, new RegExp(`^# hash: ${result.summary.hash}$`, 'm'));

    const r = readRun(dir);
    assert.equal(r.summary!.status, 'finished');
    assert.equal(r.summary!.step, 30);
    assert.equal(r.metrics.length, 30);
    assert.deepEqual(r.metrics.map((m) => m.step), Array.from({ length: 30 }, (_, i) => i + 1));
    const row = r.metrics[0];
    for (const k of ['step', 'tokens', 'loss', 'lr', 'tokens_per_s', 'stage', 'ce', 'z', 'max_abs_logit', 'grad_norm', 'update_ratio', 'layer_rms.0', 'layer_rms.1', 'max_attn_logit.0', 'max_attn_logit.1'])
      assert.ok(k in row, `metrics row lacks ${k}`);
    assert.equal(r.metrics[29].tokens, 30 * 4 * 64);
    assert.deepEqual([...new Set(r.metrics.map((m) => m.stage))], ['stage1', 'stage2']);
    // eval at 0, 10, 20, 30, overall and per source
    assert.deepEqual(r.evals.map((e) => e.step), [0, 10, 20, 30]);
    assert.deepEqual(Object.keys(r.evals[0].sources).sort(), ['image_text', 'interleaved', 'text']);
    assert.equal(r.evals[0].sources.image_text.kind, 'image-text');
    assert.ok(r.evals[3].loss < r.evals[0].loss - 0.3, `held-out loss must fall: ${r.evals.map((e) => e.loss)}`);
    assert.equal(r.summary!.final_eval_loss, r.evals[3].loss);
    // checkpoints: the newest three (keep_checkpoints) and the best; pointers name complete ones
    const cks = listCheckpoints(dir);
    assert.ok(cks.includes('step-00000030') && cks.includes('step-00000025') && cks.includes('step-00000020'), cks.join());
    assert.ok(cks.length <= 4, `keeps the newest 3 plus the best: ${cks}`);
    assert.equal(path.basename(readPointer(dir, 'latest')!), 'step-00000030');
    assert.equal(path.basename(readPointer(dir, 'best')!), `step-${String(r.summary!.best_eval_step).padStart(8, '0')}`);
    const ck = path.join(dir, 'checkpoints', 'step-00000030');
    for (const f of Object.values(CHECKPOINT_FILES)) assert.ok(fs.existsSync(path.join(ck, f)), `checkpoint lacks ${f}`);
    const cfg = JSON.parse(fs.readFileSync(path.join(ck, 'config.json'), 'utf8'));
    assert.equal(cfg.model_type, 'chameleon');
    assert.equal(cfg.hidden_size, 32);
    // events: phases, start, every step, evals, checkpoints, status changes
    const kinds = events.map((e) => e.type);
    assert.equal(kinds.filter((k) => k === 'step').length, 30);
    assert.equal(kinds.filter((k) => k === 'eval').length, 4);
    assert.ok(kinds.includes('checkpoint') && kinds.includes('start') && kinds.includes('phase'));
    const statuses = events.filter((e): e is Extract<RunEvent, { type: 'status' }> => e.type === 'status').map((e) => e.status);
    assert.deepEqual(statuses, ['running', 'finished']);
  } finally {
    p.cleanup();
  }
});

test('a finished run is not trained again: no trainer, no step, the same summary', async () => {
  const p = microProject();
  try {
    const first = await run(p.spec, p.out);
    const rows = fs.readFileSync(path.join(first.result.dir, 'metrics.jsonl'), 'utf8');
    const second = await run(p.spec, p.out);
    assert.equal(second.result.skipped, true);
    assert.equal(second.result.dir, first.result.dir);
    assert.deepEqual(second.events.map((e) => e.type), ['log'], 'only a log line: no set-up phase, no step');
    assert.equal(fs.readFileSync(path.join(first.result.dir, 'metrics.jsonl'), 'utf8'), rows);
    // --fresh starts over
    const fresh = await run(p.spec, p.out, { fresh: true });
    assert.equal(fresh.result.skipped, false);
    assert.equal(fresh.result.summary.attempts, 1);
    assert.deepEqual(withoutTiming(readRun(fresh.result.dir).metrics), withoutTiming(readRun(first.result.dir).metrics));
  } finally {
    p.cleanup();
  }
});

test('abort mid-run: status interrupted with a checkpoint; the same call resumes and every row equals the unbroken run', async () => {
  const ref = await referenceRun();
  const p = microProject();
  try {
    const ac = new AbortController();
    const first = await run(p.spec, p.out, {
      signal: ac.signal,
      onEvent: (e) => {
        if (e.type === 'step' && e.row.step === 17) ac.abort();
      },
    });
    assert.equal(first.result.summary.status, 'interrupted');
    assert.equal(first.result.summary.step, 17);
    assert.equal(path.basename(readPointer(first.result.dir, 'latest')!), 'step-00000017');
    const second = await run(p.spec, p.out);
    assert.equal(second.result.summary.status, 'finished');
    assert.equal(second.result.summary.attempts, 2);
    const start = second.events.find((e): e is Extract<RunEvent, { type: 'start' }> => e.type === 'start')!;
    assert.equal(start.run.startStep, 17);
    assert.equal(second.events.filter((e) => e.type === 'step').length, 13);
    const r = readRun(second.result.dir);
    assert.deepEqual(withoutTiming(r.metrics), ref.metrics);
    assert.deepEqual(withoutTiming(r.evals as any[]), ref.evals);
  } finally {
    p.cleanup();
  }
});

test('a damaged latest checkpoint is named in a warning and the previous one is used; the result is still exact', async () => {
  const ref = await referenceRun();
  const p = microProject();
  try {
    const ac = new AbortController();
    const first = await run(p.spec, p.out, { signal: ac.signal, onEvent: (e) => e.type === 'step' && e.row.step === 17 && ac.abort() });
    const latest = readPointer(first.result.dir, 'latest')!;
    assert.equal(path.basename(latest), 'step-00000017');
    // flip one byte in the middle of the weights
    const f = path.join(latest, 'model.safetensors');
    const bytes = fs.readFileSync(f);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    fs.writeFileSync(f, bytes);
    // and leave a torn metrics line as a crash would
    fs.appendFileSync(path.join(first.result.dir, 'metrics.jsonl'), '{"step":18,"tokens":4608,"lo');
    const second = await run(p.spec, p.out);
    const warnings = second.events.filter((e): e is Extract<RunEvent, { type: 'log' }> => e.type === 'log' && e.level === 'warn').map((e) => e.message);
    assert.ok(warnings.some((w) => w.includes('step-00000017') && /SHA-256/.test(w)), warnings.join('\n'));
    assert.ok(warnings.some((w) => /torn/.test(w)), warnings.join('\n'));
    const start = second.events.find((e): e is Extract<RunEvent, { type: 'start' }> => e.type === 'start')!;
    assert.equal(start.run.startStep, 15);
    assert.deepEqual(withoutTiming(readRun(second.result.dir).metrics), ref.metrics);
  } finally {
    p.cleanup();
  }
});

test('no usable checkpoint at all: the run says so and starts over, exactly', async () => {
  const ref = await referenceRun();
  const p = microProject();
  try {
    const ac = new AbortController();
    const first = await run(p.spec, p.out, { signal: ac.signal, onEvent: (e) => e.type === 'step' && e.row.step === 7 && ac.abort() });
    for (const name of listCheckpoints(first.result.dir)) fs.rmSync(path.join(first.result.dir, 'checkpoints', name, 'state.json'));
    const second = await run(p.spec, p.out);
    const warnings = second.events.filter((e) => e.type === 'log' && e.level === 'warn').map((e) => (e as any).message as string);
    assert.ok(warnings.some((w) => /starting over/.test(w)), warnings.join('\n'));
    assert.deepEqual(withoutTiming(readRun(second.result.dir).metrics), ref.metrics);
  } finally {
    p.cleanup();
  }
});

test('a diverging spec (huge learning rate, no QK-Norm) ends diverged with its step; rows and the last good checkpoint stay', async () => {
  const p = microProject();
  try {
    const { result } = await run(p.spec, p.out, {
      overrides: ['optimizer.lr=50', 'model.qk_norm=false', 'optimizer.schedule.warmup=0', 'train.steps=60'],
    });
    const s = result.summary;
    assert.equal(s.status, 'diverged');
    assert.ok(s.divergence && s.divergence.step > 0 && s.divergence.step < 60, JSON.stringify(s.divergence));
    assert.equal(s.divergence!.kind, 'non-finite');
    const r = readRun(result.dir);
    assert.equal(r.metrics.length, s.divergence!.step, 'every row up to the divergence is kept');
    const last = readPointer(result.dir, 'latest');
    assert.ok(last, 'a checkpoint from before the divergence is kept');
    assert.ok(Number(path.basename(last!).slice(5)) < s.divergence!.step);
    // a diverged run is a result: not trained again
    const again = await run(p.spec, p.out, { overrides: ['optimizer.lr=50', 'model.qk_norm=false', 'optimizer.schedule.warmup=0', 'train.steps=60'] });
    assert.equal(again.result.skipped, true);
  } finally {
    p.cleanup();
  }
});

test('action warn: a loss_above breach is recorded and the run goes on to the end', async () => {
  const p = microProject();
  try {
    const { result, events } = await run(p.spec, p.out, { overrides: ['train.divergence.action=warn', 'train.divergence.loss_above=4.5'] });
    assert.equal(result.summary.status, 'finished');
    assert.ok(result.summary.warnings > 0);
    assert.equal(result.summary.divergence!.kind, 'loss_above');
    assert.equal(result.summary.divergence!.step, 1, 'the first breach is recorded');
    assert.ok(events.some((e) => e.type === 'log' && e.level === 'warn'));
  } finally {
    p.cleanup();
  }
});

test('bad folders are refused with one line naming the file: another spec, a foreign metrics line, another model shape', async () => {
  const p = microProject();
  try {
    const ac = new AbortController();
    const first = await run(p.spec, p.out, { signal: ac.signal, onEvent: (e) => e.type === 'step' && e.row.step === 12 && ac.abort() });
    const dir = first.result.dir;

    // a line in the middle of metrics.jsonl that is not a metrics row
    const mfile = path.join(dir, 'metrics.jsonl');
    const good = fs.readFileSync(mfile, 'utf8');
    const lines = good.split('\n');
    lines.splice(3, 0, '{"hello": "world"}');
    fs.writeFileSync(mfile, lines.join('\n'));
    await assert.rejects(run(p.spec, p.out), (e: unknown) => e instanceof UserError && /metrics\.jsonl: line 4: .*not a chamlab file/.test(e.message));
    fs.writeFileSync(mfile, good);

    // a checkpoint of another model shape (with a manifest that claims this spec)
    const other = microProject();
    try {
      const o = await run(other.spec, other.out, { overrides: ['model.d_model=64', 'train.steps=5'] });
      const src = readPointer(o.result.dir, 'latest')!;
      const dst = path.join(dir, 'checkpoints', 'step-00000099');
      fs.cpSync(src, dst, { recursive: true });
      const man = JSON.parse(fs.readFileSync(path.join(dst, 'manifest.json'), 'utf8'));
      man.spec_hash = first.result.summary.hash;
      fs.writeFileSync(path.join(dst, 'manifest.json'), JSON.stringify(man));
      await assert.rejects(run(p.spec, p.out), (e: unknown) => e instanceof UserError && /step-00000099/.test(e.message) && /do not match/.test(e.message) && /--fresh/.test(e.message));
      fs.rmSync(dst, { recursive: true });
    } finally {
      other.cleanup();
    }

    // spec.yaml of another spec in this folder
    const sfile = path.join(dir, 'spec.yaml');
    const spec = fs.readFileSync(sfile, 'utf8');
    fs.writeFileSync(sfile, spec.replace(/^# hash: [0-9a-f]+$/m, `# hash: ${'ab'.repeat(32)}`));
    await assert.rejects(run(p.spec, p.out), (e: unknown) => e instanceof UserError && /written by another spec/.test(e.message));
    fs.writeFileSync(sfile, spec);

    // an output folder under a file
    fs.writeFileSync(path.join(p.dir, 'afile'), '');
    await assert.rejects(run(p.spec, path.join(p.dir, 'afile', 'runs')), (e: unknown) => e instanceof UserError && /lies under .*afile, which is a file, not a folder/.test(e.message));

    // nothing was lost: the run still resumes
    const done = await run(p.spec, p.out);
    assert.equal(done.result.summary.status, 'finished');
  } finally {
    p.cleanup();
  }
});

test('a lock left by a process that is gone is taken over', async () => {
  const p = microProject();
  try {
    const first = await run(p.spec, p.out, { overrides: ['train.steps=5'] });
    fs.rmSync(path.join(first.result.dir, 'summary.json'));
    // pid 2^22 + 1 is above Linux's default pid_max: no such process
    fs.writeFileSync(path.join(first.result.dir, RUN_FILES.lock), JSON.stringify({ pid: 4194305, host: require('node:os').hostname(), started_at: 'then' }));
    const second = await run(p.spec, p.out, { overrides: ['train.steps=5'] });
    assert.equal(second.result.summary.status, 'finished');
    assert.ok(!fs.existsSync(path.join(first.result.dir, RUN_FILES.lock)));
  } finally {
    p.cleanup();
  }
});

test('one thread or two: the same bits (the sweep runs members with fewer threads than train does)', async () => {
  const ref = await referenceRun();
  const p = microProject();
  try {
    const { result } = await run(p.spec, p.out, { threads: 1 });
    assert.deepEqual(withoutTiming(readRun(result.dir).metrics), ref.metrics);
  } finally {
    p.cleanup();
  }
});
