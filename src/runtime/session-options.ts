/**
 * onnxruntime session options per backend, chosen by measurement (bench/experiments/session-options.ts;
 * numbers in bench/FINDINGS.md and docs/runtime.md). One place, so that the trainer, the placement report and the benchmarks
 * all run the graph the same way.
 */
import * as os from 'node:os';
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
      // One intra-op thread per core, explicitly. Left unset, onnxruntime-node 1.30 runs the pool with
      // ONE thread on these VMs (measured: a 2-core machine's small train step took 3.5 s by default
      // and 3.5 s at 1 thread, 2.1 s at 2; bench/FINDINGS.md section 3). Spinning is turned off: an
      // explicitly sized pool that spins between ops starves other processes on a shared machine
      // (a sweep, two test files, PyTorch in the benchmark) and then itself (1.9x slower under load),
      // while without spinning it is as fast on an idle machine (2,113 ms against 2,167 ms).
      intraOpNumThreads: os.availableParallelism(),
      extra: { session: { intra_op: { allow_spinning: '0' } } },
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
