/**
 * The sampling loop: prefill the prompt rows once, then one decode step per generated token, the
 * key/value cache carried from step to step where the device keeps it best:
 * - cpu: the cache lives in this process's arrays; the decode step (cache 'caller') reads them in
 *   place and returns only the new rows, written here at each row's position;
 * - webgpu: the cache stays on the GPU (cache 'in-graph': the step's `next.` outputs are placed in GPU
 *   buffers and fed back), and so do the parameters (uploaded once); only logits come back.
 *
 * Rows: one, or two for classifier-free guidance (the conditional prompt and the unconditional one;
 * both get every sampled token). The loop knows nothing about specs or tokenizers: graph bytes come
 * from the caller (src/model/decode.ts builds them), the vocabulary as a TokenSpace.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { UserError } from '../../dsl/errors';
import { Rng } from '../random';
import type { Backend } from './device';
import { identityModel } from './onnx-util';
import { advance, allowedNext, resolveSampling, sampleToken, TEXT_STATE, type ConstraintState, type SamplingOptions, type TokenSpace } from './sampling';
import { createSession, ort } from './session';

export type CacheUpdate = 'in-graph' | 'caller';

/** The decoding graphs of one model, built on demand for the shapes a generation needs. */
export interface DecodeGraphs {
  /** Names of the cache tensors: the prefill's outputs besides `logits`, the decode step's inputs. */
  cache: readonly string[];
  /** The decode-step output for cache tensor `name`: its next value ('in-graph') or its new row ('caller'). */
  output(name: string, update: CacheUpdate): string;
  /** Prefill bytes: input_ids [batch, promptLen], last [batch] -> logits [batch, V] and the cache. */
  prefill(batch: number, promptLen: number, cacheLen: number): Uint8Array;
  /** Decode-step bytes: input_ids [batch, 1], pos [batch], the cache -> logits and the cache update. */
  decodeStep(batch: number, cacheLen: number, update: CacheUpdate): Uint8Array;
}

export interface DecoderOptions {
  device: Backend;
  graphs: DecodeGraphs;
  /** Parameters by graph input name (HF names). */
  weights: ReadonlyMap<string, Float32Array>;
  /** The model's context (max_seq_len): prompt plus generated tokens never exceed it. */
  maxContext: number;
  sessionOverrides?: InferenceSession.SessionOptions;
}

export type StopReason = 'eos' | 'image' | 'max_tokens' | 'context';

export interface DecodeResult {
  /** Generated tokens (forced ones included: begin-image in mode 'image', end-image after each image). */
  tokens: number[];
  stop: StopReason;
  /** Prompt tokens of each row (after any truncation: none, prompts must fit). */
  promptTokens: number[];
  /** Wall time of the prefill run (sessions are created before and not counted). */
  prefillMs: number;
  /** Wall time of the decode steps (graph runs, sampling and cache writes). */
  decodeMs: number;
  /** Generated tokens per second over prefill and decode. */
  tokensPerSec: number;
}

/** Rounds up to a multiple of `k` (session shapes are bucketed so that similar prompts share sessions). */
const roundUp = (n: number, k: number) => Math.ceil(n / k) * k;
const PROMPT_BUCKET = 16;
const CACHE_BUCKET = 32;

export class Decoder {
  private readonly sessions = new Map<string, Promise<InferenceSession>>();
  private feeds?: Promise<Record<string, Tensor>>;
  private upload?: InferenceSession;

  private constructor(readonly opts: DecoderOptions) {}

  static async create(opts: DecoderOptions): Promise<Decoder> {
    return new Decoder(opts);
  }

  /** Generates after `prompts` (1 row, or 2: conditional then unconditional) under the sampling options. */
  async generate(prompts: readonly Int32Array[], space: TokenSpace, sampling: SamplingOptions = {}, onToken?: (token: number, index: number) => void): Promise<DecodeResult> {
    const o = resolveSampling(sampling);
    const B = prompts.length;
    if (B !== 1 && B !== 2) throw new Error(`generate: 1 or 2 prompt rows, got ${B}`);
    const lens = prompts.map((p) => p.length);
    const longest = Math.max(...lens);
    if (Math.min(...lens) < 1) throw new UserError('the prompt is empty', 'prompt');
    if (longest >= this.opts.maxContext)
      throw new UserError(`the prompt has ${longest} tokens but the model's context is ${this.opts.maxContext} (model.max_seq_len): shorten it`, 'prompt');
    const room = this.opts.maxContext - longest;
    const budget = Math.min(o.maxTokens, room);
    let state: ConstraintState = TEXT_STATE;
    for (const t of prompts[0]) state = advance(state, t, space);
    if (o.mode === 'image') {
      const need = state.inImage ? state.codesLeft + 1 : space.codesPerImage + 2;
      if (budget < need)
        throw new UserError(
          `one image needs ${need} more tokens but only ${budget} may be generated (${o.maxTokens < room ? 'max_tokens' : `the model's context ${this.opts.maxContext}`})`,
          'max_tokens',
        );
    }
    const cacheLen = Math.min(this.opts.maxContext, roundUp(longest + budget, CACHE_BUCKET));
    const promptLen = Math.min(cacheLen, roundUp(longest, PROMPT_BUCKET));
    const update: CacheUpdate = this.opts.device === 'webgpu' ? 'in-graph' : 'caller';

    // ---- prefill
    const { Tensor: T } = ort();
    const ids = new Int32Array(B * promptLen).fill(space.pad);
    prompts.forEach((p, b) => ids.set(p, b * promptLen));
    const prefill = await this.session(`prefill:${B}:${promptLen}:${cacheLen}`, () => this.opts.graphs.prefill(B, promptLen, cacheLen), this.opts.graphs.cache);
    const step = await this.session(
      `step:${B}:${cacheLen}:${update}`,
      () => this.opts.graphs.decodeStep(B, cacheLen, update),
      update === 'in-graph' ? this.opts.graphs.cache.map((n) => this.opts.graphs.output(n, update)) : [],
    );
    const params = await this.paramFeeds(prefill);
    const t0 = performance.now(); // sessions are made (once per shape bucket): time the generation itself
    const out = await prefill.run({
      ...params,
      input_ids: new T('int32', ids, [B, promptLen]),
      last: new T('int32', Int32Array.from(lens, (l) => l - 1), [B]),
    });
    let logits = out.logits.data as Float32Array;
    const cache = new Map<string, Tensor>(this.opts.graphs.cache.map((n) => [n, out[n]]));
    const prefillMs = performance.now() - t0;

    // ---- decode
    const rng = Rng.from('chamlab-generate', o.seed);
    const V = logits.length / B;
    const tokens: number[] = [];
    let stop: StopReason = budget < o.maxTokens ? 'context' : 'max_tokens';
    for (let t = 0; t < budget; t++) {
      // Mode 'image' opens its one image right away (and stops after it: see below).
      const allowed = o.mode === 'image' && !state.inImage ? { forced: space.beginImage } : allowedNext(state, space, o.mode, budget - t);
      const cond = logits.subarray(0, V);
      const uncond = B === 2 ? logits.subarray(V, 2 * V) : null;
      const token = sampleToken(allowed, cond, uncond, o, state, rng);
      tokens.push(token);
      onToken?.(token, t);
      state = advance(state, token, space);
      if (token === space.eos) {
        stop = 'eos';
        break;
      }
      if (o.mode === 'image' && token === space.endImage) {
        stop = 'image';
        break;
      }
      if (t === budget - 1) break;
      const pos = Int32Array.from(lens, (l) => l + t);
      const r = await step.run({
        ...params,
        ...Object.fromEntries(cache),
        input_ids: new T('int32', new Int32Array(B).fill(token), [B, 1]),
        pos: new T('int32', pos, [B]),
      });
      logits = r.logits.data as Float32Array;
      for (const n of this.opts.graphs.cache) {
        const o2 = r[this.opts.graphs.output(n, update)];
        if (update === 'in-graph') {
          cache.get(n)!.dispose();
          cache.set(n, o2);
        } else writeRows(cache.get(n)!, o2, pos);
      }
    }
    for (const c of cache.values()) c.dispose();
    const total = performance.now() - t0;
    return { tokens, stop, promptTokens: lens, prefillMs, decodeMs: total - prefillMs, tokensPerSec: (tokens.length * 1000) / total };
  }

  /** A session per shape, created once; `resident` outputs stay on the GPU (webgpu). */
  private session(key: string, bytes: () => Uint8Array, resident: readonly string[]): Promise<InferenceSession> {
    let s = this.sessions.get(key);
    if (!s) {
      s = createSession(bytes(), this.opts.device, { resident, overrides: this.opts.sessionOverrides });
      this.sessions.set(key, s);
    }
    return s;
  }

  /**
   * Parameter feeds shaped as the graphs declare them, made once. On webgpu they are uploaded to GPU
   * buffers (an identity graph whose outputs stay on the GPU), so no step copies weights to the device.
   */
  private paramFeeds(session: InferenceSession): Promise<Record<string, Tensor>> {
    this.feeds ??= (async () => {
      const { Tensor: T } = ort();
      const shaped: Record<string, Tensor> = {};
      for (const meta of session.inputMetadata) {
        const host = this.opts.weights.get(meta.name);
        if (!host) continue;
        if (!meta.isTensor) throw new Error(`input ${meta.name} is not a tensor`);
        shaped[meta.name] = new T('float32', host, meta.shape as number[]);
      }
      const missing = session.inputNames.filter((n) => !shaped[n] && !['input_ids', 'last'].includes(n));
      if (missing.length) throw new Error(`the weights lack ${missing.length} graph inputs: ${missing.slice(0, 5).join(', ')}`);
      if (this.opts.device !== 'webgpu') return shaped;
      const specs = Object.entries(shaped).map(([name, t]) => ({ name, dtype: 'float32', shape: t.dims }));
      // The upload session stays open while its outputs are in use: GPU buffers belong to the session
      // that produced them (releasing it first frees them under the decoder).
      this.upload = await createSession(identityModel(specs, 'gpu.'), 'webgpu', { resident: specs.map((s) => 'gpu.' + s.name) });
      const r = await this.upload.run(shaped);
      return Object.fromEntries(specs.map((s) => [s.name, r['gpu.' + s.name]]));
    })();
    return this.feeds;
  }

  async release(): Promise<void> {
    if (this.feeds) for (const t of Object.values(await this.feeds)) t.dispose();
    this.feeds = undefined;
    await this.upload?.release();
    this.upload = undefined;
    for (const s of this.sessions.values()) await (await s).release();
    this.sessions.clear();
  }
}

/**
 * Cache 'caller': writes the step's new rows [B, K, 1, hd] into the cache [B, K, L, hd] at each row's
 * position (in place: the cache tensor wraps this process's array, read in place by the next run).
 */
function writeRows(cache: Tensor, rows: Tensor, pos: Int32Array): void {
  const [B, K, L, hd] = cache.dims as number[];
  const c = cache.data as Float32Array;
  const r = rows.data as Float32Array;
  for (let b = 0; b < B; b++) for (let h = 0; h < K; h++) c.set(r.subarray((b * K + h) * hd, (b * K + h + 1) * hd), ((b * K + h) * L + pos[b]) * hd);
}
