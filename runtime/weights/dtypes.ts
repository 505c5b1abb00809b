/**
 * Element types found in weight files and their exact conversion to the host tensor types: every
 * float type becomes f32 (f16 and bf16 exactly; f64 rounded to nearest), every integer type
 * becomes i32 when each value fits (an error naming the tensor otherwise).
 */
import { DittoError } from '../../core/errors.ts';
import type { Tensor } from '../../core/tensor.ts';

/** Storage element types, named as safetensors names them. */
export type FileDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_BYTES: Readonly<Record<FileDType, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export function isFileDType(s: string): s is FileDType {
  return Object.prototype.hasOwnProperty.call(DTYPE_BYTES, s);
}

// Typed-array views over file bytes assume a little-endian host, which every platform Dawn runs on is.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new DittoError('E_INTERNAL', 'ditto reads weight files only on little-endian hosts');

let f16Table: Float32Array | undefined;

/** The f32 value of every f16 bit pattern (65 536 entries; exact, subnormals, ±inf and NaN included). */
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) t[h] = sign * frac * 2 ** -24;
    else if (exp === 31) t[h] = frac ? NaN : sign * Infinity;
    else t[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  f16Table = t;
  return t;
}

export function f16ToF32(bits: Uint16Array): Float32Array {
  const table = halfTable();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]!]!;
  return out;
}

/** bf16 is the upper half of an f32: shifting the bits up is the exact conversion. */
export function bf16ToF32(bits: Uint16Array): Float32Array {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = bits[i]! << 16;
  return new Float32Array(out.buffer);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** f32 → f16 bits, round to nearest even; overflow gives ±inf, NaN stays NaN. */
export function f32ToF16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal (or zero) in f16: shift the full mantissa (with its hidden bit) into place.
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to inf).
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/**
 * Converts `count` elements of `dtype` from raw little-endian bytes (a fresh, aligned buffer) to a
 * host tensor of the given shape. `what` names the tensor for errors.
 */
export function decodeElements(bytes: Uint8Array, dtype: FileDType, count: number, shape: readonly number[], what: string): Tensor {
  const buf = bytes.buffer;
  const off = bytes.byteOffset;
  invariantAligned(off, DTYPE_BYTES[dtype]);
  switch (dtype) {
    case 'F32':
      return { dtype: 'f32', shape: [...shape], data: new Float32Array(buf, off, count) };
    case 'F64':
      return { dtype: 'f32', shape: [...shape], data: Float32Array.from(new Float64Array(buf, off, count)) };
    case 'F16':
      return { dtype: 'f32', shape: [...shape], data: f16ToF32(new Uint16Array(buf, off, count)) };
    case 'BF16':
      return { dtype: 'f32', shape: [...shape], data: bf16ToF32(new Uint16Array(buf, off, count)) };
    case 'I32':
      return { dtype: 'i32', shape: [...shape], data: new Int32Array(buf, off, count) };
    case 'I16':
      return { dtype: 'i32', shape: [...shape], data: Int32Array.from(new Int16Array(buf, off, count)) };
    case 'I8':
      return { dtype: 'i32', shape: [...shape], data: Int32Array.from(new Int8Array(buf, off, count)) };
    case 'U8':
    case 'BOOL':
      return { dtype: 'i32', shape: [...shape], data: Int32Array.from(new Uint8Array(buf, off, count)) };
    case 'I64': {
      const wide = new BigInt64Array(buf, off, count);
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const v = wide[i]!;
        if (v > 2147483647n || v < -2147483648n) {
          throw new DittoError('E_WEIGHTS', `${what}: int64 value ${v} at element ${i} does not fit in int32`);
        }
        out[i] = Number(v);
      }
      return { dtype: 'i32', shape: [...shape], data: out };
    }
  }
}

function invariantAligned(offset: number, size: number): void {
  if (offset % size !== 0) throw new DittoError('E_INTERNAL', `unaligned element buffer (offset ${offset}, element size ${size})`);
}
