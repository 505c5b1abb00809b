import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { niceTicks, scatterSvg, xmlEscape } from '../../bench/plot.ts';
import { checkXml } from './xmlCheck.ts';

const opts = { title: 'DiT-S/2 <50 steps> & CFG', xLabel: 'speed-up (×)', yLabel: 'PSNR (dB)' };

describe('scatterSvg', () => {
  it('is well-formed XML with one circle and one label per point', () => {
    const pts = [
      { name: 'baseline', x: 1, y: Infinity },
      { name: 'fora<3>', x: 2.6, y: 24.1 },
      { name: 'eb-cache & "table"', x: 1.47, y: 31.5 },
    ];
    const svg = scatterSvg(pts, opts);
    const names = checkXml(svg);
    expect(names[0]).toBe('svg');
    expect(names.filter((n) => n === 'circle')).toHaveLength(3);
    expect(names.filter((n) => n === 'g')).toHaveLength(3);
    for (const p of pts) expect(svg).toContain(`>${xmlEscape(p.name)}</text>`);
    expect(svg).toContain('&lt;50 steps&gt; &amp; CFG');
    expect(svg).toContain('>∞</text>');
  });

  it('places points where their values say: faster is further right, higher fidelity is higher', () => {
    const svg = scatterSvg([{ name: 'a', x: 1, y: 20 }, { name: 'b', x: 3, y: 30 }], opts);
    const circles = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(circles).toHaveLength(2);
    expect(circles[1]![0]).toBeGreaterThan(circles[0]![0]!);
    expect(circles[1]![1]).toBeLessThan(circles[0]![1]!); // SVG y grows downwards
  });

  it('stays well-formed and inside the canvas for random points and names', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ name: fc.string({ maxLength: 12 }), x: fc.double({ min: 0.1, max: 10, noNaN: true }), y: fc.oneof(fc.double({ min: -5, max: 60, noNaN: true }), fc.constant(Infinity)) }), { minLength: 1, maxLength: 8 }),
        (pts) => {
          const svg = scatterSvg(pts, { ...opts, width: 600, height: 400 });
          const names = checkXml(svg);
          expect(names.filter((n) => n === 'circle')).toHaveLength(pts.length);
          for (const m of svg.matchAll(/<circle cx="([-\d.]+)" cy="([-\d.]+)"/g)) {
            expect(Number(m[1])).toBeGreaterThanOrEqual(0);
            expect(Number(m[1])).toBeLessThanOrEqual(600);
            expect(Number(m[2])).toBeGreaterThanOrEqual(0);
            expect(Number(m[2])).toBeLessThanOrEqual(400);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('rejects points it cannot place', () => {
    expect(() => scatterSvg([], opts)).toThrow(/no points/);
    expect(() => scatterSvg([{ name: 'x', x: NaN, y: 1 }], opts)).toThrow(/'x' has x/);
  });
});

describe('checkXml (the test helper itself)', () => {
  it('catches mismatched tags, raw ampersands and bad attributes', () => {
    expect(() => checkXml('<svg><g></svg>')).toThrow();
    expect(() => checkXml('<svg><text>a & b</text></svg>')).toThrow(/&/);
    expect(() => checkXml('<svg width=3></svg>')).toThrow(/malformed/);
    expect(() => checkXml('<svg a="1" a="2"></svg>')).toThrow(/duplicate/);
    expect(checkXml('<svg><g><circle r="1"/></g></svg>')).toEqual(['svg', 'g', 'circle']);
  });
});

describe('niceTicks', () => {
  it('covers the range with round, evenly spaced steps', () => {
    fc.assert(
      fc.property(fc.double({ min: -1e3, max: 1e3, noNaN: true }), fc.double({ min: 1e-3, max: 1e3, noNaN: true }), (lo, span) => {
        const t = niceTicks(lo, lo + span);
        expect(t[0]).toBeLessThanOrEqual(lo);
        expect(t[t.length - 1]).toBeGreaterThanOrEqual(lo + span - 1e-9 * span);
        const step = t[1]! - t[0]!;
        const mantissa = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
        expect([1, 2, 5, 10].some((m) => Math.abs(mantissa - m) < 1e-6)).toBe(true);
        expect(t.length).toBeLessThanOrEqual(13);
      }),
    );
  });
  it('widens a degenerate range', () => {
    const t = niceTicks(2, 2);
    expect(t[0]).toBeLessThan(2);
    expect(t[t.length - 1]).toBeGreaterThan(2);
  });
});
