/**
 * Images from sampled tensors: pixel = clamp(127.5·x + 128, 0, 255) truncated (as DiT saves them),
 * laid out as a grid PNG. 1-channel tensors become grey, 3-channel RGB; other channel counts use the
 * first channel.
 */
import { PNG } from 'pngjs';
import type { Tensor } from '../core/tensor.ts';
import { DittoError } from '../core/errors.ts';

export function toByte(x: number): number {
  const v = Math.trunc(127.5 * x + 128);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

export interface GridOptions {
  columns?: number;
  padding?: number;
}

/** Encodes images [N, C, H, W] (values in [-1, 1]) as one PNG grid. */
export function encodeGridPng(images: Tensor, opts: GridOptions = {}): Buffer {
  if (images.shape.length !== 4) throw new DittoError('E_INPUT', `an image grid needs [N, C, H, W], got [${images.shape.join(', ')}]`);
  const [n, c, h, w] = images.shape as [number, number, number, number];
  const cols = Math.max(1, Math.min(n, opts.columns ?? Math.ceil(Math.sqrt(n))));
  const rows = Math.ceil(n / cols);
  const pad = opts.padding ?? 2;
  const W = cols * w + (cols + 1) * pad;
  const H = rows * h + (rows + 1) * pad;
  const png = new PNG({ width: W, height: H });
  png.data.fill(255);
  const d = images.data;
  for (let k = 0; k < n; k++) {
    const ox = pad + (k % cols) * (w + pad);
    const oy = pad + Math.floor(k / cols) * (h + pad);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const at = (ch: number) => toByte(d[((k * c + ch) * h + y) * w + x]!);
        const r = at(0);
        const g = c >= 3 ? at(1) : r;
        const b = c >= 3 ? at(2) : r;
        const o = ((oy + y) * W + (ox + x)) * 4;
        png.data[o] = r;
        png.data[o + 1] = g;
        png.data[o + 2] = b;
        png.data[o + 3] = 255;
      }
    }
  }
  return PNG.sync.write(png);
}

/** Encodes each image of [N, C, H, W] (values in [-1, 1]) as a PNG of its own, in batch order. */
export function encodeImagePngs(images: Tensor): Buffer[] {
  if (images.shape.length !== 4) throw new DittoError('E_INPUT', `images need [N, C, H, W], got [${images.shape.join(', ')}]`);
  const [n, c, h, w] = images.shape as [number, number, number, number];
  const per = c * h * w;
  return Array.from({ length: n }, (_, k) =>
    encodeGridPng({ dtype: 'f32', shape: [1, c, h, w], data: images.data.subarray(k * per, (k + 1) * per) }, { columns: 1, padding: 0 }),
  );
}
