import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { bootstrapFid } from '../../evaluation/metrics/bootstrap.ts';
import { featureStats } from '../../evaluation/metrics/fid.ts';
import { DittoError } from '../../core/errors.ts';

/** n deterministic pseudo-random dim-vectors, shifted by `shift` in every coordinate. */
function features(n: number, dim: number, seed: number, shift = 0): Float64Array {
  let s = seed;
  const next = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) - 0.5;
  return Float64Array.from({ length: n * dim }, () => next() + shift);
}

const DIM = 4;
const reference = featureStats(features(400, DIM, 99), 400, DIM);

describe('bootstrapFid', () => {
  it('gives a zero-width difference for a row identical to the baseline', () => {
    const base = features(60, DIM, 1);
    const r = bootstrapFid([base, Float64Array.from(base)], 60, DIM, reference, 20);
    expect(r.delta[0]).toBeNull();
    expect(r.delta[1]).toEqual({ lo: 0, hi: 0 });
    expect(r.sd[1]).toBe(r.sd[0]);
    expect(r.sd[0]).toBeGreaterThan(0);
  });

  it('resolves a real shift of the features and not an independent redraw of the same distribution', () => {
    const base = features(300, DIM, 1);
    const r = bootstrapFid([base, features(300, DIM, 1, 0.5), features(300, DIM, 7)], 300, DIM, reference, 60);
    expect(r.delta[1]!.lo).toBeGreaterThan(0);
    expect(r.delta[2]!.lo).toBeLessThan(0);
    expect(r.delta[2]!.hi).toBeGreaterThan(0);
  });

  it('is reproducible from its seed, and the seed matters', () => {
    const rows = [features(40, DIM, 1), features(40, DIM, 2)];
    expect(bootstrapFid(rows, 40, DIM, reference, 10, 3)).toEqual(bootstrapFid(rows, 40, DIM, reference, 10, 3));
    expect(bootstrapFid(rows, 40, DIM, reference, 10, 3).sd).not.toEqual(bootstrapFid(rows, 40, DIM, reference, 10, 4).sd);
  });

  it('always orders its interval and keeps spreads non-negative (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 5, max: 30 }), fc.integer({ min: 1, max: 1000 }), fc.double({ min: -1, max: 1, noNaN: true }), (n, seed, shift) => {
        const r = bootstrapFid([features(n, DIM, seed), features(n, DIM, seed + 1, shift)], n, DIM, reference, 8, seed);
        expect(r.delta[1]!.lo).toBeLessThanOrEqual(r.delta[1]!.hi);
        expect(r.sd.every((v) => v >= 0)).toBe(true);
      }),
      { numRuns: 25 },
    );
  });

  it('refuses too few replicates or images', () => {
    expect(() => bootstrapFid([features(10, DIM, 1)], 10, DIM, reference, 1)).toThrow(DittoError);
    expect(() => bootstrapFid([features(1, DIM, 1)], 1, DIM, reference, 5)).toThrow(/at least 2 images/);
  });
});
