/**
 * Micro-benchmarks behind bench/FINDINGS.md: the same computation written the way chamlab's graph
 * writes it today and the way a rewrite would, each as a tiny ONNX model run by onnxruntime's CPU
 * provider with the runtime's session options (optimization 'all', one thread per core). Variants of
 * one case are timed interleaved (round-robin), medians reported, so machine load hits all alike.
 *
 *   node dist/bench/experiments/ort-variants.js [--config tiny|small] [--rounds 7] [--json]
 *
 * Cases (shapes from the config: B x T tokens, d, ffn, heads, vocab):
 *   proj       x @ W^T with W [out, in] (HF layout): Transpose+MatMul on 3-D x (what the graph emits;
 *              ORT fuses it to FusedMatMul transB) vs Gemm(transB) on 2-D x vs MatMul with W stored
 *              [in, out] vs Transpose+MatMul on x reshaped to 2-D.
 *   scores     Q K^T per head: the 5-D grouped-query layout [B, K, H/K, T, hd] x [B, K, 1, T, hd]^T
 *              that the graph uses for GQA (even when K = H) vs plain 4-D [B, H, T, hd].
 *   mask       causal mask: Where(mask[T, T], scores, -1e9) vs Add(scores, bias[T, T]).
 *   lse        logsumexp over the vocabulary as the graph builds it (ReduceMax, Sub, Exp, ReduceSum,
 *              Log, Add) vs ONNX ReduceLogSumExp vs LogSoftmax.
 */
import * as os from 'node:os';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { encodeModel, type ValueSpec } from '../../src/runtime/onnx-util';
import { ort } from '../../src/runtime/session';
import { sessionOptions } from '../../src/runtime/session-options';
import { configNamed } from '../configs';
import { fmt, median, table } from '../stats';

type Node = onnx.INodeProto;
const ints = (name: string, v: number[]): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: v });
const int = (name: string, v: number): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INT, i: v });
const node = (opType: string, input: string[], output: string[], attribute: onnx.IAttributeProto[] = []): Node => ({
  opType,
  name: `${opType}_${output[0]}`,
  input,
  output,
  attribute,
});

interface Variant {
  name: string;
  nodes: Node[];
  inputs: ValueSpec[];
  output: ValueSpec;
  flops?: number;
}

interface Case {
  name: string;
  variants: Variant[];
}

const f32 = (name: string, shape: number[]): ValueSpec => ({ name, dtype: 'float32', shape });

export function cases(cfgName: string): Case[] {
  const c = configNamed(cfgName);
  const B = c.batch;
  const T = c.seq;
  const d = c.d;
  const ffn = Math.ceil(Math.floor((8 * d) / 3) / 256) * 256;
  const H = c.heads;
  const hd = d / H;
  const V = c.text + c.image;
  const N = B * T;
  const shapeConst = (name: string, v: number[]): Node => ({
    opType: 'Constant',
    name: `const_${name}`,
    output: [name],
    attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: { dims: [v.length], dataType: 7, int64Data: v } }],
  });
  return [
    {
      name: `proj: [${B},${T},${d}] @ W^T, W [${ffn},${d}]`,
      variants: [
        {
          name: 'Transpose(W) + MatMul, 3-D x (as emitted)',
          nodes: [node('Transpose', ['w'], ['wt'], [ints('perm', [1, 0])]), node('MatMul', ['x', 'wt'], ['y'])],
          inputs: [f32('x', [B, T, d]), f32('w', [ffn, d])],
          output: f32('y', [B, T, ffn]),
          flops: 2 * N * d * ffn,
        },
        {
          name: 'Gemm transB=1, 2-D x',
          nodes: [node('Gemm', ['x2', 'w'], ['y'], [int('transB', 1)])],
          inputs: [f32('x2', [N, d]), f32('w', [ffn, d])],
          output: f32('y', [N, ffn]),
          flops: 2 * N * d * ffn,
        },
        {
          name: 'MatMul, W stored [in, out], 3-D x',
          nodes: [node('MatMul', ['x', 'wio'], ['y'])],
          inputs: [f32('x', [B, T, d]), f32('wio', [d, ffn])],
          output: f32('y', [B, T, ffn]),
          flops: 2 * N * d * ffn,
        },
        {
          name: 'Reshape x to 2-D + Transpose(W) + MatMul',
          nodes: [
            shapeConst('s2', [N, d]),
            node('Reshape', ['x', 's2'], ['x2']),
            node('Transpose', ['w'], ['wt'], [ints('perm', [1, 0])]),
            node('MatMul', ['x2', 'wt'], ['y']),
          ],
          inputs: [f32('x', [B, T, d]), f32('w', [ffn, d])],
          output: f32('y', [N, ffn]),
          flops: 2 * N * d * ffn,
        },
      ],
    },
    {
      name: `scores: Q K^T, ${H} heads x [${T},${hd}]`,
      variants: [
        {
          name: '5-D GQA layout [B,K,H/K,T,hd] x [B,K,1,T,hd]^T (as emitted)',
          nodes: [node('Transpose', ['k5'], ['kt'], [ints('perm', [0, 1, 2, 4, 3])]), node('MatMul', ['q5', 'kt'], ['s'])],
          inputs: [f32('q5', [B, H, 1, T, hd]), f32('k5', [B, H, 1, T, hd])],
          output: f32('s', [B, H, 1, T, T]),
          flops: 2 * B * H * T * T * hd,
        },
        {
          name: '4-D [B,H,T,hd] x [B,H,T,hd]^T',
          nodes: [node('Transpose', ['k4'], ['kt'], [ints('perm', [0, 1, 3, 2])]), node('MatMul', ['q4', 'kt'], ['s'])],
          inputs: [f32('q4', [B, H, T, hd]), f32('k4', [B, H, T, hd])],
          output: f32('s', [B, H, T, T]),
          flops: 2 * B * H * T * T * hd,
        },
      ],
    },
    {
      name: `mask: causal mask on [${B},${H},${T},${T}] scores`,
      variants: [
        {
          name: 'Where(mask[T,T], s, -1e9), 5-D scores [B,H,1,T,T] (as emitted)',
          nodes: [node('Where', ['m', 's5', 'neg'], ['y'])],
          inputs: [{ name: 'm', dtype: 'bool', shape: [T, T] }, f32('s5', [B, H, 1, T, T]), f32('neg', [])],
          output: f32('y', [B, H, 1, T, T]),
        },
        {
          name: 'Where(mask[T,T], s, -1e9), 4-D scores [B,H,T,T]',
          nodes: [node('Where', ['m', 's', 'neg'], ['y'])],
          inputs: [{ name: 'm', dtype: 'bool', shape: [T, T] }, f32('s', [B, H, T, T]), f32('neg', [])],
          output: f32('y', [B, H, T, T]),
        },
        {
          name: 'Add(s, bias[T,T]) with bias 0 / -1e9, 4-D scores',
          nodes: [node('Add', ['s', 'bias'], ['y'])],
          inputs: [f32('s', [B, H, T, T]), f32('bias', [T, T])],
          output: f32('y', [B, H, T, T]),
        },
      ],
    },
    {
      name: `lse: logsumexp over vocab ${V}, [${B},${T},${V}] logits`,
      variants: [
        {
          name: 'ReduceMax, Sub, Exp, ReduceSum, Log, Add (as emitted)',
          nodes: [
            shapeConst('ax', [-1]),
            node('ReduceMax', ['l'], ['mx'], [ints('axes', [-1]), int('keepdims', 1)]),
            node('Sub', ['l', 'mx'], ['sh']),
            node('Exp', ['sh'], ['e']),
            node('ReduceSum', ['e', 'ax'], ['se'], [int('keepdims', 1)]),
            node('Log', ['se'], ['lg']),
            node('Add', ['lg', 'mx'], ['y']),
          ],
          inputs: [f32('l', [B, T, V])],
          output: f32('y', [B, T, 1]),
        },
        {
          name: 'ReduceLogSumExp',
          nodes: [node('ReduceLogSumExp', ['l'], ['y'], [ints('axes', [-1]), int('keepdims', 1)])],
          inputs: [f32('l', [B, T, V])],
          output: f32('y', [B, T, 1]),
        },
        {
          name: 'LogSoftmax (gives log p for all classes)',
          nodes: [node('LogSoftmax', ['l'], ['y'], [int('axis', -1)])],
          inputs: [f32('l', [B, T, V])],
          output: f32('y', [B, T, V]),
        },
        {
          name: 'Softmax (the backward of logsumexp)',
          nodes: [node('Softmax', ['l'], ['y'], [int('axis', -1)])],
          inputs: [f32('l', [B, T, V])],
          output: f32('y', [B, T, V]),
        },
      ],
    },
  ];
}

function feedFor(v: ValueSpec): Tensor {
  const { Tensor } = ort();
  const shape = v.shape as number[];
  const n = shape.reduce((a, b) => a * b, 1);
  if (v.dtype === 'bool') {
    const T = shape[0];
    const m = new Uint8Array(n);
    for (let i = 0; i < T; i++) for (let j = 0; j <= i; j++) m[i * T + j] = 1;
    return new Tensor('bool', m, shape);
  }
  const x = new Float32Array(n);
  let s = n;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) | 0;
    x[i] = (s >>> 8) / 16777216 - 0.5;
  }
  if (v.name === 'neg') x.fill(-1e9);
  return new Tensor('float32', x, shape);
}

export interface VariantResult {
  case: string;
  variant: string;
  /** Median wall time of a run (ms). */
  ms: number;
  /** Median process CPU time of a run, all threads (ms): robust to other processes' load. */
  cpu_ms: number;
  gflops: number | null;
  vs_first: number;
}

export async function runVariants(cfgName: string, rounds: number, threads = os.availableParallelism()): Promise<VariantResult[]> {
  const { InferenceSession } = ort();
  const out: VariantResult[] = [];
  for (const c of cases(cfgName)) {
    const sessions: { v: Variant; s: InferenceSession; feeds: Record<string, Tensor>; fetches: Record<string, Tensor> }[] = [];
    for (const v of c.variants) {
      const bytes = encodeModel('variant', v.nodes, v.inputs, [v.output]);
      const s = await InferenceSession.create(bytes, sessionOptions('cpu', { overrides: { intraOpNumThreads: threads } }));
      const feeds = Object.fromEntries(v.inputs.map((i) => [i.name, feedFor(i)]));
      // Preallocated output, as the trainer does for its state: otherwise each run's time includes
      // allocating, page-faulting and copying a multi-megabyte result into JavaScript memory.
      const outShape = v.output.shape as number[];
      const fetches = { [v.output.name]: new (ort().Tensor)('float32', new Float32Array(outShape.reduce((a, b) => a * b, 1)), outShape) };
      await s.run(feeds, fetches);
      sessions.push({ v, s, feeds, fetches });
    }
    const times = sessions.map(() => [] as number[]);
    const cpu = sessions.map(() => [] as number[]);
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < sessions.length; i++) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await sessions[i].s.run(sessions[i].feeds, sessions[i].fetches);
        times[i].push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        cpu[i].push((c.user + c.system) / 1000);
      }
    }
    const base = median(times[0]);
    sessions.forEach(({ v }, i) => {
      const ms = median(times[i]);
      out.push({ case: c.name, variant: v.name, ms, cpu_ms: median(cpu[i]), gflops: v.flops ? v.flops / (ms * 1e6) : null, vs_first: base / ms });
    });
    for (const { s } of sessions) await s.release();
  }
  return out;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  let cfg = 'tiny';
  let rounds = 7;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--config') cfg = argv[++i];
    else if (argv[i] === '--rounds') rounds = Number(argv[++i]);
    else if (argv[i] === '--json') json = true;
    else throw new Error(`unknown option ${argv[i]}`);
  }
  const r = await runVariants(cfg, rounds);
  if (json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  else
    process.stdout.write(
      table(
        ['case / variant', 'wall ms', 'CPU ms', 'GFLOP/s (wall)', 'speed-up vs emitted (wall)'],
        r.map((x) => [`${x.case} | ${x.variant}`, fmt(x.ms, 2), fmt(x.cpu_ms, 2), fmt(x.gflops, 1), `${x.vs_first.toFixed(2)}x`]),
      ) + '\n',
    );
  return 0;
}

if (require.main === module) {
  main().then(
    (c) => (process.exitCode = c),
    (e) => {
      process.stderr.write(`ort-variants: ${e instanceof Error ? e.stack : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
