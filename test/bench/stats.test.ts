import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { gigaPerSecond, interleave, realisedRatio, realisedSavingShare, speedup, summarize } from '../../bench/stats.ts';
import { DittoError } from '../../core/errors.ts';

describe('summarize', () => {
  it('gives median, min, max and mean', () => {
    expect(summarize([3, 1, 2])).toEqual({ n: 3, median: 2, min: 1, max: 3, mean: 2 });
    expect(summarize([4, 1, 2, 10])).toEqual({ n: 4, median: 3, min: 1, max: 10, mean: 4.25 });
    expect(summarize([7])).toEqual({ n: 1, median: 7, min: 7, max: 7, mean: 7 });
  });

  it('orders min ≤ median ≤ max, min ≤ mean ≤ max, and does not depend on sample order', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 40 }), (xs) => {
        const s = summarize(xs);
        expect(s.min).toBeLessThanOrEqual(s.median);
        expect(s.median).toBeLessThanOrEqual(s.max);
        expect(s.mean).toBeGreaterThanOrEqual(s.min - 1e-9 * Math.abs(s.min));
        expect(s.mean).toBeLessThanOrEqual(s.max + 1e-9 * Math.abs(s.max));
        expect(summarize([...xs].reverse())).toEqual(s);
        // At least half the samples are ≤ the median and at least half are ≥ it.
        expect(xs.filter((x) => x <= s.median).length * 2).toBeGreaterThanOrEqual(xs.length);
        expect(xs.filter((x) => x >= s.median).length * 2).toBeGreaterThanOrEqual(xs.length);
      }),
    );
  });

  it('refuses empty and non-finite samples', () => {
    expect(() => summarize([])).toThrow(DittoError);
    expect(() => summarize([1, NaN])).toThrow(/non-finite/);
  });
});

describe('interleave', () => {
  it('warms up, then runs A B A B … and times each repetition with the clock', async () => {
    const log: string[] = [];
    let clock = 0;
    const cost: Record<string, number> = { A: 10, B: 4 };
    const mk = (name: string) => ({ name, run: () => { log.push(name); clock += cost[name]!; } });
    const res = await interleave([mk('A'), mk('B')], { warmup: 2, runs: 3, now: () => clock });
    expect(log).toEqual(['A', 'B', 'A', 'B', 'A', 'B', 'A', 'B', 'A', 'B']);
    expect(res.map((r) => r.name)).toEqual(['A', 'B']);
    expect(res[0]!.samples).toEqual([10, 10, 10]);
    expect(res[1]!.summary.median).toBe(4);
  });

  it('awaits asynchronous candidates one at a time (no overlap)', async () => {
    let running = 0;
    let maxRunning = 0;
    const run = async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((r) => setTimeout(r, 1));
      running--;
    };
    const res = await interleave([{ name: 'a', run }, { name: 'b', run }], { warmup: 0, runs: 2 });
    expect(maxRunning).toBe(1);
    // One timed sample per run, and each covers an awaited run (libuv may fire a 1 ms timer a little
    // early against performance.now, so only positivity is asserted, not a lower bound).
    expect(res.map((r) => r.samples.length)).toEqual([2, 2]);
    expect(res[0]!.samples.every((ms) => ms > 0)).toBe(true);
  });

  it('spreads drift over all candidates: a slowing machine does not favour the first one', async () => {
    // The machine gets slower every repetition; identical candidates must come out close.
    let clock = 0;
    let slow = 1;
    const run = () => { clock += 10 * slow; slow += 0.05; };
    const res = await interleave([{ name: 'A', run }, { name: 'B', run }], { warmup: 0, runs: 20, now: () => clock });
    const r = speedup(res[0]!.summary, res[1]!.summary);
    expect(r).toBeGreaterThan(0.95);
    expect(r).toBeLessThan(1.05);
  });

  it('with alternate, reverses every other round, and cancels a linear drift exactly over two rounds', async () => {
    const order: string[] = [];
    let clock = 0;
    let slow = 1;
    const mk = (name: string) => ({ name, run: () => { order.push(name); clock += 10 * slow; slow += 1; } });
    const res = await interleave([mk('A'), mk('B'), mk('C')], { warmup: 0, runs: 2, alternate: true, now: () => clock });
    expect(order.join('')).toBe('ABCCBA');
    // Times 10, 20, 30 then 40, 50, 60 (C B A): every candidate's median is 35.
    expect(res.map((r) => r.summary.median)).toEqual([35, 35, 35]);
    expect(res[0]!.samples).toEqual([10, 60]);
    // A fixed order charges the drift to C.
    order.length = 0; clock = 0; slow = 1;
    const fixed = await interleave([mk('A'), mk('B'), mk('C')], { warmup: 0, runs: 2, now: () => clock });
    expect(order.join('')).toBe('ABCABC');
    expect(fixed[2]!.summary.median).toBeGreaterThan(fixed[0]!.summary.median);
  });

  it('rejects bad options as usage errors', async () => {
    const c = { name: 'a', run: () => {} };
    await expect(interleave([c], { runs: 0 })).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(interleave([c, c], { runs: 1 })).rejects.toThrow(/listed twice/);
    await expect(interleave([], { runs: 1 })).rejects.toMatchObject({ code: 'E_USAGE' });
  });
});

describe('ratios', () => {
  const s = (median: number) => summarize([median]);
  it('speed-up is baseline over candidate', () => {
    expect(speedup(s(100), s(50))).toBe(2);
    expect(speedup(s(100), s(200))).toBe(0.5);
  });
  it('realised ratio and saving share', () => {
    expect(realisedRatio(1.4, 1.47)).toBeCloseTo(0.952, 3);
    expect(realisedSavingShare(2, 2)).toBe(1);
    expect(realisedSavingShare(1.5, 2)).toBeCloseTo((1 - 1 / 1.5) / 0.5, 12);
    expect(realisedSavingShare(1.2, 1)).toBeNaN();
    expect(() => realisedRatio(1, 0)).toThrow(DittoError);
  });
  it('giga per second', () => {
    expect(gigaPerSecond(2e9, 1000)).toBe(2);
    expect(gigaPerSecond(5e6, 1)).toBe(5);
  });
});
