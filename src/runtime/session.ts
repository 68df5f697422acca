/**
 * onnxruntime-node sessions for the two backends, and the one rule about GPU tensors: never call
 * getData on a gpu-buffer tensor (it aborts the process in onnxruntime-node 1.30); read them back
 * through `readBack`, which runs an identity graph whose outputs are placed on the CPU.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { Backend } from './device';
import { prepareNativeEnv } from './env';
import { identityModel, onnxValueNames, type ValueSpec } from './onnx-util';
import { sessionOptions } from './session-options';

export type Ort = typeof import('onnxruntime-node');

let ortModule: Ort | undefined;

/** onnxruntime-node, loaded on first use (after the native environment is prepared). */
export function ort(): Ort {
  if (!ortModule) {
    prepareNativeEnv();
    ortModule = require('onnxruntime-node') as Ort;
  }
  return ortModule;
}

export interface CreateSessionOptions {
  /** Outputs to keep on the GPU (webgpu): state fed back as inputs. Others come back to the CPU. */
  resident?: readonly string[];
  /** Extra ORT options (benchmarks, placement checks); they win over the tuned defaults. */
  overrides?: InferenceSession.SessionOptions;
}

/**
 * A session on `device`. On webgpu each output's placement must be given at creation, so the output
 * names are read from the model bytes first.
 */
export async function createSession(
  bytes: Uint8Array,
  device: Backend,
  opts: CreateSessionOptions = {},
): Promise<InferenceSession> {
  const { InferenceSession } = ort();
  const outputs = device === 'webgpu' ? onnxValueNames(bytes).outputs : [];
  return InferenceSession.create(bytes, sessionOptions(device, { resident: opts.resident, outputs, overrides: opts.overrides }));
}


/** A tensor's element type and dims as an ONNX value spec. */
export function valueSpecOf(name: string, t: Tensor): ValueSpec {
  return { name, dtype: t.type, shape: t.dims };
}

/**
 * Copies tensors (CPU or GPU-resident) to fresh host arrays. CPU tensors are copied directly; GPU
 * tensors go through a cached identity session with CPU outputs (one per set of names and shapes).
 */
export class ReadBack {
  private session?: InferenceSession;
  private key = '';

  constructor(private readonly device: Backend) {}

  async read(tensors: Map<string, Tensor>): Promise<Map<string, Float32Array | Int32Array>> {
    const out = new Map<string, Float32Array | Int32Array>();
    const onGpu = [...tensors].filter(([, t]) => t.location === 'gpu-buffer');
    for (const [name, t] of tensors) if (t.location !== 'gpu-buffer') out.set(name, copyData(t));
    if (onGpu.length === 0) return out;
    const specs = onGpu.map(([name, t]) => valueSpecOf(name, t));
    const key = JSON.stringify(specs);
    if (!this.session || key !== this.key) {
      await this.session?.release();
      this.session = await ort().InferenceSession.create(identityModel(specs, 'out.'), {
        executionProviders: [this.device],
        preferredOutputLocation: 'cpu',
        logSeverityLevel: 3,
      });
      this.key = key;
    }
    const r = await this.session.run(Object.fromEntries(onGpu));
    for (const [name] of onGpu) out.set(name, copyData(r['out.' + name]));
    return out;
  }

  async release(): Promise<void> {
    await this.session?.release();
    this.session = undefined;
  }
}

/** A private copy of a CPU tensor's data (the caller may keep it after the tensor is reused). */
export function copyData(t: Tensor): Float32Array | Int32Array {
  if (t.location === 'gpu-buffer') throw new Error('copyData: gpu-buffer tensor (use ReadBack)');
  const d = t.data;
  if (d instanceof Float32Array) return new Float32Array(d);
  if (d instanceof Int32Array) return new Int32Array(d);
  throw new Error(`copyData: unsupported tensor type ${t.type}`);
}
