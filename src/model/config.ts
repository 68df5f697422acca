/**
 * The Chameleon model's dimensions, derived once from a resolved spec's `model` section.
 *
 * Everything in src/model (size accounting, parameter table, init, weights I/O, the graph builder)
 * reads these numbers rather than the raw spec, so that a derived quantity (head_dim, the FFN rule,
 * kv_heads' default) is computed in exactly one place.
 */
import { ffnHidden, kvHeads, vocabSize, type ModelSpec } from '../../dsl/schema';

export interface ModelDims {
  vocab: number;
  d: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  ffn: number;
  normEps: number;
  order: 'pre' | 'swin';
  qkNorm: boolean;
  /** LayerNorm eps of QK-Norm: fixed at 1e-5 by the paper and HF (not the RMSNorm eps). */
  qkNormEps: number;
  ropeTheta: number;
  maxSeqLen: number;
  tieEmbeddings: boolean;
  zLoss: number;
  dropout: { attention: number; afterAttention: number; afterFfn: number };
  init: { scheme: 'normal' | 'scaled_normal'; std: number };
}

/**
 * Derives the dimensions of a resolved spec's model. The rules that make them whole (d_model divisible
 * by heads, an even head_dim for RoPE, heads divisible by kv_heads) are checked once, where the spec is
 * resolved (dsl/resolve.ts), so that each error points at the field that broke it.
 */
export function modelDims(model: ModelSpec): ModelDims {
  const kv = kvHeads(model);
  const headDim = model.d_model / model.heads;
  return {
    vocab: vocabSize(model),
    d: model.d_model,
    layers: model.layers,
    heads: model.heads,
    kvHeads: kv,
    headDim,
    ffn: ffnHidden(model),
    normEps: model.norm.eps,
    order: model.norm.order,
    qkNorm: model.qk_norm,
    qkNormEps: 1e-5,
    ropeTheta: model.rope_theta,
    maxSeqLen: model.max_seq_len,
    tieEmbeddings: model.tie_embeddings,
    zLoss: model.z_loss,
    dropout: {
      attention: model.dropout.attention,
      afterAttention: model.dropout.after_attention,
      afterFfn: model.dropout.after_ffn,
    },
    init: { scheme: model.init.scheme, std: model.init.std },
  };
}
