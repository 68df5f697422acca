/**
 * onnxruntime session options per backend, chosen by measurement (bench/session-options.ts; numbers
 * in the README, section "src/runtime"). One place, so that the trainer, the placement report and the benchmarks
 * all run the graph the same way.
 */
import type { InferenceSession } from 'onnxruntime-node';
import type { Backend } from './device';

export type OptimizationLevel = 'disabled' | 'basic' | 'extended' | 'layout' | 'all';

export function defaultOptimizationLevel(_device: Backend): OptimizationLevel {
  // 'all' (constant folding, MatMul+Add -> Gemm, MatMul+Scale fusions, layout transforms) measured
  // fastest on the CPU train step and is accepted by the WebGPU EP.
  return 'all';
}

/** Session options for a backend; `resident` names outputs that stay on the GPU (webgpu only). */
export function sessionOptions(
  device: Backend,
  opts: { resident?: readonly string[]; outputs?: readonly string[]; overrides?: InferenceSession.SessionOptions } = {},
): InferenceSession.SessionOptions {
  const base: InferenceSession.SessionOptions = {
    graphOptimizationLevel: defaultOptimizationLevel(device),
    // Silence ORT's warnings (e.g. "some nodes were not assigned to the preferred EP"): placement is
    // reported on request by placement.ts, not sprayed on every session.
    logSeverityLevel: 3,
  };
  if (device === 'cpu') {
    Object.assign(base, {
      executionProviders: ['cpu'],
      // intraOpNumThreads is left to ORT on purpose. Setting it to the core count (the obvious choice)
      // measured 1.7-2x slower than ORT's own default on a busy 2-core machine: ORT's explicitly sized
      // pool spins on every core between ops, which starves the other processes of a sweep and then
      // itself. Inter-op parallelism ('parallel' mode) measured 1.4x slower: the step is a chain.
      executionMode: 'sequential',
      // Static shapes: the memory pattern planner allocates every step's intermediates once.
      enableMemPattern: true,
      enableCpuMemArena: true,
    } satisfies InferenceSession.SessionOptions);
  } else {
    const placement: Record<string, 'cpu' | 'gpu-buffer'> = {};
    const resident = new Set(opts.resident ?? []);
    for (const name of opts.outputs ?? []) placement[name] = resident.has(name) ? 'gpu-buffer' : 'cpu';
    Object.assign(base, {
      executionProviders: ['webgpu'],
      // ORT disables memory patterns for WebGPU anyway (it logs so); say it rather than rely on it.
      enableMemPattern: false,
      preferredOutputLocation: placement,
    } satisfies InferenceSession.SessionOptions);
  }
  return { ...base, ...opts.overrides };
}
