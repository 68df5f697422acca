/**
 * Prompts that mix text and images. The syntax: plain text, with `<image>` where an image goes; the
 * i-th `<image>` is the i-th image given (`--image` on the command line, `images` in the library).
 * Each image is preprocessed like the run's image tokenizer's training images (short side resized to
 * the resolution, centre crop) and encoded with the run's codebook. Everything else is text, encoded
 * with the run's BPE exactly as written (spaces included).
 *
 *   "a handwritten seven (7)"              text only (a caption of the image-text source)
 *   "<image>"                               an image alone: the model continues (captions it)
 *   "<image> plus <image> equals"           images between text, as in the interleaved documents
 *
 * The sequence is `bos, parts...` with each image laid out as in training: begin-image, codes,
 * end-image. For classifier-free guidance the unconditional prompt is the same sequence with its text
 * replaced by nothing: bos and the images.
 */
import { UserError } from '../../dsl/errors';
import type { BpeTokenizer } from '../data/bpe';
import { BEGIN_IMAGE, BOS, END_IMAGE, type VocabLayout } from '../data/vocab';

export const IMAGE_PLACEHOLDER = '<image>';

export type PromptPart = { text: string } | { image: number };

/** Splits a prompt at its `<image>` placeholders; their count must equal the number of images. */
export function parsePrompt(prompt: string, images: number): PromptPart[] {
  const pieces = prompt.split(IMAGE_PLACEHOLDER);
  const placeholders = pieces.length - 1;
  if (placeholders !== images)
    throw new UserError(
      `the prompt has ${placeholders} ${IMAGE_PLACEHOLDER} placeholder${placeholders === 1 ? '' : 's'} but ${images} image${images === 1 ? ' was' : 's were'} given: put one ${IMAGE_PLACEHOLDER} where each image goes`,
      'prompt',
    );
  const parts: PromptPart[] = [];
  pieces.forEach((text, i) => {
    if (text) parts.push({ text });
    if (i < placeholders) parts.push({ image: i });
  });
  return parts;
}

export interface EncodedPrompt {
  /** bos, then every part. */
  cond: Int32Array;
  /** bos and the images only (the unconditional stream of classifier-free guidance). */
  uncond: Int32Array;
}

/** Token ids of a parsed prompt; `imageCodes[i]` are image i's codes (codebook indices, not ids). */
export function encodePrompt(parts: PromptPart[], bpe: BpeTokenizer, imageCodes: readonly Int32Array[], layout: VocabLayout): EncodedPrompt {
  const cond: number[] = [BOS];
  const uncond: number[] = [BOS];
  for (const p of parts) {
    if ('text' in p) {
      cond.push(...bpe.encode(p.text));
      continue;
    }
    const ids = [BEGIN_IMAGE, ...Array.from(imageCodes[p.image], (c) => layout.imageOffset + c), END_IMAGE];
    cond.push(...ids);
    uncond.push(...ids);
  }
  return { cond: Int32Array.from(cond), uncond: Int32Array.from(uncond) };
}
