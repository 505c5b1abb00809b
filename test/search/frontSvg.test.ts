import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { frontSvg, speedupTicks } from '../../evaluation/search/frontSvg.ts';

const point = fc.record({ speedup: fc.double({ min: 0.5, max: 40, noNaN: true }), loss: fc.double({ min: 1e-8, max: 2, noNaN: true }) });

/** Centres of the picture's circles, in drawing order. */
function circles(svg: string): { cx: number; cy: number }[] {
  return [...svg.matchAll(/<circle cx="([-\d.]+)" cy="([-\d.]+)"/g)].map((m) => ({ cx: Number(m[1]), cy: Number(m[2]) }));
}

describe('the search front picture', () => {
  it('keeps every point inside the plot and orders them by speed-up, however far the fastest candidate is', () => {
    fc.assert(fc.property(fc.array(point, { minLength: 1, maxLength: 30 }), fc.double({ min: 1, max: 8, noNaN: true }), (all, budget) => {
      const svg = frontSvg({ title: 't', all, front: [], finalists: [], chosen: null, budgetSpeedup: budget });
      const cs = circles(svg).slice(0, all.length);
      for (const c of cs) {
        expect(c.cx).toBeGreaterThanOrEqual(70 - 0.1);
        expect(c.cx).toBeLessThanOrEqual(720 - 20 + 0.1);
        expect(c.cy).toBeGreaterThanOrEqual(40 - 0.1);
        expect(c.cy).toBeLessThanOrEqual(440 - 50 + 0.1);
      }
      for (let i = 0; i < all.length; i++) {
        for (let j = 0; j < all.length; j++) {
          if (all[i]!.speedup < all[j]!.speedup - 1e-9) expect(cs[i]!.cx).toBeLessThanOrEqual(cs[j]!.cx);
        }
      }
    }));
  });

  it('gives the budget region room when one candidate is 20x: the budget sits past a third of the width', () => {
    const all = [{ speedup: 1, loss: 1e-7 }, { speedup: 2.5, loss: 1e-3 }, { speedup: 3.2, loss: 3e-3 }, { speedup: 20, loss: 0.5 }];
    const svg = frontSvg({ title: 't', all, front: [], finalists: [], chosen: null, budgetSpeedup: 3.2 });
    const budgetX = Number(/<line x1="([\d.]+)" y1="40" x2="[\d.]+" y2="390" stroke="#888"/.exec(svg)![1]);
    expect((budgetX - 70) / (720 - 20 - 70)).toBeGreaterThan(0.35);
  });

  it('labels the axis with readable speed-ups in range, increasing', () => {
    fc.assert(fc.property(fc.double({ min: 0.3, max: 5, noNaN: true }), fc.double({ min: 1.01, max: 50, noNaN: true }), (lo, f) => {
      const hi = lo * f;
      const t = speedupTicks(lo, hi);
      for (const v of t) {
        expect(v).toBeGreaterThanOrEqual(lo);
        expect(v).toBeLessThanOrEqual(hi);
      }
      for (let i = 1; i < t.length; i++) expect(t[i]!).toBeGreaterThan(t[i - 1]!);
    }));
    expect(speedupTicks(0.95, 21)).toEqual([1, 1.5, 2, 3, 4, 6, 8, 10, 15, 20]);
  });
});
