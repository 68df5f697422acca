/**
 * Training state (parameters, optimizer moments) that lives where the step graph runs.
 *
 * - webgpu: the step session places every `next.X` output in a GPU buffer; those tensors are fed back
 *   as inputs X on the next step and the previous ones are disposed, so nothing but loss and metrics
 *   crosses the bus per step. Reading the state back goes through ReadBack (identity graph, CPU outputs).
 * - cpu: each step's output tensors are the next step's inputs as they are. onnxruntime-node wraps an
 *   input tensor's buffer without copying it, and copies every output once into a fresh JS array;
 *   that one copy cannot be avoided from JS: preallocated `fetches` are written in place but the
 *   binding still returns a new copy (checked in 1.30), and measured no faster, so there is no double
 *   buffering here.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { numel } from '../graph/ir';
import type { Backend } from './device';
import { ort, ReadBack } from './session';
import type { StatePair } from './signature';

export class ResidentState {
  /** Current value of every state input. */
  private current = new Map<string, Tensor>();
  private readonly readBack: ReadBack;

  constructor(
    readonly device: Backend,
    readonly pairs: readonly StatePair[],
  ) {
    this.readBack = new ReadBack(device);
  }

  /** Replaces the whole state with host values (copied; the caller keeps its arrays). */
  load(values: ReadonlyMap<string, Float32Array | Int32Array>): void {
    const { Tensor } = ort();
    const missing = this.pairs.filter((p) => !values.has(p.input)).map((p) => p.input);
    if (missing.length) throw new Error(`state is missing ${missing.length} tensors: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`);
    const next = new Map<string, Tensor>();
    for (const p of this.pairs) {
      const v = values.get(p.input)!;
      const n = numel(p.shape);
      if (v.length !== n) throw new Error(`state ${p.input}: ${v.length} values for shape [${p.shape}]`);
      const data = p.dtype === 'int32' ? new Int32Array(v) : new Float32Array(v);
      next.set(p.input, new Tensor(p.dtype as 'float32', data, p.shape));
    }
    this.disposeAll();
    this.current = next;
  }

  /** Feeds for the state inputs. */
  feeds(): Record<string, Tensor> {
    return Object.fromEntries(this.current);
  }

  /** The current tensor of a state input (CPU or GPU-resident): for other graphs (eval) to read. */
  get(input: string): Tensor | undefined {
    return this.current.get(input);
  }

  /** Output names to fetch: report outputs and every state output (placement is the session's). */
  fetches(reportOutputs: readonly string[]): string[] {
    return [...reportOutputs, ...this.pairs.map((p) => p.output)];
  }

  /** Takes the state outputs of a finished run as the new state. */
  advance(results: InferenceSession.ReturnType): void {
    const next = new Map<string, Tensor>();
    for (const p of this.pairs) {
      const t = results[p.output];
      if (!t) throw new Error(`step graph did not return ${p.output}`);
      next.set(p.input, t);
    }
    // GPU buffers are freed now rather than whenever the GC gets to them; on cpu dispose just drops
    // the data reference.
    for (const t of this.current.values()) t.dispose();
    this.current = next;
  }

  /** Host copies of the state, GPU-resident tensors included. */
  async read(): Promise<Map<string, Float32Array | Int32Array>> {
    return this.readBack.read(this.current);
  }

  private disposeAll(): void {
    for (const t of this.current.values()) t.dispose();
    this.current.clear();
  }

  async release(): Promise<void> {
    this.disposeAll();
    await this.readBack.release();
  }
}
