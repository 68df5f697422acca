/**
 * What `chamlab data` shows: per stage, the declared mixture against the one the pipeline realizes
 * (token shares of what sequences contain, over at least 100k tokens), the realized image-first
 * ratio, and decoded sample sequences with image placeholders.
 */
import type { DataPipeline } from './pipeline';
import type { Image } from './image';
import { BEGIN_IMAGE, END_IMAGE, PAD } from './vocab';

export interface StageReport {
  name: string;
  steps: [number, number];
  declared: Record<string, number>;
  realized: Record<string, number>;
  /** Image-first pairs / all image-text pairs drawn; null when the stage has no image-text source. */
  image_first_ratio: number | null;
  declared_image_first: number | null;
  tokens: number;
  documents: Record<string, number>;
  images: number;
  tokens_per_image: number;
  /** Share of all tokens that are image tokens (codes and markers). */
  image_token_share: number;
}

export interface SampleImage {
  index: number;
  /** False when the sequence boundary cut the image. */
  complete: boolean;
  codes: number[];
  image?: Image;
}

export interface Sample {
  stage: string;
  sequence: number;
  text: string;
  images: SampleImage[];
}

export function stageReport(p: DataPipeline, stage: string, minTokens = 100_000, samples = 0): { report: StageReport; samples: Sample[] } {
  const { stream, weights } = p.stageStream(stage);
  const plan = p.schedule.find((s) => s.name === stage)!;
  const S = p.seqLen;
  const inputs = new Int32Array(S);
  const labels = new Int32Array(S);
  const out: Sample[] = [];
  let tokens = 0;
  let imageTokens = 0;
  const lo = p.layout.imageOffset;
  for (let seq = 0; tokens < minTokens || seq < samples; seq++) {
    stream.nextSequence(weights, stage, inputs, labels, 0);
    for (let i = 0; i < S; i++) {
      const t = inputs[i];
      if (t === PAD) continue;
      tokens++;
      if (t >= lo || t === BEGIN_IMAGE || t === END_IMAGE) imageTokens++;
    }
    if (seq < samples) out.push({ stage, sequence: seq, ...renderSequence(p, inputs) });
  }
  const st = stream.getState();
  const names = weights.map(([n]) => n);
  const emitted = names.reduce((a, n) => a + st.emitted[n], 0);
  let pairs = 0;
  let first = 0;
  let declaredFirst: number | null = null;
  let declaredPairs = 0;
  for (const n of names) {
    pairs += st.sources[n].pairs;
    first += st.sources[n].image_first;
    const src = p.sources.find((s) => s.name === n)!;
    if (src.spec.kind === 'image-text') {
      // Declared ratio over pair sources, weighted by their mixture weight (one number when all agree).
      const w = weights.find(([k]) => k === n)![1];
      declaredFirst = (declaredFirst ?? 0) + w * src.spec.image_first;
      declaredPairs += w;
    }
  }
  return {
    report: {
      name: stage,
      steps: [plan.start, plan.end],
      declared: Object.fromEntries(weights),
      realized: Object.fromEntries(names.map((n) => [n, st.emitted[n] / emitted])),
      image_first_ratio: pairs > 0 ? first / pairs : null,
      declared_image_first: declaredFirst === null ? null : declaredFirst / declaredPairs,
      tokens,
      documents: Object.fromEntries(names.map((n) => [n, st.documents[n]])),
      images: names.reduce((a, n) => a + st.images[n], 0),
      tokens_per_image: p.encoder.tokensPerImage,
      image_token_share: imageTokens / tokens,
    },
    samples: out,
  };
}

/**
 * Token ids -> text with `<image k>` placeholders, and the images' codes (decoded when complete).
 * A sequence may start inside an image or stop inside one (packing cuts anywhere): such images are
 * marked partial.
 */
export function renderSequence(p: DataPipeline, ids: ArrayLike<number>): { text: string; images: SampleImage[] } {
  const lo = p.layout.imageOffset;
  const perImage = p.encoder.codesPerImage;
  let text = '';
  let run: number[] = [];
  const images: SampleImage[] = [];
  let img: { codes: number[]; begun: boolean } | null = null;
  const flushText = () => {
    if (run.length) text += p.encoder.bpe.decode(run);
    run = [];
  };
  const closeImage = (ended: boolean) => {
    if (!img) return;
    const complete = img.begun && ended && img.codes.length === perImage;
    const index = images.length;
    images.push({ index, complete, codes: img.codes, image: complete ? p.encoder.vq?.decode(img.codes) : undefined });
    text += complete ? `<image ${index}>` : `<image ${index}: partial, ${img.codes.length} of ${perImage} codes>`;
    img = null;
  };
  for (let i = 0; i < ids.length; i++) {
    const t = ids[i];
    if (t === PAD) continue;
    if (t === BEGIN_IMAGE) {
      flushText();
      closeImage(false);
      img = { codes: [], begun: true };
    } else if (t === END_IMAGE) {
      if (!img) img = { codes: [], begun: false };
      closeImage(true);
    } else if (t >= lo) {
      if (!img) {
        flushText();
        img = { codes: [], begun: false }; // the sequence starts inside an image
      }
      img.codes.push(t - lo);
    } else {
      if (img) closeImage(false);
      run.push(t);
    }
  }
  flushText();
  closeImage(false);
  return { text, images };
}
