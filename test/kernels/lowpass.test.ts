/**
 * FasterCache's frequency split (compiler/ir/rules.ts): the plan's circular convolution with
 * `lowpassKernel` — in the `lowpass` family's CPU definition — equals the definition (centred DFT,
 * low band kept, inverse DFT) on random planes, and the split behaves as one: the low part of a
 * constant plane is the plane, applying it twice changes nothing, and a radius covering every
 * frequency keeps everything.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inLowBand, lowpassPlanes, lowpassRadius } from '../../compiler/ir/rules.ts';
import { selectLowpass } from '../../compiler/kernels/lowpass.ts';
import { lowpass } from '../../runtime/cpu/families/lowpass.ts';

function viaFamily(data: Float32Array, planes: number, H: number, W: number, radius: number): Float32Array {
  const out = new Float32Array(data.length);
  lowpass(selectLowpass({ planes, H, W, radius }), [data, out]);
  return out;
}

const plane = fc.record({ planes: fc.integer({ min: 1, max: 3 }), H: fc.integer({ min: 1, max: 9 }), W: fc.integer({ min: 1, max: 9 }), radius: fc.integer({ min: 0, max: 4 }), seed: fc.integer({ min: 0, max: 1e6 }) });

function randomData(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 4 - 2;
  });
}

describe('lowpass: the frequency split of FasterCache', () => {
  it('the plan form (circular convolution) equals the DFT definition', () => {
    fc.assert(
      fc.property(plane, ({ planes, H, W, radius, seed }) => {
        const data = randomData(planes * H * W, seed);
        expect(viaFamily(data, planes, H, W, radius)).toAllClose(Float32Array.from(lowpassPlanes(data, H, W, radius)), { atol: 1e-4, rtol: 1e-4 });
      }),
      { numRuns: 60, seed: 31 },
    );
  });

  it('keeps a constant plane, is idempotent, and keeps everything when the band covers every frequency', () => {
    fc.assert(
      fc.property(plane, ({ planes, H, W, radius, seed }) => {
        const data = randomData(planes * H * W, seed);
        const low = viaFamily(data, planes, H, W, radius);
        expect(viaFamily(low, planes, H, W, radius)).toAllClose(low, { atol: 1e-4, rtol: 1e-4 });
        expect(viaFamily(new Float32Array(H * W).fill(1.5), 1, H, W, radius)).toAllClose(new Float32Array(H * W).fill(1.5), { atol: 1e-5, rtol: 1e-5 });
        expect(viaFamily(data, planes, H, W, H + W)).toAllClose(data, { atol: 1e-4, rtol: 1e-4 });
      }),
      { numRuns: 40, seed: 32 },
    );
  });

  it('the band is symmetric and FasterCache-sized', () => {
    expect(lowpassRadius(32, 32)).toBe(6);
    expect(lowpassRadius(28, 14)).toBe(2);
    for (const [H, W] of [[8, 8], [7, 9], [28, 28]] as const) {
      const r = lowpassRadius(H, W);
      for (let u = 0; u < H; u++) for (let v = 0; v < W; v++) expect(inLowBand(u, v, H, W, r)).toBe(inLowBand((H - u) % H, (W - v) % W, H, W, r));
    }
  });
});
