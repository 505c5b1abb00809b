/** The `lowpass` kernel (FasterCache's frequency split) on the GPU against its CPU definition, over
 *  random plane sizes (odd and even), radii and plane counts. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { emitLowpass, selectLowpass } from '../../compiler/kernels/lowpass.ts';
import { runKernel } from '../../runtime/kernelRunner.ts';
import { lowpass } from '../../runtime/cpu/families/lowpass.ts';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { randomArray, rngFrom } from './reference.ts';

const gpu = await gpuOrSkip();

describe.skipIf(!gpu)('lowpass kernel on the GPU = its CPU definition', () => {
  it('random planes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.record({ planes: fc.integer({ min: 1, max: 4 }), H: fc.integer({ min: 1, max: 12 }), W: fc.integer({ min: 1, max: 12 }), radius: fc.integer({ min: 0, max: 3 }), seed: fc.integer() }), async ({ planes, H, W, radius, seed }) => {
        const c = selectLowpass({ planes, H, W, radius });
        const x = randomArray(planes * H * W, rngFrom(seed));
        const want = new Float32Array(x.length);
        lowpass(c, [x, want]);
        const got = await runKernel(gpu!, emitLowpass(c), { x, out: new Float32Array(x.length) });
        expect(got.out as Float32Array).toAllClose(want, { atol: 1e-5, rtol: 1e-4 });
      }),
      { numRuns: 8, seed: 33 },
    );
  }, 600_000);
});
