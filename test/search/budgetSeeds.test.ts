/**
 * The seeds fitted to the budget: the compute count comes from a line fitted over the evaluated
 * compute-or-reuse seeds and meets the budget; the placement computes exactly that many steps,
 * step 0 among them, where the density says; the shift move keeps a candidate's cost.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { uniformStream } from '../../core/random.ts';
import { budgetSeeds, computedShare, computesWithinBudget, DENSITIES, placeComputes } from '../../evaluation/search/budgetSeeds.ts';
import { applyFamily, seedGenomes, shiftCompute } from '../../evaluation/search/evolve.ts';
import { allCompute, COMPONENTS } from '../../evaluation/search/genome.ts';

const BLOCKS = 4;
const STEPS = 50;

describe('placeComputes', () => {
  it('computes exactly the asked number of steps, step 0 among them, for every density', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 200 }), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 0, max: DENSITIES.length - 1 }), (steps, c, d) => {
        const computes = Math.min(c, steps);
        const on = placeComputes(steps, computes, DENSITIES[d]!.w);
        expect(on).toHaveLength(steps);
        expect(on[0]).toBe(true);
        expect(on.filter(Boolean)).toHaveLength(computes);
      }),
    );
  });

  it('puts the computes where the density is high', () => {
    const late = (name: string) => placeComputes(STEPS, 12, DENSITIES.find((d) => d.name === name)!.w).slice(STEPS / 2).filter(Boolean).length;
    expect(late('uniform')).toBe(6);
    expect(late('rising')).toBeGreaterThan(6);
    expect(late('late')).toBeGreaterThan(late('rising'));
  });
});

describe('computesWithinBudget', () => {
  // Seeds priced by a known line: 2 ms per image fixed, 10 ms for every node computed.
  const priced = seedGenomes(BLOCKS, STEPS).map((genome) => ({ genome, ms: 2 + 10 * computedShare(genome) }));

  it('finds the most computed steps the budget allows from the seeds that only compute or reuse', () => {
    // 12 ms → share 1 (no cache); a budget of 5 ms per image allows share 0.3 → 15 of 50 steps.
    expect(computesWithinBudget(priced, STEPS, 5)).toBe(15);
    for (const g of budgetSeeds(BLOCKS, STEPS, 15)) expect(2 + 10 * computedShare(g)).toBeLessThanOrEqual(5 + 1e-9);
  });

  it('fits forecasts on their own line: the forecast seeds and no cache, not the reuse seeds', () => {
    // Forecast-or-compute schedules (and no cache) at 4 ms fixed + 8 ms computed; every other seed
    // (reuse, order 2, skipped blocks) priced absurdly, so a fit that used any of them would be far off.
    const onLine = (g: (typeof priced)[number]['genome']) =>
      computedShare(g) === 1 || (g.attnOrder === 1 && g.mlpOrder === 1 && !g.res.some((r) => r.includes(true)) && !COMPONENTS.some((c) => g[c].some((r) => r.includes('r'))));
    const mixed = priced.map(({ genome }) => ({ genome, ms: onLine(genome) ? 4 + 8 * computedShare(genome) : 1000 }));
    // 6 ms per image → share 0.25 → 12 of 50 steps.
    expect(computesWithinBudget(mixed, STEPS, 6, 'f')).toBe(12);
    const seeds = budgetSeeds(BLOCKS, STEPS, 12, 'f');
    for (const g of seeds) {
      expect(computedShare(g)).toBeCloseTo(12 / STEPS, 12);
      for (const c of COMPONENTS) for (const row of g[c]) expect(row.filter((a) => a === 'r')).toEqual([]);
    }
  });

  it('is null where nothing can be fitted or no cache meets the budget', () => {
    expect(computesWithinBudget(priced, STEPS, 20)).toBeNull();
    expect(computesWithinBudget(priced.slice(0, 1), STEPS, 5)).toBeNull();
    expect(computesWithinBudget(priced.map((p) => ({ ...p, ms: 7 })), STEPS, 5)).toBeNull();
  });

  it('one seed per density, every node computing at the same steps', () => {
    const seeds = budgetSeeds(BLOCKS, STEPS, 12);
    expect(seeds).toHaveLength(DENSITIES.length);
    for (const g of seeds) {
      expect(computedShare(g)).toBeCloseTo(12 / STEPS, 12);
      for (const c of COMPONENTS) for (const row of g[c]) expect(row).toEqual(g.attn[0]);
    }
  });
});

describe('shiftCompute', () => {
  it('keeps the number of computed nodes and step 0, on any candidate', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 2, max: 6 }), (seed, n) => {
        const rng = uniformStream(seed);
        const g = allCompute(BLOCKS, STEPS);
        applyFamily(g, { comps: COMPONENTS, from: 0, to: BLOCKS, start: 0, end: STEPS, n, action: 'r' });
        const before = computedShare(g);
        for (let i = 0; i < 10; i++) shiftCompute(rng, g, i % 2 ? ['attn'] : COMPONENTS, i % BLOCKS, BLOCKS, STEPS);
        expect(computedShare(g)).toBe(before);
        for (const c of COMPONENTS) for (const row of g[c]) expect(row[0]).toBe('c');
      }),
      { numRuns: 50 },
    );
  });
});
