/**
 * Documents -> token ids in the shared vocabulary. Every document is `bos ... eos`; an image is
 * `begin_image, codes (offset into the image range), end_image`, as in Chameleon. An image-text pair
 * is laid out image-first (captioning) or caption-first (generation) as the caller decides.
 */
import type { BpeTokenizer } from './bpe';
import type { RawDoc } from './sources';
import type { ImageRef } from './sources';
import { BEGIN_IMAGE, BOS, END_IMAGE, EOS, type VocabLayout } from './vocab';
import type { VqTokenizer } from './vq';

export interface EncodedDoc {
  tokens: Int32Array;
  images: number;
}

export class DocEncoder {
  /** Image codes by image key: MNIST has ~10k images, each encoded once per process. */
  private readonly codes = new Map<string, Int32Array>();

  constructor(
    readonly bpe: BpeTokenizer,
    /** Null when no source has images (a text-only experiment trains no codebook). */
    readonly vq: VqTokenizer | null,
    readonly layout: VocabLayout,
    /** Codes per image (the grid), known from the spec even without a codebook. */
    readonly codesPerImage: number,
  ) {}

  /** Tokens per image in a sequence: the code grid plus begin/end markers. */
  get tokensPerImage(): number {
    return this.codesPerImage + 2;
  }

  encode(doc: RawDoc, imageFirst = false): EncodedDoc {
    const out: number[] = [BOS];
    let images = 0;
    const text = (s: string) => {
      for (const id of this.bpe.encode(s)) out.push(id);
    };
    const image = (ref: ImageRef) => {
      images++;
      out.push(BEGIN_IMAGE);
      const codes = this.imageCodes(ref);
      for (let i = 0; i < codes.length; i++) out.push(this.layout.imageOffset + codes[i]);
      out.push(END_IMAGE);
    };
    switch (doc.kind) {
      case 'text':
        text(doc.text);
        break;
      case 'pair':
        if (imageFirst) {
          image(doc.image);
          text(doc.caption);
        } else {
          text(doc.caption);
          image(doc.image);
        }
        break;
      case 'interleaved':
        for (const p of doc.parts) 'text' in p ? text(p.text) : image(p.image);
        break;
    }
    out.push(EOS);
    return { tokens: Int32Array.from(out), images };
  }

  imageCodes(ref: ImageRef): Int32Array {
    let c = this.codes.get(ref.key);
    if (!c) {
      if (!this.vq) throw new Error(`image ${ref.key} but no image tokenizer (no source declared images)`);
      c = this.vq.encode(ref.load());
      this.codes.set(ref.key, c);
    }
    return c;
  }
}
