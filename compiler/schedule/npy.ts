/**
 * A small, strict reader of NumPy `.npy` files holding a 1-D integer array (int64 or int32, either
 * byte order), which is what cache tables are. Anything else is a DittoError(E_TABLE) naming the
 * file and what is wrong with it.
 */
import { DittoError } from '../../core/errors.ts';
import { readFileOrThrow } from '../../core/files.ts';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export function parseNpyInts(bytes: Uint8Array, file: string): number[] {
  const fail = (why: string): never => {
    throw new DittoError('E_TABLE', `'${file}' is not a usable .npy table: ${why}`);
  };
  if (bytes.length < 10 || !MAGIC.every((b, i) => bytes[i] === b)) fail('it does not start with the .npy magic bytes');
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let offset: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    offset = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) fail('the header is truncated');
    headerLen = view.getUint32(8, true);
    offset = 12;
  } else return fail(`unsupported .npy version ${major}`);
  if (offset + headerLen > bytes.length) fail('the header is truncated');
  const header = new TextDecoder('latin1').decode(bytes.subarray(offset, offset + headerLen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) fail(`the header is malformed: ${header.trim()}`);
  const dims = shapeText!
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  if (dims.length !== 1 || !Number.isInteger(dims[0])) fail(`the table must be 1-D, got shape (${shapeText})`);
  const n = dims[0]!;
  const m = /^([<>|=])([iu])([48])$/.exec(descr!);
  if (!m) fail(`the table must hold integers (int64 or int32), got dtype '${descr}'`);
  const little = m![1] !== '>';
  const size = Number(m![3]);
  const data = offset + headerLen;
  if (bytes.length !== data + n * size) fail(`expected ${n} values of ${size} bytes after the header, found ${bytes.length - data} bytes`);
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    const at = data + k * size;
    if (size === 8) {
      const v = m![2] === 'u' ? view.getBigUint64(at, little) : view.getBigInt64(at, little);
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) fail(`value ${v} at index ${k} is out of range`);
      out.push(Number(v));
    } else out.push(m![2] === 'u' ? view.getUint32(at, little) : view.getInt32(at, little));
  }
  return out;
}

export function readNpyInts(file: string): number[] {
  return parseNpyInts(readFileOrThrow(file, 'table'), file);
}

/** Encodes a 1-D int64 little-endian .npy (for tests and `ditto calibrate`). */
export function encodeNpyInt64(values: readonly number[]): Uint8Array {
  let header = `{'descr': '<i8', 'fortran_order': False, 'shape': (${values.length},), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + values.length * 8);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  const view = new DataView(out.buffer);
  view.setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  values.forEach((v, k) => view.setBigInt64(10 + header.length + k * 8, BigInt(v), true));
  return out;
}
