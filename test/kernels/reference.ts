/**
 * Plain-JS references for the kernel families (f64 accumulation), written from the definitions in
 * the family doc comments, independently of the WGSL.
 */
import type { Expr, MatmulConfig, TensorView } from '../../compiler/kernels/index.ts';
import { uniformStream } from '../../core/random.ts';
import { roundToF16 } from '../../runtime/kernelRunner.ts';

export const silu = (x: number) => x / (1 + Math.exp(-x));
export const geluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3)));

export function randomArray(n: number, rng: () => number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (rng() * 2 - 1) * scale);
}

/** Deterministic PRNG (mulberry32) so a failing fast-check seed reproduces the same data. */
export function rngFrom(seed: number): () => number {
  return uniformStream(seed);
}

/** Applies the matmul config to host arrays; `c` holds the initial C (residual when in place). */
/** `f16Math`: A' (after SiLU) and each product rounded to f16, as the f16-math variants compute. */
export function matmulRef(cfg: MatmulConfig, d: { a: Float32Array; w: Float32Array; bias?: Float32Array; gate?: Float32Array; residual?: Float32Array; c: Float32Array }, f16Math = false): Float32Array {
  const h = (x: number) => (f16Math ? roundToF16(Float32Array.of(x))[0]! : x);
  const out = Float32Array.from(d.c);
  const { M, N, K } = cfg;
  const aAt = (z: number, r: number, k: number): number => {
    let v: number;
    if (cfg.a.kind === 'rows') v = d.a[cfg.a.offset + z * cfg.a.batchStride + r * cfg.a.rowStride + k]!;
    else {
      const { channels: C, height: H, width: W, patch: P } = cfg.a;
      const gw = W / P, per = (H / P) * gw;
      const img = Math.floor(r / per), tok = r % per, pr = Math.floor(tok / gw), pc = tok % gw;
      const ch = Math.floor(k / (P * P)), u = Math.floor((k % (P * P)) / P), vv = k % P;
      v = d.a[((img * C + ch) * H + pr * P + u) * W + pc * P + vv]!;
    }
    return h(cfg.siluInput ? silu(v) : v);
  };
  for (let z = 0; z < cfg.batch; z++)
    for (let r = 0; r < M; r++)
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += h(aAt(z, r, k) * h(d.w[z * cfg.wBatchStride + n * K + k]!));
        if (cfg.bias) s += d.bias![n]!;
        if (cfg.gelu) s = geluTanh(s);
        const ci = cfg.cOffset + z * cfg.cBatchStride + r * cfg.cRowStride + n;
        const g = cfg.gatedResidual;
        if (g) s = (g.inPlace ? d.c[ci]! : d.residual![ci]!) + d.gate![g.gateOffset + Math.floor(r / g.tokens) * g.gateRowStride + n]! * s;
        out[ci] = s;
      }
  return out;
}

export function layerNormModulateRef(x: Float32Array, rows: number, D: number, tokens: number, eps: number, mod: { data: Float32Array; rowStride: number; shiftOffset: number; scaleOffset: number } | null): Float32Array {
  const y = new Float32Array(rows * D);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let i = 0; i < D; i++) mean += x[r * D + i]!;
    mean /= D;
    let v = 0;
    for (let i = 0; i < D; i++) v += (x[r * D + i]! - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / D + eps);
    const mb = Math.floor(r / tokens) * (mod?.rowStride ?? 0);
    for (let i = 0; i < D; i++) {
      const n = (x[r * D + i]! - mean) * rstd;
      y[r * D + i] = mod ? n * (1 + mod.data[mb + mod.scaleOffset + i]!) + mod.data[mb + mod.shiftOffset + i]! : n;
    }
  }
  return y;
}

export function attentionRef(qkv: Float32Array, B: number, T: number, H: number, hd: number, scale = 1 / Math.sqrt(hd)): Float32Array {
  const D = H * hd;
  const out = new Float32Array(B * T * D);
  const at = (b: number, t: number, part: number, h: number, d: number) => qkv[(b * T + t) * 3 * D + part * D + h * hd + d]!;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < T; i++) {
        const s = new Float64Array(T);
        let mx = -Infinity;
        for (let j = 0; j < T; j++) {
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += at(b, i, 0, h, d) * at(b, j, 1, h, d);
          s[j] = dot * scale;
          mx = Math.max(mx, s[j]!);
        }
        let sum = 0;
        for (let j = 0; j < T; j++) sum += (s[j] = Math.exp(s[j]! - mx));
        for (let d = 0; d < hd; d++) {
          let o = 0;
          for (let j = 0; j < T; j++) o += s[j]! * at(b, j, 2, h, d);
          out[(b * T + i) * D + h * hd + d] = o / sum;
        }
      }
  return out;
}

export function viewIndex(v: TensorView, coords: readonly number[]): number {
  return coords.reduce((acc, c, k) => acc + c * v.strides[k]!, v.offset);
}

export function evalExpr(e: Expr, inputs: readonly number[], outputs: readonly number[], uniforms: ArrayLike<number>): number {
  const r = (x: Expr) => evalExpr(x, inputs, outputs, uniforms);
  switch (e.op) {
    case 'input': return inputs[e.index]!;
    case 'output': return outputs[e.index]!;
    case 'const': return Math.fround(e.value);
    case 'uniform': return uniforms[e.index]!;
    case 'neg': return -r(e.a);
    case 'exp': return Math.exp(r(e.a));
    case 'sqrt': return Math.sqrt(r(e.a));
    case 'log': return Math.log(r(e.a));
    case 'silu': return silu(r(e.a));
    case 'gelu_tanh': return geluTanh(r(e.a));
    case 'add': return r(e.a) + r(e.b);
    case 'sub': return r(e.a) - r(e.b);
    case 'mul': return r(e.a) * r(e.b);
    case 'div': return r(e.a) / r(e.b);
    case 'min': return Math.min(r(e.a), r(e.b));
    case 'max': return Math.max(r(e.a), r(e.b));
    case 'pow': return Math.pow(r(e.a), r(e.b));
  }
}

/** Iterates every coordinate of `shape` in row-major order. */
export function* coordsOf(shape: readonly number[]): Generator<number[]> {
  const total = shape.reduce((a, b) => a * b, 1);
  for (let idx = 0; idx < total; idx++) {
    const c = new Array<number>(shape.length);
    let rest = idx;
    for (let k = shape.length - 1; k >= 0; k--) {
      c[k] = rest % shape[k]!;
      rest = Math.floor(rest / shape[k]!);
    }
    yield c;
  }
}

export function timestepRef(t: Float32Array, dim: number, maxPeriod: number): Float32Array {
  const half = Math.floor(dim / 2);
  const out = new Float32Array(t.length * dim);
  for (let b = 0; b < t.length; b++)
    for (let j = 0; j < half; j++) {
      const arg = Math.fround(t[b]! * Math.fround(Math.exp((-Math.log(maxPeriod) * j) / half)));
      out[b * dim + j] = Math.cos(arg);
      out[b * dim + half + j] = Math.sin(arg);
    }
  return out;
}

export function unpatchifyRef(x: Float32Array, B: number, g: number, p: number, C: number): Float32Array {
  const side = g * p;
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++)
    for (let gi = 0; gi < g; gi++)
      for (let gj = 0; gj < g; gj++)
        for (let u = 0; u < p; u++)
          for (let v = 0; v < p; v++)
            for (let c = 0; c < C; c++)
              out[((b * C + c) * side + gi * p + u) * side + gj * p + v] = x[(b * g * g + gi * g + gj) * p * p * C + (u * p + v) * C + c]!;
  return out;
}

/** Direct Conv2d with kernel = stride = p, output tokens in row-major patch order. */
export function patchEmbedRef(x: Float32Array, B: number, C: number, S: number, p: number, w: Float32Array, bias: Float32Array, dim: number): Float32Array {
  const g = S / p;
  const out = new Float32Array(B * g * g * dim);
  for (let b = 0; b < B; b++)
    for (let gi = 0; gi < g; gi++)
      for (let gj = 0; gj < g; gj++)
        for (let o = 0; o < dim; o++) {
          let s = bias[o]!;
          for (let c = 0; c < C; c++)
            for (let u = 0; u < p; u++)
              for (let v = 0; v < p; v++) s += x[((b * C + c) * S + gi * p + u) * S + gj * p + v]! * w[((o * C + c) * p + u) * p + v]!;
          out[((b * g + gi) * g + gj) * dim + o] = s;
        }
  return out;
}
