/**
 * Mixed-modal generation from a trained run: the run's tokenizers and checkpoint, the decoding graphs
 * of its model (src/model/decode.ts) and the runtime's sampling loop (src/runtime/decoder.ts).
 *
 *   const gen = await Generator.open('runs/tiny/3f2a9c1b7d4e');        // latest checkpoint, CPU
 *   const g = await gen.generate({ prompt: 'a handwritten seven (7)', mode: 'image', cfg: 3 });
 *   g.images[0]                                                          // the drawn digit
 *   const c = await gen.generate({ prompt: '<image>', images: ['seven.png'], mode: 'text' });
 *   c.text                                                               // its caption
 *   await gen.release();
 *
 * A Generator keeps its sessions (one per prompt and cache size bucket), so a notebook that asks many
 * questions of one model pays for graph compilation once.
 */
import * as path from 'node:path';
import { UserError } from '../../dsl/errors';
import type { Spec } from '../../dsl/schema';
import { BpeTokenizer } from '../data/bpe';
import { preprocess, type Image, type RawGray } from '../data/image';
import { encodePng, readPng } from '../data/png';
import { BEGIN_IMAGE, BOS, END_IMAGE, EOS, NUM_SPECIALS, PAD, vocabLayout, type VocabLayout } from '../data/vocab';
import { VqTokenizer } from '../data/vq';
import { prepareOutputDir, readInputFile, writeFileAtomic } from '../files';
import { nextName, toOnnx } from '../graph';
import { modelDims, type ModelDims } from '../model/config';
import { buildDecodeStep, buildPrefill, cacheNames, rowName } from '../model/decode';
import { loadWeights } from '../model/weights';
import { Decoder, type DecodeGraphs, type StopReason } from '../runtime/decoder';
import { resolveDevice, type Backend, type DeviceRequest } from '../runtime/device';
import { resolveSampling, type ResolvedSampling, type SamplingOptions, type TokenSpace } from '../runtime/sampling';
import { encodePrompt, IMAGE_PLACEHOLDER, parsePrompt } from './prompt';
import { resolveModelSource } from './source';
import { MAX_TOKENIZER_FILE_BYTES } from '../data/tokenizers';

export interface GeneratorOptions {
  /** cpu (default), gpu (WebGPU, an error without an adapter) or auto. */
  device?: DeviceRequest;
  /** Which checkpoint of a run folder: 'latest' (default), 'best' or a folder name (step-00000300). */
  checkpoint?: string;
  /** onnxruntime intra-op threads on the CPU (default: one per core). */
  threads?: number;
}

/** An image for a prompt: a PNG file, or pixels (gray [0, 1] of any size, or a square Image in [-1, 1]). */
export type PromptImage = string | RawGray | Image;

export interface GenerateRequest extends SamplingOptions {
  /** Text with an `<image>` placeholder where each of `images` goes (see prompt.ts). */
  prompt: string;
  images?: PromptImage[];
}

export interface Generation {
  prompt: string;
  /** The generated text, with `<image>` where the model drew an image (end-of-sequence not shown). */
  text: string;
  /** The generation in order: text pieces and images (index into `images`). */
  parts: ({ text: string } | { image: number })[];
  /** Each generated image, decoded through the run's codebook. */
  images: Image[];
  /** Codebook indices of each generated image (row-major grid). */
  imageCodes: Int32Array[];
  /** Token ids: the prompt, the unconditional prompt (with cfg != 1; else null), the generated tokens. */
  promptTokens: number[];
  uncondTokens: number[] | null;
  tokens: number[];
  stop: StopReason;
  sampling: ResolvedSampling;
  /** What generated it: the checkpoint folder (or the label given to Generator.create). */
  model: string;
  timing: { prefillMs: number; decodeMs: number; tokensPerSec: number };
}

/** What a Generator is made of (Generator.open reads these from a run folder). */
export interface GeneratorParts {
  spec: Spec;
  weights: ReadonlyMap<string, Float32Array>;
  bpe: BpeTokenizer;
  vq: VqTokenizer | null;
  /** Shown in results (a checkpoint path, say). */
  label: string;
}

export class Generator {
  readonly dims: ModelDims;
  readonly layout: VocabLayout;
  readonly space: TokenSpace;

  private constructor(
    readonly parts: GeneratorParts,
    readonly backend: Backend,
    private readonly decoder: Decoder,
  ) {
    this.dims = modelDims(parts.spec.model);
    this.layout = vocabLayout(parts.spec.model);
    const img = parts.spec.tokenizer.image;
    this.space = {
      textStart: NUM_SPECIALS,
      // Ids the BPE never produced (a small corpus fills fewer than vocab.text) are never sampled.
      textEnd: parts.bpe.size,
      imageStart: this.layout.imageOffset,
      imageCount: this.layout.image,
      codesPerImage: (img.resolution / img.patch) ** 2,
      bos: BOS,
      eos: EOS,
      pad: PAD,
      beginImage: BEGIN_IMAGE,
      endImage: END_IMAGE,
    };
  }

  /** A generator for a run folder (its latest checkpoint unless told otherwise) or a checkpoint folder. */
  static async open(dir: string, opts: GeneratorOptions = {}): Promise<Generator> {
    const src = resolveModelSource(dir, opts.checkpoint);
    const m = modelDims(src.spec.model);
    const layout = vocabLayout(src.spec.model);
    const specials = Object.fromEntries(Object.entries(layout.specials).map(([r, s]) => [r, s.content])) as any;
    const bpe = BpeTokenizer.fromJSON(readJson(src.textTokenizer), specials, src.textTokenizer);
    const img = src.spec.tokenizer.image;
    const vq = src.imageTokenizer
      ? VqTokenizer.fromJSON(readJson(src.imageTokenizer), { resolution: img.resolution, patch: img.patch, codebookSize: img.codebook_size }, src.imageTokenizer)
      : null;
    return Generator.create({ spec: src.spec, weights: loadWeights(src.weights, m), bpe, vq, label: src.checkpoint }, opts);
  }

  /** A generator from parts in memory (a notebook's freshly trained weights, tests). */
  static async create(parts: GeneratorParts, opts: GeneratorOptions = {}): Promise<Generator> {
    const m = modelDims(parts.spec.model);
    const backend = await resolveDevice(opts.device ?? 'cpu');
    const target = backend === 'webgpu' ? 'webgpu' : 'cpu';
    const graphs: DecodeGraphs = {
      cache: cacheNames(m),
      output: (name, update) => (update === 'in-graph' ? nextName(name) : rowName(name)),
      prefill: (batch, promptLen, cacheLen) => toOnnx(buildPrefill(m, { batch, promptLen, cacheLen }).graph, { target }),
      decodeStep: (batch, cacheLen, cache) => toOnnx(buildDecodeStep(m, { batch, cacheLen, cache }).graph, { target }),
    };
    const decoder = await Decoder.create({
      device: backend,
      graphs,
      weights: parts.weights,
      maxContext: m.maxSeqLen,
      sessionOverrides: opts.threads ? { intraOpNumThreads: opts.threads } : undefined,
    });
    return new Generator(parts, backend, decoder);
  }

  /** Tokens of a request's prompt: the conditional row, and the unconditional one (text removed). */
  encodeRequest(req: GenerateRequest): { cond: Int32Array; uncond: Int32Array } {
    const images = req.images ?? [];
    const parts = parsePrompt(req.prompt, images.length);
    const codes = images.map((im, i) => this.encodeImage(im, `image ${i + 1}`));
    return encodePrompt(parts, this.parts.bpe, codes, this.layout);
  }

  /** Preprocesses an image like the tokenizer's training images and encodes it with the codebook. */
  encodeImage(im: PromptImage, where: string): Int32Array {
    const vq = this.parts.vq;
    if (!vq) throw new UserError('this run has no image tokenizer (a text-only experiment): prompts cannot hold images', where);
    const res = vq.config.resolution;
    let raw: RawGray;
    if (typeof im === 'string') raw = readPng(im);
    else if ('pixels' in im) {
      if (im.size === res) return vq.encode(im);
      raw = { width: im.size, height: im.size, data: Float32Array.from(im.pixels, (v) => (v + 1) / 2) };
    } else raw = im;
    if (!(raw.width >= 1 && raw.height >= 1)) throw new UserError(`the image is ${raw.width}x${raw.height} pixels`, typeof im === 'string' ? im : where);
    return vq.encode(preprocess(raw, res));
  }

  async generate(req: GenerateRequest): Promise<Generation> {
    const sampling = resolveSampling(req);
    const { cond, uncond } = this.encodeRequest(req);
    const guided = sampling.cfg !== 1;
    if (guided && sampling.mode === 'text')
      throw new UserError('cfg (classifier-free guidance) applies to image tokens; mode text draws none: drop --cfg or use --mode image|mixed', 'cfg');
    const rows = guided ? [cond, uncond] : [cond];
    const r = await this.decoder.generate(rows, this.space, sampling);
    const out = this.decodeTokens(r.tokens);
    return {
      prompt: req.prompt,
      ...out,
      promptTokens: Array.from(cond),
      uncondTokens: guided ? Array.from(uncond) : null,
      tokens: r.tokens,
      stop: r.stop,
      sampling,
      model: this.parts.label,
      timing: { prefillMs: r.prefillMs, decodeMs: r.decodeMs, tokensPerSec: r.tokensPerSec },
    };
  }

  /** Generated tokens -> text pieces and decoded images. */
  decodeTokens(tokens: readonly number[]): Pick<Generation, 'text' | 'parts' | 'images' | 'imageCodes'> {
    const parts: Generation['parts'] = [];
    const images: Image[] = [];
    const imageCodes: Int32Array[] = [];
    let textIds: number[] = [];
    let codes: number[] | null = null;
    const flushText = () => {
      if (textIds.length) parts.push({ text: this.parts.bpe.decode(textIds) });
      textIds = [];
    };
    for (const t of tokens) {
      if (codes) {
        if (t === END_IMAGE) {
          const c = Int32Array.from(codes);
          images.push(this.parts.vq!.decode(c));
          imageCodes.push(c);
          parts.push({ image: images.length - 1 });
          codes = null;
        } else codes.push(t - this.layout.imageOffset);
      } else if (t === BEGIN_IMAGE) {
        flushText();
        codes = [];
      } else if (t >= NUM_SPECIALS && t < this.layout.text) textIds.push(t);
      // eos ends the sequence and is not text
    }
    flushText();
    const text = parts.map((p) => ('text' in p ? p.text : IMAGE_PLACEHOLDER)).join('');
    return { text, parts, images, imageCodes };
  }

  async release(): Promise<void> {
    await this.decoder.release();
  }
}

export interface GenerationFiles {
  text: string;
  images: string[];
  tokens: string;
}

/**
 * Writes a generation into `dir`: text.txt (the generated text), image-<k>.png for each generated
 * image, and tokens.json (prompt, sampling, every token id, the stop reason, the files).
 */
export function writeGeneration(g: Generation, dir: string): GenerationFiles {
  prepareOutputDir(dir, '--out');
  const files: GenerationFiles = { text: path.join(dir, 'text.txt'), images: [], tokens: path.join(dir, 'tokens.json') };
  g.images.forEach((img, k) => {
    const file = path.join(dir, `image-${k + 1}.png`);
    writeFileAtomic(file, encodePng(img));
    files.images.push(file);
  });
  writeFileAtomic(files.text, g.text + '\n');
  const record = {
    format: 'chamlab.generation/1',
    model: g.model,
    prompt: g.prompt,
    sampling: g.sampling,
    stop: g.stop,
    text: g.text,
    images: files.images.map((f) => path.basename(f)),
    image_codes: g.imageCodes.map((c) => Array.from(c)),
    prompt_tokens: g.promptTokens,
    uncond_prompt_tokens: g.uncondTokens,
    generated_tokens: g.tokens,
    timing: { prefill_ms: g.timing.prefillMs, decode_ms: g.timing.decodeMs, tokens_per_s: g.timing.tokensPerSec },
  };
  writeFileAtomic(files.tokens, JSON.stringify(record, null, 1) + '\n');
  return files;
}

/**
 * One generation from a run or checkpoint folder, written to `out` when given: the library function
 * behind `chamlab generate`. For many generations from one model, open a Generator once instead.
 */
export async function generate(dir: string, req: GenerateRequest & GeneratorOptions & { out?: string }): Promise<Generation & { files?: GenerationFiles }> {
  const gen = await Generator.open(dir, req);
  try {
    const g = await gen.generate(req);
    return req.out ? { ...g, files: writeGeneration(g, req.out) } : g;
  } finally {
    await gen.release();
  }
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readInputFile(file, { maxBytes: MAX_TOKENIZER_FILE_BYTES }).toString('utf8'));
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`cannot read: ${(e as Error).message.split('\n')[0]}`, file);
  }
}
