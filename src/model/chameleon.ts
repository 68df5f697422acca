/**
 * The Chameleon decoder (arXiv 2405.09818) on chamlab's graph IR.
 *
 * A Llama-2 style decoder over one token vocabulary shared by text and image codes (early fusion):
 * token embedding, `layers` blocks, a final RMSNorm and the output matrix. The block comes in the
 * paper's two orders (section 2.3; ../../shared/reference/chameleon.md):
 *
 *   pre  (Llama-2, Chameleon-7B):  h = x + attn(norm_a(x));   out = h + ffn(norm_f(h))
 *   swin (Chameleon-34B):          h = x + norm_a(attn(x));   out = h + norm_f(ffn(h))
 *
 * Attention has grouped-query heads, QK-Norm (LayerNorm over head_dim with a per-head affine, before
 * RoPE), RoPE in the rotate-half convention, and a causal mask. The FFN is SwiGLU:
 * w2(silu(w1 x) * w3 x), i.e. down(silu(gate x) * up x) in HF's names.
 *
 * The pieces are top-level functions of one `LayerContext` (graph, dimensions, parameters, shared
 * constants, taps): `attention`, `ffn`, `block`, `decoderLayers`, `head`, `lossOf`, `metricTaps`.
 * `buildChameleon` fills the context for a whole sequence (training, eval, forward); the decoding
 * graphs (decode.ts) fill it for a prompt or one new token plus a key/value cache, and so run the
 * very same block code.
 *
 * Parameters are named and laid out exactly like HF transformers' Chameleon ([out, in], so a
 * projection is x @ W^T), so HF checkpoints load as-is and `chamlab grad` output compares name by name.
 *
 * Loss (over tokens whose label is not -100; labels are the targets of the same positions):
 *   loss = mean(CE(logits, label)) + z_loss * mean(logsumexp(logits)^2)
 *
 * Metric taps, scalars computed from values the forward pass has anyway (a reduction each):
 *   loss, ce, z (mean logsumexp), layer_rms.<i> (RMS of block i's output: the paper's predictor of
 *   divergence), max_attn_logit.<i> (largest pre-softmax score of block i over the causal entries:
 *   what QK-Norm bounds), max_abs_logit (output-logit drift). The train step adds the global
 *   gradient norm (`grad_norm`) and the update-to-parameter norm ratio (`update_ratio`).
 */
import {
  concat,
  gather,
  layerNorm,
  logsumexp,
  not,
  rmsNorm,
  silu,
  softmax,
  stopGradient,
  takeAlongAxis,
  where,
  isStatic,
  numel,
  type Dim,
  type Graph,
  type Tensor,
} from '../graph';
import type { OptimizerSpec } from '../../dsl/schema';
import { UserError } from '../../dsl/errors';
import type { ModelDims } from './config';
import { decays, EMBED, FINAL_NORM, layerNames, LM_HEAD, paramTable } from './params';

/** Labels equal to this are left out of the loss (PyTorch's ignore_index convention). */
export const IGNORE_INDEX = -100;

/** The pre-softmax value of masked (future) positions: exp() of it underflows to exactly 0. */
const MASKED = -1e9;

export interface ChameleonOptions {
  /** Sequences per batch: a number, or a symbolic dim such as 'batch'. */
  batch: Dim;
  /** Tokens per sequence (static: the RoPE tables and the causal mask are built for it). */
  seq: number;
  /** Which parameters AdamW decays (`optimizer.decay`); recorded on each parameter. */
  decay?: OptimizerSpec['decay'];
  /**
   * Dropout (the train-step assembler's `ctx.dropout`, whose masks derive from the seed and step
   * inputs). Absent: dropout is off and the graph is deterministic (eval, forward, grad).
   */
  dropout?: (x: Tensor, p: number, salt: number) => Tensor;
  /** Build the loss (needs `labels`); false for the forward graph, which outputs logits only. */
  loss?: boolean;
  /** Parameter values to attach (emitted as initializers when the graph is written with them). */
  values?: Map<string, Float32Array | Float64Array>;
}

export interface ChameleonGraph {
  inputIds: Tensor;
  labels: Tensor | null;
  logits: Tensor;
  /** The training objective: CE + z_loss * z^2 (null without labels). */
  loss: Tensor | null;
  /**
   * Metric taps by name, all scalars (see the module comment): ce, z, max_abs_logit,
   * layer_rms.<i>, max_attn_logit.<i>. The loss itself is `loss`.
   */
  metrics: Record<string, Tensor>;
  params: Tensor[];
}

/**
 * RoPE tables for positions 0..seq-1 in the rotate-half layout: angle[t, i] = t * theta^(-2i/h) for
 * i < h/2, repeated for the second half. Computed in float64 and rounded once, like the reference.
 */
export function ropeTables(seq: number, headDim: number, theta: number): { cos: Float64Array; sin: Float64Array } {
  const half = headDim / 2;
  const cos = new Float64Array(seq * headDim);
  const sin = new Float64Array(seq * headDim);
  for (let t = 0; t < seq; t++) {
    for (let i = 0; i < half; i++) {
      const angle = t / Math.pow(theta, (2 * i) / headDim);
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[t * headDim + i] = cos[t * headDim + i + half] = c;
      sin[t * headDim + i] = sin[t * headDim + i + half] = s;
    }
  }
  return { cos, sin };
}

/**
 * What the layer functions below read: the graph, the dimensions, the parameters, the constants every
 * layer shares (RoPE tables, the attention bias) and where metric taps go. One context per graph;
 * the training forward, the prefill and the decode step differ only in how it is filled in.
 */
export interface LayerContext {
  g: Graph;
  m: ModelDims;
  /** Sequences per batch. */
  B: Dim;
  /** Query positions per sequence in this graph (the whole sequence in training, 1 in a decode step). */
  T: number;
  /** A parameter by its HF name. */
  W: (name: string) => Tensor;
  /** Dropout at one site (identity when dropout is off or p is 0). */
  drop: (x: Tensor, p: number, salt: number) => Tensor;
  /** RoPE tables of the query positions, broadcastable to [B, heads, T, head_dim]. */
  rope: RopeConstants;
  /** Additive attention bias, broadcastable to [B, heads, T, keys]: 0 where a query may attend, MASKED elsewhere. */
  attnBias: Tensor;
  /**
   * Where keys and values go (the decode graphs' cache): gets layer i's keys and values of the new
   * positions, [B, kv_heads, T, head_dim] after RoPE, and returns the blocks of keys and values the
   * queries attend to, [B, kv_heads, S_j, head_dim] each, in the order `attnBias` lists their positions
   * (a decode step may return the cache and the new row: attention reads each block in place rather
   * than concatenating them). Absent: the queries attend to the new positions themselves (training,
   * eval, forward).
   */
  kv?: (layer: number, k: Tensor, v: Tensor) => KeyValues[];
  /** Metric taps, one per layer, filled in while the layers are built (absent: no taps are built). */
  taps?: { layerRms: Tensor[]; maxAttnLogit: Tensor[] };
}

/** One block of keys and values that queries attend to: [B, kv_heads, positions, head_dim] each. */
export interface KeyValues {
  k: Tensor;
  v: Tensor;
}

/** RoPE tables in the rotate-half layout; the query's copies carry the 1/sqrt(head_dim) score scale. */
export interface RopeConstants {
  cos: Tensor;
  /** sin with the rotate-half sign folded in: -sin on the first half of each row, +sin on the second. */
  sinSigned: Tensor;
  cosQ: Tensor;
  sinQ: Tensor;
}

/** A float64 table in the graph's float dtype (tables are computed in float64 and rounded once). */
export function tableValues(g: Graph, a: Float64Array): Float64Array | Float32Array {
  return g.dtype === 'float64' ? a : Float32Array.from(a);
}

/** The four RoPE tables for positions 0..T-1, as [T, head_dim] value arrays (see `RopeConstants`). */
export function ropeTableValues(m: ModelDims, T: number): { cos: Float64Array; sinSigned: Float64Array; cosQ: Float64Array; sinQ: Float64Array } {
  const hd = m.headDim;
  const rope = ropeTables(T, hd, m.ropeTheta);
  const sinSigned = rope.sin.map((v, i) => (i % hd < hd / 2 ? -v : v));
  // 1/sqrt(head_dim) folded into the query's RoPE tables (constants): no pass over the [T, T] scores.
  const scale = 1 / Math.sqrt(hd);
  return { cos: rope.cos, sinSigned, cosQ: rope.cos.map((c) => c * scale), sinQ: sinSigned.map((s) => s * scale) };
}

/**
 * The constants of a full-sequence graph: RoPE tables [T, hd] and the causal mask as an additive
 * bias [T, T] (0 where a query may attend, MASKED above the diagonal), built once and shared by all
 * layers: one broadcast Add per layer instead of a Where, and the Add's VJP is the identity, so the
 * backward has no mask nodes at all. exp(s + MASKED - max) is exactly 0.
 */
export function sequenceConstants(g: Graph, m: ModelDims, T: number): { rope: RopeConstants; causalBias: Tensor } {
  const hd = m.headDim;
  const t = ropeTableValues(m, T);
  const cos = g.constant(tableValues(g, t.cos), [T, hd]);
  const sinSigned = g.constant(tableValues(g, t.sinSigned), [T, hd]);
  const pos = g.apply('Iota', [], { shape: [T] });
  const causal = not(pos.reshape([1, T]).gt(pos.reshape([T, 1]))); // key position <= query position
  const causalBias = where(causal, 0, MASKED);
  const cosQ = g.constant(tableValues(g, t.cosQ), [T, hd]);
  const sinQ = g.constant(tableValues(g, t.sinQ), [T, hd]);
  return { rope: { cos, sinSigned, cosQ, sinQ }, causalBias };
}

/** Declares every parameter, in the table's order so that every graph has the same parameter inputs. */
export function declareParams(g: Graph, m: ModelDims, opts: Pick<ChameleonOptions, 'decay' | 'values'> = {}): Map<string, Tensor> {
  const P = new Map<string, Tensor>();
  for (const p of paramTable(m)) {
    const value = opts.values?.get(p.name);
    const cast = value && g.dtype === 'float64' && value instanceof Float32Array ? Float64Array.from(value) : value;
    P.set(p.name, g.param(p.name, p.shape, { decay: decays(p, opts.decay ?? 'matrices'), value: cast }));
  }
  return P;
}

/**
 * RoPE: x * cos + rotate_half(x) * sin. rotate_half(x) * sin = [-x2, x1] * sin = swap(x) * [-sin1, sin2]:
 * the sign lives in the table, and the swap is a primitive whose VJP is itself (no Neg, no Pads in the
 * backward).
 */
export function applyRope(x: Tensor, cos: Tensor, sinSigned: Tensor): Tensor {
  return x.mul(cos).add(x.graph.apply('SwapHalves', [x]).mul(sinSigned));
}

/** Grouped-query self-attention of layer i over x [B, T, d]: QK-Norm, RoPE, the bias, softmax, output projection. */
export function attention(c: LayerContext, i: number, x: Tensor): Tensor {
  const { m, B, T, W } = c;
  const { heads: H, kvHeads: K, headDim: hd } = m;
  const n = layerNames(i);
  // [B, T, d] -> per-head [B, T, heads, hd]; projections are x @ W^T (PyTorch layout).
  let q = x.matmul(W(n.q).mT).reshape([B, T, H, hd]);
  let k = x.matmul(W(n.k).mT).reshape([B, T, K, hd]);
  const v = x.matmul(W(n.v).mT).reshape([B, T, K, hd]);
  if (m.qkNorm) {
    // QK-Norm: LayerNorm over head_dim with a per-head affine, before RoPE.
    q = layerNorm(q, W(n.qNormWeight), W(n.qNormBias), m.qkNormEps);
    k = layerNorm(k, W(n.kNormWeight), W(n.kNormBias), m.qkNormEps);
  }
  // Heads first: [B, heads, T, hd]. Queries come out of RoPE already scaled by 1/sqrt(hd).
  const qh = applyRope(q.transpose([0, 2, 1, 3]), c.rope.cosQ, c.rope.sinQ); // [B, H, T, hd]
  const kNew = applyRope(k.transpose([0, 2, 1, 3]), c.rope.cos, c.rope.sinSigned); // [B, K, T, hd]
  const vNew = v.transpose([0, 2, 1, 3]); //                                       [B, K, T, hd]
  // Keys and values attended to: the new positions, or the cache (and the new positions).
  const blocks = c.kv ? c.kv(i, kNew, vNew) : [{ k: kNew, v: vNew }];

  // Grouped-query attention without copying keys: query head j = kv * (H/K) + r shares kv head
  // `kv` (HF's repeat_interleave), so the group folds into the row dimension: queries
  // [B, K, (H/K)*T, hd] against keys [B, K, S, hd], one plain batched GEMM per kv head. With K = H
  // (no grouping) this is the plain 4-D [B, H, T, hd] form and the reshapes are left out.
  const grouped = K !== H;
  const qg = grouped ? qh.reshape([B, K, (H / K) * T, hd]) : qh;
  const scoresOf = ({ k: kh }: KeyValues) => {
    const raw = qg.matmul(kh.mT); // [B, K, (H/K)*T, S]
    return grouped ? raw.reshape([B, H, T, kh.shape[2]]) : raw;
  };
  const scores = concat(blocks.map(scoresOf), -1).add(c.attnBias); // [B, H, T, S]
  c.taps?.maxAttnLogit.push(stopGradient(scores).max()); // the diagonal is never masked: max over causal entries
  const probs = c.drop(softmax(scores, -1), m.dropout.attention, 3 * i + 1);
  // probs @ values, block by block (one block: the whole key axis, no slicing).
  let start = 0;
  const parts = blocks.map(({ v: vh }) => {
    const S = vh.shape[2] as number;
    const p = blocks.length === 1 ? probs : probs.slice([start], [start + S], [3]);
    start += S;
    return (grouped ? p.reshape([B, K, (H / K) * T, S]) : p).matmul(vh); // [B, K, (H/K)*T, hd]
  });
  const pv = parts.reduce((a, b) => a.add(b));
  const out = (grouped ? pv.reshape([B, H, T, hd]) : pv).transpose([0, 2, 1, 3]).reshape([B, T, H * hd]);
  return out.matmul(W(n.o).mT);
}

/** Layer i's SwiGLU feed-forward: w2(silu(w1 x) * w3 x), i.e. down(silu(gate x) * up x). */
export function ffn(c: LayerContext, i: number, x: Tensor): Tensor {
  const n = layerNames(i);
  return silu(x.matmul(c.W(n.gate).mT)).mul(x.matmul(c.W(n.up).mT)).matmul(c.W(n.down).mT);
}

/** Block i in the spec's norm order (the paper's formulas, side by side). */
export function block(c: LayerContext, i: number, x: Tensor): Tensor {
  const { g, m, W } = c;
  const n = layerNames(i);
  const attn = (t: Tensor) => g.scope('attn', () => attention(c, i, t));
  const mlp = (t: Tensor) => g.scope('ffn', () => ffn(c, i, t));
  const normA = (t: Tensor) => rmsNorm(t, W(n.normA), m.normEps);
  const normF = (t: Tensor) => rmsNorm(t, W(n.normF), m.normEps);
  // Dropout sits on each branch's output, just before its residual add (the paper's 7B recipe).
  const dropA = (t: Tensor) => c.drop(t, m.dropout.afterAttention, 3 * i + 2);
  const dropF = (t: Tensor) => c.drop(t, m.dropout.afterFfn, 3 * i + 3);
  if (m.order === 'pre') {
    const h = x.add(dropA(attn(normA(x)))); //  h   = x + attn(norm_a(x))      Llama-2, Chameleon-7B
    return h.add(dropF(mlp(normF(h)))); //      out = h + ffn(norm_f(h))
  } else {
    const h = x.add(dropA(normA(attn(x)))); //  h   = x + norm_a(attn(x))      swin, Chameleon-34B
    return h.add(dropF(normF(mlp(h)))); //      out = h + norm_f(ffn(h))
  }
}

/** The token embedding and every block, with the per-layer RMS tap after each block: [B, T] ids -> [B, T, d]. */
export function decoderLayers(c: LayerContext, inputIds: Tensor): Tensor {
  const { g, m } = c;
  let x = g.scope('embed', () => gather(c.W(EMBED), inputIds)); // [B, T, d]
  for (let i = 0; i < m.layers; i++) {
    x = g.scope(`layers.${i}`, () => block(c, i, x));
    if (c.taps) c.taps.layerRms.push(g.scope('metrics', () => rmsTap(x)));
  }
  return x;
}

/** RMS of a block's output: one pass (ReduceSumSquare) when the element count is static; symbolic batch: square + mean. */
function rmsTap(x: Tensor): Tensor {
  return (isStatic(x.shape) ? stopGradient(x).sumSquares().mul(1 / (numel(x.shape) as number)) : stopGradient(x).pow(2).mean()).sqrt();
}

/** The final RMSNorm and the output matrix (the embedding when tied): [..., d] -> [..., vocab]. */
export function head(c: LayerContext, x: Tensor): Tensor {
  const { g, m, W } = c;
  return g.scope('head', () => rmsNorm(x, W(FINAL_NORM), m.normEps).matmul(W(m.tieEmbeddings ? EMBED : LM_HEAD).mT));
}

/**
 * The training objective over positions whose label is not IGNORE_INDEX:
 *   loss = mean(CE(logits, label)) + z_loss * mean(logsumexp(logits)^2)
 * with the taps ce and z (mean logsumexp) written into `metrics`.
 */
export function lossOf(c: LayerContext, logits: Tensor, labels: Tensor, metrics: Record<string, Tensor>): Tensor {
  const { g, m, B, T } = c;
  return g.scope('loss', () => {
    const valid = not(labels.eq(IGNORE_INDEX)); // [B, T]
    const w = valid.cast(g.dtype);
    const count = w.sum();
    const n = where(count.gt(0), count, 1); // an all-ignored batch gives loss 0, not NaN
    const mean = (t: Tensor) => t.mul(w).sum().div(n);
    const lse = logsumexp(logits, -1); // z = log Z per token, [B, T]
    const target = takeAlongAxis(logits, where(valid, labels, 0).unsqueeze(-1), -1).reshape([B, T]);
    const ce = mean(lse.sub(target)); // -log softmax(logits)[label]
    const loss = m.zLoss > 0 ? ce.add(mean(lse.mul(lse)).mul(m.zLoss)) : ce;
    metrics.ce = stopGradient(ce);
    metrics.z = mean(stopGradient(lse));
    return loss;
  });
}

/** The per-layer taps and max_abs_logit (output-logit drift), by metric name. */
export function metricTaps(c: LayerContext, logits: Tensor, metrics: Record<string, Tensor>): void {
  c.g.scope('metrics', () => {
    c.taps?.layerRms.forEach((t, i) => (metrics[`layer_rms.${i}`] = t));
    c.taps?.maxAttnLogit.forEach((t, i) => (metrics[`max_attn_logit.${i}`] = t));
    metrics.max_abs_logit = stopGradient(logits).abs().max();
  });
}

/**
 * Builds the model into `g`: declares `input_ids` (and `labels`) and every parameter, returns the
 * logits, the loss and the metric taps. Node names are scoped (`layers.3/attn/...`) for Netron.
 */
export function buildChameleon(g: Graph, m: ModelDims, opts: ChameleonOptions): ChameleonGraph {
  const { batch: B, seq: T } = opts;
  const withLoss = opts.loss ?? true;
  if (T > m.maxSeqLen) throw new UserError(`sequence length ${T} exceeds model.max_seq_len ${m.maxSeqLen}`, 'data.seq_len');

  const inputIds = g.input('input_ids', 'int32', [B, T], { doc: 'token ids [batch, seq]' });
  const labels = withLoss
    ? g.input('labels', 'int32', [B, T], { doc: `target id of each position [batch, seq]; ${IGNORE_INDEX} = ignored` })
    : null;
  const P = declareParams(g, m, opts);
  const { rope, causalBias } = sequenceConstants(g, m, T);
  const c: LayerContext = {
    g,
    m,
    B,
    T,
    W: (name) => P.get(name)!,
    // Dropout sites get distinct salts, so their masks are independent: (layer, site) -> 3 * layer + site.
    drop: (x, p, salt) => (opts.dropout && p > 0 ? opts.dropout(x, p, salt) : x),
    rope,
    attnBias: causalBias,
    taps: { layerRms: [], maxAttnLogit: [] },
  };

  const logits = head(c, decoderLayers(c, inputIds));
  const metrics: Record<string, Tensor> = {};
  const loss = labels ? lossOf(c, logits, labels, metrics) : null;
  metricTaps(c, logits, metrics);
  return { inputIds, labels, logits, loss, metrics, params: [...P.values()] };
}
