/** CPU definitions of `layernorm_modulate` and `group_norm` (compiler/kernels/layernorm.ts,
 *  groupnorm.ts): two-pass statistics (here in f64), then the affine or adaLN modulation. */
import type { LayerNormModulateConfig } from '../../../compiler/kernels/layernorm.ts';
import type { GroupNormConfig } from '../../../compiler/kernels/groupnorm.ts';
import { f, silu, type Elements } from './types.ts';

/** Mean and 1/sqrt(var + eps) of x[base, base + n). */
function stats(x: Elements, base: number, n: number, eps: number): [number, number] {
  let s = 0;
  for (let i = 0; i < n; i++) s += x[base + i]!;
  const mean = s / n;
  let q = 0;
  for (let i = 0; i < n; i++) q += (x[base + i]! - mean) ** 2;
  return [mean, 1 / Math.sqrt(q / n + eps)];
}

export function layernormModulate(c: LayerNormModulateConfig, bindings: Elements[]): void {
  const x = bindings[0]!;
  const m = c.modulation;
  const mod = m ? bindings[1]! : undefined;
  const y = bindings[m ? 2 : 1]!;
  for (let row = 0; row < c.rows; row++) {
    const base = row * c.D;
    const [mean, rstd] = stats(x, base, c.D, c.eps);
    const mb = m ? Math.floor(row / c.tokens) * m.rowStride : 0;
    for (let i = 0; i < c.D; i++) {
      const n = f((x[base + i]! - mean) * rstd);
      y[base + i] = m ? f(f(n * f(1 + mod![mb + m.scaleOffset + i]!)) + mod![mb + m.shiftOffset + i]!) : n;
    }
  }
}

export function groupNorm(c: GroupNormConfig, bindings: Elements[]): void {
  const [x, weight, bias, y] = bindings as [Elements, Elements, Elements, Elements];
  const per = c.C / c.groups;
  const N = per * c.S;
  for (let b = 0; b < c.B; b++) {
    for (let g = 0; g < c.groups; g++) {
      const base = (b * c.groups + g) * N;
      const [mean, rstd] = stats(x, base, N, c.eps);
      for (let i = 0; i < N; i++) {
        const ch = g * per + Math.floor(i / c.S);
        const p = i % c.S;
        let v = f(f(f((x[base + i]! - mean) * rstd) * weight[ch]!) + bias[ch]!);
        if (c.silu) v = silu(v);
        y[c.out === 'nchw' ? base + i : (b * c.S + p) * c.C + ch] = v;
      }
    }
  }
}
