/**
 * Generation speed: tokens per second for 256 generated tokens with the KV cache (src/runtime's
 * Decoder over the prefill and decode-step graphs) against re-running the full forward graph for
 * every token, on the bench configs (same model, same seeded weights, same sampler, one run).
 *
 *   node dist/bench/generate.js [--config tiny,small] [--tokens 256] [--baseline-tokens 32] [--threads N] [--json]
 *
 * - Prompt: 16 tokens; the context is prompt + tokens, so the models' max_seq_len is raised to fit
 *   (bench specs have 256). Sampling: temperature 1, top-p 1, mode text, one row (no CFG), and the
 *   same with two rows (cfg 3: the classifier-free guidance layout).
 * - KV cache: the second of two generations is timed (the first creates the sessions), prefill
 *   included. tokens/s = generated tokens / wall time.
 * - Full forward: the forward graph over the whole context (static shapes: one graph, positions after
 *   the last token padded, its logits read at the last token), run once per token. Its cost per
 *   token does not depend on the position, so `baseline-tokens` tokens are timed, not all 256.
 */
import * as os from 'node:os';
import { Graph, nextName, toOnnx } from '../src/graph';
import { buildChameleon } from '../src/model/chameleon';
import { modelDims, type ModelDims } from '../src/model/config';
import { buildDecodeStep, buildPrefill, cacheNames, rowName } from '../src/model/decode';
import { initWeights } from '../src/model/init';
import { countParams } from '../src/model/size';
import { paramTable } from '../src/model/params';
import { Rng } from '../src/random';
import { Decoder, type DecodeGraphs } from '../src/runtime/decoder';
import { allowedNext, resolveSampling, sampleToken, TEXT_STATE, type TokenSpace } from '../src/runtime/sampling';
import { createSession, ort } from '../src/runtime/session';
import { benchSpec, configNamed } from './configs';
import { fmt, mdTable, table } from './stats';

export interface GenerationRow {
  config: string;
  params: number;
  prompt_tokens: number;
  tokens: number;
  context: number;
  kv_tokens_per_s: number;
  kv_cfg_tokens_per_s: number;
  forward_tokens_per_s: number;
  speedup: number;
  prefill_ms: number;
  forward_ms_per_token: number;
}

const PROMPT = 16;

function spaceOf(m: ModelDims, text: number): TokenSpace {
  return { textStart: 5, textEnd: text, imageStart: text, imageCount: m.vocab - text, codesPerImage: 49, bos: 0, eos: 1, pad: 2, beginImage: 3, endImage: 4 };
}

export async function benchGenerationConfig(name: string, o: { tokens?: number; baselineTokens?: number; threads?: number; log?: (l: string) => void } = {}): Promise<GenerationRow> {
  const cfg = configNamed(name);
  const tokens = o.tokens ?? 256;
  const log = o.log ?? (() => {});
  const spec = benchSpec(cfg, 1);
  const context = PROMPT + tokens;
  spec.model.max_seq_len = Math.max(spec.model.max_seq_len, context);
  const m = modelDims(spec.model);
  const weights = initWeights(m, 0);
  const space = spaceOf(m, cfg.text);
  const overrides = o.threads ? { intraOpNumThreads: o.threads } : undefined;
  const graphs: DecodeGraphs = {
    cache: cacheNames(m),
    output: (n, u) => (u === 'in-graph' ? nextName(n) : rowName(n)),
    prefill: (batch, promptLen, cacheLen) => toOnnx(buildPrefill(m, { batch, promptLen, cacheLen }).graph, { target: 'cpu' }),
    decodeStep: (batch, cacheLen, cache) => toOnnx(buildDecodeStep(m, { batch, cacheLen, cache }).graph, { target: 'cpu' }),
  };
  const rng = Rng.from('bench-generate');
  const prompt = Int32Array.from({ length: PROMPT }, (_, i) => (i === 0 ? 0 : space.textStart + rng.int(space.textEnd - space.textStart)));
  const dec = await Decoder.create({ device: 'cpu', graphs, weights, maxContext: m.maxSeqLen, sessionOverrides: overrides });
  // Random weights sample end-of-sequence now and then (p ~ 1/vocab per token): take the first seed
  // whose generation runs the whole length, so every timed run generates `tokens` tokens.
  const timed = async (rows: Int32Array[], cfgScale: number) => {
    for (let seed = 0; seed < 20; seed++) {
      const s = { temperature: 1, topP: 1, mode: 'text' as const, maxTokens: tokens, seed, cfg: cfgScale };
      await dec.generate(rows, space, s); // sessions
      const r = await dec.generate(rows, space, s);
      if (r.tokens.length === tokens) return r;
    }
    throw new Error('no seed generated the whole length');
  };
  log(`[${name}] KV cache, 1 row ...`);
  const kv = await timed([prompt], 1);
  log(`[${name}] KV cache, 2 rows (CFG layout) ...`);
  const kvCfg = await timed([prompt, prompt.subarray(0, 1)], 3);
  await dec.release();

  log(`[${name}] full forward per token ...`);
  const g = new Graph('forward');
  g.output('logits', buildChameleon(g, m, { batch: 1, seq: context, loss: false }).logits);
  const session = await createSession(toOnnx(g, { target: 'cpu' }), 'cpu', { overrides });
  const { Tensor } = ort();
  const shapes = new Map(paramTable(m).map((p) => [p.name, p.shape]));
  const feeds: Record<string, InstanceType<typeof Tensor>> = {};
  for (const [n, w] of weights) feeds[n] = new Tensor('float32', w, shapes.get(n)!);
  const ids = new Int32Array(context).fill(space.pad);
  ids.set(prompt);
  const opts = resolveSampling({ temperature: 1, topP: 1, mode: 'text' });
  const srng = Rng.from('chamlab-generate', 0);
  const n = Math.min(o.baselineTokens ?? 32, tokens);
  let len = PROMPT;
  const step = async () => {
    feeds.input_ids = new Tensor('int32', ids, [1, context]);
    const logits = (await session.run(feeds)).logits.data as Float32Array;
    const tok = sampleToken(allowedNext(TEXT_STATE, space, 'text', context - len), logits.subarray((len - 1) * m.vocab, len * m.vocab), null, opts, TEXT_STATE, srng);
    ids[len++] = tok;
  };
  await step(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await step();
  const perToken = (performance.now() - t0) / n;
  await session.release();
  const kvTps = kv.tokensPerSec;
  const fwdTps = 1000 / perToken;
  return {
    config: name,
    params: countParams(m).total,
    prompt_tokens: PROMPT,
    tokens,
    context,
    kv_tokens_per_s: kvTps,
    kv_cfg_tokens_per_s: kvCfg.tokensPerSec,
    forward_tokens_per_s: fwdTps,
    speedup: kvTps / fwdTps,
    prefill_ms: kv.prefillMs,
    forward_ms_per_token: perToken,
  };
}

export async function benchGeneration(configs: string[], o: Parameters<typeof benchGenerationConfig>[1] = {}): Promise<GenerationRow[]> {
  const rows: GenerationRow[] = [];
  for (const c of configs) rows.push(await benchGenerationConfig(c, o));
  return rows;
}

export function formatGeneration(rows: GenerationRow[], markdown = false): string {
  const t = markdown ? mdTable : table;
  const head = `generation: ${rows[0]?.tokens ?? 256} tokens after a ${PROMPT}-token prompt, sampled (temperature 1), onnxruntime CPU${markdown ? '\n' : ''}`;
  return [
    head,
    t(
      ['config', 'params', 'KV cache tok/s', 'KV cache, CFG (2 rows) tok/s', 'full forward tok/s', 'speedup', 'prefill ms', 'forward ms/token'],
      rows.map((r) => [
        r.config,
        `${(r.params / 1e6).toFixed(1)}M`,
        fmt(r.kv_tokens_per_s),
        fmt(r.kv_cfg_tokens_per_s),
        fmt(r.forward_tokens_per_s, 1),
        `${r.speedup.toFixed(1)}x`,
        fmt(r.prefill_ms, 1),
        fmt(r.forward_ms_per_token, 1),
      ]),
    ),
  ].join('\n');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const one = (f: string) => {
    const i = argv.indexOf(`--${f}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (f: string) => (one(f) === undefined ? undefined : Number(one(f)));
  const rows = await benchGeneration((one('config') ?? 'tiny,small').split(','), {
    tokens: num('tokens'),
    baselineTokens: num('baseline-tokens'),
    threads: num('threads') ?? os.availableParallelism(),
    log: (l) => process.stderr.write(l + '\n'),
  });
  if (argv.includes('--json')) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
  else process.stdout.write(formatGeneration(rows, argv.includes('--markdown')) + '\n');
}

if (require.main === module)
  main().catch((e) => {
    process.stderr.write(`${e instanceof Error ? e.stack : e}\n`);
    process.exitCode = 1;
  });
