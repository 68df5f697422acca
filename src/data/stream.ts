/**
 * One stream of training (or eval) sequences: picks sources by the mixture, walks each source in a
 * seeded order epoch after epoch, lays out image-text pairs, and packs documents into sequences.
 *
 * Its whole state is plain data (StreamState): the generator's four words, where each source is in
 * its order, the mixture's token counters and the partly consumed document (by reference, not by
 * tokens: documents are pure functions of (source, index, image-first)). Saving that state and
 * restoring it reproduces the continuation exactly.
 *
 * Packing (mode pack): documents back to back (each is bos ... eos), cut every seq_len tokens; each
 * sequence reads seq_len + 1 tokens so that labels are the next tokens, and the next sequence starts
 * at that extra token, so every token is a target exactly once. Mode pad: one document per sequence,
 * padded (a longer document continues in the next sequences rather than being truncated: nothing is
 * dropped); pad positions have label -100.
 */
import type { DocList, RawDoc } from './sources';
import type { DocEncoder } from './documents';
import { chooseSource, imageFirstDraw } from './mixture';
import { Rng, permutation } from './prng';
import { IGNORE_INDEX, PAD } from './vocab';

export interface SourceCursor {
  epoch: number;
  /** Next position in this epoch's order. */
  pos: number;
  /** Image-text pairs drawn so far and how many went image-first. */
  pairs: number;
  image_first: number;
}

export interface StreamState {
  rng: number[];
  sources: Record<string, SourceCursor>;
  /** Tokens drawn per source, per mixture (stage name): the deficit sampler's counters. */
  drawn: Record<string, Record<string, number>>;
  /** Tokens placed into input positions per source (what the model was shown). */
  emitted: Record<string, number>;
  /** Documents drawn per source. */
  documents: Record<string, number>;
  /** Images drawn per source. */
  images: Record<string, number>;
  pending: { source: string; index: number; image_first: boolean; offset: number } | null;
}

export interface StreamSource {
  name: string;
  docs: DocList;
  imageFirst: number;
}

interface Current {
  source: string;
  index: number;
  imageFirst: boolean;
  offset: number;
  tokens: Int32Array;
}

export class TokenStream {
  private rng: Rng;
  private state: StreamState;
  private current: Current | null = null;
  private readonly orders = new Map<string, { epoch: number; perm: Int32Array }>();
  private readonly byName: Map<string, StreamSource>;
  private readonly window: Int32Array;

  constructor(
    sources: StreamSource[],
    private readonly encoder: DocEncoder,
    /** Seed parts for this stream's document orders and draws (train.seed, "train" or "eval"). */
    private readonly seed: Array<string | number>,
    readonly seqLen: number,
    readonly mode: 'pack' | 'pad',
  ) {
    this.byName = new Map(sources.map((s) => [s.name, s]));
    this.window = new Int32Array(seqLen + 1);
    this.rng = Rng.from('stream', ...seed);
    this.state = TokenStream.initialState(sources, this.rng);
  }

  private static initialState(sources: StreamSource[], rng: Rng): StreamState {
    const zero = () => Object.fromEntries(sources.map((s) => [s.name, 0]));
    return {
      rng: rng.state(),
      sources: Object.fromEntries(sources.map((s) => [s.name, { epoch: 0, pos: 0, pairs: 0, image_first: 0 }])),
      drawn: {},
      emitted: zero(),
      documents: zero(),
      images: zero(),
      pending: null,
    };
  }

  /** A deep copy of the state, JSON-serializable. */
  getState(): StreamState {
    this.state.rng = this.rng.state();
    this.state.pending = this.current
      ? { source: this.current.source, index: this.current.index, image_first: this.current.imageFirst, offset: this.current.offset }
      : null;
    return structuredClone(this.state);
  }

  setState(s: StreamState): void {
    for (const name of Object.keys(s.sources)) if (!this.byName.has(name)) throw new Error(`cursor names unknown source ${JSON.stringify(name)}`);
    this.state = structuredClone(s);
    this.rng = new Rng(s.rng);
    const p = s.pending;
    if (p) {
      const src = this.source(p.source);
      const tokens = this.encoder.encode(src.docs.get(p.index), p.image_first).tokens;
      if (p.offset < 0 || p.offset >= tokens.length) throw new Error(`cursor offset ${p.offset} outside document ${p.source}#${p.index}`);
      this.current = { source: p.source, index: p.index, imageFirst: p.image_first, offset: p.offset, tokens };
    } else this.current = null;
  }

  private source(name: string): StreamSource {
    const s = this.byName.get(name);
    if (!s) throw new Error(`unknown source ${JSON.stringify(name)}`);
    return s;
  }

  /** The next document of the mixture `weights` (counted under `mixKey`), tokenized. */
  private draw(weights: Array<[string, number]>, mixKey: string): Current {
    const drawn = (this.state.drawn[mixKey] ??= {});
    const name = chooseSource(weights, drawn, this.rng);
    const src = this.source(name);
    const cur = this.state.sources[name];
    let order = this.orders.get(name);
    if (!order || order.epoch !== cur.epoch) {
      order = { epoch: cur.epoch, perm: permutation(src.docs.length, 'order', ...this.seed, name, cur.epoch) };
      this.orders.set(name, order);
    }
    const index = order.perm[cur.pos];
    if (++cur.pos === src.docs.length) {
      cur.epoch++;
      cur.pos = 0;
    }
    const doc: RawDoc = src.docs.get(index);
    let imageFirst = false;
    if (doc.kind === 'pair') {
      imageFirst = imageFirstDraw(src.imageFirst, cur.pairs, cur.image_first, this.rng);
      cur.pairs++;
      if (imageFirst) cur.image_first++;
    }
    const enc = this.encoder.encode(doc, imageFirst);
    drawn[name] = (drawn[name] ?? 0) + enc.tokens.length;
    this.state.documents[name]++;
    this.state.images[name] += enc.images;
    return { source: name, index, imageFirst, offset: 0, tokens: enc.tokens };
  }

  /** Writes one sequence of inputs and labels at `at` in the batch arrays. */
  nextSequence(weights: Array<[string, number]>, mixKey: string, inputs: Int32Array, labels: Int32Array, at: number): void {
    if (this.mode === 'pack') this.packSequence(weights, mixKey, inputs, labels, at);
    else this.padSequence(weights, mixKey, inputs, labels, at);
  }

  private packSequence(weights: Array<[string, number]>, mixKey: string, inputs: Int32Array, labels: Int32Array, at: number): void {
    const S = this.seqLen;
    const win = this.window;
    let filled = 0;
    let last: Current | null = null;
    while (filled < S + 1) {
      if (!this.current) this.current = this.draw(weights, mixKey);
      const cur = this.current;
      const take = Math.min(S + 1 - filled, cur.tokens.length - cur.offset);
      win.set(cur.tokens.subarray(cur.offset, cur.offset + take), filled);
      this.state.emitted[cur.source] += Math.max(0, Math.min(filled + take, S) - filled);
      filled += take;
      cur.offset += take;
      if (cur.offset === cur.tokens.length) {
        last = cur;
        this.current = null;
      }
    }
    // The window's last token is this sequence's last label and the next sequence's first input.
    if (this.current) this.current.offset -= 1;
    else {
      this.current = last!;
      this.current.offset = this.current.tokens.length - 1;
    }
    inputs.set(win.subarray(0, S), at);
    labels.set(win.subarray(1, S + 1), at);
  }

  private padSequence(weights: Array<[string, number]>, mixKey: string, inputs: Int32Array, labels: Int32Array, at: number): void {
    const S = this.seqLen;
    if (!this.current) this.current = this.draw(weights, mixKey);
    const cur = this.current;
    const avail = cur.tokens.length - cur.offset;
    const n = Math.min(S, avail);
    for (let j = 0; j < S; j++) {
      inputs[at + j] = j < n ? cur.tokens[cur.offset + j] : PAD;
      labels[at + j] = j < n && j + 1 < avail ? cur.tokens[cur.offset + j + 1] : IGNORE_INDEX;
    }
    this.state.emitted[cur.source] += n;
    cur.offset += S;
    // Done when at most one token is left: it was already this sequence's last label.
    if (cur.offset >= cur.tokens.length - 1) this.current = null;
  }
}
