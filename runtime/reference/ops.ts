/**
 * Plain TypeScript implementations of every Graph IR op (compiler/ir/graph.ts), on host tensors.
 * These define what each op computes; the GPU kernels are tested against them. Storage is f32;
 * sums (matmul, layernorm statistics, softmax) accumulate in JS numbers (f64) and round once.
 * Clear before fast, but loops are arranged so DiT-S/2 runs in seconds (row-cached matmul).
 */
import { DittoError, invariant } from '../../core/errors.ts';
import { numel, shapeString, tensor, type Tensor } from '../../core/tensor.ts';
import { binaryShape } from '../../compiler/ir/shapes.ts';
import { posEmbed2d as posEmbedData } from '../weights/posEmbed.ts';

function f32(t: Tensor, what: string): Float32Array {
  invariant(t.data instanceof Float32Array, `${what} expects an f32 tensor, got ${t.dtype} ${shapeString(t.shape)}`);
  return t.data;
}

function lastDim(t: Tensor): number {
  return t.shape[t.shape.length - 1] ?? 1;
}

/** Conv2d with kernel = stride = p, then tokens in row-major patch order: [B,C,H,W] → [B,T,dim]. */
export function patchEmbed(x: Tensor, weight: Tensor, bias: Tensor, patch: number): Tensor {
  const [B, C, H, W] = x.shape as [number, number, number, number];
  const dim = weight.shape[0]!;
  const gh = H / patch;
  const gw = W / patch;
  const xs = f32(x, 'patch_embed');
  const ws = f32(weight, 'patch_embed');
  const bs = f32(bias, 'patch_embed');
  const out = new Float32Array(B * gh * gw * dim);
  const K = C * patch * patch;
  const patchVec = new Float64Array(K);
  for (let b = 0; b < B; b++) {
    for (let gi = 0; gi < gh; gi++) {
      for (let gj = 0; gj < gw; gj++) {
        // The patch, in the weight's (c, u, v) order.
        for (let c = 0; c < C; c++)
          for (let u = 0; u < patch; u++)
            for (let v = 0; v < patch; v++)
              patchVec[(c * patch + u) * patch + v] = xs[((b * C + c) * H + gi * patch + u) * W + gj * patch + v]!;
        const o = ((b * gh + gi) * gw + gj) * dim;
        for (let d = 0; d < dim; d++) {
          let s = 0;
          const wo = d * K;
          for (let k = 0; k < K; k++) s += patchVec[k]! * ws[wo + k]!;
          out[o + d] = s + bs[d]!;
        }
      }
    }
  }
  return tensor([B, gh * gw, dim], out);
}

/**
 * The fixed 2-D sin-cos position embedding [1, grid², dim] (runtime/weights/posEmbed.ts: f64,
 * rounded to f32; first half of the channels the column, second half the row, each [sin, cos]).
 */
export function posEmbed2d(grid: number, dim: number): Tensor {
  return tensor([1, grid * grid, dim], posEmbedData(dim, grid));
}

/**
 * Sinusoidal timestep embedding [B] → [B, dim]: [cos(t·f), sin(t·f)], f_j = exp(−ln(maxPeriod)·j/half).
 * Each intermediate is rounded to f32 in the order PyTorch's DiT code evaluates it, because the
 * arguments reach ~1000 rad and one f32 ulp there moves cos by ~6e-5.
 */
export function timestepEmbed(t: Tensor, dim: number, maxPeriod: number): Tensor {
  const B = t.shape[0]!;
  const ts = f32(t, 'timestep_embed');
  const half = dim / 2;
  const out = new Float32Array(B * dim);
  const negLog = Math.fround(-Math.log(maxPeriod));
  const freqs = new Float32Array(half);
  for (let j = 0; j < half; j++) freqs[j] = Math.exp(Math.fround(Math.fround(negLog * j) / half));
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < half; j++) {
      const a = Math.fround(ts[b]! * freqs[j]!);
      out[b * dim + j] = Math.cos(a);
      out[b * dim + half + j] = Math.sin(a);
    }
  }
  return tensor([B, dim], out);
}

/** Row lookup: ids [B] (i32) → [B, dim]. An id outside the table is a user error (bad class id). */
export function embedding(ids: Tensor, table: Tensor): Tensor {
  const [rows, dim] = table.shape as [number, number];
  const ts = f32(table, 'embedding');
  const B = ids.shape[0]!;
  const out = new Float32Array(B * dim);
  for (let b = 0; b < B; b++) {
    const id = ids.data[b]!;
    if (!Number.isInteger(id) || id < 0 || id >= rows) {
      throw new DittoError('E_INPUT', `class id ${id} at batch index ${b} is outside the embedding table of ${rows} rows (0..${rows - 1})`);
    }
    out.set(ts.subarray(id * dim, (id + 1) * dim), b * dim);
  }
  return tensor([B, dim], out);
}

/**
 * y = x·Wᵀ + b over the last axis. Blocked for speed in plain JS: two input rows (copied to f64)
 * against four weight rows at a time, eight running sums. Each output is still one f64 sum over
 * the input features in order, so the result does not depend on the blocking.
 */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | undefined): Tensor {
  const [O, I] = weight.shape as [number, number];
  const xs = f32(x, 'linear');
  const ws = f32(weight, 'linear');
  const bs = bias ? f32(bias, 'linear') : undefined;
  const rows = xs.length / I;
  const out = new Float32Array(rows * O);
  const a = new Float64Array(I);
  const b = new Float64Array(I);
  // The bias joins the f64 sum before the one rounding to f32 (adding 0 is exact).
  const bias0 = (o: number) => (bs ? bs[o]! : 0);
  const dot = (rowVals: Float64Array, o: number) => {
    let s = 0;
    for (let i = 0, wo = o * I; i < I; i++) s += rowVals[i]! * ws[wo + i]!;
    return s + bias0(o);
  };
  for (let r = 0; r < rows; r += 2) {
    const pair = r + 1 < rows;
    for (let i = 0; i < I; i++) a[i] = xs[r * I + i]!;
    if (pair) for (let i = 0; i < I; i++) b[i] = xs[(r + 1) * I + i]!;
    const oa = r * O;
    const ob = oa + O;
    let o = 0;
    if (pair) {
      for (; o + 4 <= O; o += 4) {
        const w0 = o * I;
        const w1 = w0 + I;
        const w2 = w1 + I;
        const w3 = w2 + I;
        let a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0; // prettier-ignore
        for (let i = 0; i < I; i++) {
          const va = a[i]!;
          const vb = b[i]!;
          const x0 = ws[w0 + i]!;
          const x1 = ws[w1 + i]!;
          const x2 = ws[w2 + i]!;
          const x3 = ws[w3 + i]!;
          a0 += va * x0;
          a1 += va * x1;
          a2 += va * x2;
          a3 += va * x3;
          b0 += vb * x0;
          b1 += vb * x1;
          b2 += vb * x2;
          b3 += vb * x3;
        }
        out[oa + o] = a0 + bias0(o);
        out[oa + o + 1] = a1 + bias0(o + 1);
        out[oa + o + 2] = a2 + bias0(o + 2);
        out[oa + o + 3] = a3 + bias0(o + 3);
        out[ob + o] = b0 + bias0(o);
        out[ob + o + 1] = b1 + bias0(o + 1);
        out[ob + o + 2] = b2 + bias0(o + 2);
        out[ob + o + 3] = b3 + bias0(o + 3);
      }
      for (; o < O; o++) {
        out[oa + o] = dot(a, o);
        out[ob + o] = dot(b, o);
      }
    } else {
      for (; o < O; o++) out[oa + o] = dot(a, o);
    }
  }
  return tensor([...x.shape.slice(0, -1), O], out);
}

/** LayerNorm over the last axis: (x − mean)/sqrt(var + eps), biased variance, no affine. */
export function layernorm(x: Tensor, eps: number): Tensor {
  const D = lastDim(x);
  const xs = f32(x, 'layernorm');
  const out = new Float32Array(xs.length);
  for (let r = 0; r < xs.length / D; r++) {
    const o = r * D;
    let mean = 0;
    for (let d = 0; d < D; d++) mean += xs[o + d]!;
    mean /= D;
    let v = 0;
    for (let d = 0; d < D; d++) v += (xs[o + d]! - mean) ** 2;
    const inv = 1 / Math.sqrt(v / D + eps);
    for (let d = 0; d < D; d++) out[o + d] = (xs[o + d]! - mean) * inv;
  }
  return tensor(x.shape, out);
}

/** x·(1 + scale) + shift; x [B,T,D], shift and scale [B,D] broadcast over tokens. */
export function modulate(x: Tensor, shift: Tensor, scale: Tensor): Tensor {
  const [B, T, D] = x.shape as [number, number, number];
  const xs = f32(x, 'modulate');
  const sh = f32(shift, 'modulate');
  const sc = f32(scale, 'modulate');
  const out = new Float32Array(xs.length);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let d = 0; d < D; d++) {
        const i = (b * T + t) * D + d;
        out[i] = xs[i]! * (1 + sc[b * D + d]!) + sh[b * D + d]!;
      }
  return tensor(x.shape, out);
}

/**
 * Self-attention core on fused qkv [B,T,3D], timm layout: element (t, s, h, e) of the last axis at
 * s·D + h·hd + e with s = 0,1,2 for q,k,v. out[b,t,h·hd+e] = Σ_u softmax_u(q_t·k_u / sqrt(hd)) v_u[e].
 */
export function attention(qkv: Tensor, heads: number): Tensor {
  const [B, T, D3] = qkv.shape as [number, number, number];
  const D = D3 / 3;
  const hd = D / heads;
  const xs = f32(qkv, 'attention');
  const out = new Float32Array(B * T * D);
  const scale = 1 / Math.sqrt(hd);
  const p = new Float64Array(T);
  const acc = new Float64Array(hd);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      for (let t = 0; t < T; t++) {
        const q = (b * T + t) * D3 + h * hd;
        let max = -Infinity;
        for (let u = 0; u < T; u++) {
          const k = (b * T + u) * D3 + D + h * hd;
          let s = 0;
          for (let e = 0; e < hd; e++) s += xs[q + e]! * xs[k + e]!;
          p[u] = s * scale;
          if (p[u]! > max) max = p[u]!;
        }
        let z = 0;
        for (let u = 0; u < T; u++) {
          p[u] = Math.exp(p[u]! - max);
          z += p[u]!;
        }
        acc.fill(0);
        for (let u = 0; u < T; u++) {
          const v = (b * T + u) * D3 + 2 * D + h * hd;
          const w = p[u]! / z;
          for (let e = 0; e < hd; e++) acc[e] += w * xs[v + e]!;
        }
        const o = (b * T + t) * D + h * hd;
        for (let e = 0; e < hd; e++) out[o + e] = acc[e]!;
      }
    }
  }
  return tensor([B, T, D], out);
}

const GELU_C = Math.sqrt(2 / Math.PI);

export function unary(x: Tensor, fn: 'silu' | 'gelu_tanh' | 'neg'): Tensor {
  const xs = f32(x, fn);
  const out = new Float32Array(xs.length);
  for (let i = 0; i < xs.length; i++) {
    const u = xs[i]!;
    out[i] =
      fn === 'silu' ? u / (1 + Math.exp(-u)) : fn === 'neg' ? -u : 0.5 * u * (1 + Math.tanh(GELU_C * (u + 0.044715 * u * u * u)));
  }
  return tensor(x.shape, out);
}

function applyBinary(fn: 'add' | 'sub' | 'mul' | 'div', a: number, b: number): number {
  switch (fn) {
    case 'add':
      return a + b;
    case 'sub':
      return a - b;
    case 'mul':
      return a * b;
    case 'div':
      return a / b;
  }
}

/** Row-major strides of `shape` right-aligned into rank `rank`, 0 on broadcast (size-1 or missing) axes. */
function broadcastStrides(shape: readonly number[], out: readonly number[]): number[] {
  const rank = out.length;
  const strides = new Array<number>(rank).fill(0);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const axis = rank - shape.length + i;
    strides[axis] = shape[i] === 1 && out[axis] !== 1 ? 0 : s;
    s *= shape[i]!;
  }
  return strides;
}

/**
 * Elementwise a ∘ b. `numpy`: right-aligned broadcasting. `per_sample`: the rank-2 operand [B,D]
 * is broadcast over the token axis of the rank-3 operand [B,T,D].
 */
export function binary(a: Tensor, b: Tensor, fn: 'add' | 'sub' | 'mul' | 'div', rule: 'numpy' | 'per_sample'): Tensor {
  const shape = binaryShape(a.shape, b.shape, rule);
  const as = f32(a, fn);
  const bs = f32(b, fn);
  // A per-sample [B,D] operand is the numpy broadcast of [B,1,D].
  const view = (t: Tensor) => (rule === 'per_sample' && t.shape.length === 2 ? [t.shape[0]!, 1, t.shape[1]!] : t.shape);
  const sa = broadcastStrides(view(a), shape);
  const sb = broadcastStrides(view(b), shape);
  const n = numel(shape);
  const out = new Float32Array(n);
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  let ia = 0;
  let ib = 0;
  for (let i = 0; i < n; i++) {
    out[i] = applyBinary(fn, as[ia]!, bs[ib]!);
    // Odometer increment of the multi-index, keeping both operand offsets in step.
    for (let ax = rank - 1; ax >= 0; ax--) {
      idx[ax]!++;
      ia += sa[ax]!;
      ib += sb[ax]!;
      if (idx[ax]! < shape[ax]!) break;
      ia -= sa[ax]! * shape[ax]!;
      ib -= sb[ax]! * shape[ax]!;
      idx[ax] = 0;
    }
  }
  return tensor(shape, out);
}

/** The `index`-th of `parts` equal slices of the last axis. */
export function chunk(x: Tensor, parts: number, index: number): Tensor {
  const D = lastDim(x);
  const w = D / parts;
  const rows = x.data.length / D;
  const shape = [...x.shape.slice(0, -1), w];
  const src = x.data;
  const out = src instanceof Float32Array ? new Float32Array(rows * w) : new Int32Array(rows * w);
  for (let r = 0; r < rows; r++) out.set(src.subarray(r * D + index * w, r * D + (index + 1) * w), r * w);
  return { dtype: x.dtype, shape, data: out };
}

/** [B,T,p·p·C] → [B,C,g·p,g·p]: token (gi,gj) element (u·p+v)·C + c → pixel (gi·p+u, gj·p+v). */
export function unpatchify(x: Tensor, patch: number, channels: number, grid: number): Tensor {
  const B = x.shape[0]!;
  const xs = f32(x, 'unpatchify');
  const side = grid * patch;
  const out = new Float32Array(B * channels * side * side);
  const width = patch * patch * channels;
  for (let b = 0; b < B; b++)
    for (let gi = 0; gi < grid; gi++)
      for (let gj = 0; gj < grid; gj++)
        for (let u = 0; u < patch; u++)
          for (let v = 0; v < patch; v++)
            for (let c = 0; c < channels; c++) {
              const src = (b * grid * grid + gi * grid + gj) * width + (u * patch + v) * channels + c;
              out[((b * channels + c) * side + gi * patch + u) * side + gj * patch + v] = xs[src]!;
            }
  return tensor([B, channels, side, side], out);
}
