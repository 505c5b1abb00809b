/** CPU definition of the `matmul` family (compiler/kernels/matmul.ts): C = epilogue(A'·Wᵀ), sums in f64. */
import type { MatmulConfig } from '../../../compiler/kernels/matmul.ts';
import { f, geluTanh, silu, type Elements } from './types.ts';

export function matmul(c: MatmulConfig, bindings: Elements[]): void {
  let i = 0;
  const a = bindings[i++]!;
  const w = bindings[i++]!;
  const bias = c.bias ? bindings[i++]! : undefined;
  const g = c.gatedResidual;
  const gate = g ? bindings[i++]! : undefined;
  const residual = g && !g.inPlace ? bindings[i++]! : undefined;
  const out = bindings[i]!;
  const aIndex = aLayout(c);
  const row = new Float64Array(c.K);
  const results = new Float64Array(c.M * c.N);
  for (let z = 0; z < c.batch; z++) {
    for (let r = 0; r < c.M; r++) {
      for (let k = 0; k < c.K; k++) {
        const v = a[aIndex(z, r, k)]!;
        row[k] = c.siluInput ? silu(v) : v;
      }
      for (let n = 0; n < c.N; n++) {
        const wb = z * c.wBatchStride + n * c.K;
        let acc = 0;
        for (let k = 0; k < c.K; k++) acc += row[k]! * w[wb + k]!;
        results[r * c.N + n] = acc;
      }
    }
    // The epilogue after every product: an in-place residual reads C before this problem writes it.
    for (let r = 0; r < c.M; r++) {
      for (let n = 0; n < c.N; n++) {
        const ci = c.cOffset + z * c.cBatchStride + r * c.cRowStride + n;
        let v = f(results[r * c.N + n]!);
        if (bias) v = f(v + bias[n]!);
        if (c.gelu) v = geluTanh(v);
        if (g) {
          const gv = gate![g.gateOffset + Math.floor(r / g.tokens) * g.gateRowStride + n]!;
          v = f((g.inPlace ? out[ci]! : residual![ci]!) + f(gv * v));
        }
        out[ci] = v;
      }
    }
  }
}

function aLayout(c: MatmulConfig): (z: number, r: number, k: number) => number {
  const l = c.a;
  if (l.kind === 'rows') return (z, r, k) => l.offset + z * l.batchStride + r * l.rowStride + k;
  const { channels: C, height: H, width: W, patch: P } = l;
  const base = l.offset ?? 0;
  const gw = W / P;
  const per = (H / P) * gw;
  return (_z, r, k) => {
    const img = Math.floor(r / per);
    const tok = r % per;
    const pr = Math.floor(tok / gw);
    const pc = tok % gw;
    const ch = Math.floor(k / (P * P));
    const u = Math.floor((k % (P * P)) / P);
    const v = k % P;
    return base + ((img * C + ch) * H + pr * P + u) * W + pc * P + v;
  };
}
