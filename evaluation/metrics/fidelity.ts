/**
 * Fidelity of one image batch to another (a cached schedule's output against the no-cache output
 * from the same noise): PSNR, relative L2 and SSIM. Images are [N, C, H, W] floats in [-1, 1].
 *
 * - PSNR pools the squared error over the whole batch: 10·log10(range² / MSE) with range 2 (the
 *   span of [-1, 1]); identical batches give +∞. Pooling keeps one bad image from hiding behind
 *   many perfect ones' infinite per-image scores; `psnrPerImage` gives the per-image values.
 * - Relative L2 = ‖a − ref‖₂ / ‖ref‖₂ over the whole batch.
 * - SSIM (Wang et al. 2004, single scale): pixels mapped to [0, 1], Gaussian window 11×11 with
 *   σ = 1.5, K₁ = 0.01, K₂ = 0.03, L = 1, population (biased) local variances, averaged over the
 *   'valid' positions of each channel, then over channels and images.
 */
import { DittoError } from '../../core/errors.ts';
import { shapeString, type Tensor } from '../../core/tensor.ts';

const RANGE = 2;

function checkPair(a: Tensor, b: Tensor, what: string): [number, number, number, number] {
  if (a.shape.length !== 4 || b.shape.length !== 4) {
    throw new DittoError('E_INPUT', `${what}: images must be [N, C, H, W], got ${shapeString(a.shape)} and ${shapeString(b.shape)}`);
  }
  if (a.shape.some((d, i) => d !== b.shape[i])) {
    throw new DittoError('E_INPUT', `${what}: the two image batches differ in shape: ${shapeString(a.shape)} vs ${shapeString(b.shape)}`);
  }
  if (a.dtype !== 'f32' || b.dtype !== 'f32') throw new DittoError('E_INPUT', `${what}: images must be float tensors`);
  const [n, c, h, w] = a.shape as [number, number, number, number];
  if (n * c * h * w === 0) throw new DittoError('E_INPUT', `${what}: the batches are empty (${shapeString(a.shape)})`);
  return [n, c, h, w];
}

function psnrOfMse(mse: number): number {
  return mse === 0 ? Infinity : 10 * Math.log10((RANGE * RANGE) / mse);
}

/** PSNR in dB of `a` against `ref`, the squared error pooled over the batch. */
export function psnr(a: Tensor, ref: Tensor): number {
  checkPair(a, ref, 'PSNR');
  let se = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = a.data[i]! - ref.data[i]!;
    se += d * d;
  }
  return psnrOfMse(se / a.data.length);
}

/** PSNR in dB of each image of `a` against the same image of `ref`. */
export function psnrPerImage(a: Tensor, ref: Tensor): Float64Array {
  const [n, c, h, w] = checkPair(a, ref, 'PSNR');
  const per = c * h * w;
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let se = 0;
    for (let i = k * per; i < (k + 1) * per; i++) {
      const d = a.data[i]! - ref.data[i]!;
      se += d * d;
    }
    out[k] = psnrOfMse(se / per);
  }
  return out;
}

/** ‖a − ref‖₂ / ‖ref‖₂ over the batch (0 when both are zero, +∞ when only `ref` is). */
export function relativeL2(a: Tensor, ref: Tensor): number {
  checkPair(a, ref, 'relative L2');
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = a.data[i]! - ref.data[i]!;
    num += d * d;
    den += ref.data[i]! * ref.data[i]!;
  }
  if (den === 0) return num === 0 ? 0 : Infinity;
  return Math.sqrt(num / den);
}

export interface SsimOptions {
  /** Odd window side (default 11). */
  window?: number;
  /** Gaussian σ of the window (default 1.5). */
  sigma?: number;
}

function gaussian1d(size: number, sigma: number): Float64Array {
  const g = new Float64Array(size);
  const r = (size - 1) / 2;
  let s = 0;
  for (let i = 0; i < size; i++) {
    g[i] = Math.exp(-((i - r) ** 2) / (2 * sigma * sigma));
    s += g[i]!;
  }
  for (let i = 0; i < size; i++) g[i] /= s;
  return g;
}

/** 'valid' separable filtering of an h×w plane: [h − size + 1, w − size + 1]. */
function filterValid(x: Float64Array, h: number, w: number, g: Float64Array): Float64Array {
  const size = g.length;
  const oh = h - size + 1;
  const ow = w - size + 1;
  const rows = new Float64Array(h * ow);
  for (let y = 0; y < h; y++) {
    for (let xx = 0; xx < ow; xx++) {
      let s = 0;
      for (let k = 0; k < size; k++) s += g[k]! * x[y * w + xx + k]!;
      rows[y * ow + xx] = s;
    }
  }
  const out = new Float64Array(oh * ow);
  for (let y = 0; y < oh; y++) {
    for (let xx = 0; xx < ow; xx++) {
      let s = 0;
      for (let k = 0; k < size; k++) s += g[k]! * rows[(y + k) * ow + xx]!;
      out[y * ow + xx] = s;
    }
  }
  return out;
}

/** Mean SSIM of each image (averaged over its channels) of `a` against `ref`. */
export function ssimPerImage(a: Tensor, ref: Tensor, opts: SsimOptions = {}): Float64Array {
  const [n, c, h, w] = checkPair(a, ref, 'SSIM');
  const size = opts.window ?? 11;
  const sigma = opts.sigma ?? 1.5;
  if (!Number.isInteger(size) || size < 1 || size % 2 === 0) throw new DittoError('E_INPUT', `SSIM: the window side must be an odd positive integer, got ${size}`);
  if (!(sigma > 0)) throw new DittoError('E_INPUT', `SSIM: the window σ must be positive, got ${sigma}`);
  if (h < size || w < size) throw new DittoError('E_INPUT', `SSIM: images ${h}×${w} are smaller than the ${size}×${size} window`);
  const g = gaussian1d(size, sigma);
  const c1 = (0.01 * 1) ** 2;
  const c2 = (0.03 * 1) ** 2;
  const plane = h * w;
  const x = new Float64Array(plane);
  const y = new Float64Array(plane);
  const xx = new Float64Array(plane);
  const yy = new Float64Array(plane);
  const xy = new Float64Array(plane);
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let sum = 0;
    for (let ch = 0; ch < c; ch++) {
      const base = (k * c + ch) * plane;
      for (let i = 0; i < plane; i++) {
        // [-1, 1] → [0, 1], so the constants have their usual meaning for L = 1.
        const u = (a.data[base + i]! + 1) / 2;
        const v = (ref.data[base + i]! + 1) / 2;
        x[i] = u;
        y[i] = v;
        xx[i] = u * u;
        yy[i] = v * v;
        xy[i] = u * v;
      }
      const mx = filterValid(x, h, w, g);
      const my = filterValid(y, h, w, g);
      const mxx = filterValid(xx, h, w, g);
      const myy = filterValid(yy, h, w, g);
      const mxy = filterValid(xy, h, w, g);
      let s = 0;
      for (let i = 0; i < mx.length; i++) {
        const ux = mx[i]!;
        const uy = my[i]!;
        const vx = mxx[i]! - ux * ux;
        const vy = myy[i]! - uy * uy;
        const cxy = mxy[i]! - ux * uy;
        s += ((2 * ux * uy + c1) * (2 * cxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
      }
      sum += s / mx.length;
    }
    out[k] = sum / c;
  }
  return out;
}

/** Mean SSIM over the batch of `a` against `ref`. */
export function ssim(a: Tensor, ref: Tensor, opts: SsimOptions = {}): number {
  const per = ssimPerImage(a, ref, opts);
  let s = 0;
  for (const v of per) s += v;
  return s / per.length;
}
