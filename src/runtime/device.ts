/**
 * Which backend a run uses: `train.device` is cpu | gpu | auto; the runtime speaks cpu | webgpu.
 *
 * Whether a WebGPU adapter exists is found out by actually creating a WebGPU session on a trivial
 * graph and checking its answer, in a child process (probe-child.ts): a missing or broken Vulkan
 * stack then costs a failed probe, never the caller's process. The answer is cached per process.
 */
import { UserError } from '../../dsl/errors';
import { runProbeChild } from './child';

export type DeviceRequest = 'cpu' | 'gpu' | 'auto';
export type Backend = 'cpu' | 'webgpu';

export interface WebGpuProbe {
  available: boolean;
  /** Why not, in one line (ORT's message, a signal, or a timeout). */
  reason?: string;
  /** How long the probe took. */
  ms: number;
}

export interface ProbeOptions {
  /** Environment for the probe (defaults to this process's); a custom env bypasses the cache. */
  env?: NodeJS.ProcessEnv;
  /** Re-probe even when an answer is cached. */
  fresh?: boolean;
  /** Dawn on lavapipe starts in about a second; a hung driver must not hang the caller. */
  timeoutMs?: number;
}

let cached: Promise<WebGpuProbe> | undefined;

/** Whether onnxruntime's WebGPU execution provider gets an adapter and computes correctly. */
export function probeWebGpu(opts: ProbeOptions = {}): Promise<WebGpuProbe> {
  if (!opts.env && !opts.fresh && cached) return cached;
  const run = (async (): Promise<WebGpuProbe> => {
    const t0 = performance.now();
    const o = await runProbeChild(['adapter'], { env: opts.env, timeoutMs: opts.timeoutMs ?? 60_000 });
    const ms = performance.now() - t0;
    if (o.result?.ok) return { available: true, ms };
    const reason =
      o.result?.reason ??
      (o.timedOut ? `the probe did not finish in ${opts.timeoutMs ?? 60_000} ms` : `the probe process died (${o.exit})`);
    return { available: false, reason, ms };
  })();
  if (!opts.env) cached = run;
  return run;
}

/** What to install when WebGPU is missing: one place, used by errors and tests. */
export const WEBGPU_INSTALL_HINT =
  'install a Vulkan driver and the Vulkan loader: on Debian, `apt-get install -t bookworm-backports ' +
  'mesa-vulkan-drivers libvulkan1` (lavapipe, a CPU Vulkan driver; Mesa >= 24 is needed) or run `npm run setup`; ' +
  "on an NVIDIA machine, the driver's Vulkan ICD plus libvulkan1 (VK_DRIVER_FILES=.../nvidia_icd.json)";

/**
 * Resolves the spec's device to a backend. `gpu` without an adapter is a user error that says what
 * to install; `auto` quietly falls back to the CPU.
 */
export async function resolveDevice(request: DeviceRequest, opts: ProbeOptions = {}): Promise<Backend> {
  if (request === 'cpu') return 'cpu';
  const probe = await probeWebGpu(opts);
  if (probe.available) return 'webgpu';
  if (request === 'auto') return 'cpu';
  throw new UserError(
    `device 'gpu' was asked for but onnxruntime found no usable WebGPU adapter (${probe.reason}); ` +
      `${WEBGPU_INSTALL_HINT}; or set train.device: cpu`,
    'train.device',
  );
}
