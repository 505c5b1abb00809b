/**
 * safetensors: an 8-byte little-endian header length N, N bytes of JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {…}}`, then the raw
 * little-endian tensor bytes, offsets relative to the end of the header.
 *
 * The reader is strict, as the format's own validator is: offsets must tile the data area exactly
 * (no overlaps, no gaps, nothing after the last tensor) and every shape × dtype size must equal its
 * byte range. All sizes are checked against the file length before anything is allocated.
 */
import { closeSync, openSync, renameSync, writeSync } from 'node:fs';
import { removeTemporary, writeError } from '../../core/files.ts';
import path from 'node:path';
import { DittoError } from '../../core/errors.ts';
import { shapeString, type Tensor } from '../../core/tensor.ts';
import type { ByteSource } from './byteSource.ts';
import { DTYPE_BYTES, decodeElements, f32ToF16Bits, isFileDType, type FileDType } from './dtypes.ts';
import type { TensorRecord, WeightFile } from './types.ts';

/** The reference implementation refuses headers above 100 MB; so do we (and never allocate more). */
const MAX_HEADER_BYTES = 100_000_000;

function fail(file: string, message: string): never {
  throw new DittoError('E_WEIGHTS', `${file}: ${message}`);
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

interface Entry {
  name: string;
  dtype: FileDType;
  shape: number[];
  begin: number;
  end: number;
}

/** Parses and validates the header; the returned records read their data lazily from `src`. */
export function openSafetensors(src: ByteSource): WeightFile {
  const file = src.name;
  if (src.size < 8) fail(file, `the file is ${src.size} bytes, too short for a safetensors header (8-byte length + JSON)`);
  const lenBytes = src.read(0, 8, 'the header length');
  const n64 = new DataView(lenBytes.buffer).getBigUint64(0, true);
  if (n64 > BigInt(src.size - 8)) {
    fail(file, `header length ${n64} is beyond the file (only ${src.size - 8} bytes follow the length field); the file is truncated or not safetensors`);
  }
  const n = Number(n64);
  if (n > MAX_HEADER_BYTES) fail(file, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (n < 2) fail(file, `header length ${n} is too small to hold a JSON object`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(src.read(8, n, 'the JSON header')));
  } catch (e) {
    fail(file, `the header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(file, 'the header is not a JSON object');

  const dataStart = 8 + n;
  const dataSize = src.size - dataStart;
  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(file, '__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(file, `__metadata__ value of '${k}' must be a string`);
        metadata[k] = v;
      }
      continue;
    }
    entries.push(parseEntry(file, name, raw, dataSize));
  }
  checkTiling(file, entries, dataSize);

  const records: TensorRecord[] = entries.map((e) => ({
    name: e.name,
    shape: e.shape,
    dtype: e.dtype,
    load: () => {
      const count = (e.end - e.begin) / DTYPE_BYTES[e.dtype];
      return decodeElements(src.read(dataStart + e.begin, e.end - e.begin, `tensor '${e.name}'`), e.dtype, count, e.shape, `${file}: tensor '${e.name}'`);
    },
  }));
  return { format: 'safetensors', path: file, records, metadata, close: () => src.close() };
}

function parseEntry(file: string, name: string, raw: unknown, dataSize: number): Entry {
  const where = `tensor '${name}'`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(file, `${where}: entry must be an object with dtype, shape and data_offsets`);
  const { dtype, shape, data_offsets: offs } = raw as Record<string, unknown>;
  if (typeof dtype !== 'string') fail(file, `${where}: missing dtype`);
  if (!isFileDType(dtype)) {
    fail(file, `${where}: unknown dtype '${dtype}' (ditto reads ${Object.keys(DTYPE_BYTES).join(', ')})`);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegInt)) fail(file, `${where}: shape must be an array of non-negative integers`);
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isNonNegInt)) {
    fail(file, `${where}: data_offsets must be two non-negative integers [begin, end]`);
  }
  const [begin, end] = offs as [number, number];
  if (begin > end) fail(file, `${where}: data_offsets [${begin}, ${end}] end before they begin`);
  if (end > dataSize) {
    fail(file, `${where}: data_offsets [${begin}, ${end}] are out of range: the data area holds ${dataSize} bytes`);
  }
  // Multiply step by step, stopping once past the file size, so an absurd shape cannot overflow
  // into a plausible size.
  let bytes = (shape as number[]).includes(0) ? 0 : DTYPE_BYTES[dtype];
  let exact = true;
  for (const d of shape as number[]) {
    if (bytes > dataSize) {
      exact = false;
      break;
    }
    bytes *= d;
  }
  if (!exact || bytes !== end - begin) {
    const need = exact && bytes <= Number.MAX_SAFE_INTEGER ? `${bytes}` : `more than ${dataSize}`;
    fail(file, `${where}: shape ${shapeString(shape as number[])} of ${dtype} needs ${need} bytes but data_offsets [${begin}, ${end}] give ${end - begin}`);
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/** The byte ranges must cover [0, dataSize) exactly once. */
function checkTiling(file: string, entries: Entry[], dataSize: number): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: Entry | undefined;
  for (const e of sorted) {
    if (e.begin < pos) {
      fail(file, `tensor '${e.name}' (bytes [${e.begin}, ${e.end})) overlaps tensor '${prev!.name}' (bytes [${prev!.begin}, ${prev!.end}))`);
    }
    if (e.begin > pos) fail(file, `bytes [${pos}, ${e.begin}) of the data area belong to no tensor (before tensor '${e.name}')`);
    pos = e.end;
    prev = e;
  }
  if (pos !== dataSize) fail(file, `${dataSize - pos} bytes after the last tensor belong to no tensor`);
}

// ---------------------------------------------------------------------------------------------
// Writing

export interface SafetensorsWriteOptions {
  /** Element type for f32 tensors (i32 tensors are always written as I32). Default 'f32'. */
  floatType?: 'f32' | 'f16';
}

interface Layout {
  header: Uint8Array;
  parts: { name: string; tensor: Tensor; dtype: FileDType }[];
}

function layout(tensors: Map<string, Tensor>, metadata: Record<string, string> | undefined, opts: SafetensorsWriteOptions): Layout {
  // A null-prototype object: a tensor named `__proto__` must become a key, not the prototype.
  const head: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  if (metadata && Object.keys(metadata).length > 0) head.__metadata__ = metadata;
  const parts: Layout['parts'] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__') throw new DittoError('E_WEIGHTS', `a tensor cannot be named '__metadata__' in safetensors`);
    const dtype: FileDType = t.dtype === 'i32' ? 'I32' : opts.floatType === 'f16' ? 'F16' : 'F32';
    const bytes = t.data.length * DTYPE_BYTES[dtype];
    head[name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
    parts.push({ name, tensor: t, dtype });
  }
  let text = JSON.stringify(head);
  // Pad with spaces so the data area starts 8-byte aligned (as the reference writer does).
  text += ' '.repeat((8 - ((8 + Buffer.byteLength(text)) % 8)) % 8);
  const json = new TextEncoder().encode(text);
  const header = new Uint8Array(8 + json.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(json.length), true);
  header.set(json, 8);
  return { header, parts };
}

function tensorBytes(t: Tensor, dtype: FileDType): Uint8Array {
  if (dtype === 'F16') {
    const out = new Uint16Array(t.data.length);
    for (let i = 0; i < out.length; i++) out[i] = f32ToF16Bits(t.data[i]!);
    return new Uint8Array(out.buffer);
  }
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** The whole file in memory (tests, small files). */
export function serializeSafetensors(tensors: Map<string, Tensor>, metadata?: Record<string, string>, opts: SafetensorsWriteOptions = {}): Uint8Array {
  const { header, parts } = layout(tensors, metadata, opts);
  const chunks = parts.map((p) => tensorBytes(p.tensor, p.dtype));
  const out = new Uint8Array(header.length + chunks.reduce((s, c) => s + c.length, 0));
  out.set(header, 0);
  let pos = header.length;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

/**
 * Writes a safetensors file tensor by tensor (a 2.7 GB model never sits in one buffer) to a
 * temporary sibling, then renames it: a failure never leaves a partial file under `file`.
 */
export function writeSafetensorsFile(file: string, tensors: Map<string, Tensor>, metadata?: Record<string, string>, opts: SafetensorsWriteOptions = {}): void {
  const { header, parts } = layout(tensors, metadata, opts);
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w');
    writeAll(fd, header);
    for (const p of parts) writeAll(fd, tensorBytes(p.tensor, p.dtype));
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    removeTemporary(tmp);
    throw writeError(file, e);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30));
}
