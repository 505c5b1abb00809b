/** The seeded Gaussian generator: Philox4x32-10 known-answer vectors, determinism, distribution. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { gaussianStream, noiseForRun, philox4x32 } from '../../runtime/sampler/noise.ts';
import { isDittoError } from '../../core/errors.ts';

describe('Philox4x32-10', () => {
  it('matches the Random123 known-answer vectors', () => {
    expect(philox4x32([0, 0, 0, 0], [0, 0])).toEqual([0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
    const ones = 0xffffffff;
    expect(philox4x32([ones, ones, ones, ones], [ones, ones])).toEqual([0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]);
    expect(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0])).toEqual([
      0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1,
    ]);
  });
});

describe('noiseForRun', () => {
  it('is deterministic, differs by seed and by step, and a sample does not depend on the batch size', () => {
    const a = noiseForRun(42, 2, [4, 8, 8], 3);
    const b = noiseForRun(42, 2, [4, 8, 8], 3);
    expect(a.initial.data).toEqual(b.initial.data);
    expect(a.steps[2]!.data).toEqual(b.steps[2]!.data);
    expect(a.steps[0]!.data).not.toEqual(a.steps[1]!.data);
    expect(noiseForRun(43, 2, [4, 8, 8], 1).initial.data).not.toEqual(a.initial.data);
    const one = noiseForRun(42, 1, [4, 8, 8], 3);
    expect(one.initial.data).toEqual(a.initial.data.subarray(0, 256));
    expect(one.steps[1]!.data).toEqual(a.steps[1]!.data.subarray(0, 256));
    expect(a.initial.shape).toEqual([2, 4, 8, 8]);
    expect(a.steps.length).toBe(3);
  });

  it('any prefix of a stream is the stream of that length (counter-based)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 1, max: 64 }), (seed, n) => {
        expect(gaussianStream(seed, 5, n)).toEqual(gaussianStream(seed, 5, 64).subarray(0, n));
      }),
      { numRuns: 30 },
    );
  });

  it('is standard normal (moments of 200k draws)', () => {
    const z = gaussianStream(123, 0, 200_000);
    let m = 0;
    let m2 = 0;
    let m4 = 0;
    for (const v of z) {
      m += v;
      m2 += v * v;
      m4 += v ** 4;
    }
    const n = z.length;
    expect(Math.abs(m / n)).toBeLessThan(0.01);
    expect(m2 / n).toBeCloseTo(1, 1);
    expect(m4 / n).toBeGreaterThan(2.85);
    expect(m4 / n).toBeLessThan(3.15);
    expect(z.every(Number.isFinite)).toBe(true);
  });

  it('pins values of the definition (checked by hand in Python from the Philox words; the GPU path uploads these arrays)', () => {
    expect(Array.from(gaussianStream(0, 0, 4))).toEqual([-0.12151796370744705, -1.3500326871871948, -0.08187421411275864, -0.2227090448141098]);
    expect(Array.from(gaussianStream(2 ** 33 + 7, 3, 3))).toEqual([-1.8509881496429443, -0.523880124092102, -1.0230520963668823]);
  });

  it('rejects a seed that is not a non-negative safe integer (E_INPUT)', () => {
    for (const s of [-1, 1.5, 2 ** 53]) {
      try {
        noiseForRun(s, 1, [1], 1);
        expect.unreachable();
      } catch (e) {
        expect(isDittoError(e) && e.code).toBe('E_INPUT');
      }
    }
  });
});
