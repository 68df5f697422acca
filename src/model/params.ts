/**
 * The parameter table: every parameter of a Chameleon model, in a fixed order, under HuggingFace
 * transformers' Chameleon names and PyTorch's [out, in] layout.
 *
 * It is the single source for size accounting (size.ts), initialization (init.ts), weights checks
 * (weights.ts), weight decay flags, the compiled graphs' parameter inputs and the manifest. Nothing
 * here allocates: a 34B table is a few hundred small records.
 */
import type { OptimizerSpec } from '../../dsl/schema';
import type { ParamInfo } from '../graph/ir';
import type { ModelDims } from './config';

/** Groups reported by `chamlab info`. */
export type ParamGroup = 'embeddings' | 'attention' | 'qk_norm' | 'ffn' | 'norms' | 'lm_head';

/**
 * What a parameter is, which decides its initialization and whether it decays.
 * - embedding: the token embedding table.
 * - matrix: an input-side projection (q, k, v, gate, up) or the untied output matrix.
 * - output_proj: a projection that writes into the residual stream (o_proj, down_proj); GPT-2's
 *   scaled init shrinks these by 1/sqrt(2 * layers) because `layers` of each add into the residual.
 * - gain / bias: RMSNorm and QK-Norm affine parameters.
 */
export type ParamRole = 'embedding' | 'matrix' | 'output_proj' | 'gain' | 'bias';

/**
 * One row of the table: a parameter as the graph compiler knows it (name and shape, the fields of
 * src/graph's `ParamInfo`) and what it is in the model.
 */
export interface ParamEntry extends Pick<ParamInfo, 'name' | 'shape'> {
  group: ParamGroup;
  role: ParamRole;
  /** Layer index, or null for embeddings, the final norm and lm_head. */
  layer: number | null;
}

export const EMBED = 'model.embed_tokens.weight';
export const FINAL_NORM = 'model.norm.weight';
export const LM_HEAD = 'lm_head.weight';

/** HF names of one layer's parameters. */
export function layerNames(i: number) {
  const p = `model.layers.${i}`;
  return {
    q: `${p}.self_attn.q_proj.weight`,
    k: `${p}.self_attn.k_proj.weight`,
    v: `${p}.self_attn.v_proj.weight`,
    o: `${p}.self_attn.o_proj.weight`,
    qNormWeight: `${p}.self_attn.q_norm.weight`,
    qNormBias: `${p}.self_attn.q_norm.bias`,
    kNormWeight: `${p}.self_attn.k_norm.weight`,
    kNormBias: `${p}.self_attn.k_norm.bias`,
    gate: `${p}.mlp.gate_proj.weight`,
    up: `${p}.mlp.up_proj.weight`,
    down: `${p}.mlp.down_proj.weight`,
    // HF keeps these names in both orders: in `swin` order input_layernorm normalizes the attention
    // output and post_attention_layernorm the MLP output (ChameleonSwinDecoderLayer).
    normA: `${p}.input_layernorm.weight`,
    normF: `${p}.post_attention_layernorm.weight`,
  };
}

/** Every parameter in the canonical order (embedding, layers 0..L-1, final norm, lm_head). */
export function paramTable(m: ModelDims): ParamEntry[] {
  const out: ParamEntry[] = [];
  const add = (name: string, shape: number[], group: ParamGroup, role: ParamRole, layer: number | null) =>
    out.push({ name, shape, group, role, layer });
  const { d, heads, kvHeads, headDim, ffn } = m;
  add(EMBED, [m.vocab, d], 'embeddings', 'embedding', null);
  for (let i = 0; i < m.layers; i++) {
    const n = layerNames(i);
    add(n.q, [heads * headDim, d], 'attention', 'matrix', i);
    add(n.k, [kvHeads * headDim, d], 'attention', 'matrix', i);
    add(n.v, [kvHeads * headDim, d], 'attention', 'matrix', i);
    add(n.o, [d, heads * headDim], 'attention', 'output_proj', i);
    if (m.qkNorm) {
      add(n.qNormWeight, [heads, headDim], 'qk_norm', 'gain', i);
      add(n.qNormBias, [heads, headDim], 'qk_norm', 'bias', i);
      add(n.kNormWeight, [kvHeads, headDim], 'qk_norm', 'gain', i);
      add(n.kNormBias, [kvHeads, headDim], 'qk_norm', 'bias', i);
    }
    add(n.gate, [ffn, d], 'ffn', 'matrix', i);
    add(n.up, [ffn, d], 'ffn', 'matrix', i);
    add(n.down, [d, ffn], 'ffn', 'output_proj', i);
    add(n.normA, [d], 'norms', 'gain', i);
    add(n.normF, [d], 'norms', 'gain', i);
  }
  add(FINAL_NORM, [d], 'norms', 'gain', null);
  if (!m.tieEmbeddings) add(LM_HEAD, [m.vocab, d], 'lm_head', 'matrix', null);
  return out;
}

/**
 * Whether weight decay applies to a parameter under `optimizer.decay`.
 * "matrices" means the weight matrices of linear maps and the embedding table. QK-Norm's affine
 * parameters have rank 2 ([heads, head_dim]) but are per-channel gains and biases: decaying them
 * towards 0 would shrink the normalized queries and keys, so they count as norms here.
 */
export function decays(p: ParamEntry, decay: OptimizerSpec['decay']): boolean {
  switch (decay) {
    case 'all':
      return true;
    case 'none':
      return false;
    case 'matrices':
      return p.role === 'embedding' || p.role === 'matrix' || p.role === 'output_proj';
    case 'matrices_no_embeddings':
      return p.role === 'matrix' || p.role === 'output_proj';
  }
}
