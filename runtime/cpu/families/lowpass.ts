/** CPU definition of the `lowpass` family (compiler/kernels/lowpass.ts): each output element is the
 *  circular convolution of its H×W plane with `lowpassKernel`, summed in the kernel's order with f32
 *  rounding per operation. */
import { lowpassKernel } from '../../../compiler/ir/rules.ts';
import type { LowpassConfig } from '../../../compiler/kernels/lowpass.ts';
import { f, type Elements } from './types.ts';

export function lowpass(c: LowpassConfig, bindings: Elements[]): void {
  const [x, out] = bindings as [Elements, Elements];
  const { H, W } = c;
  const k = Float32Array.from(lowpassKernel(H, W, c.radius));
  const n = H * W;
  for (let p = 0; p < c.planes * n; p += n) {
    for (let y = 0; y < H; y++) {
      for (let xo = 0; xo < W; xo++) {
        let acc = 0;
        for (let yy = 0; yy < H; yy++) {
          const dy = (y + H - yy) % H;
          for (let xx = 0; xx < W; xx++) acc = f(acc + f(k[dy * W + ((xo + W - xx) % W)]! * x[p + yy * W + xx]!));
        }
        out[p + y * W + xo] = acc;
      }
    }
  }
}
