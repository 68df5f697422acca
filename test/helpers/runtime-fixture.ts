/**
 * A hand-built train-step graph for the runtime's own tests: a bigram language model
 * (logits = E[ids] @ W) with its gradient written out by hand, global-norm clipping and AdamW, under
 * the naming contract of src/graph/step-names.ts (state E, W and their AdamW moments, fed back from
 * next.*; step, lr, seed). It is not built with src/graph's compiler, so the runtime's plumbing (residency,
 * read-back, resume, placement) is tested even while the compiler changes; the real model is tested
 * beside it. Its batches are the synthetic bigram language (src/data/synthetic.ts).
 *
 * A seed- and step-dependent input-dropout mask (an int32 hash, like src/graph's dropout) makes the
 * exact-resume test meaningful: a runtime that fed the wrong step or seed would diverge.
 */
import { Rng } from '../../src/random';
import { encodeModel, type ValueSpec } from '../../src/runtime/onnx-util';

type Node = { opType: string; name: string; input: string[]; output: string[]; attribute?: object[] };

export interface BigramSpec {
  vocab: number;
  dim: number;
  batch: number;
  seq: number;
  /** Input-dropout probability on the embedding rows (0: none). */
  dropout?: number;
}

const ints = (name: string, v: number[]) => ({ name, ints: v, type: 7 });
const int = (name: string, v: number) => ({ name, i: v, type: 2 });

export function bigramTrainStep(spec: BigramSpec): Uint8Array {
  const { vocab: V, dim: D, batch: B, seq: S } = spec;
  const N = B * S;
  const p = spec.dropout ?? 0;
  const nodes: Node[] = [];
  const inits: { name: string; dtype: 'float32' | 'int32' | 'int64'; dims: number[]; data: number[] }[] = [];
  let k = 0;
  const c = (dtype: 'float32' | 'int32' | 'int64', data: number[], dims: number[] = []) => {
    const name = `c${k++}`;
    inits.push({ name, dtype, dims, data });
    return name;
  };
  const op = (opType: string, input: string[], attribute?: object[], name?: string) => {
    const out = name ?? `${opType.toLowerCase()}_${k++}`;
    nodes.push({ opType, name: out, input, output: [out], attribute });
    return out;
  };
  // forward
  const ids = op('Reshape', ['input_ids', c('int64', [N], [1])]);
  const h0 = op('Gather', ['E', ids], [int('axis', 0)]); // [N,D]
  // Dropout mask from (seed, step, row, col): int32 hash, uniform in [0, 2^23).
  let h = h0;
  let mask = '';
  if (p > 0) {
    const idx = c('int32', Array.from({ length: N * D }, (_, i) => i), [N, D]);
    const s1 = op('Mul', ['seed', c('int32', [1000003])]);
    const s2 = op('Mul', ['step', c('int32', [7919])]);
    let x = op('Add', [op('Add', [idx, s1]), s2]);
    x = op('Mul', [x, c('int32', [1103515245])]); // wraps mod 2^32
    x = op('Add', [x, c('int32', [12345])]);
    // int32 division truncates identically on CPU and in WGSL; |x / 256| < 2^23 is exact in float32.
    x = op('Div', [x, c('int32', [256])]);
    const u = op('Div', [op('Abs', [op('Cast', [x], [int('to', 1)])]), c('float32', [2 ** 23])]);
    mask = op('Div', [op('Cast', [op('Greater', [u, c('float32', [p])])], [int('to', 1)]), c('float32', [1 - p])]);
    h = op('Mul', [h0, mask]);
  }
  const logits = op('MatMul', [h, 'W']); // [N,V]
  // log-softmax composed (x - max - log sum exp): ORT's WebGPU EP has no LogSoftmax kernel.
  const shifted = op('Sub', [logits, op('ReduceMax', [logits], [ints('axes', [1]), int('keepdims', 1)])]);
  const logp = op('Sub', [shifted, op('Log', [op('ReduceSum', [op('Exp', [shifted]), c('int64', [1], [1])], [int('keepdims', 1)])])]);
  const lab = op('Reshape', ['labels', c('int64', [N, 1], [2])]);
  const picked = op('GatherElements', [logp, lab], [int('axis', 1)]); // [N,1]
  const loss = op('Neg', [op('ReduceMean', [picked], [int('keepdims', 0)])], undefined, 'loss');
  // backward: dlogits = (softmax - onehot) / N
  const onehot = op('Cast', [op('Equal', [lab, c('int32', Array.from({ length: V }, (_, i) => i), [V])])], [int('to', 1)]);
  const dlogits = op('Div', [op('Sub', [op('Exp', [logp]), onehot]), c('float32', [N])]);
  const gW = op('MatMul', [op('Transpose', [h], [ints('perm', [1, 0])]), dlogits]); // [D,V]
  let dh = op('MatMul', [dlogits, op('Transpose', ['W'], [ints('perm', [1, 0])])]); // [N,D]
  if (p > 0) dh = op('Mul', [dh, mask]);
  const gE = op('ScatterND', [c('float32', new Array(V * D).fill(0), [V, D]), op('Cast', [op('Reshape', [ids, c('int64', [N, 1], [2])])], [int('to', 7)]), dh], [
    { name: 'reduction', s: Buffer.from('add'), type: 3 },
  ]);
  // global norm clipping to 1.0
  const sq = (g: string) => op('ReduceSum', [op('Mul', [g, g])], [int('keepdims', 0)]);
  const norm = op('Sqrt', [op('Add', [sq(gE), sq(gW)])], undefined, 'grad_norm');
  const scale = op('Min', [c('float32', [1]), op('Div', [c('float32', [1]), op('Add', [norm, c('float32', [1e-6])])])]);
  // AdamW (beta1 .9, beta2 .95, eps 1e-8, wd .1 on W only)
  const t = op('Cast', ['step'], [int('to', 1)]);
  const bc1 = op('Sub', [c('float32', [1]), op('Pow', [c('float32', [0.9]), t])]);
  const bc2 = op('Sub', [c('float32', [1]), op('Pow', [c('float32', [0.95]), t])]);
  const adam = (param: string, g0: string, decay: boolean) => {
    const g = op('Mul', [g0, scale]);
    const m = op('Add', [op('Mul', [`adam_m.${param}`, c('float32', [0.9])]), op('Mul', [g, c('float32', [0.1])])], undefined, `next.adam_m.${param}`);
    const v = op('Add', [op('Mul', [`adam_v.${param}`, c('float32', [0.95])]), op('Mul', [op('Mul', [g, g]), c('float32', [0.05])])], undefined, `next.adam_v.${param}`);
    let upd = op('Div', [op('Div', [m, bc1]), op('Add', [op('Sqrt', [op('Div', [v, bc2])]), c('float32', [1e-8])])]);
    if (decay) upd = op('Add', [upd, op('Mul', [param, c('float32', [0.1])])]);
    op('Sub', [param, op('Mul', [upd, 'lr'])], undefined, `next.${param}`);
  };
  adam('E', gE, false);
  adam('W', gW, true);

  const f = (name: string, shape: number[]): ValueSpec => ({ name, dtype: 'float32', shape });
  const inputs: ValueSpec[] = [
    { name: 'input_ids', dtype: 'int32', shape: [B, S] },
    { name: 'labels', dtype: 'int32', shape: [B, S] },
    f('E', [V, D]),
    f('W', [D, V]),
    f('adam_m.E', [V, D]),
    f('adam_v.E', [V, D]),
    f('adam_m.W', [D, V]),
    f('adam_v.W', [D, V]),
    { name: 'step', dtype: 'int32', shape: [] },
    f('lr', []),
    { name: 'seed', dtype: 'int32', shape: [] },
  ];
  const outputs: ValueSpec[] = [
    f('loss', []),
    f('grad_norm', []),
    ...['E', 'adam_m.E', 'adam_v.E'].map((n) => f(`next.${n}`, [V, D])),
    ...['W', 'adam_m.W', 'adam_v.W'].map((n) => f(`next.${n}`, [D, V])),
  ];
  return encodeModel('bigram_train_step', nodes, inputs, outputs, inits);
}

/** Deterministic initial weights (small normal values from the seeded generator). */
export function bigramWeights(spec: BigramSpec, seed = 1): Map<string, Float32Array> {
  const rng = Rng.fromSeed(seed);
  const w = (n: number, std: number) => Float32Array.from({ length: n }, () => rng.normal() * std);
  return new Map([
    ['E', w(spec.vocab * spec.dim, 0.5)],
    ['W', w(spec.dim * spec.vocab, 0.5)],
  ]);
}
