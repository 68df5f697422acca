/**
 * Documents before tokenization. A source is two fixed lists of documents (training and held-out);
 * the pipeline decides the order in which it reads them. Images are referenced, not loaded: a key that
 * names the image uniquely (the image tokenizer caches codes by it) and a loader that returns it
 * preprocessed at the tokenizer's resolution.
 */
import type { Image } from '../image';
import type { SourceSpec } from '../../../dsl/schema';

export interface ImageRef {
  /** Unique across all sources, e.g. "mnist:7:123" or "file:data/pngs/cat.png". */
  key: string;
  load(): Image;
}

export type Part = { text: string } | { image: ImageRef };

export type RawDoc =
  | { kind: 'text'; text: string }
  /** The pipeline decides the order (image first with probability image_first). */
  | { kind: 'pair'; image: ImageRef; caption: string }
  | { kind: 'interleaved'; parts: Part[] };

/** A random-access list of documents (generated sources need not materialize them). */
export interface DocList {
  readonly length: number;
  get(i: number): RawDoc;
}

export interface Source {
  name: string;
  spec: SourceSpec;
  train: DocList;
  holdout: DocList;
  /**
   * Every image the split's documents may use, when the source knows it without generating them
   * (generated sources); otherwise the documents are walked.
   */
  images?: (split: 'train' | 'holdout') => ImageRef[];
}

export function arrayDocs(docs: RawDoc[]): DocList {
  return { length: docs.length, get: (i) => docs[i] };
}

/** The text of a document, for training the BPE (captions and interleaved text included). */
export function docText(doc: RawDoc): string[] {
  switch (doc.kind) {
    case 'text':
      return [doc.text];
    case 'pair':
      return [doc.caption];
    case 'interleaved':
      return doc.parts.flatMap((p) => ('text' in p ? [p.text] : []));
  }
}

export function docImages(doc: RawDoc): ImageRef[] {
  switch (doc.kind) {
    case 'text':
      return [];
    case 'pair':
      return [doc.image];
    case 'interleaved':
      return doc.parts.flatMap((p) => ('image' in p ? [p.image] : []));
  }
}
