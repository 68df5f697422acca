/**
 * Loss, logits and every parameter's gradient for given weights and a given batch, dropout off:
 * the library behind `chamlab grad`, which lets anyone compare chamlab with their own implementation
 * tensor by tensor (test/ref/chameleon_ref.py is ours).
 *
 * Batch JSON: {"input_ids": [[...]], "labels": [[...]]}, integers, [batch][seq]. labels[b][t] is the
 * target of position t (no shift inside the model); -100 leaves a position out of the loss.
 */
import * as os from 'node:os';
import { preview, UserError } from '../../dsl/errors';
import { humanBytes, readInputFile } from '../files';
import type { Spec } from '../../dsl/schema';
import type { TokenBatch } from '../data/batch';
import { modelDims, type ModelDims } from './config';
import { activationElementsPerToken, countParams } from './size';
import { buildGradGraph } from './graphs';
import { IGNORE_INDEX } from './chameleon';
import { paramTable } from './params';
import { resolveDevice } from '../runtime/device';
import { runGraph } from '../runtime/run';
import { writeSafetensors, type NamedTensor } from './safetensors';
import type { Weights } from './weights';

/** A batch file is a few sequences of token ids; anything larger is refused before it is read. */
export const MAX_BATCH_FILE_BYTES = 16 * 2 ** 20;
/** The share of this machine's memory (or of the process's cgroup limit) a loss-and-gradients run may need by estimate. */
export const GRAD_MEMORY_FRACTION = 0.5;

/** GRAD_MEMORY_FRACTION of the memory this process can have. */
export function gradMemoryLimit(): number {
  const total = os.totalmem();
  const constrained = process.constrainedMemory?.() ?? 0;
  return GRAD_MEMORY_FRACTION * (constrained > 0 && constrained < total ? constrained : total);
}

/**
 * Bytes a loss-and-gradients run over batch x seq tokens needs, by estimate: the activations kept for
 * backward (size.ts's count) twice over (onnxruntime also holds the backward pass's temporaries; this
 * matches measurements within about 20%), the logits twice (onnxruntime's output and our copy), and
 * weights and gradients twice each, all float32.
 */
export function gradMemoryBytes(m: ModelDims, batch: number, seq: number): number {
  const act = activationElementsPerToken(m, seq);
  const tokens = batch * seq;
  return 4 * (2 * tokens * (m.layers * act.layer + act.head) + 2 * tokens * m.vocab + 4 * countParams(m).total);
}

/** Refuses, before anything is allocated, a batch whose estimate exceeds `limit` (default: gradMemoryLimit()). */
export function checkGradMemory(m: ModelDims, batch: number, seq: number, where = 'batch', given?: number): void {
  const need = gradMemoryBytes(m, batch, seq);
  const limit = given ?? gradMemoryLimit();
  if (need > limit) {
    throw new UserError(
      `a batch of ${batch} x ${seq} tokens needs about ${humanBytes(need)} for the loss, logits and gradients, more than the limit of ${humanBytes(limit)}${given === undefined ? " (half of this machine's memory)" : ''}; use fewer or shorter sequences`,
      where,
    );
  }
}

/** Parses and checks a batch JSON file against the model's vocabulary and context length. */
export function readBatch(file: string, vocab: number, maxSeqLen: number, dims?: ModelDims): TokenBatch {
  const text = readInputFile(file, { maxBytes: MAX_BATCH_FILE_BYTES }).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UserError(`the batch is not JSON: ${(e as Error).message}`, file);
  }
  return parseBatch(json, vocab, maxSeqLen, file, dims);
}

export function parseBatch(json: unknown, vocab: number, maxSeqLen: number, where = 'batch', dims?: ModelDims): TokenBatch {
  const fail = (msg: string) => new UserError(msg, where);
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw fail('expected an object {"input_ids": [[...]], "labels": [[...]]}');
  const o = json as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => k !== 'input_ids' && k !== 'labels');
  if (extra.length) throw fail(`unknown key(s) ${extra.map((k) => `"${k}"`).join(', ')}; expected "input_ids" and "labels"`);
  const grid = (key: string): number[][] => {
    const v = o[key];
    if (!Array.isArray(v) || v.length === 0 || !v.every((r) => Array.isArray(r)))
      throw fail(`"${key}" must be a non-empty array of rows [batch][seq]`);
    const rows = v as unknown[][];
    const T = rows[0].length;
    if (T === 0) throw fail(`"${key}" has empty rows`);
    rows.forEach((r, b) => {
      if (r.length !== T) throw fail(`"${key}" row ${b} has ${r.length} tokens, row 0 has ${T}`);
      r.forEach((x, t) => {
        if (!Number.isInteger(x)) throw fail(`"${key}"[${b}][${t}] is ${preview(x)}, not an integer`);
      });
    });
    return rows as number[][];
  };
  const ids = grid('input_ids');
  const labels = grid('labels');
  const B = ids.length;
  const T = ids[0].length;
  if (labels.length !== B || labels[0].length !== T)
    throw fail(`"labels" is [${labels.length}][${labels[0].length}], "input_ids" is [${B}][${T}]`);
  if (T > maxSeqLen) throw fail(`sequences of ${T} tokens exceed model.max_seq_len ${maxSeqLen}`);
  if (dims) checkGradMemory(dims, B, T, where);
  const input_ids = new Int32Array(B * T);
  const lab = new Int32Array(B * T);
  let counted = 0;
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) {
      const id = ids[b][t];
      const y = labels[b][t];
      if (id < 0 || id >= vocab) throw fail(`input_ids[${b}][${t}] = ${id} is outside the vocabulary [0, ${vocab})`);
      if (y !== IGNORE_INDEX && (y < 0 || y >= vocab)) throw fail(`labels[${b}][${t}] = ${y} is outside [0, ${vocab}) and not ${IGNORE_INDEX}`);
      if (y !== IGNORE_INDEX) counted++;
      input_ids[b * T + t] = id;
      lab[b * T + t] = y;
    }
  if (counted === 0) throw fail(`every label is ${IGNORE_INDEX}: the loss would average over no token`);
  return { input_ids, labels: lab, batch: B, seq: T };
}

export interface GradResult {
  loss: number;
  /** [batch, seq, vocab] row-major. */
  logits: Float32Array;
  grads: Map<string, Float32Array>;
  metrics: Record<string, number>;
  batch: number;
  seq: number;
}

/**
 * Runs the loss-and-gradients graph (float32) once, through the runtime's `runGraph`: on
 * onnxruntime's CPU provider, or (`gpu`) on its WebGPU provider with every output placed on the CPU.
 */
export async function computeGrads(spec: Spec, weights: Weights, batch: TokenBatch, device: 'cpu' | 'gpu' = 'cpu'): Promise<GradResult> {
  checkGradMemory(modelDims(spec.model), batch.batch, batch.seq);
  const gg = buildGradGraph(spec, batch.batch, batch.seq);
  const feeds: Record<string, Float32Array | Int32Array> = { input_ids: batch.input_ids, labels: batch.labels };
  for (const p of gg.params) feeds[p.name] = weights.get(p.name)!;
  // 'gpu' without a WebGPU adapter is a one-line UserError that says what to install.
  const backend = device === 'cpu' ? 'cpu' : await resolveDevice('gpu');
  const out = (await runGraph(gg.graph, feeds, { device: backend })) as Record<string, Float32Array>;
  const grads = new Map<string, Float32Array>();
  gg.params.forEach((p, i) => grads.set(p.name, Float32Array.from(out[gg.gradOutputs[i]])));
  const metrics: Record<string, number> = {};
  for (const o of gg.graph.outputs)
    if (o.name !== 'logits' && o.name !== 'loss' && !o.name.startsWith('grad.')) metrics[o.name] = Number(out[o.name][0]);
  return { loss: Number(out.loss[0]), logits: Float32Array.from(out.logits), grads, metrics, batch: batch.batch, seq: batch.seq };
}

/** Writes `loss` (F32 scalar), `logits` [batch, seq, vocab] and each gradient under its parameter's name. */
export function writeGradResult(file: string, spec: Spec, r: GradResult, metadata: Record<string, string> = {}): void {
  const m = modelDims(spec.model);
  const tensors: NamedTensor[] = [
    { name: 'loss', shape: [], data: new Float32Array([r.loss]) },
    { name: 'logits', shape: [r.batch, r.seq, m.vocab], data: r.logits },
  ];
  for (const p of paramTable(m)) tensors.push({ name: p.name, shape: p.shape, data: r.grads.get(p.name)! });
  writeSafetensors(file, tensors, { producer: 'chamlab grad', ...metadata });
}
