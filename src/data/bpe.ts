/**
 * Byte-level BPE: encoding, decoding and the HuggingFace `tokenizer.json` format.
 *
 * Ids follow the shared vocabulary (vocab.ts): 0..4 specials, then BPE tokens. A tokenizer we train
 * has the 256 byte tokens at 5..260 and merge r producing id 261 + r; a loaded tokenizer.json may
 * number its tokens differently, so encoding goes through an explicit (left, right) -> (rank, id)
 * table rather than assuming that layout.
 *
 * Special tokens are structural: `encode` never turns the characters "<s>" in a corpus into bos
 * (data must not be able to forge document boundaries); the pipeline inserts specials by id.
 */
import { preview, UserError } from '../../dsl/errors';
import { BYTE_TO_CHAR, PRETOKENIZE_PATTERN, bytesToTokenString, tokenStringToBytes } from './bytelevel';
import { NUM_SPECIALS, SPECIAL_ROLES, type SpecialRole } from './vocab';

export interface Merge {
  left: number;
  right: number;
  result: number;
}

/** Pair key for two ids below 2^24 (fits a double exactly). */
export function pairKey(a: number, b: number): number {
  return a * 16777216 + b;
}

const WORD_CACHE_LIMIT = 1 << 18;

export class BpeTokenizer {
  /** id -> raw bytes (specials: their UTF-8 content). */
  private readonly bytesOf: Uint8Array[];
  /** byte value -> id of its single-byte token. */
  private readonly byteId = new Int32Array(256);
  /** pairKey(left, right) -> rank * 2^24 + result: lowest rank merges first. */
  private readonly mergeTable = new Map<number, number>();
  /** Per-word encodings: corpora repeat words, so this makes encoding cost nearly one lookup per word. */
  private cache = new Map<string, Int32Array>();
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder('utf-8');

  constructor(
    /** id -> token string as in tokenizer.json (byte-level characters; specials verbatim). */
    readonly tokens: string[],
    readonly merges: Merge[],
    /** Special token content by role; ids are SPECIAL_ROLES order. */
    readonly specials: Record<SpecialRole, string>,
  ) {
    if (tokens.length >= 16777216) throw new Error('vocabulary too large for pair keys');
    this.byteId.fill(-1);
    this.bytesOf = tokens.map((t, id) => {
      if (id < NUM_SPECIALS) return this.encoder.encode(t);
      const bytes = tokenStringToBytes(t);
      if (!bytes || bytes.length === 0) throw new Error(`token ${id} ${JSON.stringify(t)} is not byte-level`);
      if (bytes.length === 1 && this.byteId[bytes[0]] < 0) this.byteId[bytes[0]] = id;
      return bytes;
    });
    for (let b = 0; b < 256; b++) {
      if (this.byteId[b] < 0) throw new Error(`byte 0x${b.toString(16)} has no token: not a complete byte-level vocabulary`);
    }
    merges.forEach((m, rank) => {
      const key = pairKey(m.left, m.right);
      if (!this.mergeTable.has(key)) this.mergeTable.set(key, rank * 16777216 + m.result);
    });
  }

  /** Number of text ids used (specials included); may be below the spec's vocab.text on a small corpus. */
  get size(): number {
    return this.tokens.length;
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const piece of text.match(PRETOKENIZE_PATTERN) ?? []) {
      let ids = this.cache.get(piece);
      if (ids === undefined) {
        ids = this.encodeWord(piece);
        if (this.cache.size >= WORD_CACHE_LIMIT) this.cache = new Map();
        this.cache.set(piece, ids);
      }
      for (let i = 0; i < ids.length; i++) out.push(ids[i]);
    }
    return out;
  }

  /** Classic BPE on one pre-tokenized piece: repeatedly apply the lowest-ranked adjacent merge. */
  private encodeWord(piece: string): Int32Array {
    const bytes = this.encoder.encode(piece);
    let ids: number[] = Array.from(bytes, (b) => this.byteId[b]);
    while (ids.length > 1) {
      let best = Infinity;
      for (let i = 0; i + 1 < ids.length; i++) {
        const v = this.mergeTable.get(pairKey(ids[i], ids[i + 1]));
        if (v !== undefined && v < best) best = v;
      }
      if (best === Infinity) break;
      const result = best % 16777216;
      const pair = this.merges[Math.floor(best / 16777216)];
      const next: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        if (i + 1 < ids.length && ids[i] === pair.left && ids[i + 1] === pair.right) {
          next.push(result);
          i++;
        } else next.push(ids[i]);
      }
      ids = next;
    }
    return Int32Array.from(ids);
  }

  /** Text ids -> string; specials appear as their content. Throws on ids outside the text vocabulary. */
  decode(ids: ArrayLike<number>): string {
    let n = 0;
    for (let i = 0; i < ids.length; i++) n += this.idBytes(ids[i]).length;
    const buf = new Uint8Array(n);
    let o = 0;
    for (let i = 0; i < ids.length; i++) {
      const b = this.idBytes(ids[i]);
      buf.set(b, o);
      o += b.length;
    }
    return this.decoder.decode(buf);
  }

  private idBytes(id: number): Uint8Array {
    const b = this.bytesOf[id];
    if (b === undefined) throw new Error(`id ${id} is not a text token (text vocabulary has ${this.tokens.length})`);
    return b;
  }

  /** HuggingFace tokenizers' tokenizer.json (BPE model, ByteLevel pre-tokenizer and decoder). */
  toJSON(): object {
    const vocab: Record<string, number> = {};
    this.tokens.forEach((t, id) => (vocab[t] = id));
    return {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: SPECIAL_ROLES.map((role, id) => ({
        id,
        content: this.specials[role],
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      })),
      normalizer: null,
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      post_processor: null,
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: false,
        vocab,
        // "left right": the format every tokenizers version reads; byte-level tokens never contain a space.
        merges: this.merges.map((m) => `${this.tokens[m.left]} ${this.tokens[m.right]}`),
      },
    };
  }

  /**
   * Reads a tokenizer.json (ours or another tool's, if byte-level BPE). Its special tokens must be the
   * spec's, at ids 0..4 in role order, because the model's vocabulary layout depends on those ids.
   */
  static fromJSON(json: unknown, specials: Record<SpecialRole, string>, where: string): BpeTokenizer {
    const fail = (msg: string): never => {
      throw new UserError(msg, where);
    };
    const j = json as any;
    if (!j || typeof j !== 'object' || !j.model || j.model.type !== 'BPE') fail('not a BPE tokenizer.json (model.type must be "BPE")');
    if (j.pre_tokenizer?.type !== 'ByteLevel') fail('only byte-level BPE is supported (pre_tokenizer.type must be "ByteLevel")');
    const vocab = j.model.vocab as Record<string, number>;
    if (!vocab || typeof vocab !== 'object') fail('model.vocab is missing');
    const tokens: string[] = [];
    for (const [t, id] of Object.entries(vocab)) {
      if (!Number.isInteger(id) || id < 0) fail(`model.vocab: bad id ${preview(id)} for ${preview(t)}`);
      if (tokens[id] !== undefined) fail(`model.vocab: id ${id} is used twice`);
      tokens[id] = t;
    }
    if (j.added_tokens !== undefined && !Array.isArray(j.added_tokens)) fail('added_tokens must be a list');
    for (const a of j.added_tokens ?? []) {
      if (!a || !Number.isInteger(a.id) || a.id < 0 || typeof a.content !== 'string') fail(`added_tokens: expected {"id": integer, "content": string}, got ${preview(a)}`);
      if (tokens[a.id] !== undefined && tokens[a.id] !== a.content) fail(`added token ${a.id} disagrees with model.vocab`);
      tokens[a.id] = a.content;
    }
    for (let id = 0; id < tokens.length; id++) if (tokens[id] === undefined) fail(`vocabulary has a gap at id ${id}`);
    SPECIAL_ROLES.forEach((role, id) => {
      if (tokens[id] !== specials[role]) {
        fail(`id ${id} must be the ${role} token ${JSON.stringify(specials[role])}, found ${preview(tokens[id])}`);
      }
    });
    const idOf = new Map(tokens.map((t, id) => [t, id]));
    if (j.model.merges !== undefined && !Array.isArray(j.model.merges)) fail('model.merges must be a list');
    const merges: Merge[] = (j.model.merges ?? []).map((m: unknown, i: number) => {
      const [l, r] = Array.isArray(m) ? m : typeof m === 'string' ? m.split(' ') : [];
      const left = idOf.get(l);
      const right = idOf.get(r);
      const result = idOf.get(`${l}${r}`);
      if (left === undefined || right === undefined || result === undefined) fail(`merge ${i} (${preview(m)}) uses tokens not in the vocabulary`);
      return { left: left!, right: right!, result: result! };
    });
    try {
      return new BpeTokenizer(tokens, merges, specials);
    } catch (e) {
      return fail((e as Error).message);
    }
  }
}

/** The 5 specials then the 256 byte tokens in byte order: where every trained vocabulary starts. */
export function baseTokens(specials: Record<SpecialRole, string>): string[] {
  return [...SPECIAL_ROLES.map((r) => specials[r]), ...BYTE_TO_CHAR];
}

export { bytesToTokenString };
