/**
 * A tiny reference model on the primitives, small enough for float64 finite differences: the graph
 * compiler's own end-to-end fixture (gradient checks, step-graph and ONNX tests, `chamlab gradcheck`).
 * Its weights and token feeds are drawn from the one seeded generator (src/random.ts).
 */
import { Rng } from '../random';
import { type Graph, type Tensor, numel } from './ir';
import { crossEntropy, gather, layerNorm, rmsNorm, silu, softmax } from './ops';

/** Sizes of the tiny reference model. */
export interface TinyConfig {
  vocab: number;
  dim: number;
  heads: number;
  hidden: number;
  batch: number;
  seq: number;
}

export const TINY: TinyConfig = { vocab: 11, dim: 8, heads: 2, hidden: 16, batch: 2, seq: 5 };

/**
 * A tiny decoder block on the primitives: embedding -> causal softmax attention -> residual ->
 * LayerNorm -> SiLU MLP -> residual -> RMSNorm -> logits -> cross-entropy. Inputs `input_ids` and
 * `targets` (int32 [batch, seq]). `drop` (train graphs) inserts dropout after attention and MLP.
 */
export function tinyModel(
  g: Graph,
  c: TinyConfig = TINY,
  drop?: (x: Tensor, p: number, salt: number) => Tensor,
): { loss: Tensor; logits: Tensor; ids: Tensor; targets: Tensor } {
  const { vocab: V, dim: D, heads: Hn, hidden: F, batch: B, seq: T } = c;
  const Dh = D / Hn;
  const init = (shape: number[], scale: number, seed: number): Float64Array => {
    const r = Rng.from('tiny-model', seed);
    return Float64Array.from({ length: numel(shape) }, () => scale * r.normal());
  };
  const cast = (a: Float64Array) => (g.dtype === 'float32' ? Float32Array.from(a) : a);
  const P = (name: string, shape: number[], scale: number, seed: number, decay = true) =>
    g.param(name, shape, { value: cast(init(shape, scale, seed)), decay });
  const ones = (name: string, n: number) => g.param(name, [n], { value: cast(new Float64Array(n).fill(1)), decay: false });

  const ids = g.input('input_ids', 'int32', [B, T]);
  const targets = g.input('targets', 'int32', [B, T]);
  const E = P('embed.weight', [V, D], 0.5, 1, false);
  let x = gather(E, ids); // [B,T,D]
  x = g.scope('attn', () => {
    const Wq = P('attn.wq', [D, D], 1 / Math.sqrt(D), 2);
    const Wk = P('attn.wk', [D, D], 1 / Math.sqrt(D), 3);
    const Wv = P('attn.wv', [D, D], 1 / Math.sqrt(D), 4);
    const Wo = P('attn.wo', [D, D], 1 / Math.sqrt(D), 5);
    const heads = (t: Tensor) => t.reshape([B, T, Hn, Dh]).transpose([0, 2, 1, 3]); // [B,H,T,Dh]
    const q = heads(x.matmul(Wq));
    const k = heads(x.matmul(Wk));
    const v = heads(x.matmul(Wv));
    const causal = new Float64Array(T * T).map((_, i) => (i % T > Math.floor(i / T) ? -1e9 : 0));
    const s = q.matmul(k.mT).mul(1 / Math.sqrt(Dh)).add(g.constant(causal, [T, T], g.dtype));
    const o = softmax(s, -1).matmul(v).transpose([0, 2, 1, 3]).reshape([B, T, D]).matmul(Wo);
    return x.add(drop ? drop(o, 0.1, 1) : o);
  });
  x = layerNorm(x, ones('ln.weight', D), P('ln.bias', [D], 0.1, 6, false), 1e-5);
  x = g.scope('mlp', () => {
    const h = silu(x.matmul(P('mlp.w1', [D, F], 1 / Math.sqrt(D), 7))).matmul(P('mlp.w2', [F, D], 1 / Math.sqrt(F), 8));
    return x.add(drop ? drop(h, 0.1, 2) : h);
  });
  x = rmsNorm(x, ones('norm.weight', D), 1e-5);
  const logits = x.matmul(P('lm_head.weight', [D, V], 1 / Math.sqrt(D), 9));
  return { loss: crossEntropy(logits, targets), logits, ids, targets };
}

/** Deterministic token feeds for the tiny model. */
export function tinyFeeds(c: TinyConfig = TINY, seed = 3): { input_ids: Int32Array; targets: Int32Array } {
  const r = Rng.from('tiny-feeds', seed);
  const n = c.batch * c.seq;
  return {
    input_ids: Int32Array.from({ length: n }, () => r.int(c.vocab)),
    targets: Int32Array.from({ length: n }, () => r.int(c.vocab)),
  };
}
