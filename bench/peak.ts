/**
 * The machine's float32 matmul peak as onnxruntime sees it: one n x n x n MatMul node, run in a
 * session with the same CPU options as the train step (src/runtime/session-options.ts), best of
 * `reps` runs. The best run, not the median, because the machine is shared: a peak is what the cores
 * can do when nobody else is using them.
 */
import type { Backend } from '../src/runtime/device';
import { encodeModel } from '../src/runtime/onnx-util';
import { ort } from '../src/runtime/session';
import { sessionOptions } from '../src/runtime/session-options';

export interface PeakResult {
  n: number;
  reps: number;
  gflops_best: number;
  gflops_median: number;
}

export async function ortMatmulPeak(n: number, reps: number, device: Backend = 'cpu'): Promise<PeakResult> {
  const { InferenceSession, Tensor } = ort();
  const bytes = encodeModel(
    'bench_matmul',
    [{ opType: 'MatMul', name: 'mm', input: ['a', 'b'], output: ['c'] }],
    [
      { name: 'a', dtype: 'float32', shape: [n, n] },
      { name: 'b', dtype: 'float32', shape: [n, n] },
    ],
    [{ name: 'c', dtype: 'float32', shape: [n, n] }],
  );
  const session = await InferenceSession.create(bytes, sessionOptions(device, { outputs: ['c'] }));
  try {
    const fill = (seed: number) => {
      const x = new Float32Array(n * n);
      let s = seed;
      for (let i = 0; i < x.length; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) | 0;
        x[i] = (s >>> 8) / 16777216 - 0.5;
      }
      return x;
    };
    const feeds = { a: new Tensor('float32', fill(1), [n, n]), b: new Tensor('float32', fill(2), [n, n]) };
    // Preallocated output: the timing is the kernel, not an n^2 allocation per run.
    const fetches = { c: new Tensor('float32', new Float32Array(n * n), [n, n]) };
    for (let i = 0; i < 2; i++) await session.run(feeds, fetches);
    const ms: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      await session.run(feeds, fetches);
      ms.push(performance.now() - t0);
    }
    ms.sort((a, b) => a - b);
    const flop = 2 * n ** 3;
    return { n, reps, gflops_best: flop / ms[0] / 1e6, gflops_median: flop / ms[Math.floor(ms.length / 2)] / 1e6 };
  } finally {
    await session.release();
  }
}
