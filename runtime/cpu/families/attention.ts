/** CPU definition of the `attention` family (compiler/kernels/attention.ts): softmax(q·kᵀ·scale)·v
 *  per sample and head on a fused qkv [B, T, 3D] (timm layout) → [B, T, D] (or the gathered query
 *  rows only, [B, queries, D]); sums in f64. */
import type { AttentionConfig } from '../../../compiler/kernels/attention.ts';
import type { Elements } from './types.ts';

export function attention(c: AttentionConfig, bindings: Elements[]): void {
  const [qkv, out] = bindings as [Elements, Elements];
  const { B, T, heads, headDim: hd } = c;
  const D = heads * hd;
  const at = (b: number, t: number, part: number, h: number) => ((b * T + t) * 3 + part) * D + h * hd;
  const scores = new Float64Array(T);
  // A partial compute's gathered queries: row j of out is query row queries[j] (all keys).
  const rows = c.queries ?? Array.from({ length: T }, (_, t) => t);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      for (let j = 0; j < rows.length; j++) {
        const q = at(b, rows[j]!, 0, h);
        let max = -Infinity;
        for (let s = 0; s < T; s++) {
          const kk = at(b, s, 1, h);
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += Math.fround(qkv[q + d]! * c.scale) * qkv[kk + d]!;
          scores[s] = dot;
          if (dot > max) max = dot;
        }
        let den = 0;
        for (let s = 0; s < T; s++) den += scores[s] = Math.exp(scores[s]! - max);
        const o = (b * rows.length + j) * D + h * hd;
        for (let d = 0; d < hd; d++) {
          let acc = 0;
          for (let s = 0; s < T; s++) acc += scores[s]! * qkv[at(b, s, 2, h) + d]!;
          out[o + d] = acc / den;
        }
      }
    }
  }
}
