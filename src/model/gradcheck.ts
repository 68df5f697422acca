/**
 * The whole Chameleon model's gradient against central finite differences in float64, for
 * `chamlab gradcheck`: a tiny configuration that still exercises every feature the gradient flows
 * through (GQA with 2 query heads per kv head, QK-Norm with its per-head affine, RoPE, SwiGLU, z-loss,
 * an ignored label), in both norm orders.
 */
import { ModelSchema, type SpecInput } from '../../dsl/schema';
import { gradcheckModel } from '../runtime/gradcheck';
import { buildChameleon } from './chameleon';
import { modelDims } from './config';
import { initWeights } from './init';

/**
 * The tiny model of gradient checks and cross-checks (also the tests' fixture): every feature the
 * gradient flows through, small enough for float64 finite differences.
 */
export function tinyCheckModel(v: { qk_norm: boolean; order: 'pre' | 'swin'; tie?: boolean }): SpecInput['model'] {
  return {
    vocab: { text: 40, image: 24 },
    d_model: 32,
    layers: 2,
    heads: 4,
    kv_heads: 2,
    ffn: 48,
    qk_norm: v.qk_norm,
    norm: { order: v.order },
    z_loss: 1e-2,
    tie_embeddings: v.tie ?? false,
    max_seq_len: 64,
    // a larger std than training uses, so every path carries gradient well above rounding
    init: { scheme: 'scaled_normal', std: 0.2 },
  };
}

export interface ChameleonGradcheck {
  name: string;
  params: number;
  max_rel_err: number;
}

export async function gradcheckChameleon(seed = 1): Promise<ChameleonGradcheck[]> {
  const B = 2;
  const T = 5;
  const results: ChameleonGradcheck[] = [];
  for (const order of ['pre', 'swin'] as const) {
    const m = modelDims(ModelSchema.parse(tinyCheckModel({ qk_norm: true, order })));
    const values = initWeights(m, 5);
    const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % m.vocab);
    const labels = Int32Array.from({ length: B * T }, (_, i) => (i % 4 === 1 ? -100 : (i * 5 + 1) % m.vocab));
    const r = await gradcheckModel((g) => buildChameleon(g, m, { batch: B, seq: T, values }).loss!, {
      seed,
      feeds: { input_ids: ids, labels },
    });
    results.push({ name: `chameleon (${order}, qk-norm, GQA, z-loss)`, params: r.params, max_rel_err: r.max_rel_err });
  }
  return results;
}
