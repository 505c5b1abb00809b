/**
 * Deliberately naive definitions of the image ops (straight from the formulas in
 * compiler/ir/graph.ts), the oracle for both the reference executor's ops and the GPU kernels.
 */
export function conv2dNaive(
  x: Float32Array, [B, C, H, W]: readonly number[], w: Float32Array, O: number, k: number, pad: number,
  opts: { bias?: Float32Array; residual?: Float32Array; upsample?: number } = {},
): Float32Array {
  const f = opts.upsample ?? 1;
  const IH = H * f, IW = W * f;
  const OH = IH + 2 * pad - k + 1, OW = IW + 2 * pad - k + 1;
  const out = new Float32Array(B * O * OH * OW);
  for (let b = 0; b < B; b++)
    for (let o = 0; o < O; o++)
      for (let y = 0; y < OH; y++)
        for (let xx = 0; xx < OW; xx++) {
          let s = opts.bias ? opts.bias[o]! : 0;
          for (let c = 0; c < C; c++)
            for (let u = 0; u < k; u++)
              for (let v = 0; v < k; v++) {
                const iy = y + u - pad, ix = xx + v - pad;
                if (iy < 0 || ix < 0 || iy >= IH || ix >= IW) continue;
                s += w[((o * C + c) * k + u) * k + v]! * x[((b * C + c) * H + Math.floor(iy / f)) * W + Math.floor(ix / f)]!;
              }
          const i = ((b * O + o) * OH + y) * OW + xx;
          out[i] = s + (opts.residual ? opts.residual[i]! : 0);
        }
  return out;
}

export function groupNormNaive(
  x: Float32Array, B: number, C: number, S: number, G: number, eps: number, gamma: Float32Array, beta: Float32Array, silu = false,
): Float32Array {
  const out = new Float32Array(x.length);
  const per = C / G;
  for (let b = 0; b < B; b++)
    for (let g = 0; g < G; g++) {
      const vals: number[] = [];
      for (let c = g * per; c < (g + 1) * per; c++) for (let s = 0; s < S; s++) vals.push(x[(b * C + c) * S + s]!);
      const mean = vals.reduce((a, v) => a + v, 0) / vals.length;
      const v = vals.reduce((a, t) => a + (t - mean) ** 2, 0) / vals.length;
      for (let c = g * per; c < (g + 1) * per; c++)
        for (let s = 0; s < S; s++) {
          const i = (b * C + c) * S + s;
          const y = ((x[i]! - mean) / Math.sqrt(v + eps)) * gamma[c]! + beta[c]!;
          out[i] = silu ? y / (1 + Math.exp(-y)) : y;
        }
    }
  return out;
}

/** [B, C, S] → [B, S, C]. */
export function nchwToTokens(x: Float32Array, B: number, C: number, S: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let s = 0; s < S; s++) out[(b * S + s) * C + c] = x[(b * C + c) * S + s]!;
  return out;
}
