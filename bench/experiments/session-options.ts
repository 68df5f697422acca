/**
 * Which onnxruntime session options make a small transformer train step fastest on the CPU.
 *
 *   node dist/bench/experiments/session-options.js [--d 64] [--layers 2] [--batch 8] [--seq 64] [--rounds 8]
 *
 * Builds the real Chameleon train step (src/model) at the given size, creates one session per
 * candidate option set in turn, round after round (K steps each per round), so that machine noise
 * hits every candidate alike; reports the median step time and its ratio to the chosen
 * defaults (src/runtime/session-options.ts). The state is fed forward as in training.
 */
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { SpecSchema } from '../../dsl/schema';
import { toOnnx } from '../../src/graph';
import { modelDims } from '../../src/model/config';
import { buildModelGraphs } from '../../src/model/graphs';
import { initWeights } from '../../src/model/init';
import { sessionOptions } from '../../src/runtime/session-options';
import { ort } from '../../src/runtime/session';
import { stepSignature } from '../../src/runtime/signature';
import { batchFeeds, initialState, scalarFeeds } from '../../src/runtime/trainer';

const { values: a } = parseArgs({
  options: {
    d: { type: 'string', default: '64' },
    layers: { type: 'string', default: '2' },
    batch: { type: 'string', default: '8' },
    seq: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '8' },
    k: { type: 'string', default: '5' },
  },
});
const d = Number(a.d);
const spec = SpecSchema.parse({
  name: 'bench',
  model: { vocab: { text: 512, image: 64 }, d_model: d, layers: Number(a.layers), heads: Math.max(1, d / 16), ffn: 4 * d, max_seq_len: Number(a.seq) },
  data: { seq_len: Number(a.seq), sources: { t: { kind: 'text', origin: 'builtin:moby-dick' } }, stages: [{ name: 's', share: 1 }] },
  optimizer: { lr: 1e-3 },
  train: { steps: 100, batch: Number(a.batch) },
});

const cores = os.availableParallelism();
const chosen = sessionOptions('cpu');
const { intraOpNumThreads: _threads, extra: _extra, ...unthreaded } = chosen;
const candidates: Record<string, InferenceSession.SessionOptions> = {
  chosen,
  'ort defaults': { executionProviders: ['cpu'], logSeverityLevel: 3 },
  'level disabled': { ...chosen, graphOptimizationLevel: 'disabled' },
  'level basic': { ...chosen, graphOptimizationLevel: 'basic' },
  'level extended': { ...chosen, graphOptimizationLevel: 'extended' },
  // what the runtime chose before 2026-11-27 10:00: thread count and spinning left to ORT
  'threads left to ORT': unthreaded,
  'intra-op 1 thread': { ...chosen, intraOpNumThreads: 1 },
  // ORT's pool threads spin while waiting for work; on a busy machine that steals the cores the
  // other threads need, on an idle one it may save a wake-up per op.
  'cores, spinning': { ...chosen, intraOpNumThreads: cores, extra: { session: { intra_op: { allow_spinning: '1' } } } },
  'memory pattern off': { ...chosen, enableMemPattern: false },
  'cpu arena off': { ...chosen, enableCpuMemArena: false },
  'parallel mode': { ...chosen, executionMode: 'parallel', interOpNumThreads: cores },
};

async function main() {
  const graphs = buildModelGraphs(spec);
  const bytes = toOnnx(graphs.trainStep.graph);
  const m = modelDims(spec.model);
  const weights = initWeights(m, 0);
  const { InferenceSession, Tensor } = ort();
  const B = spec.train.batch;
  const S = spec.data.seq_len;
  const batch = { input_ids: new Int32Array(B * S).map((_, i) => (i * 7) % m.vocab), labels: new Int32Array(B * S).map((_, i) => (i * 7 + 1) % m.vocab), batch: B, seq: S };
  // One live session at a time: an idle session's pool threads keep spinning for a while after its
  // last run and would slow whichever candidate runs next. Each round creates, warms up, times and
  // releases every candidate in turn.
  const times = new Map<string, number[]>(Object.keys(candidates).map((n) => [n, []]));
  let sig: ReturnType<typeof stepSignature> | undefined;
  for (let round = 0; round < Number(a.rounds); round++) {
    for (const [name, o] of Object.entries(candidates)) {
      const session = await InferenceSession.create(bytes, o);
      sig ??= stepSignature(session);
      const init = initialState(sig, weights);
      const state: Record<string, Tensor> = Object.fromEntries(
        sig.state.map((p) => [p.input, new Tensor('float32', new Float32Array(init.get(p.input)!), p.shape)]),
      );
      for (let step = 1; step <= 2 + Number(a.k); step++) {
        const feeds = { ...batchFeeds(sig.batch, batch), ...scalarFeeds(sig, { step, lr: 1e-3, seed: 0 }), ...state };
        const t0 = performance.now();
        const out = await session.run(feeds);
        if (step > 2) times.get(name)!.push(performance.now() - t0);
        for (const p of sig.state) state[p.input] = out[p.output];
      }
      await session.release();
    }
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const base = median(times.get('chosen')!);
  const params = [...weights.values()].reduce((n, w) => n + w.length, 0);
  console.log(`train step: d ${d}, layers ${a.layers}, batch ${B} x ${S}, ${params} parameters, ${cores} cores; median of ${times.get('chosen')!.length} steps each`);
  for (const [name, ts] of times) {
    const med = median(ts);
    console.log(`${name.padEnd(20)} ${med.toFixed(2).padStart(8)} ms  ${(med / base).toFixed(2)}x  ${((B * S * 1000) / med).toFixed(0).padStart(7)} tokens/s`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
