import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DittoError } from '../../core/errors.ts';
import { tensor, type Tensor } from '../../core/tensor.ts';
import { psnr, psnrPerImage, relativeL2, ssim, ssimPerImage } from '../../evaluation/metrics/fidelity.ts';

/** A deterministic textured batch [n, c, h, w] in [-1, 1]. */
function pattern(n: number, c: number, h: number, w: number, phase = 0): Tensor {
  const data = new Float32Array(n * c * h * w);
  for (let i = 0; i < data.length; i++) data[i] = 0.8 * Math.sin(0.37 * i + phase) * Math.cos(0.11 * i);
  return tensor([n, c, h, w], data);
}

function map(t: Tensor, f: (v: number, i: number) => number): Tensor {
  return tensor(t.shape, Float32Array.from(t.data, f));
}

function constant(shape: number[], v: number): Tensor {
  return tensor(shape, new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(v));
}

describe('PSNR and relative L2', () => {
  it('identical batches: PSNR +∞, relative L2 0', () => {
    const a = pattern(3, 1, 28, 28);
    expect(psnr(a, a)).toBe(Infinity);
    expect(Array.from(psnrPerImage(a, a))).toEqual([Infinity, Infinity, Infinity]);
    expect(relativeL2(a, a)).toBe(0);
  });

  it('a constant offset δ gives 10·log10(4/δ²) dB', () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-3, max: 0.5, noNaN: true }), (delta) => {
        const a = pattern(2, 1, 28, 28);
        const b = map(a, (v) => v + delta);
        // The offset is applied in f32, so compare against the f32 difference actually stored.
        let se = 0;
        for (let i = 0; i < a.data.length; i++) se += (b.data[i]! - a.data[i]!) ** 2;
        expect(psnr(b, a)).toBeCloseTo(10 * Math.log10(4 / (se / a.data.length)), 9);
        expect(psnr(b, a)).toBeCloseTo(10 * Math.log10(4 / (delta * delta)), 3);
      }),
      { numRuns: 30 },
    );
  });

  it('pools the error over the batch, and per-image values see each image alone', () => {
    const a = constant([2, 1, 28, 28], 0);
    const b = map(a, (_, i) => (i < 784 ? 0.2 : 0));
    expect(psnr(b, a)).toBeCloseTo(10 * Math.log10(4 / (0.04 / 2)), 5);
    const per = psnrPerImage(b, a);
    expect(per[0]).toBeCloseTo(10 * Math.log10(4 / 0.04), 5);
    expect(per[1]).toBe(Infinity);
  });

  it('relative L2 of a scaled batch is |s − 1|', () => {
    const a = pattern(2, 1, 28, 28);
    expect(relativeL2(map(a, (v) => 1.1 * v), a)).toBeCloseTo(0.1, 6);
    expect(relativeL2(constant([1, 1, 2, 2], 0), constant([1, 1, 2, 2], 0))).toBe(0);
    expect(relativeL2(constant([1, 1, 2, 2], 1), constant([1, 1, 2, 2], 0))).toBe(Infinity);
  });
});

describe('SSIM', () => {
  it('is 1 for identical images and symmetric, ≤ 1 otherwise', () => {
    const a = pattern(2, 1, 28, 28);
    const b = pattern(2, 1, 28, 28, 0.7);
    expect(ssim(a, a)).toBeCloseTo(1, 12);
    expect(ssim(a, b)).toBeCloseTo(ssim(b, a), 12);
    expect(ssim(a, b)).toBeLessThan(0.9);
  });

  it('of constant images c and c + d is the luminance term (2μ₁μ₂ + C₁)/(μ₁² + μ₂² + C₁) in [0, 1] units', () => {
    fc.assert(
      fc.property(fc.double({ min: -1, max: 0.5, noNaN: true }), fc.double({ min: 0.01, max: 0.5, noNaN: true }), fc.constantFrom(7, 11), (c, d, window) => {
        const a = constant([1, 1, 28, 28], c);
        const b = constant([1, 1, 28, 28], c + d);
        const u = (a.data[0]! + 1) / 2;
        const v = (b.data[0]! + 1) / 2;
        const c1 = 0.01 ** 2;
        expect(ssim(a, b, { window })).toBeCloseTo((2 * u * v + c1) / (u * u + v * v + c1), 9);
      }),
      { numRuns: 40 },
    );
  });

  it('matches a direct (non-separable) evaluation of the SSIM formula with the standard constants', () => {
    // Independent of the implementation's separable filtering: 2-D Gaussian weights per window.
    function direct(a: Float32Array, b: Float32Array, h: number, w: number, size: number): number {
      const r = (size - 1) / 2;
      const wts: number[] = [];
      let tot = 0;
      for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) {
        const g = Math.exp(-((i - r) ** 2 + (j - r) ** 2) / (2 * 1.5 * 1.5));
        wts.push(g);
        tot += g;
      }
      let sum = 0;
      let count = 0;
      for (let y = 0; y + size <= h; y++) for (let x = 0; x + size <= w; x++) {
        let mx = 0, my = 0, sxx = 0, syy = 0, sxy = 0;
        for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) {
          const g = wts[i * size + j]! / tot;
          const u = (a[(y + i) * w + x + j]! + 1) / 2;
          const v = (b[(y + i) * w + x + j]! + 1) / 2;
          mx += g * u; my += g * v; sxx += g * u * u; syy += g * v * v; sxy += g * u * v;
        }
        const vx = sxx - mx * mx, vy = syy - my * my, cxy = sxy - mx * my;
        const c1 = 0.0001, c2 = 0.0009;
        sum += ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
        count++;
      }
      return sum / count;
    }
    fc.assert(
      fc.property(fc.double({ min: 0, max: 6, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(7, 11), (phase, amount, size) => {
        const a = pattern(1, 1, 16, 15);
        const b = map(a, (v, i) => (1 - amount) * v + amount * 0.9 * Math.sin(0.53 * i + phase));
        expect(ssim(b, a, { window: size })).toBeCloseTo(direct(b.data as Float32Array, a.data as Float32Array, 16, 15, size), 10);
      }),
      { numRuns: 20 },
    );
  });

  it('falls as noise grows', () => {
    const a = pattern(1, 1, 28, 28);
    let seed = 1;
    const noise = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648 - 0.5;
    };
    const values = [0.02, 0.1, 0.4].map((s) => ssim(map(a, (v) => v + s * noise()), a));
    expect(values[0]).toBeGreaterThan(values[1]!);
    expect(values[1]).toBeGreaterThan(values[2]!);
    expect(values[0]).toBeGreaterThan(0.95);
  });

  it('averages over channels and images', () => {
    const a = pattern(2, 3, 12, 12);
    const b = map(a, (v, i) => (i < 3 * 144 ? v : -v));
    const per = ssimPerImage(b, a);
    expect(per[0]).toBeCloseTo(1, 12);
    expect(per[1]).toBeLessThan(0.5);
    expect(ssim(b, a)).toBeCloseTo((per[0]! + per[1]!) / 2, 12);
  });
});

describe('fidelity metrics reject bad inputs with DittoError', () => {
  const cases: [string, () => unknown][] = [
    ['shape mismatch (PSNR)', () => psnr(pattern(2, 1, 28, 28), pattern(3, 1, 28, 28))],
    ['shape mismatch (SSIM)', () => ssim(pattern(1, 1, 28, 28), pattern(1, 1, 28, 27))],
    ['shape mismatch (relative L2)', () => relativeL2(pattern(1, 1, 28, 28), pattern(1, 2, 28, 28))],
    ['not 4-d', () => psnr(tensor([784]), tensor([784]))],
    ['image smaller than the window', () => ssim(pattern(1, 1, 8, 8), pattern(1, 1, 8, 8))],
    ['even window', () => ssim(pattern(1, 1, 28, 28), pattern(1, 1, 28, 28), { window: 8 })],
    ['empty batch', () => psnr(tensor([0, 1, 28, 28]), tensor([0, 1, 28, 28]))],
  ];
  for (const [name, f] of cases) {
    it(name, () => {
      try {
        f();
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(DittoError);
        expect((e as DittoError).code).toBe('E_INPUT');
      }
    });
  }
});
