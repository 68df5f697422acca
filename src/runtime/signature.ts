/**
 * What a step graph expects and returns, read from the session itself (names, dtypes, shapes), by the
 * naming contract of src/graph/step-names.ts: output `next.X` is fed back as input `X` on the next
 * step; `step`, `lr` and `seed` are fed every step. Nothing else about names is assumed, so a graph
 * with extra state (or without AdamW moments) runs unchanged.
 */
import type { InferenceSession } from 'onnxruntime-node';
import { fedInput, isScalarInput, type ScalarInput } from '../graph/step-names';

export interface ValueInfo {
  name: string;
  dtype: string;
  /** Numbers, or names of symbolic dims ('batch'). */
  shape: (number | string)[];
}

export interface StatePair {
  /** The input this state is fed as (`model.norm.weight`, `adam_m.model.norm.weight`). */
  input: string;
  /** The output carrying its next value (`next.<input>`). */
  output: string;
  dtype: string;
  shape: number[];
}

export interface StepSignature {
  /** Batch inputs (input_ids, labels, ...): everything that is neither state nor a scalar. */
  batch: ValueInfo[];
  state: StatePair[];
  /** Which of step/lr/seed the graph declares, with their dtypes. */
  scalars: Partial<Record<ScalarInput, string>>;
  /** Outputs that come back to the host every step: loss, metrics, grad_norm. */
  report: string[];
  /** Every input, for checks. */
  inputs: ValueInfo[];
}

function metadata(list: readonly InferenceSession.ValueMetadata[]): ValueInfo[] {
  return list.map((m) => {
    if (!m.isTensor) throw new Error(`graph value ${m.name} is not a tensor`);
    return { name: m.name, dtype: m.type, shape: [...m.shape] as (number | string)[] };
  });
}

/** Reads a step (or eval) graph's signature from an ORT session. */
export function stepSignature(session: InferenceSession): StepSignature {
  const inputs = metadata(session.inputMetadata);
  const outputs = metadata(session.outputMetadata);
  const byName = new Map(inputs.map((i) => [i.name, i]));
  const state: StatePair[] = [];
  const report: string[] = [];
  for (const o of outputs) {
    const input = fedInput(o.name);
    const fed = input === undefined ? undefined : byName.get(input);
    if (!fed) {
      report.push(o.name);
      continue;
    }
    if (fed.dtype !== o.dtype || fed.shape.join() !== o.shape.join())
      throw new Error(`state ${fed.name}: input ${fed.dtype}[${fed.shape}] but ${o.name} is ${o.dtype}[${o.shape}]`);
    if (!fed.shape.every((d) => typeof d === 'number'))
      throw new Error(`state ${fed.name}: shape [${fed.shape}] must be static`);
    state.push({ input: fed.name, output: o.name, dtype: fed.dtype, shape: fed.shape as number[] });
  }
  const stateInputs = new Set(state.map((s) => s.input));
  const scalars: StepSignature['scalars'] = {};
  const batch: ValueInfo[] = [];
  for (const i of inputs) {
    if (isScalarInput(i.name)) scalars[i.name] = i.dtype;
    else if (!stateInputs.has(i.name)) batch.push(i);
  }
  return { batch, state, scalars, report, inputs };
}
