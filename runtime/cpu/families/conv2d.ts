/** CPU definition of the `conv2d` family (compiler/kernels/conv2d.ts): stride-1 convolution over the
 *  (optionally nearest-upsampled) input with zero padding, + bias, + residual; sums in f64. */
import { conv2dOutputSize, type Conv2dConfig } from '../../../compiler/kernels/conv2d.ts';
import { f, type Elements } from './types.ts';

export function conv2d(c: Conv2dConfig, bindings: Elements[]): void {
  let i = 0;
  const x = bindings[i++]!;
  const w = bindings[i++]!;
  const bias = c.bias ? bindings[i++]! : undefined;
  const residual = c.residual === 'buffer' ? bindings[i++]! : undefined;
  const y = bindings[i]!;
  const [OH, OW] = conv2dOutputSize(c);
  const up = c.upsample;
  const UH = c.H * up;
  const UW = c.W * up;
  const k = c.kernel;
  const p = c.padding;
  const result = new Float32Array(c.B * c.Cout * OH * OW);
  for (let b = 0; b < c.B; b++) {
    for (let o = 0; o < c.Cout; o++) {
      for (let oy = 0; oy < OH; oy++) {
        for (let ox = 0; ox < OW; ox++) {
          let acc = 0;
          for (let ch = 0; ch < c.Cin; ch++) {
            for (let u = 0; u < k; u++) {
              const iy = oy + u - p;
              if (iy < 0 || iy >= UH) continue;
              for (let v = 0; v < k; v++) {
                const ix = ox + v - p;
                if (ix < 0 || ix >= UW) continue;
                const xv = x[((b * c.Cin + ch) * c.H + Math.floor(iy / up)) * c.W + Math.floor(ix / up)]!;
                acc += w[((o * c.Cin + ch) * k + u) * k + v]! * xv;
              }
            }
          }
          const oi = ((b * c.Cout + o) * OH + oy) * OW + ox;
          let val = f(acc);
          if (bias) val = f(val + bias[o]!);
          if (c.residual === 'buffer') val = f(val + residual![oi]!);
          else if (c.residual === 'inPlace') val = f(val + y[oi]!);
          result[oi] = val;
        }
      }
    }
  }
  y.set(result);
}
