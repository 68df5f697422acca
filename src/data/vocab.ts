/**
 * The one vocabulary shared by text and images (early fusion, as in Chameleon):
 *   [0, 5)              special tokens by role: bos, eos, pad, begin_image, end_image
 *   [5, text)           byte-level BPE tokens (256 byte tokens first, then merges in merge order)
 *   [text, text+image)  the image codebook, one contiguous range
 * `text` and `image` come from spec.model.vocab; nothing else decides an id.
 */
import type { ModelSpec } from '../../dsl/schema';
import { UserError } from '../../dsl/errors';

export const SPECIAL_ROLES = ['bos', 'eos', 'pad', 'begin_image', 'end_image'] as const;
export type SpecialRole = (typeof SPECIAL_ROLES)[number];

/** Ids 0..4 in role order; fixed so that every tool agrees without reading a file. */
export const BOS = 0;
export const EOS = 1;
export const PAD = 2;
export const BEGIN_IMAGE = 3;
export const END_IMAGE = 4;
export const NUM_SPECIALS = 5;
/** Label value that the loss ignores (PyTorch's and our trainer's convention). */
export const IGNORE_INDEX = -100;

export interface VocabLayout {
  /** Text ids including specials: [0, text). */
  text: number;
  /** Image codebook size: ids [text, text + image). */
  image: number;
  total: number;
  /** Id of image code 0. */
  imageOffset: number;
  specials: Record<SpecialRole, { id: number; content: string }>;
}

export function vocabLayout(model: Pick<ModelSpec, 'vocab'>): VocabLayout {
  const { text, image, specials } = model.vocab;
  if (text < NUM_SPECIALS + 256) {
    throw new UserError(`must be at least ${NUM_SPECIALS + 256} (5 specials + 256 byte tokens), got ${text}`, 'model.vocab.text');
  }
  const contents = SPECIAL_ROLES.map((r) => specials[r]);
  if (new Set(contents).size !== contents.length) {
    throw new UserError(`special tokens must be distinct, got ${contents.join(', ')}`, 'model.vocab.specials');
  }
  const out = {} as VocabLayout['specials'];
  SPECIAL_ROLES.forEach((role, id) => (out[role] = { id, content: specials[role] }));
  return { text, image, total: text + image, imageOffset: text, specials: out };
}
