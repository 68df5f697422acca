/**
 * chamlab graph compiler: tensors, primitives, reverse-mode autodiff, optimizer graphs, ONNX emission.
 *
 * ## Building a graph (reads like math)
 * ```ts
 * import { Graph, gather, softmax, layerNorm, crossEntropy, grad, toOnnx } from './graph';
 * const g = new Graph('forward');                        // float32; new Graph(name, { dtype: 'float64' }) for checks
 * const ids = g.input('input_ids', 'int32', [8, 256]);  // symbolic dims ('batch') are allowed on inputs
 * const E = g.param('model.embed_tokens.weight', [V, D], { decay: false });
 * const x = gather(E, ids);                              // [8,256,D]
 * const h = g.scope('layers.0.mlp', () => silu(x.matmul(W1)).matmul(W2));   // nodes 'layers.0.mlp/MatMul_12'
 * const y = layerNorm(h, w, b, 1e-5);                    // fused LayerNormalization with its own VJP
 * g.output('logits', y.matmul(E.mT));
 * ```
 * Tensor methods: add sub rsub mul div pow(c) neg exp log sqrt reciprocal sigmoid tanh relu abs matmul
 * sum/mean/max(axes, keepdims) reshape transpose mT slice(starts, ends, axes) expand cast unsqueeze
 * eq lt gt. Numbers broadcast as constants of the tensor's dtype (`x.mul(0.5)`).
 * Functions: softmax logSoftmax logsumexp layerNorm rmsNorm silu gelu (tanh form) concat where gather
 * takeAlongAxis putAlongAxis crossEntropy (mean; fused softmax-CE rule; `ignoreIndex`) softmaxCrossEntropy
 * (per position) stopGradient dropout sumTo not and, plus `g.constant`, `g.scalar`, `g.zeros`.
 * Shape mistakes throw GraphError naming op, scope and call site:
 * `matmul: shapes [8,64] and [32,16] do not agree in layers.3.attn (at model.ts:41:9)`.
 *
 * ## Autodiff
 * `grad(loss, params)` returns one Tensor per param (same shape); only the part of the graph between
 * them is differentiated; integer and bool tensors get no gradient.
 *
 * ## Dropout
 * `dropout(x, p, { seed, step, salt })`: `seed` and `step` are int32 scalar tensors (graph inputs),
 * `salt` a distinct number per dropout site. The mask is a hash of (seed, step, salt, flat element
 * index) computed in int32 inside the graph, so a fresh session replays it exactly (resume-safe), and
 * it is the same on CPU and WebGPU. `dropoutMaskReference` computes the same mask in TypeScript.
 *
 * ## Step graphs and the STATE NAMING CONVENTION (runtime feeds outputs back as inputs)
 * `buildTrainStep({ build, optimizer: { betas, eps, weight_decay, grad_clip }, dtype? })` builds one
 * graph doing forward, backward, clipping, AdamW. `build(g, ctx)` returns `{ loss, metrics?, outputs? }`;
 * `ctx.mode` is 'train' | 'eval' | 'forward'; `ctx.dropout(x, p, salt)` is the identity outside training.
 *   inputs : whatever `build` declares (batch tensors), then
 *            `<param>`            every parameter, by its own name (e.g. `model.embed_tokens.weight`)
 *            `adam_m.<param>`     AdamW first moment, same shape/dtype as the param (start: zeros)
 *            `adam_v.<param>`     AdamW second moment (start: zeros)
 *            `step`  int32 []     1-based number of the update being made (Adam's t; also drives dropout)
 *            `lr`    float32 []   learning rate for this step (schedules live outside the graph; float64
 *                                 in a float64 graph)
 *            `seed`  int32 []     run seed (dropout); always present so every step graph has one signature
 *   outputs: `loss` (float32 []), each metric by its name, `grad_norm` (global L2 norm before clipping),
 *            `next.<input name>` for every state input: `next.<param>`, `next.adam_m.<param>`,
 *            `next.adam_v.<param>`. Rule: output `next.X` is fed back as input `X` on the next step.
 *   `TrainStep.state` lists these pairs ({ input, output, shape, dtype, init }), so no name parsing is
 *   needed. `buildEval` (loss + metrics, params as inputs) and `buildForward` (named outputs such as
 *   logits) use the same `build` callback and the same parameter input names.
 *
 * ## ONNX
 * `toOnnx(graph, { params: 'inputs' | 'initializers', target: 'any' | 'cpu' | 'webgpu' })` → Uint8Array
 * (opset 17, IR 8, deterministic). With params 'inputs' (the default, and what `--shapes-only` uses) no
 * weights are allocated or written. target 'any' (default) = only ops ORT runs on CPU and WebGPU (no
 * CPU fallback under WebGPU); 'cpu' may use CPU-only fused kernels (LogSoftmax). `signature(graph)`
 * lists inputs/outputs with dtype and shape for manifests; `graph.paramInfos()` the parameters.
 * `runGraph(graph, feeds)` runs a graph once on onnxruntime CPU (tests, gradcheck).
 *
 * ## gradcheck
 * `gradcheckOps()` checks every registered primitive; `gradcheckModel(build)` checks a whole model's
 * gradient along a random direction (float64). See the README, section "src/graph".
 */
export * from './ir';
export * from './primitives';
export * from './ops';
export * from './autodiff';
export * from './dropout';
export * from './optim';
export * from './step-names';
export * from './step';
export * from './onnx';
export * from './tiny';
