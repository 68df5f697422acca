/**
 * The decoding graphs: the same Chameleon layers (chameleon.ts) with a key/value cache, so that a
 * generated token costs one position's forward pass instead of the whole sequence's.
 *
 *   prefill      input_ids [B, T], last [B]  ->  logits [B, V] at position last[b] of each row,
 *                                                 cache.<i>.key, cache.<i>.value [B, kv_heads, L, head_dim]
 *   decode step  input_ids [B, 1], pos [B], cache.<i>.key, cache.<i>.value  ->  logits [B, V] and
 *                  cache 'in-graph':  next.cache.<i>.key, next.cache.<i>.value (the cache, row written)
 *                  cache 'caller':    row.cache.<i>.key, row.cache.<i>.value [B, kv_heads, 1, head_dim]
 *
 * B is 1, or 2 for classifier-free guidance (a conditional and an unconditional stream side by side);
 * rows may hold prompts of different lengths, right-padded: row b's real tokens are 0..last[b].
 * Parameters are graph inputs under their HF names, as in the training graphs.
 *
 * The cache is fixed-size: L positions (the context of one generation, at most max_seq_len) per layer,
 * keys after QK-Norm and RoPE. The prefill writes positions 0..T-1 (zeros after them). A decode step
 * attends to positions 0..pos[b] through an additive mask, so every step has the same static shapes;
 * positions after pos[b] may hold anything (prompt padding, zeros): they are masked, and overwritten
 * before they are ever attended to. Two ways to put the new token's key and value into the cache:
 * - 'in-graph': ScatterElements writes the row and the whole cache is an output (`next.` convention:
 *   fed back as the next step's input). On WebGPU the cache then never leaves the device.
 * - 'caller': the step attends to the cache (positions < pos[b]) and to its own new row side by side,
 *   and outputs only the new rows; the caller writes them into its cache arrays at pos[b]. On the
 *   CPU this moves no cache bytes at all: onnxruntime-node reads input arrays in place but copies
 *   every output into a fresh JS array, so an in-graph cache costs two full copies per step.
 * docs/generation.md has the measurement (and why not a cache that grows by Concat).
 */
import { concat, gather, nextName, not, putAlongAxis, takeAlongAxis, where, Graph, type FloatDType, type Tensor } from '../graph';
import { UserError } from '../../dsl/errors';
import type { ModelDims } from './config';
import { declareParams, decoderLayers, head, ropeTableValues, sequenceConstants, tableValues, type LayerContext } from './chameleon';

/** The pre-softmax value of masked positions (the same as the training graphs'). */
const MASKED = -1e9;

/** Input name of layer i's cached keys or values; the decode step outputs `next.<name>`. */
export const cacheName = (layer: number, kind: 'key' | 'value'): string => `cache.${layer}.${kind}`;

/** Output name of the new row of cache input `name` (decode step with cache 'caller'). */
export const rowName = (name: string): string => `row.${name}`;

/** Every cache input name, in graph order (layer 0 key, layer 0 value, layer 1 key, ...). */
export function cacheNames(m: ModelDims): string[] {
  return Array.from({ length: m.layers }, (_, i) => [cacheName(i, 'key'), cacheName(i, 'value')]).flat();
}

export type CacheUpdate = 'in-graph' | 'caller';

export interface DecodeGraphOptions {
  /** Rows (1, or 2 with classifier-free guidance). */
  batch: number;
  /** Positions the cache holds: the whole context of one generation (at most model.max_seq_len). */
  cacheLen: number;
  dtype?: FloatDType;
  /** Parameter values to attach (tests embed them as initializers). */
  values?: Map<string, Float32Array | Float64Array>;
}

export interface DecodeGraph {
  graph: Graph;
  /** Cache shape of one layer's keys (and values): [B, kv_heads, L, head_dim]. */
  cacheShape: number[];
  /** Cache input names (decode step) / output names (prefill), in order. */
  cache: string[];
}

function checkShape(m: ModelDims, opts: DecodeGraphOptions, promptLen?: number): void {
  if (!Number.isInteger(opts.batch) || opts.batch < 1) throw new Error(`decode graphs: batch must be a positive integer, got ${opts.batch}`);
  if (opts.cacheLen > m.maxSeqLen)
    throw new UserError(`a context of ${opts.cacheLen} positions exceeds the model's max_seq_len ${m.maxSeqLen}`, 'model.max_seq_len');
  if (promptLen !== undefined && promptLen > opts.cacheLen) throw new Error(`prefill of ${promptLen} positions does not fit a cache of ${opts.cacheLen}`);
}

/**
 * The prefill graph: the prompt rows through every layer (causal attention within the prompt, exactly
 * the training forward), the logits at each row's last real position, and the cache.
 */
export function buildPrefill(m: ModelDims, opts: DecodeGraphOptions & { promptLen: number }): DecodeGraph {
  const { batch: B, cacheLen: L, promptLen: T } = opts;
  checkShape(m, opts, T);
  const g = new Graph('prefill', { dtype: opts.dtype });
  const inputIds = g.input('input_ids', 'int32', [B, T], { doc: 'prompt token ids [batch, prompt], rows right-padded' });
  const last = g.input('last', 'int32', [B], { doc: "position of each row's last prompt token" });
  const P = declareParams(g, m, opts);
  const { rope, causalBias } = sequenceConstants(g, m, T);
  const present: Tensor[] = [];
  const c: LayerContext = {
    g,
    m,
    B,
    T,
    W: (name) => P.get(name)!,
    drop: (x) => x,
    rope,
    attnBias: causalBias,
    // The prompt attends to itself; its keys and values are kept, padded with zeros to L positions.
    kv: (_i, k, v) => {
      const pad = (t: Tensor) => (T === L ? t : g.apply('Pad', [t], { pads: [0, 0, 0, 0, 0, 0, L - T, 0] }));
      present.push(pad(k), pad(v));
      return [{ k, v }];
    },
  };
  const x = decoderLayers(c, inputIds); // [B, T, d]
  const lastRow = takeAlongAxis(x, last.reshape([B, 1, 1]).expand([B, 1, m.d]), 1); // [B, 1, d]
  g.output('logits', head(c, lastRow).reshape([B, m.vocab]));
  const names = cacheNames(m);
  present.forEach((t, i) => g.output(names[i], t));
  return { graph: g, cacheShape: [B, m.kvHeads, L, m.headDim], cache: names };
}

/**
 * The decode-step graph: one new token per row at position pos[b], its logits, and its keys and
 * values (written into the cache, or as rows for the caller to write: see the module comment).
 */
export function buildDecodeStep(m: ModelDims, opts: DecodeGraphOptions & { cache?: CacheUpdate }): DecodeGraph {
  const { batch: B, cacheLen: L } = opts;
  const update = opts.cache ?? 'in-graph';
  checkShape(m, opts);
  const { kvHeads: K, headDim: hd } = m;
  const g = new Graph('decode_step', { dtype: opts.dtype });
  const inputIds = g.input('input_ids', 'int32', [B, 1], { doc: 'the newest token of each row [batch, 1]' });
  const pos = g.input('pos', 'int32', [B], { doc: 'position of that token in its row (0-based)' });
  const P = declareParams(g, m, opts);
  const names = cacheNames(m);
  const cacheIn = names.map((n) => g.input(n, g.dtype, [B, K, L, hd], { doc: 'keys (after QK-Norm and RoPE) or values of one layer' }));

  // RoPE rows of each token's position, gathered from the same tables as the full-sequence graphs.
  const t = ropeTableValues(m, L);
  const row = (a: Float64Array) => gather(g.constant(tableValues(g, a), [L, hd]), pos).reshape([B, 1, 1, hd]);
  const rope = { cos: row(t.cos), sinSigned: row(t.sinSigned), cosQ: row(t.cosQ), sinQ: row(t.sinQ) };
  const keyPos = g.apply('Iota', [], { shape: [1, L] });
  const rowPos = pos.reshape([B, 1]);
  let attnBias: Tensor;
  let kv: LayerContext['kv'];
  const outputs: Tensor[] = [];
  if (update === 'in-graph') {
    // Cache position j is visible to row b's query when j <= pos[b] (the new row is written at pos[b]).
    attnBias = where(not(keyPos.gt(rowPos)), 0, MASKED).reshape([B, 1, 1, L]);
    const writeAt = pos.reshape([B, 1, 1, 1]).expand([B, K, 1, hd]);
    kv = (i, k, v) => {
      const kc = putAlongAxis(cacheIn[2 * i], writeAt, k, 2);
      const vc = putAlongAxis(cacheIn[2 * i + 1], writeAt, v, 2);
      outputs.push(kc, vc);
      return [{ k: kc, v: vc }];
    };
  } else {
    // Keys [cache positions 0..L-1 | the new row]: a cache position is visible when j < pos[b] (the
    // caller has not written pos[b] yet); the new row always is.
    const cacheBias = where(keyPos.lt(rowPos), 0, MASKED); // [B, L]
    attnBias = concat([cacheBias, g.zeros([B, 1], g.dtype)], 1).reshape([B, 1, 1, L + 1]);
    kv = (i, k, v) => {
      outputs.push(k, v);
      return [
        { k: cacheIn[2 * i], v: cacheIn[2 * i + 1] },
        { k, v },
      ];
    };
  }
  const c: LayerContext = { g, m, B, T: 1, W: (name) => P.get(name)!, drop: (x) => x, rope, attnBias, kv };
  const x = decoderLayers(c, inputIds); // [B, 1, d]
  g.output('logits', head(c, x).reshape([B, m.vocab]));
  outputs.forEach((t, i) => g.output(update === 'in-graph' ? nextName(names[i]) : rowName(names[i]), t));
  return { graph: g, cacheShape: [B, K, L, hd], cache: names };
}
