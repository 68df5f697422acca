/**
 * A short real training run on WebGPU, for scripts/gpu/check.sh (lavapipe on a machine without a
 * GPU, NVIDIA's Vulkan driver on a GPU machine): is there an adapter, which nodes (if any) fall back
 * to the CPU, does the GPU compute what the CPU computes over the first steps, and how many tokens
 * per second.
 *
 *   node dist/scripts/gpu/train.js [--steps 20] [--size tiny|small] [--device webgpu|cpu] [--no-compare]
 *
 * tiny:  d 64, 2 layers, 4 heads, vocab 576, batch 8 x 64 tokens (runs on lavapipe in a minute).
 * small: d 256, 4 layers, 8 heads, vocab 4608, batch 8 x 256 tokens (5.6M parameters), for a GPU.
 * Prints a human summary and one last line `GPU_CHECK {json}`; exits 1 when there is no adapter, a
 * node falls back to the CPU for lack of a kernel, or the GPU disagrees with the CPU (> 1e-4).
 */
import { parseArgs } from 'node:util';
import { SpecSchema } from '../../dsl/schema';
import { toOnnx } from '../../src/graph';
import { modelDims } from '../../src/model/config';
import { buildModelGraphs } from '../../src/model/graphs';
import { initWeights } from '../../src/model/init';
import { probeWebGpu, WEBGPU_INSTALL_HINT, type Backend } from '../../src/runtime/device';
import { formatPlacement, placementReport } from '../../src/runtime/placement';
import { Trainer, type StepMetrics } from '../../src/runtime/trainer';
import { bigramBatches } from '../../src/data/synthetic';

const { values: a } = parseArgs({
  options: {
    steps: { type: 'string', default: '20' },
    size: { type: 'string', default: 'tiny' },
    device: { type: 'string', default: 'webgpu' },
    'no-compare': { type: 'boolean', default: false },
  },
});
const SIZES: Record<string, { d: number; layers: number; heads: number; text: number; image: number; batch: number; seq: number }> = {
  tiny: { d: 64, layers: 2, heads: 4, text: 512, image: 64, batch: 8, seq: 64 },
  small: { d: 256, layers: 4, heads: 8, text: 4096, image: 512, batch: 8, seq: 256 },
};
const size = SIZES[a.size!];
if (!size) throw new Error(`--size must be one of ${Object.keys(SIZES)}`);
const steps = Number(a.steps);
const device = a.device as Backend;
const COMPARE_STEPS = 3;
const TOL = 1e-4;

const spec = SpecSchema.parse({
  name: `gpu-check-${a.size}`,
  model: {
    vocab: { text: size.text, image: size.image },
    d_model: size.d,
    layers: size.layers,
    heads: size.heads,
    max_seq_len: size.seq,
    dropout: { attention: 0, after_attention: 0.1, after_ffn: 0.1 },
  },
  data: { seq_len: size.seq, sources: { t: { kind: 'text', origin: 'builtin:moby-dick' } }, stages: [{ name: 's', share: 1 }] },
  optimizer: { lr: 3e-3 },
  train: { steps, batch: size.batch, seed: 0 },
});

function relErr(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < x.length; i++) {
    num = Math.max(num, Math.abs(x[i] - y[i]));
    den = Math.max(den, Math.abs(y[i]));
  }
  return den === 0 ? num : num / den;
}

async function main(): Promise<number> {
  const result: Record<string, unknown> = { size: a.size, device, steps };
  if (device === 'webgpu') {
    const probe = await probeWebGpu();
    result.adapter = probe.available;
    if (!probe.available) {
      console.log(`no WebGPU adapter: ${probe.reason}\n${WEBGPU_INSTALL_HINT}`);
      console.log('GPU_CHECK ' + JSON.stringify(result));
      return 1;
    }
    console.log(`WebGPU adapter: yes (probe ${probe.ms.toFixed(0)} ms); VK_DRIVER_FILES=${process.env.VK_DRIVER_FILES ?? '(loader default)'}`);
  }
  const m = modelDims(spec.model);
  const graphs = buildModelGraphs(spec);
  const trainStep = toOnnx(graphs.trainStep.graph);
  const weights = initWeights(m, 0);
  const params = [...weights.values()].reduce((n, w) => n + w.length, 0);
  console.log(`model: d ${size.d}, ${size.layers} layers, vocab ${m.vocab}, ${params} parameters; batch ${size.batch} x ${size.seq} tokens`);

  const placement = await placementReport(trainStep, device);
  console.log(formatPlacement(placement, 'train_step'));
  const missingKernels = placement.cpuFallbacks.filter((n) => n.reason === 'no-webgpu-kernel');
  result.nodes = placement.nodes.length;
  result.cpu_fallbacks = placement.cpuFallbacks.map((n) => `${n.opType} ${n.name} (${n.reason})`);

  // A learnable token stream (mostly a fixed successor), a pure function of the step.
  const provider = bigramBatches({ vocab: m.vocab, batch: size.batch, seq: size.seq, keep: 0.8 });
  const opts = { trainStep, weights, batches: provider, lr: () => 3e-3, seed: 0 };
  const t0 = performance.now();
  const trainer = await Trainer.create({ ...opts, device, divergence: { action: 'warn', loss_above: null, spike_factor: null } });
  result.session_ms = Math.round(performance.now() - t0);
  const log: StepMetrics[] = [];
  let ok = true;
  await trainer.train(Math.min(COMPARE_STEPS, steps), (s) => void log.push(s));
  if (!a['no-compare'] && device !== 'cpu') {
    const cpu = await Trainer.create({ ...opts, device: 'cpu' });
    const ref: StepMetrics[] = [];
    await cpu.train(Math.min(COMPARE_STEPS, steps), (s) => void ref.push(s));
    const [sg, sc] = [await trainer.getState(), await cpu.getState()];
    await cpu.release();
    const lossErr = Math.max(...ref.map((r, i) => relErr([log[i].loss], [r.loss])));
    const stateErr = Math.max(...[...sc.values].map(([k, v]) => relErr(sg.values.get(k)!, v)));
    result.compare = { steps: ref.length, loss_rel_err: lossErr, state_rel_err: stateErr };
    console.log(`${device} vs cpu after ${ref.length} steps: loss rel err ${lossErr.toExponential(2)}, state rel err ${stateErr.toExponential(2)} (tolerance ${TOL})`);
    if (!(lossErr <= TOL && stateErr <= TOL)) ok = false;
  }
  await trainer.train(steps, (s) => void log.push(s));
  const tr = performance.now();
  await trainer.getState();
  result.readback_ms = Math.round(performance.now() - tr);
  await trainer.release();

  for (const s of log) console.log(`step ${String(s.step).padStart(3)}  loss ${s.loss.toFixed(4)}  ${s.ms.toFixed(1).padStart(8)} ms`);
  // Steady state: the first step compiles every shader (seconds on any GPU); leave it out.
  const steady = log.slice(1).map((s) => s.ms).sort((x, y) => x - y);
  const median = steady[Math.floor(steady.length / 2)] ?? log[0].ms;
  const tokens = size.batch * size.seq;
  result.first_step_ms = Math.round(log[0].ms);
  result.median_step_ms = Number(median.toFixed(2));
  result.tokens_per_s = Math.round((tokens * 1000) / median);
  result.loss = { first: log[0].loss, last: log[log.length - 1].loss };
  console.log(
    `${device}: first step ${log[0].ms.toFixed(0)} ms${device === 'webgpu' ? ' (shader compilation)' : ''}, median step ${median.toFixed(1)} ms = ` +
      `${result.tokens_per_s} tokens/s; loss ${log[0].loss.toFixed(3)} -> ${log[log.length - 1].loss.toFixed(3)}; ` +
      `CPU fallback: ${placement.cpuFallbacks.length ? placement.cpuFallbacks.length + ' node(s)' : 'none'}`,
  );
  if (missingKernels.length) ok = false;
  if (!(log[log.length - 1].loss < log[0].loss)) ok = false;
  result.ok = ok;
  console.log('GPU_CHECK ' + JSON.stringify(result));
  return ok ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (e) => {
    console.error(e);
    process.exitCode = 1;
  },
);
