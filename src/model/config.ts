/**
 * The Chameleon model's dimensions, derived once from a resolved spec's `model` section.
 *
 * Everything in src/model (size accounting, parameter table, init, weights I/O, the graph builder)
 * reads these numbers rather than the raw spec, so that a derived quantity (head_dim, the FFN rule,
 * kv_heads' default) is computed in exactly one place.
 */
import { UserError } from '../../dsl/errors';
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

/** Derives and checks the dimensions; a spec that cannot form a model gets a UserError naming the field. */
export function modelDims(model: ModelSpec): ModelDims {
  const kv = kvHeads(model);
  if (model.d_model % model.heads !== 0)
    throw new UserError(`d_model ${model.d_model} is not divisible by heads ${model.heads}`, 'model.heads');
  if (model.heads % kv !== 0)
    throw new UserError(`heads ${model.heads} is not divisible by kv_heads ${kv}`, 'model.kv_heads');
  const headDim = model.d_model / model.heads;
  // rotate-half RoPE pairs dimension i with i + head_dim/2.
  if (headDim % 2 !== 0)
    throw new UserError(`head_dim = d_model / heads = ${headDim} must be even for RoPE`, 'model.heads');
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
