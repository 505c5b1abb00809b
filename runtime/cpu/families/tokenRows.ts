/** CPU definition of the token_rows family (compiler/kernels/tokenRows.ts): a partial compute's
 *  gather of the chosen token rows and its scatter back into the cache slot. */
import type { RowsView, TokenRowsConfig } from '../../../compiler/kernels/tokenRows.ts';
import type { Elements } from './types.ts';

export function tokenRows(c: TokenRowsConfig, bindings: Elements[]): void {
  const [src, dst] = bindings as [Elements, Elements];
  const at = (v: RowsView, s: number, row: number) => v.offset + s * v.sampleStride + row * v.rowStride;
  for (let s = 0; s < c.samples; s++) {
    c.indices.forEach((tok, j) => {
      const from = c.mode === 'gather' ? at(c.full, s, tok) : at(c.packed, s, j);
      const to = c.mode === 'gather' ? at(c.packed, s, j) : at(c.full, s, tok);
      for (let e = 0; e < c.dim; e++) dst[to + e] = src[from + e]!;
    });
  }
}
