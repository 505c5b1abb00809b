/**
 * An RGBA picture to compose image grids and text labels on (demo.png), encoded as PNG.
 */
import { PNG } from 'pngjs';
import { DittoError } from '../../core/errors.ts';
import type { Tensor } from '../../core/tensor.ts';
import { toByte } from '../../runtime/image.ts';
import { glyph, GLYPH_ADVANCE, GLYPH_HEIGHT, GLYPH_WIDTH } from './font5x7.ts';

export class Canvas {
  readonly data: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
    background = 255,
  ) {
    this.data = new Uint8Array(width * height * 4).fill(background);
  }

  setPixel(x: number, y: number, r: number, g: number, b: number): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const o = (y * this.width + x) * 4;
    this.data[o] = r;
    this.data[o + 1] = g;
    this.data[o + 2] = b;
    this.data[o + 3] = 255;
  }

  /** Draws `text` with its top-left corner at (x, y), each font pixel `scale`×`scale`. */
  text(text: string, x: number, y: number, scale = 1, grey = 0): void {
    [...text].forEach((ch, k) => {
      glyph(ch).forEach((row, gy) =>
        row.forEach((ink, gx) => {
          if (!ink) return;
          for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) this.setPixel(x + (k * GLYPH_ADVANCE + gx) * scale + dx, y + gy * scale + dy, grey, grey, grey);
        }),
      );
    });
  }

  /**
   * Draws images [N, C, H, W] (values in [-1, 1]) as a grid with `columns` columns and `pad`
   * pixels between cells, top-left at (x, y), every image pixel drawn `zoom`×`zoom` (28-pixel
   * images are tiny on a screen). Returns the grid's size.
   */
  grid(images: Tensor, x: number, y: number, columns: number, pad: number, zoom = 1): { width: number; height: number } {
    if (images.shape.length !== 4) throw new DittoError('E_INPUT', `an image grid needs [N, C, H, W], got [${images.shape.join(', ')}]`);
    const [n, c, h, w] = images.shape as [number, number, number, number];
    const d = images.data;
    for (let k = 0; k < n; k++) {
      const ox = x + (k % columns) * (w * zoom + pad);
      const oy = y + Math.floor(k / columns) * (h * zoom + pad);
      for (let py = 0; py < h; py++) {
        for (let px = 0; px < w; px++) {
          const at = (ch: number) => toByte(d[((k * c + ch) * h + py) * w + px]!);
          const r = at(0);
          const g = c >= 3 ? at(1) : r;
          const b = c >= 3 ? at(2) : r;
          for (let dy = 0; dy < zoom; dy++) for (let dx = 0; dx < zoom; dx++) this.setPixel(ox + px * zoom + dx, oy + py * zoom + dy, r, g, b);
        }
      }
    }
    return gridSize(n, h * zoom, w * zoom, columns, pad);
  }

  encodePng(): Buffer {
    const png = new PNG({ width: this.width, height: this.height });
    png.data.set(this.data);
    return PNG.sync.write(png);
  }
}

export function gridSize(n: number, h: number, w: number, columns: number, pad: number): { width: number; height: number } {
  const rows = Math.ceil(n / columns);
  return { width: columns * w + (columns - 1) * pad, height: rows * h + (rows - 1) * pad };
}

export const FONT = { width: GLYPH_WIDTH, height: GLYPH_HEIGHT, advance: GLYPH_ADVANCE };
