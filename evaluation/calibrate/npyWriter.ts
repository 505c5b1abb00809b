/**
 * Writes a 1-D int64 little-endian NumPy `.npy` (format 1.0): the orientation-free container of a
 * cache table, readable by numpy.load and by compiler/schedule/npy.ts.
 */
import { DittoError } from '../../core/errors.ts';

export function encodeNpyInt64(values: readonly number[]): Uint8Array {
  for (const [j, v] of values.entries()) {
    if (!Number.isSafeInteger(v)) throw new DittoError('E_INTERNAL', `npy value ${v} at index ${j} is not a safe integer`);
  }
  const dict = `{'descr': '<i8', 'fortran_order': False, 'shape': (${values.length},), }`;
  // Magic (6) + version (2) + header length (2) + header, padded with spaces and ending in '\n' so
  // the data start on a 64-byte boundary, as numpy writes it.
  const unpadded = 10 + dict.length + 1;
  const header = dict + ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + 8 * values.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  const view = new DataView(out.buffer);
  view.setUint16(8, header.length, true);
  for (let j = 0; j < header.length; j++) out[10 + j] = header.charCodeAt(j);
  const data = 10 + header.length;
  values.forEach((v, j) => view.setBigInt64(data + 8 * j, BigInt(v), true));
  return out;
}
