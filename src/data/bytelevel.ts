/**
 * Byte-level pre-tokenization as in GPT-2 and HuggingFace's `ByteLevel` pre-tokenizer, so that our
 * tokenizer.json means the same thing to other tools: text is split by the GPT-2 regex, each piece is
 * taken as UTF-8 bytes, and each byte is shown as one printable character (bytes_to_unicode), so every
 * string round-trips exactly and no token is ever unknown.
 */

/** GPT-2's split pattern (HF ByteLevel with use_regex: true); words keep their leading space. */
export const PRETOKENIZE_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** byte -> printable character, GPT-2's table: printable Latin-1 bytes map to themselves, the rest to U+0100.. */
export const BYTE_TO_CHAR: string[] = (() => {
  const keep: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) keep.push(b);
  for (let b = 0xa1; b <= 0xac; b++) keep.push(b);
  for (let b = 0xae; b <= 0xff; b++) keep.push(b);
  const table = new Array<string>(256);
  const kept = new Set(keep);
  let n = 0;
  for (let b = 0; b < 256; b++) table[b] = String.fromCharCode(kept.has(b) ? b : 256 + n++);
  return table;
})();

export const CHAR_TO_BYTE: Map<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

/** The byte-level string of raw bytes (how a token appears in tokenizer.json). */
export function bytesToTokenString(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += BYTE_TO_CHAR[b];
  return s;
}

/** Inverse of bytesToTokenString; undefined when a character is not in the byte alphabet. */
export function tokenStringToBytes(token: string): Uint8Array | undefined {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const b = CHAR_TO_BYTE.get(token[i]);
    if (b === undefined) return undefined;
    out[i] = b;
  }
  return out;
}

