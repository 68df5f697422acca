/** `chamlab generate RUN_DIR|CHECKPOINT_DIR --prompt TEXT [--image PNG ...] [options]`: a thin layer over src/generate. */
import * as path from 'node:path';
import type { Command } from './command';
import { parseCommandArgs, printJson } from './common';
import { UserError } from '../../dsl/errors';
import type { SamplingOptions } from '../runtime/sampling';

const USAGE = 'usage: chamlab generate RUN_DIR|CHECKPOINT_DIR --prompt TEXT [--image PNG ...] [--mode text|image|mixed] [--out DIR] [options]';

const HELP = `${USAGE}

Samples from a trained run's model (its latest checkpoint, or the checkpoint folder given) with
Chameleon's modality constraints: text mode samples only text tokens, end-of-sequence and
begin-image; after begin-image exactly one image's worth of codes, then end-image, then text again.

The prompt is text with <image> where each --image goes, in order ("<image>" alone asks for a
caption; "a handwritten seven (7)" with --mode image asks for a drawing). PNGs of any size are
resized (short side) and centre-cropped like the run's image tokenizer's training images.

options:
  --prompt TEXT          the prompt (required; may be "" with --mode image)
  --image PNG            an image for the next <image> placeholder (repeat for several)
  --mode M               text (no images), image (one image, then stop), mixed (the model decides; default)
  --temperature T        softmax temperature, 0 = greedy (default 0.7)
  --top-p P              nucleus sampling, 1 = off (default 0.9)
  --top-k K              only the K most likely tokens, 0 = off (default 0)
  --seed N               sampler seed: the same seed gives the same output (default 0)
  --max-tokens N         tokens to generate at most (default 256; never past the model's context)
  --cfg S                classifier-free guidance scale for image tokens, 1 = off (default 1)
  --checkpoint C         latest (default), best, or a checkpoint folder name (step-00000300)
  --device D             cpu (default), gpu (WebGPU) or auto
  --threads N            onnxruntime threads on the CPU (default: one per core)
  --out DIR              where text.txt, image-<k>.png and tokens.json go (default: generated)
  --json                 print the result as JSON instead of text

example:
  chamlab generate runs/digits/<hash12> --prompt "a handwritten seven (7)" --mode image --cfg 3
  chamlab generate runs/digits/<hash12> --prompt "<image>" --image seven.png --mode text`;

/** Flag names of the sampling options, for error messages. */
const FLAGS: Record<keyof SamplingOptions, string> = {
  temperature: '--temperature',
  topP: '--top-p',
  topK: '--top-k',
  seed: '--seed',
  maxTokens: '--max-tokens',
  mode: '--mode',
  cfg: '--cfg',
};

function number(values: Record<string, any>, flag: string): number | undefined {
  const v = values[flag] as string | undefined;
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new UserError(`must be a number, got '${v}'`, `--${flag}`);
  return n;
}

export const command: Command = {
  summary: 'sample text and images from a trained run (KV-cache decoding, modality constraints, CFG)',
  help: HELP,
  async run(args) {
    const { values, positionals } = parseCommandArgs('generate', args, {
      prompt: { type: 'string' },
      image: { type: 'string', multiple: true },
      mode: { type: 'string' },
      temperature: { type: 'string' },
      'top-p': { type: 'string' },
      'top-k': { type: 'string' },
      seed: { type: 'string' },
      'max-tokens': { type: 'string' },
      cfg: { type: 'string' },
      checkpoint: { type: 'string' },
      device: { type: 'string' },
      threads: { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (positionals.length !== 1 || values.prompt === undefined) throw new UserError(USAGE, 'chamlab generate');
    if (values.set?.length) throw new UserError('--set does not apply: the model is the run\'s, as trained', 'chamlab generate');
    const device = (values.device as string | undefined) ?? 'cpu';
    if (!['cpu', 'gpu', 'auto'].includes(device)) throw new UserError(`must be cpu, gpu or auto, got '${device}'`, '--device');
    const threads = number(values, 'threads');
    if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) throw new UserError(`must be a positive integer, got ${threads}`, '--threads');
    const sampling: SamplingOptions = {
      mode: values.mode as SamplingOptions['mode'],
      temperature: number(values, 'temperature'),
      topP: number(values, 'top-p'),
      topK: number(values, 'top-k'),
      seed: number(values, 'seed'),
      maxTokens: number(values, 'max-tokens'),
      cfg: number(values, 'cfg'),
    };
    for (const k of Object.keys(sampling) as (keyof SamplingOptions)[]) if (sampling[k] === undefined) delete sampling[k];
    const { resolveSampling } = await import('../runtime/sampling');
    resolveSampling(sampling, (k) => FLAGS[k]); // checks every value before any model is loaded

    const { generate } = await import('../generate');
    const out = (values.out as string | undefined) ?? 'generated';
    const g = await generate(positionals[0], {
      ...sampling,
      prompt: values.prompt as string,
      images: (values.image as string[] | undefined) ?? [],
      checkpoint: values.checkpoint as string | undefined,
      device: device as 'cpu' | 'gpu' | 'auto',
      threads,
      out,
    });
    const files = g.files!;
    if (values.json) {
      printJson({ text: g.text, stop: g.stop, images: files.images, tokens: files.tokens, text_file: files.text, tokens_per_s: g.timing.tokensPerSec, model: g.model });
      return 0;
    }
    process.stdout.write(g.text + '\n');
    const rel = (f: string) => path.relative(process.cwd(), f) || f;
    files.images.forEach((f, k) => process.stdout.write(`image ${k + 1}: ${rel(f)}\n`));
    process.stderr.write(
      `${g.tokens.length} tokens (stop: ${g.stop}) in ${((g.timing.prefillMs + g.timing.decodeMs) / 1000).toFixed(2)} s, ` +
        `${g.timing.tokensPerSec.toFixed(0)} tokens/s; text in ${rel(files.text)}, tokens in ${rel(files.tokens)}\n`,
    );
    return 0;
  },
};
