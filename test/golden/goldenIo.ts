/**
 * Reads test/golden/dit_tiny_io.safetensors (written by tools/golden/make_dit_goldens.py) keeping
 * F64 arrays in float64, which the weight loader narrows to f32. A test helper, not a weight reader:
 * the files are ours and trusted. Weight files go through runtime/weights (loadWeights).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { intTensor, tensor, type Tensor } from '../../core/tensor.ts';

export const GOLDEN_DIR = dirname(fileURLToPath(import.meta.url));
export const goldenPath = (name: string) => join(GOLDEN_DIR, name);

export interface GoldenIo {
  f32(name: string): Tensor;
  f64(name: string): Float64Array;
  meta: Record<string, string>;
}

export function readGoldenIo(file = 'dit_tiny_io.safetensors'): GoldenIo {
  const buf = readFileSync(goldenPath(file));
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> & {
    __metadata__?: Record<string, string>;
  };
  const base = 8 + n;
  const raw = (name: string) => {
    const h = header[name];
    if (!h || name === '__metadata__') throw new Error(`golden tensor '${name}' is not in ${file}`);
    const [s, e] = h.data_offsets;
    // Copy to a fresh, aligned buffer.
    return { h, bytes: new Uint8Array(buf.subarray(base + s, base + e)).buffer };
  };
  return {
    meta: header.__metadata__ ?? {},
    f32(name) {
      const { h, bytes } = raw(name);
      if (h.dtype === 'I32') return intTensor(h.shape, new Int32Array(bytes));
      if (h.dtype === 'F64') return tensor(h.shape, Float32Array.from(new Float64Array(bytes)));
      if (h.dtype !== 'F32') throw new Error(`golden tensor '${name}' is ${h.dtype}`);
      return tensor(h.shape, new Float32Array(bytes));
    },
    f64(name) {
      const { h, bytes } = raw(name);
      if (h.dtype !== 'F64') throw new Error(`golden tensor '${name}' is ${h.dtype}, not F64`);
      return new Float64Array(bytes);
    },
  };
}
