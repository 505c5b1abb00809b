/** Respacing and the derived schedule arrays: docs/ebcache.md "Test vectors" and the torch goldens. */
import { describe, expect, it } from 'vitest';
import { linearBetas, makeDiffusion, roundHalfEven, spaceTimesteps } from '../../core/diffusion.ts';
import { isDittoError } from '../../core/errors.ts';
import { readGoldenIo } from '../golden/goldenIo.ts';

const io = readGoldenIo();

const S50 = [
  0, 20, 41, 61, 82, 102, 122, 143, 163, 183, 204, 224, 245, 265, 285, 306, 326, 347, 367, 387, 408, 428, 449, 469, 489, 510, 530, 550, 571,
  591, 612, 632, 652, 673, 693, 714, 734, 754, 775, 795, 816, 836, 856, 877, 897, 917, 938, 958, 979, 999,
];

describe('§F vectors', () => {
  it('respaced timesteps for S = 50', () => {
    expect(spaceTimesteps(1000, 50)).toEqual(S50);
  });

  it('respaced timesteps for S = 250: stride 4 with three gaps of 5, ending …991, 995, 999', () => {
    const t = spaceTimesteps(1000, 250);
    expect(t.length).toBe(250);
    expect(t.slice(-3)).toEqual([991, 995, 999]);
    const gaps = t.slice(1).map((v, k) => [t[k]!, v] as const).filter(([a, b]) => b - a !== 4);
    expect(gaps).toEqual([[164, 169], [497, 502], [830, 835]]);
  });

  it("respaced betas for S = 50 and the final ᾱ'_49", () => {
    const d = makeDiffusion(50);
    const want: [number, number][] = [[0, 1.0e-4], [1, 6.16519e-3], [2, 1.49604e-2], [47, 0.318552], [48, 0.337315], [49, 0.329809]];
    for (const [i, b] of want) expect(d.betas[i]! / b, `β'_${i}`).toBeCloseTo(1, 5);
    expect(d.alphasCumprod[49]! / 4.0358e-5).toBeCloseTo(1, 4);
    expect(d.timesteps).toEqual(S50);
  });
});

describe('schedule arrays vs the torch script (float64)', () => {
  for (const S of [50, 250]) {
    it(`S = ${S}`, () => {
      const d = makeDiffusion(S);
      expect(d.timesteps).toEqual(Array.from(io.f64(`resp${S}.timesteps`)));
      const pairs: [Float64Array, string][] = [
        [d.betas, 'betas'],
        [d.alphasCumprod, 'alphas_cumprod'],
        [d.posteriorLogVarianceClipped, 'posterior_log_variance_clipped'],
        [d.posteriorMeanCoef1, 'posterior_mean_coef1'],
        [d.posteriorMeanCoef2, 'posterior_mean_coef2'],
      ];
      for (const [mine, name] of pairs) expect(mine, name).toAllClose(io.f64(`resp${S}.${name}`), { rtol: 1e-12, atol: 0 });
    });
  }
});

describe('edges', () => {
  it('numpy linspace endpoints and Python rounding', () => {
    const b = linearBetas();
    expect(b[0]).toBe(1e-4);
    expect(b[999]).toBe(0.02);
    expect([0.5, 1.5, 2.5, -0.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, 2, 3]);
  });

  it('a step count outside 1..1000 is a user error', () => {
    for (const s of [0, 1001, 2.5]) {
      try {
        spaceTimesteps(1000, s);
        expect.unreachable();
      } catch (e) {
        expect(isDittoError(e) && e.code).toBe('E_INPUT');
      }
    }
    expect(spaceTimesteps(1000, 1)).toEqual([0]);
    expect(makeDiffusion(1000).betas[999]).toBeCloseTo(0.02, 12);
  });
});
