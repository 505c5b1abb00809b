/**
 * The fixed 2-D sin-cos position embedding of DiT (docs/ebcache.md "Embeddings"), computed as the official numpy
 * code does — float64 throughout, cast to f32 at the end — so it matches the stored `pos_embed`
 * of a checkpoint to the last bit in practice (libm sin/cos may differ by an ulp in float64, which
 * the cast almost always absorbs).
 *
 * Token k = i·grid + j (i row, j column). Dims [0, D/2) encode the column j, dims [D/2, D) the row
 * i; each half is the 1-D embedding of width E = D/2: ω_d = 10000^(−d/(E/2)), [sin(p·ω), cos(p·ω)].
 */
import { DittoError } from '../../core/errors.ts';

export function posEmbed2d(dim: number, grid: number): Float32Array {
  if (!Number.isInteger(dim) || dim <= 0 || dim % 4 !== 0) {
    throw new DittoError('E_CHECK', `the 2-D sin-cos position embedding needs a width divisible by 4, got ${dim}`);
  }
  if (!Number.isInteger(grid) || grid <= 0) throw new DittoError('E_CHECK', `position-embedding grid must be a positive integer, got ${grid}`);
  const half = dim / 2;
  const quarter = half / 2;
  const omega = new Float64Array(quarter);
  for (let d = 0; d < quarter; d++) omega[d] = 1 / Math.pow(10000, d / quarter);
  const out = new Float32Array(grid * grid * dim);
  for (let i = 0; i < grid; i++) {
    for (let j = 0; j < grid; j++) {
      const base = (i * grid + j) * dim;
      for (let d = 0; d < quarter; d++) {
        const col = j * omega[d]!;
        const row = i * omega[d]!;
        out[base + d] = Math.sin(col);
        out[base + quarter + d] = Math.cos(col);
        out[base + half + d] = Math.sin(row);
        out[base + half + quarter + d] = Math.cos(row);
      }
    }
  }
  return out;
}
