/**
 * safetensors, the format HuggingFace weights ship in: an 8-byte little-endian header length N, N
 * bytes of JSON mapping each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets into
 * the data section that follows; an optional "__metadata__" map of strings), then the raw
 * little-endian data, contiguous and without holes.
 *
 * Reading goes tensor by tensor through a file descriptor, so a file larger than one Node Buffer
 * (a 7B checkpoint) can be inspected and partly read. F32, F64, F16 and BF16 read as Float32Array
 * (F64 as Float64Array on request); writing is F32 or F64, atomically (src/files.ts), so a crash
 * never leaves a truncated file under the final name.
 */
import * as fs from 'node:fs';
import { preview, UserError } from '../../dsl/errors';
import { openInputFile, writeFileAtomic } from '../files';

export type SafeDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const BYTES: Record<SafeDType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export interface TensorEntry {
  dtype: SafeDType;
  shape: number[];
  /** Byte offsets into the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  file: string;
  /** Absolute offset of the data section in the file. */
  dataStart: number;
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
}

/** A tensor to write: float data with its shape (row-major, PyTorch layout). */
export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array | Float64Array;
}

/** The format's own bound on the JSON header (the reference implementation's). */
export const MAX_HEADER_BYTES = 100_000_000;

const bad = (file: string, why: string) => new UserError(`not a valid safetensors file: ${why}`, file);

/** Reads and validates the header only. */
export function readHeader(file: string): SafetensorsHeader {
  const { fd, size } = openInputFile(file);
  try {
    if (size < 8) throw bad(file, `${size} bytes, shorter than the 8-byte header length`);
    const lenBuf = Buffer.alloc(8);
    fs.readSync(fd, lenBuf, 0, 8, 0);
    const n = Number(lenBuf.readBigUInt64LE(0));
    if (n > MAX_HEADER_BYTES) throw bad(file, `header length ${n} is more than the format's limit of ${MAX_HEADER_BYTES} bytes`);
    if (n <= 0 || 8 + n > size) throw bad(file, `header length ${n} does not fit the file size ${size}`);
    const hbuf = Buffer.alloc(n);
    fs.readSync(fd, hbuf, 0, n, 8);
    let json: Record<string, any>;
    try {
      json = JSON.parse(hbuf.toString('utf8'));
    } catch (e) {
      throw bad(file, `header is not JSON (${(e as Error).message})`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad(file, 'header is not a JSON object');
    const tensors = new Map<string, TensorEntry>();
    let metadata: Record<string, string> = {};
    const dataLen = size - 8 - n;
    for (const [name, v] of Object.entries(json)) {
      if (name === '__metadata__') {
        metadata = v as Record<string, string>;
        continue;
      }
      const e = v as { dtype?: string; shape?: unknown; data_offsets?: unknown };
      if (!e || typeof e.dtype !== 'string' || !(e.dtype in BYTES)) throw bad(file, `tensor ${preview(name)} has unknown dtype ${preview(e?.dtype)}`);
      if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0))
        throw bad(file, `tensor ${preview(name)} has an invalid shape ${preview(e.shape)}`);
      const offs = e.data_offsets;
      if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0))
        throw bad(file, `tensor '${name}' has invalid data_offsets`);
      const [begin, end] = offs as number[];
      const dtype = e.dtype as SafeDType;
      const expect = (e.shape as number[]).reduce((a, b) => a * b, 1) * BYTES[dtype];
      if (end - begin !== expect) throw bad(file, `tensor '${name}' spans ${end - begin} bytes, its ${dtype} shape needs ${expect}`);
      if (end > dataLen) throw bad(file, `tensor '${name}' ends at ${end}, past the data section (${dataLen} bytes)`);
      tensors.set(name, { dtype, shape: e.shape as number[], begin, end });
    }
    checkTiling(file, tensors, dataLen);
    return { file, dataStart: 8 + n, tensors, metadata };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The format's data section is the tensors back to back: sorted by offset, each starts where the
 * previous ends, the first at 0 and the last at the end. Anything else (two names aliasing the same
 * bytes, overlaps, holes, trailing bytes) is refused, as the reference implementation does.
 */
function checkTiling(file: string, tensors: Map<string, TensorEntry>, dataLen: number): void {
  const spans = [...tensors].sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  let at = 0;
  let prev: [string, TensorEntry] | undefined;
  for (const span of spans) {
    const [name, e] = span;
    if (e.begin < at) throw bad(file, `tensor ${preview(name)} (bytes ${e.begin}..${e.end}) overlaps tensor ${preview(prev![0])} (bytes ${prev![1].begin}..${prev![1].end})`);
    if (e.begin > at) throw bad(file, `${e.begin - at} bytes ${prev ? `between tensor ${preview(prev[0])} and` : 'before'} tensor ${preview(name)} belong to no tensor`);
    if (e.end > e.begin || !prev) prev = span;
    at = e.end;
  }
  if (at < dataLen) throw bad(file, `the last ${dataLen - at} bytes of the data section belong to no tensor`);
}

function bf16ToF32(src: Uint16Array): Float32Array {
  // bfloat16 is the top half of an IEEE float32.
  const out = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i] << 16;
  return new Float32Array(out.buffer);
}

function f16ToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const h = src[i];
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    if (e === 0) out[i] = s * f * 2 ** -24;
    else if (e === 31) out[i] = f ? NaN : s * Infinity;
    else out[i] = s * (1 + f / 1024) * 2 ** (e - 15);
  }
  return out;
}

/** Reads one tensor as float32 (or float64 with `as: 'float64'`). Integer dtypes are refused. */
export function readTensor(h: SafetensorsHeader, name: string, as: 'float32' | 'float64' = 'float32'): Float32Array | Float64Array {
  const e = h.tensors.get(name);
  if (!e) throw new UserError(`no tensor named '${name}'`, h.file);
  const n = e.end - e.begin;
  const buf = Buffer.alloc(n);
  const { fd } = openInputFile(h.file);
  try {
    let got = 0;
    while (got < n) {
      const r = fs.readSync(fd, buf, got, n - got, h.dataStart + e.begin + got);
      if (r <= 0) throw bad(h.file, `unexpected end of file in '${name}'`);
      got += r;
    }
  } finally {
    fs.closeSync(fd);
  }
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + n);
  let f32: Float32Array;
  switch (e.dtype) {
    case 'F64': {
      const f64 = new Float64Array(ab);
      return as === 'float64' ? f64 : Float32Array.from(f64);
    }
    case 'F32':
      f32 = new Float32Array(ab);
      break;
    case 'BF16':
      f32 = bf16ToF32(new Uint16Array(ab));
      break;
    case 'F16':
      f32 = f16ToF32(new Uint16Array(ab));
      break;
    default:
      throw new UserError(`tensor '${name}' has dtype ${e.dtype}; expected a float tensor (F32, F64, F16, BF16)`, h.file);
  }
  return as === 'float64' ? Float64Array.from(f32) : f32;
}

/** Reads every tensor (small files: tests, `chamlab grad` outputs). */
export function readSafetensors(file: string, as: 'float32' | 'float64' = 'float32'): Map<string, { shape: number[]; data: Float32Array | Float64Array }> {
  const h = readHeader(file);
  const out = new Map<string, { shape: number[]; data: Float32Array | Float64Array }>();
  for (const [name, e] of h.tensors) out.set(name, { shape: e.shape, data: readTensor(h, name, as) });
  return out;
}

/**
 * Writes tensors in the given order (F32 for Float32Array data, F64 for Float64Array), atomically.
 * The header is padded with spaces to a multiple of 8 bytes so that every tensor starts aligned.
 */
export function writeSafetensors(file: string, tensors: NamedTensor[], metadata: Record<string, string> = {}): void {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) throw new Error(`writeSafetensors: duplicate tensor name '${t.name}'`);
    seen.add(t.name);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new Error(`writeSafetensors: '${t.name}' has ${t.data.length} values for shape [${t.shape}]`);
    const bytes = t.data.byteLength;
    header[t.name] = { dtype: t.data instanceof Float64Array ? 'F64' : 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  const pad = (8 - ((Buffer.byteLength(json) + 8) % 8)) % 8;
  json += ' '.repeat(pad);
  const hbytes = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hbytes.length));

  // Typed arrays are little-endian on every platform Node supports (x86, arm64).
  const data = tensors.map((t) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  writeFileAtomic(file, [len, hbytes, ...data]);
}
