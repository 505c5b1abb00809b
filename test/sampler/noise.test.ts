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

describe('Philox4x32-10 against a BigInt implementation', () => {
  const bigPhilox = (counter: number[], key: number[]) => {
    const m32 = (1n << 32n) - 1n;
    let [c0, c1, c2, c3] = counter.map(BigInt) as [bigint, bigint, bigint, bigint];
    let [k0, k1] = key.map(BigInt) as [bigint, bigint];
    for (let r = 0; r < 10; r++) {
      const p0 = 0xd2511f53n * c0;
      const p1 = 0xcd9e8d57n * c2;
      [c0, c1, c2, c3] = [((p1 >> 32n) ^ c1 ^ k0) & m32, p1 & m32, ((p0 >> 32n) ^ c3 ^ k1) & m32, p0 & m32];
      k0 = (k0 + 0x9e3779b9n) & m32;
      k1 = (k1 + 0xbb67ae85n) & m32;
    }
    return [c0, c1, c2, c3].map(Number);
  };
  it('agrees on random counters and keys (the 64-bit products are exact)', () => {
    const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
    fc.assert(
      fc.property(fc.tuple(u32, u32, u32, u32), fc.tuple(u32, u32), (c, k) => {
        expect(philox4x32(c, k)).toEqual(bigPhilox(c, k));
      }),
      { numRuns: 300 },
    );
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

  it('equals the definition drawn pair by pair from philox4x32 (the fast loop is only a rewrite)', () => {
    const byDefinition = (seed: number, stream: number, n: number) => {
      const key: [number, number] = [seed % 2 ** 32, Math.floor(seed / 2 ** 32)];
      const u = (a: number, b: number) => ((a >>> 5) * 67108864 + (b >>> 6) + 0.5) / 2 ** 53;
      const out = new Float32Array(n);
      for (let p = 0; 2 * p < n; p++) {
        const [x0, x1, x2, x3] = philox4x32([p, 0, stream, 0], key);
        const r = Math.sqrt(-2 * Math.log(u(x0, x1)));
        out[2 * p] = r * Math.cos(2 * Math.PI * u(x2, x3));
        if (2 * p + 1 < n) out[2 * p + 1] = r * Math.sin(2 * Math.PI * u(x2, x3));
      }
      return out;
    };
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 1, max: 40 }), (seed, stream, n) => {
        expect(gaussianStream(seed, stream, n)).toEqual(byDefinition(seed, stream, n));
      }),
      { numRuns: 100 },
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
