/**
 * chamlab graph compiler: tensors, primitives, reverse-mode autodiff, optimizer graphs, ONNX emission.
 * It builds graphs and writes ONNX; running them is src/runtime's job (`runGraph`, `graphSession`,
 * the gradient checks). docs/graph-ir.md describes the IR and how to add an op.
 *
 * ## Building a graph (reads like math)
 * ```ts
 * import { Graph, gather, softmax, layerNorm, grad, toOnnx } from './graph';
 * const g = new Graph('forward');                        // float32; new Graph(name, { dtype: 'float64' }) for checks
 * const ids = g.input('input_ids', 'int32', [8, 256]);  // symbolic dims ('batch') are allowed on inputs
 * const E = g.param('model.embed_tokens.weight', [V, D], { decay: false });
 * const x = gather(E, ids);                              // [8,256,D]
 * const h = g.scope('layers.0.mlp', () => silu(x.matmul(W1)).matmul(W2));   // nodes 'layers.0.mlp/MatMul_12'
 * const y = layerNorm(h, w, b, 1e-5);                    // fused LayerNormalization with its own VJP
 * g.output('logits', y.matmul(E.mT));
 * ```
 * Tensor methods: add sub rsub mul div pow(c) neg exp log sqrt reciprocal sigmoid tanh relu abs matmul
 * sum/mean/max/sumSquares(axes, keepdims) reshape transpose mT slice(starts, ends, axes) expand cast
 * unsqueeze eq lt gt. Numbers broadcast as constants of the tensor's dtype (`x.mul(0.5)`).
 * Functions: softmax logSoftmax logsumexp layerNorm rmsNorm silu gelu (tanh form) concat where gather
 * takeAlongAxis putAlongAxis crossEntropy (mean, on the SoftmaxCrossEntropy primitive; `ignoreIndex`)
 * softmaxCrossEntropy (per position) stopGradient dropout sumTo not and, plus `g.constant`,
 * `g.scalar`, `g.zeros`. Shape mistakes throw GraphError naming op, scope and call site:
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
 * ## Step graphs
 * `buildTrainStep({ build, optimizer: { betas, eps, weight_decay, grad_clip }, dtype? })` builds one
 * graph doing forward, backward, clipping, AdamW. `build(g, ctx)` returns `{ loss, metrics?, outputs? }`;
 * `ctx.mode` is 'train' | 'eval' | 'forward'; `ctx.dropout(x, p, salt)` is the identity outside training.
 * `buildEval` (loss + metrics) and `buildForward` (named outputs such as logits) use the same callback
 * and the same parameter input names. Input and output names follow step-names.ts, the contract with
 * the runtime; `TrainStep.state` lists the state pairs, so no name parsing is needed.
 *
 * ## ONNX
 * `toOnnx(graph, { params: 'inputs' | 'initializers', target: 'any' | 'cpu' | 'webgpu' })` → Uint8Array
 * (opset 17, IR 8, deterministic). With params 'inputs' (the default, and what `--shapes-only` uses) no
 * weights are allocated or written. target 'any' (default) = only ops ORT runs on CPU and WebGPU (no
 * CPU fallback under WebGPU); 'cpu' may use CPU-only fused kernels (LogSoftmax). `signature(graph)`
 * lists inputs/outputs with dtype and shape for manifests; `graph.paramInfos()` the parameters.
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
