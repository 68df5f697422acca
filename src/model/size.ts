/**
 * Size accounting without building anything: parameter counts by group, FLOPs per token and memory
 * for training at the spec's batch x seq_len. Backs `chamlab info`; builds no graph and loads neither
 * the primitive table nor onnxruntime (only the IR's `numel`), so it answers for a 34B spec in
 * milliseconds.
 *
 * Formulas (T = seq_len, L = layers, d = d_model, H = heads, K = kv_heads, h = head_dim, f = FFN
 * hidden, V = vocab):
 *
 *   FLOPs per token, forward   = 2 * N_matmul + 4 * L * T * H * h
 *     N_matmul: parameters used in matrix products (q, k, v, o, gate, up, down and the output matrix,
 *     tied or not). The embedding lookup is a gather, not a matmul. Each multiply-add is 2 FLOPs.
 *     4 L T H h: the scores Q K^T and the weighted sum P V, each 2 T H h per token per layer, counted
 *     over the full T x T matrix because that is what the compiled graph computes (the causal mask is
 *     applied by masking, not by skipping); `attention_causal_useful` reports the half that matters.
 *   FLOPs per token, training  = 3 * forward
 *     The backward pass of a matmul costs two matmuls of the same size (gradient with respect to each
 *     operand), for the projections and the two attention products alike. Norms, softmax, RoPE and
 *     the optimizer update are O(params + T d) elementwise work and are left out (< 1% at these sizes).
 *
 *   Memory = parameters + gradients + AdamW state (m and v, 2 per parameter) + activations, each
 *   stored in the named precision (fp32: 4 bytes; bf16: 2 bytes everywhere: a mixed-precision setup
 *   that keeps fp32 master weights and moments would add 12 bytes per parameter, reported as
 *   `bf16_mixed`).
 *   Activations: the tensors a reverse-mode graph keeps for the backward pass, without
 *   recomputation, per layer and token (see `activationElementsPerToken`), plus the head's logits
 *   and probabilities. An estimate: the runtime may free or fuse some of them.
 */
import type { Spec } from '../../dsl/schema';
import { modelDims, type ModelDims } from './config';
import { numel } from '../graph/ir';
import { paramTable, type ParamGroup } from './params';
import { humanBytes } from '../files';

export { humanBytes };

export type ParamCounts = Record<ParamGroup, number> & { total: number; non_embedding: number };

export function countParams(m: ModelDims): ParamCounts {
  const counts: ParamCounts = {
    total: 0,
    embeddings: 0,
    attention: 0,
    qk_norm: 0,
    ffn: 0,
    norms: 0,
    lm_head: 0,
    non_embedding: 0,
  };
  for (const p of paramTable(m)) {
    const n = numel(p.shape);
    counts[p.group] += n;
    counts.total += n;
  }
  counts.non_embedding = counts.total - counts.embeddings;
  return counts;
}

export interface FlopsPerToken {
  /** Matrix products against parameters: 2 * N_matmul. */
  matmul: number;
  /** Q K^T and P V over the full T x T matrix, all layers. */
  attention: number;
  /** Half of `attention`: the causal part. */
  attention_causal_useful: number;
  forward: number;
  train_step: number;
}

export function flopsPerToken(m: ModelDims, seqLen: number): FlopsPerToken {
  const attnMatmulParams = m.d * m.heads * m.headDim * 2 + m.d * m.kvHeads * m.headDim * 2;
  const ffnParams = 3 * m.d * m.ffn;
  const head = m.vocab * m.d; // tied or not, the output matrix is multiplied
  const nMatmul = m.layers * (attnMatmulParams + ffnParams) + head;
  const matmul = 2 * nMatmul;
  const attention = 4 * m.layers * seqLen * m.heads * m.headDim;
  const forward = matmul + attention;
  return { matmul, attention, attention_causal_useful: attention / 2, forward, train_step: 3 * forward };
}

/**
 * Elements kept for the backward pass per token, by layer and for the head (no recomputation).
 * Per layer: the block input and the normalized attention input (2d); q, k, v ((H + 2K) h); with
 * QK-Norm the normalized and affine q, k (2 (H + K) h); the rotated q, k ((H + K) h); scores and
 * probabilities (2 H T) plus an attention-dropout mask (H T) when on; the attention output before and
 * after o_proj (2d); the FFN input pair (2d); gate, up, silu(gate) and their product (4f); the FFN
 * output (d); one dropout mask per dropout site (d each). Head: final norm input and output (2d),
 * logits and softmax (2V).
 */
export function activationElementsPerToken(m: ModelDims, seqLen: number): { layer: number; head: number } {
  const { d, heads: H, kvHeads: K, headDim: h, ffn: f } = m;
  let layer = 2 * d + (H + 2 * K) * h;
  if (m.qkNorm) layer += 2 * (H + K) * h;
  layer += (H + K) * h;
  layer += 2 * H * seqLen;
  if (m.dropout.attention > 0) layer += H * seqLen;
  layer += 2 * d + 2 * d + 4 * f + d;
  if (m.dropout.afterAttention > 0) layer += d;
  if (m.dropout.afterFfn > 0) layer += d;
  return { layer, head: 2 * d + 2 * m.vocab };
}

export interface MemoryBreakdown {
  params: number;
  grads: number;
  adamw_state: number;
  activations: number;
  total: number;
}

function memory(
  nParams: number,
  activationElements: number,
  paramBytes: number,
  stateBytes: number,
  actBytes: number,
): MemoryBreakdown {
  const params = nParams * paramBytes;
  const grads = nParams * paramBytes;
  const adamw_state = 2 * nParams * stateBytes;
  const activations = activationElements * actBytes;
  return { params, grads, adamw_state, activations, total: params + grads + adamw_state + activations };
}

export interface SizeReport {
  name: string;
  model: {
    vocab: number;
    d_model: number;
    layers: number;
    heads: number;
    kv_heads: number;
    head_dim: number;
    ffn_hidden: number;
    norm_order: 'pre' | 'swin';
    qk_norm: boolean;
    tie_embeddings: boolean;
  };
  params: ParamCounts;
  flops_per_token: FlopsPerToken & { seq_len: number };
  flops_per_step: { tokens: number; forward: number; train_step: number };
  memory: {
    batch: number;
    seq_len: number;
    /** Activation elements kept for backward at batch x seq_len. */
    activation_elements: number;
    /** Activation bytes of one sequence (fp32, bf16): what a micro-batch costs per sequence. */
    activations_per_sequence: { fp32: number; bf16: number };
    fp32: MemoryBreakdown;
    bf16: MemoryBreakdown;
    /** bf16 parameters, gradients and activations plus fp32 master weights and fp32 m, v. */
    bf16_mixed: MemoryBreakdown;
  };
  formulas: Record<string, string>;
}

export function sizeReport(spec: Spec): SizeReport {
  const m = modelDims(spec.model);
  const T = spec.data.seq_len;
  const B = spec.train.batch;
  const params = countParams(m);
  const fpt = flopsPerToken(m, T);
  const act = activationElementsPerToken(m, T);
  const activationElements = B * T * (m.layers * act.layer + act.head);
  const mixed = memory(params.total, activationElements, 2, 4, 2);
  mixed.adamw_state += params.total * 4; // fp32 master copy of the weights
  mixed.total += params.total * 4;
  return {
    name: spec.name,
    model: {
      vocab: m.vocab,
      d_model: m.d,
      layers: m.layers,
      heads: m.heads,
      kv_heads: m.kvHeads,
      head_dim: m.headDim,
      ffn_hidden: m.ffn,
      norm_order: m.order,
      qk_norm: m.qkNorm,
      tie_embeddings: m.tieEmbeddings,
    },
    params,
    flops_per_token: { ...fpt, seq_len: T },
    flops_per_step: { tokens: B * T, forward: fpt.forward * B * T, train_step: fpt.train_step * B * T },
    memory: {
      batch: B,
      seq_len: T,
      activation_elements: activationElements,
      activations_per_sequence: { fp32: 4 * T * (m.layers * act.layer + act.head), bf16: 2 * T * (m.layers * act.layer + act.head) },
      fp32: memory(params.total, activationElements, 4, 4, 4),
      bf16: memory(params.total, activationElements, 2, 2, 2),
      bf16_mixed: mixed,
    },
    formulas: {
      forward: '2*N_matmul + 4*L*T*H*head_dim (full TxT attention as computed; causal useful half reported)',
      train_step: '3*forward (backward of each matmul = 2 matmuls); elementwise ops and the optimizer left out',
      memory: 'params + grads + 2*params AdamW moments + activations kept for backward (no recomputation)',
    },
  };
}

/** 7013666816 -> "7.01B"; 1.5e9 bytes -> "1.40 GiB". */
export function humanCount(n: number): string {
  const units: [number, string][] = [
    [1e18, 'E'],
    [1e15, 'P'],
    [1e12, 'T'],
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'K'],
  ];
  for (const [v, u] of units) if (Math.abs(n) >= v) return `${(n / v).toFixed(2)}${u}`;
  return String(n);
}

export function formatSizeReport(r: SizeReport): string {
  const m = r.model;
  const lines: string[] = [];
  const pct = (n: number) => `${((100 * n) / r.params.total).toFixed(2)}%`;
  lines.push(`${r.name}: Chameleon, ${m.norm_order} norm order, QK-Norm ${m.qk_norm ? 'on' : 'off'}`);
  lines.push(
    `  vocab ${m.vocab}, d_model ${m.d_model}, layers ${m.layers}, heads ${m.heads} (kv ${m.kv_heads}, head_dim ${m.head_dim}), ffn ${m.ffn_hidden}, ${m.tie_embeddings ? 'tied' : 'untied'} output matrix`,
  );
  lines.push('');
  lines.push(`parameters: ${r.params.total.toLocaleString('en-US')} (${humanCount(r.params.total)})`);
  for (const g of ['embeddings', 'attention', 'qk_norm', 'ffn', 'norms', 'lm_head'] as const)
    lines.push(`  ${g.padEnd(14)} ${r.params[g].toLocaleString('en-US').padStart(16)}  ${pct(r.params[g]).padStart(7)}`);
  lines.push('');
  const f = r.flops_per_token;
  lines.push(`FLOPs per token at seq_len ${f.seq_len}:`);
  lines.push(`  forward        ${humanCount(f.forward)}  (matmul ${humanCount(f.matmul)} + attention ${humanCount(f.attention)})`);
  lines.push(`  training step  ${humanCount(f.train_step)}  (3 x forward)`);
  lines.push(`  per step of ${r.flops_per_step.tokens} tokens: ${humanCount(r.flops_per_step.train_step)} FLOPs`);
  lines.push('');
  lines.push(`memory for training at batch ${r.memory.batch} x seq_len ${r.memory.seq_len}:`);
  lines.push(`  ${''.padEnd(12)} ${'params'.padStart(11)} ${'grads'.padStart(11)} ${'AdamW'.padStart(11)} ${'activations'.padStart(11)} ${'total'.padStart(11)}`);
  for (const k of ['fp32', 'bf16', 'bf16_mixed'] as const) {
    const b = r.memory[k];
    lines.push(
      `  ${k.padEnd(12)} ${[b.params, b.grads, b.adamw_state, b.activations, b.total].map((x) => humanBytes(x).padStart(11)).join(' ')}`,
    );
  }
  const aps = r.memory.activations_per_sequence;
  lines.push(`  activations per sequence of ${r.memory.seq_len} tokens: ${humanBytes(aps.fp32)} fp32, ${humanBytes(aps.bf16)} bf16`);
  lines.push('');
  for (const [k, v] of Object.entries(r.formulas)) lines.push(`  ${k}: ${v}`);
  return lines.join('\n');
}
