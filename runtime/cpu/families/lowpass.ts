/** CPU definition of the `lowpass` family (compiler/kernels/lowpass.ts): each output element is the
 *  circular convolution of its H×W plane with `lowpassKernel`, summed in the kernel's order with f32
 *  rounding per operation (`lowpassConvolve`, compiler/ir/rules.ts). */
import { lowpassConvolve } from '../../../compiler/ir/rules.ts';
import type { LowpassConfig } from '../../../compiler/kernels/lowpass.ts';
import type { Elements } from './types.ts';

export function lowpass(c: LowpassConfig, bindings: Elements[]): void {
  const [x, out] = bindings as [Elements, Elements];
  lowpassConvolve(x, out.length === c.planes * c.H * c.W ? out : out.subarray(0, c.planes * c.H * c.W), c.H, c.W, c.radius);
}
