/**
 * Choosing the next token: Chameleon's modality constraints, classifier-free guidance, temperature,
 * top-k and top-p, all on the host from one row of logits.
 *
 * Constraints (paper, section 2.1 and the reference inference code):
 * - text mode: only text tokens, end-of-sequence and begin-image may be sampled (begin-image only in
 *   mode 'mixed', and only when a whole image still fits in the token budget);
 * - after begin-image: image mode, exactly `codesPerImage` image codes, nothing else;
 * - after the last code end-image is forced, and text mode resumes (mode 'image' stops there).
 * Beginning-of-sequence, padding and end-image are never sampled.
 *
 * Classifier-free guidance applies to image codes only: logits = u + cfg * (c - u), c from the
 * conditional stream, u from the unconditional one (cfg 1 is the conditional stream alone).
 *
 * Every random draw comes from src/random.ts's Rng: the same seed gives the same tokens.
 */
import { UserError } from '../../dsl/errors';
import { LIMITS } from '../../dsl/schema';
import type { Rng } from '../random';

/** Where text, specials and image codes live in the vocabulary (the data layer's VocabLayout, as numbers). */
export interface TokenSpace {
  /** Ids of real text tokens: [textStart, textEnd). */
  textStart: number;
  textEnd: number;
  /** Image code ids: [imageStart, imageStart + imageCount). */
  imageStart: number;
  imageCount: number;
  /** Codes per image ((resolution / patch)^2). */
  codesPerImage: number;
  bos: number;
  eos: number;
  pad: number;
  beginImage: number;
  endImage: number;
}

export type GenerationMode = 'text' | 'image' | 'mixed';

export interface SamplingOptions {
  /** Softmax temperature; 0 picks the most likely token (greedy). Default 0.7 (the paper's). */
  temperature?: number;
  /** Nucleus sampling: the smallest set of tokens whose probabilities sum to at least top_p. 1 = off. Default 0.9. */
  topP?: number;
  /** Only the k most likely tokens. 0 = off (default). */
  topK?: number;
  /** Seed of the sampler's generator. Default 0. */
  seed?: number;
  /** Tokens to generate at most (forced tokens included). Default 256. */
  maxTokens?: number;
  /** 'text': no images; 'image': the prompt continues with begin-image, one image, stop; 'mixed': the model decides. Default 'mixed'. */
  mode?: GenerationMode;
  /** Classifier-free guidance scale for image codes; 1 = off (one stream). Default 1. */
  cfg?: number;
}

export type ResolvedSampling = Required<SamplingOptions>;

/**
 * Defaults filled in and every value checked: a bad value is a UserError naming the option, as
 * `label` spells it (the CLI passes its flag names).
 */
export function resolveSampling(o: SamplingOptions = {}, label: (option: keyof SamplingOptions) => string = (k) => k): ResolvedSampling {
  const r: ResolvedSampling = {
    temperature: o.temperature ?? 0.7,
    topP: o.topP ?? 0.9,
    topK: o.topK ?? 0,
    seed: o.seed ?? 0,
    maxTokens: o.maxTokens ?? 256,
    mode: o.mode ?? 'mixed',
    cfg: o.cfg ?? 1,
  };
  const bad = (name: keyof SamplingOptions, v: unknown, want: string) => new UserError(`must be ${want}, got ${v}`, label(name));
  if (!(Number.isFinite(r.temperature) && r.temperature >= 0)) throw bad('temperature', r.temperature, 'a number >= 0 (0 = greedy)');
  if (!(Number.isFinite(r.topP) && r.topP > 0 && r.topP <= 1)) throw bad('topP', r.topP, 'in (0, 1]');
  if (!(Number.isInteger(r.topK) && r.topK >= 0)) throw bad('topK', r.topK, 'an integer >= 0 (0 = off)');
  // The seed range every generator takes (dsl's LIMITS.seed): a larger seed would repeat a smaller one.
  if (!(Number.isInteger(r.seed) && r.seed >= 0 && r.seed <= LIMITS.seed)) throw bad('seed', r.seed, `an integer from 0 to ${LIMITS.seed}`);
  if (!(Number.isInteger(r.maxTokens) && r.maxTokens >= 1)) throw bad('maxTokens', r.maxTokens, 'an integer >= 1');
  if (!['text', 'image', 'mixed'].includes(r.mode)) throw bad('mode', r.mode, 'text, image or mixed');
  if (!(Number.isFinite(r.cfg) && r.cfg >= 0)) throw bad('cfg', r.cfg, 'a number >= 0 (1 = no guidance)');
  return r;
}

/** Where the sampler is in the sequence: text, or inside an image with `codesLeft` codes to go. */
export interface ConstraintState {
  inImage: boolean;
  codesLeft: number;
}

export const TEXT_STATE: ConstraintState = { inImage: false, codesLeft: 0 };

/** The state after `token` (tokens of a prompt too: a prompt ending in begin-image starts an image). */
export function advance(s: ConstraintState, token: number, space: TokenSpace): ConstraintState {
  if (token === space.beginImage) return { inImage: true, codesLeft: space.codesPerImage };
  if (s.inImage && token >= space.imageStart && token < space.imageStart + space.imageCount) return { inImage: true, codesLeft: s.codesLeft - 1 };
  if (token === space.endImage) return TEXT_STATE;
  return s;
}

/**
 * The tokens allowed next, as a forced token or id ranges [lo, hi) plus single ids. `budget` is how
 * many tokens may still be generated (after this one included): begin-image needs room for the
 * image's codes and its end-image.
 */
export function allowedNext(s: ConstraintState, space: TokenSpace, mode: GenerationMode, budget: number): { forced: number } | { ranges: [number, number][]; ids: number[] } {
  if (s.inImage) {
    if (s.codesLeft <= 0) return { forced: space.endImage };
    return { ranges: [[space.imageStart, space.imageStart + space.imageCount]], ids: [] };
  }
  const ids = [space.eos];
  if (mode === 'mixed' && budget >= space.codesPerImage + 2) ids.push(space.beginImage);
  return { ranges: [[space.textStart, space.textEnd]], ids };
}

/**
 * Picks the next token from `cond` (and `uncond`, the unconditional stream's logits, used for image
 * codes when cfg != 1). Candidates are ordered by score then id, so ties and the draw are
 * deterministic for a given generator state.
 */
export function sampleToken(
  allowed: ReturnType<typeof allowedNext>,
  cond: Float32Array,
  uncond: Float32Array | null,
  opts: ResolvedSampling,
  s: ConstraintState,
  rng: Rng,
): number {
  if ('forced' in allowed) return allowed.forced;
  const guided = uncond !== null && s.inImage && opts.cfg !== 1;
  const ids: number[] = [];
  for (const [lo, hi] of allowed.ranges) for (let i = lo; i < hi; i++) ids.push(i);
  ids.push(...allowed.ids);
  const score = new Float64Array(ids.length);
  for (let j = 0; j < ids.length; j++) {
    const c = cond[ids[j]];
    const v = guided ? uncond![ids[j]] + opts.cfg * (c - uncond![ids[j]]) : c;
    score[j] = Number.isNaN(v) ? -Infinity : v; // a diverged model's NaN logits are never chosen over numbers
  }
  const order = Array.from(ids.keys()).sort((a, b) => score[b] - score[a] || ids[a] - ids[b]);
  if (opts.temperature === 0 || score[order[0]] === -Infinity) return ids[order[0]];
  // Softmax over the candidates in score order, then top-k and top-p cut the tail.
  const keep = opts.topK > 0 ? Math.min(opts.topK, order.length) : order.length;
  const top = score[order[0]];
  const p = new Float64Array(keep);
  let total = 0;
  for (let r = 0; r < keep; r++) total += p[r] = Math.exp((score[order[r]] - top) / opts.temperature);
  let n = keep;
  if (opts.topP < 1) {
    let acc = 0;
    for (let r = 0; r < keep; r++) {
      acc += p[r] / total;
      if (acc >= opts.topP) {
        n = r + 1;
        break;
      }
    }
  }
  let mass = 0;
  for (let r = 0; r < n; r++) mass += p[r];
  let u = rng.next() * mass;
  for (let r = 0; r < n; r++) {
    u -= p[r];
    if (u < 0) return ids[order[r]];
  }
  return ids[order[n - 1]];
}
