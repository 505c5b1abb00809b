/**
 * Reference implementations of the image ops of the Graph IR (the VAE decoder, docs/vae.md):
 * conv2d, group_norm, upsample_nearest, to_tokens, to_image, concat. Like ops.ts they define what
 * the ops compute; storage is f32 and sums accumulate in JS numbers (f64), rounded once.
 *
 * conv2d is arranged for speed without losing clarity: one f64 output plane per (sample, output
 * channel), accumulated tap by tap as `plane[y][x] += w · in[y+u−p][x+v−p]` over the x range the
 * padding leaves valid, so the inner loop is a contiguous axpy.
 */
import { invariant } from '../../core/errors.ts';
import { shapeString, tensor, type Tensor } from '../../core/tensor.ts';

function f32(t: Tensor, what: string): Float32Array {
  invariant(t.data instanceof Float32Array, `${what} expects an f32 tensor, got ${t.dtype} ${shapeString(t.shape)}`);
  return t.data;
}

/** Stride-1 2-D convolution with `padding` zeros per side. x [B,Cin,H,W], weight [Cout,Cin,k,k]. */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | undefined, padding: number): Tensor {
  const [B, C, H, W] = x.shape as [number, number, number, number];
  const [O, Cw, k] = weight.shape as [number, number, number, number];
  invariant(Cw === C, `conv2d: weight ${shapeString(weight.shape)} does not take ${C} channels`);
  const OH = H + 2 * padding - k + 1;
  const OW = W + 2 * padding - k + 1;
  const xs = f32(x, 'conv2d');
  const ws = f32(weight, 'conv2d');
  const bs = bias ? f32(bias, 'conv2d') : undefined;
  const out = new Float32Array(B * O * OH * OW);
  const plane = new Float64Array(OH * OW);
  for (let b = 0; b < B; b++) {
    for (let o = 0; o < O; o++) {
      plane.fill(bs ? bs[o]! : 0);
      for (let c = 0; c < C; c++) {
        const xBase = (b * C + c) * H * W;
        for (let u = 0; u < k; u++) {
          // Output rows whose input row y + u − p lies inside the image.
          const y0 = Math.max(0, padding - u);
          const y1 = Math.min(OH, H + padding - u);
          for (let v = 0; v < k; v++) {
            const wv = ws[((o * C + c) * k + u) * k + v]!;
            if (wv === 0) continue;
            const x0 = Math.max(0, padding - v);
            const x1 = Math.min(OW, W + padding - v);
            for (let y = y0; y < y1; y++) {
              const src = xBase + (y + u - padding) * W + (v - padding);
              const dst = y * OW;
              for (let xx = x0; xx < x1; xx++) plane[dst + xx] += wv * xs[src + xx]!;
            }
          }
        }
      }
      out.set(plane, (b * O + o) * OH * OW);
    }
  }
  return tensor([B, O, OH, OW], out);
}

/** GroupNorm of x [B, C, …spatial]: two-pass f64 statistics per (sample, group), then the per-channel affine. */
export function groupNorm(x: Tensor, weight: Tensor, bias: Tensor, groups: number, eps: number): Tensor {
  const [B, C] = x.shape as [number, number];
  const spatial = x.shape.slice(2).reduce((a, d) => a * d, 1);
  const per = C / groups;
  invariant(Number.isInteger(per), `group_norm: ${C} channels are not divisible into ${groups} groups`);
  const xs = f32(x, 'group_norm');
  const gs = f32(weight, 'group_norm');
  const bs = f32(bias, 'group_norm');
  const out = new Float32Array(xs.length);
  const n = per * spatial;
  for (let b = 0; b < B; b++) {
    for (let g = 0; g < groups; g++) {
      const base = (b * C + g * per) * spatial;
      let s = 0;
      for (let i = 0; i < n; i++) s += xs[base + i]!;
      const mean = s / n;
      let q = 0;
      for (let i = 0; i < n; i++) {
        const d = xs[base + i]! - mean;
        q += d * d;
      }
      const rstd = 1 / Math.sqrt(q / n + eps);
      for (let c = 0; c < per; c++) {
        const ch = g * per + c;
        const o = base + c * spatial;
        for (let i = 0; i < spatial; i++) out[o + i] = (xs[o + i]! - mean) * rstd * gs[ch]! + bs[ch]!;
      }
    }
  }
  return tensor([...x.shape], out);
}

/** Nearest-neighbour upsampling by an integer factor: [B,C,H,W] → [B,C,fH,fW]. */
export function upsampleNearest(x: Tensor, factor: number): Tensor {
  const [B, C, H, W] = x.shape as [number, number, number, number];
  const OH = H * factor;
  const OW = W * factor;
  const xs = f32(x, 'upsample_nearest');
  const out = new Float32Array(B * C * OH * OW);
  for (let p = 0; p < B * C; p++) {
    for (let y = 0; y < OH; y++) {
      const src = (p * H + Math.floor(y / factor)) * W;
      const dst = (p * OH + y) * OW;
      for (let xx = 0; xx < OW; xx++) out[dst + xx] = xs[src + Math.floor(xx / factor)]!;
    }
  }
  return tensor([B, C, OH, OW], out);
}

/** [B,C,H,W] → [B,H·W,C]. */
export function toTokens(x: Tensor): Tensor {
  const [B, C, H, W] = x.shape as [number, number, number, number];
  const xs = f32(x, 'to_tokens');
  const T = H * W;
  const out = new Float32Array(xs.length);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let t = 0; t < T; t++) out[(b * T + t) * C + c] = xs[(b * C + c) * T + t]!;
  return tensor([B, T, C], out);
}

/** [B,H·W,C] → [B,C,H,W]. */
export function toImage(x: Tensor, height: number, width: number): Tensor {
  const [B, T, C] = x.shape as [number, number, number];
  invariant(T === height * width, `to_image: ${T} tokens is not ${height}×${width}`);
  const xs = f32(x, 'to_image');
  const out = new Float32Array(xs.length);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let t = 0; t < T; t++) out[(b * C + c) * T + t] = xs[(b * T + t) * C + c]!;
  return tensor([B, C, height, width], out);
}

/** Concatenation along the last axis. */
export function concat(parts: readonly Tensor[]): Tensor {
  const first = parts[0]!;
  const lead = first.shape.slice(0, -1);
  const rows = lead.reduce((a, d) => a * d, 1);
  const widths = parts.map((p) => p.shape[p.shape.length - 1]!);
  const total = widths.reduce((a, d) => a + d, 0);
  const out = new Float32Array(rows * total);
  let off = 0;
  parts.forEach((p, k) => {
    const ps = f32(p, 'concat');
    const wk = widths[k]!;
    for (let r = 0; r < rows; r++) out.set(ps.subarray(r * wk, (r + 1) * wk), r * total + off);
    off += wk;
  });
  return tensor([...lead, total], out);
}
