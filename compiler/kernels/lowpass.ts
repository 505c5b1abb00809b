/**
 * Kernel family `lowpass`: FasterCache's low-frequency part of every H×W plane of a tensor
 * (compiler/ir/rules.ts "FasterCache's CFG-Cache frequency split"). The centred-DFT mask is
 * symmetric, so the low part is a real circular convolution with K = IDFT2(mask): one invocation
 * per output element sums K·x over its plane — exact, one pass, no complex scratch. The planes here
 * are small latent grids (O((HW)²) per plane: 1 M multiply-adds at 32×32), so a DFT's n log n is
 * not worth its two passes and complex buffers. K is baked into the text as constants.
 */
import { DittoError } from '../../core/errors.ts';
import { lowpassKernel } from '../ir/rules.ts';
import { assertPositiveInts, cacheKey, declareBindings, f32Lit } from './common.ts';
import type { EmittedKernel, KernelBinding } from './types.ts';

export interface LowpassConfig {
  /** Planes (the product of every dimension before the last two). */
  planes: number;
  H: number;
  W: number;
  /** Radius of the kept band, in frequency steps (FasterCache: ⌊min(H, W)/5⌋). */
  radius: number;
  workgroupSize: number;
}

/** Largest plane the family takes (its kernel is H·W constants in the shader text). */
export const LOWPASS_MAX_PLANE = 64 * 64;

export function selectLowpass(p: { planes: number; H: number; W: number; radius: number }): LowpassConfig {
  assertPositiveInts('lowpass', { planes: p.planes, H: p.H, W: p.W });
  if (!Number.isInteger(p.radius) || p.radius < 0) throw new DittoError('E_INTERNAL', `lowpass: radius must be a non-negative integer, got ${p.radius}`);
  if (p.H * p.W > LOWPASS_MAX_PLANE) throw new DittoError('E_CHECK', `the frequency split works on planes of at most ${LOWPASS_MAX_PLANE} values, but this one is ${p.H}×${p.W}`);
  return { ...p, workgroupSize: 64 };
}

export function emitLowpass(c: LowpassConfig): EmittedKernel {
  const n = c.planes * c.H * c.W;
  const bindings: KernelBinding[] = [
    { name: 'x', access: 'read', elemType: 'f32', elements: n },
    { name: 'out', access: 'read_write', elemType: 'f32', elements: n },
  ];
  const k = Array.from(lowpassKernel(c.H, c.W, c.radius), f32Lit);
  const groups = Math.ceil(n / c.workgroupSize);
  const wgsl = `// lowpass: the band of radius ${c.radius} of ${c.planes} planes of ${c.H}×${c.W}, as a circular convolution
${declareBindings(bindings)}

const H: u32 = ${c.H}u;
const W: u32 = ${c.W}u;
const N: u32 = ${n}u;
const K = array<f32, ${c.H * c.W}>(${k.join(', ')});

@compute @workgroup_size(${c.workgroupSize})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= N) { return; }
  let plane = (i / (H * W)) * (H * W);
  let row = (i / W) % H;
  let col = i % W;
  var acc = 0.0;
  for (var yy = 0u; yy < H; yy++) {
    let dy = (row + H - yy) % H;
    for (var xx = 0u; xx < W; xx++) {
      let dx = (col + W - xx) % W;
      acc += K[dy * W + dx] * x[plane + yy * W + xx];
    }
  }
  out[i] = acc;
}
`;
  return { family: 'lowpass', key: cacheKey('lowpass', c), wgsl, entryPoint: 'main', workgroupSize: [c.workgroupSize, 1, 1], bindings, dispatch: [groups, 1, 1] };
}
