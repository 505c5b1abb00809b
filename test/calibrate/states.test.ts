import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { accepts, sampleChoice, savingRank, singleModuleState, thresholdAt, trajectoryFraction, vote, type CacheState } from '../../evaluation/calibrate/states.ts';
import { encodeNpyInt64 } from '../../evaluation/calibrate/npyWriter.ts';
import { parseNpyInts } from '../../compiler/schedule/npy.ts';
import { searchBudget, type Decider } from '../../evaluation/calibrate/search.ts';

describe('calibration decision rules', () => {
  it('picks the stage single-module state: MLP reuse while t > 0.4, attention reuse after', () => {
    // S = 10: k = 0..4 have t = 0.9..0.5 (early), k = 5 has t = 0.4 (late, strict inequality).
    expect(Array.from({ length: 10 }, (_, k) => singleModuleState(trajectoryFraction(k, 10))).join('')).toBe('3333311111');
  });

  it('δ = 0 accepts nothing; otherwise a gap up to δ is accepted', () => {
    expect(accepts(0, 0)).toBe(false);
    expect(accepts(0.01, 0.01)).toBe(true);
    expect(accepts(0.0100001, 0.01)).toBe(false);
    expect(accepts(Number.NaN, 1)).toBe(false);
    expect(thresholdAt({ a: 0.01, b: 0.04 }, 2, 0.5)).toBeCloseTo(0.06, 12);
  });

  it('a sample prefers reuse-both, then its single module, then compute', () => {
    expect(sampleChoice(0.01, 0.001, 3, 0.02)).toBe(2);
    expect(sampleChoice(0.03, 0.001, 3, 0.02)).toBe(3);
    expect(sampleChoice(0.03, 0.001, 1, 0.02)).toBe(1);
    expect(sampleChoice(0.03, 0.03, 1, 0.02)).toBe(0);
  });

  it('votes by plurality, ties to the less saving state', () => {
    expect(vote([2, 2, 0])).toBe(2);
    expect(vote([2, 3])).toBe(3);
    expect(vote([2, 0])).toBe(0);
    expect(vote([1, 1, 2, 2, 0])).toBe(1);
    fc.assert(
      fc.property(fc.array(fc.constantFrom<CacheState>(0, 1, 2, 3), { minLength: 1, maxLength: 9 }), (cs) => {
        const v = vote(cs);
        const count = (s: CacheState) => cs.filter((c) => c === s).length;
        // The winner has the most votes, and no state with as many votes saves less.
        for (const s of [0, 1, 2, 3] as CacheState[]) {
          expect(count(s)).toBeLessThanOrEqual(count(v));
          if (count(s) === count(v) && s !== v) expect(savingRank(s)).toBeGreaterThanOrEqual(savingRank(v));
        }
      }),
    );
  });
});

describe('npy writer', () => {
  it('round-trips through the compiler\'s .npy reader, with a 64-byte-aligned header', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), { maxLength: 300 }), (vs) => {
        const bytes = encodeNpyInt64(vs);
        expect(parseNpyInts(bytes, 't.npy')).toEqual(vs);
        expect((bytes.length - 8 * vs.length) % 64).toBe(0);
      }),
    );
  });
});

describe('budget search', () => {
  // A synthetic calibration: step k reuses both when its gap is within λ·δ (monotone in λ).
  const fake = (gaps: number[]): Decider => ({
    steps: gaps.length,
    decide: (th, scale) => gaps.map((g, k): CacheState => (k > 0 && accepts(g, thresholdAt(th, scale, 0)) ? 2 : 0)),
  });
  const ratioOf = (t: readonly CacheState[]) => t.reduce<number>((a, s) => a + (s === 2 ? 0.1 : 1), 0) / t.length;

  it('meets the budget with the table closest to it among those the δ line can produce', () => {
    fc.assert(
      fc.property(
        // Gaps at least 0.1 % apart (the search resolves λ to 1e-4 relative), 0.01 to 10 (both bracket directions).
        fc.array(fc.integer({ min: 1, max: 1000 }).map((n) => n * 1e-2), { minLength: 2, maxLength: 12 }),
        fc.double({ min: 0.05, max: 1, noNaN: true }),
        (gaps, budget) => {
          const steps = gaps.length;
          const floor = (1 + 0.1 * (steps - 1)) / steps;
          fc.pre(budget >= floor);
          const d = fake(gaps);
          const th = { a: 1, b: 0 };
          const r = searchBudget(d, { threshold: th, budget, ratioOf });
          expect(r.ratio).toBeLessThanOrEqual(budget + 1e-12);
          expect(r.table[0]).toBe(0);
          // Brute force over every distinct table of the family (λ at each gap).
          const feasible = [0, ...gaps.slice(1)].map((l) => ratioOf(l === 0 ? d.decide(th, 0) : d.decide(th, l))).filter((x) => x <= budget + 1e-12);
          expect(r.ratio).toBeCloseTo(Math.max(...feasible), 12);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('budget 1 is the all-compute table without any pass', () => {
    let calls = 0;
    const d: Decider = { steps: 5, decide: () => (calls++, [0, 2, 2, 2, 2]) };
    const r = searchBudget(d, { threshold: { a: 1, b: 0 }, budget: 1, ratioOf });
    expect(r.table).toEqual([0, 0, 0, 0, 0]);
    expect(r.ratio).toBe(1);
    expect(calls).toBe(0);
  });
});
