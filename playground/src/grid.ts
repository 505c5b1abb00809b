/** Draws a batch of [-1, 1] images [N, C, H, W] on a canvas as one row, scaled up crisply. */
import type { Tensor } from '../../core/tensor.ts';

export function drawGrid(canvas: HTMLCanvasElement, images: Tensor, scale = 3): void {
  const [n, c, h, w] = images.shape as [number, number, number, number];
  const gap = 2;
  const cols = Math.min(n, 10);
  const rows = Math.ceil(n / cols);
  const img = new ImageData(cols * (w + gap) - gap, rows * (h + gap) - gap);
  img.data.fill(255);
  const byte = (v: number) => Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)));
  for (let i = 0; i < n; i++) {
    const ox = (i % cols) * (w + gap);
    const oy = Math.floor(i / cols) * (h + gap);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const at = 4 * ((oy + y) * img.width + ox + x);
        for (let ch = 0; ch < 3; ch++) img.data[at + ch] = byte(images.data[((i * c + (c === 3 ? ch : 0)) * h + y) * w + x]!);
        img.data[at + 3] = 255;
      }
    }
  }
  const tmp = document.createElement('canvas');
  tmp.width = img.width;
  tmp.height = img.height;
  tmp.getContext('2d')!.putImageData(img, 0, 0);
  canvas.width = img.width * scale;
  canvas.height = img.height * scale;
  const ctx = canvas.getContext('2d')!;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tmp, 0, 0, canvas.width, canvas.height);
}
