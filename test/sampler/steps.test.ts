/** DDPM / DDIM steps vs torch, and DiT's classifier-free guidance with the eps multiplier. */
import { describe, expect, it } from 'vitest';
import { makeDiffusion } from '../../core/diffusion.ts';
import { ddimStep, ddpmStep } from '../../runtime/sampler/steps.ts';
import { epsFromModelOutput } from '../../runtime/sampler/guidance.ts';
import { tensor } from '../../core/tensor.ts';
import { readGoldenIo } from '../golden/goldenIo.ts';

const io = readGoldenIo();
const arr = (name: string) => io.f32(name).data as Float32Array;

describe('sampler steps vs torch (S = 50)', () => {
  const d = makeDiffusion(Number(io.meta['step.steps']));
  for (const i of [37, 0]) {
    it(`DDPM, learned-range variance, index ${i}${i === 0 ? ' (no noise)' : ''}`, () => {
      const out = ddpmStep(d, i, arr('step.x'), arr('step.eps'), arr('step.v'), arr('step.noise'));
      expect(out).toAllClose(arr(`ddpm.i${i}`), { rtol: 1e-5, atol: 1e-6 });
    });
    it(`DDIM eta = 0, index ${i}`, () => {
      expect(ddimStep(d, i, arr('step.x'), arr('step.eps'))).toAllClose(arr(`ddim.i${i}`), { rtol: 1e-5, atol: 1e-6 });
    });
  }

  it('the last step adds no noise, the others do (scaled by exp(½ log σ²))', () => {
    const x = arr('step.x');
    const eps = arr('step.eps');
    const v = arr('step.v');
    const z = arr('step.noise');
    expect(ddpmStep(d, 0, x, eps, v, z)).toEqual(ddpmStep(d, 0, x, eps, v, new Float32Array(z.length)));
    expect(ddpmStep(d, 10, x, eps, v, z)).not.toEqual(ddpmStep(d, 10, x, eps, v, new Float32Array(z.length)));
  });

  it('fixed variances: small = posterior variance, large = β (β_0 → σ̃²_1)', () => {
    const n = 4;
    const x = new Float32Array(n).fill(0.3);
    const eps = new Float32Array(n).fill(-0.2);
    const z = new Float32Array(n).fill(1);
    const zero = new Float32Array(n);
    const i = 20;
    const noiseOf = (kind: 'fixed_small' | 'fixed_large') => ddpmStep(d, i, x, eps, undefined, z, kind)[0]! - ddpmStep(d, i, x, eps, undefined, zero, kind)[0]!;
    expect(noiseOf('fixed_small')).toBeCloseTo(Math.sqrt(d.posteriorVariance[i]!), 6);
    expect(noiseOf('fixed_large')).toBeCloseTo(Math.sqrt(d.betas[i]!), 6);
    // learned range at v = −1 is the posterior variance, at v = +1 it is β.
    const lr = (val: number) => {
      const v = new Float32Array(n).fill(val);
      return ddpmStep(d, i, x, eps, v, z)[0]! - ddpmStep(d, i, x, eps, v, zero)[0]!;
    };
    expect(lr(-1)).toBeCloseTo(Math.sqrt(d.posteriorVariance[i]!), 6);
    expect(lr(1)).toBeCloseTo(Math.sqrt(d.betas[i]!), 6);
  });
});

describe('classifier-free guidance as DiT does it', () => {
  // N = 2 (cond, uncond), 8 channels (4 eps + 4 variance), 1 pixel: channel c of the cond half = c, uncond = 10 + c.
  const out = tensor([2, 8, 1, 1], [0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17]);

  it('guides channels 0–2 only; channel 3 and the variance come from the cond half', () => {
    const { eps, v } = epsFromModelOutput(out, { channels: 4, cfgScale: 4 });
    expect(Array.from(eps)).toEqual([10 + 4 * -10, 11 + 4 * -10, 12 + 4 * -10, 3]);
    expect(Array.from(v!)).toEqual([4, 5, 6, 7]);
  });

  it("guide 'all' guides every eps channel, never the variance", () => {
    const { eps, v } = epsFromModelOutput(out, { channels: 4, cfgScale: 4, guide: 'all' });
    expect(Array.from(eps)).toEqual([-30, -29, -28, -27]);
    expect(Array.from(v!)).toEqual([4, 5, 6, 7]);
  });

  it('the eps multiplier scales every eps channel after guidance, not the variance', () => {
    const { eps, v } = epsFromModelOutput(out, { channels: 4, cfgScale: 4, epsScale: 0.5 });
    expect(Array.from(eps)).toEqual([-15, -14.5, -14, 1.5]);
    expect(Array.from(v!)).toEqual([4, 5, 6, 7]);
  });

  it('without CFG the batch passes through; a model without variance channels gives no v', () => {
    const { eps, v } = epsFromModelOutput(out, { channels: 4 });
    expect(Array.from(eps)).toEqual([0, 1, 2, 3, 10, 11, 12, 13]);
    expect(Array.from(v!)).toEqual([4, 5, 6, 7, 14, 15, 16, 17]);
    expect(epsFromModelOutput(tensor([1, 4, 1, 1], [1, 2, 3, 4]), { channels: 4 }).v).toBeUndefined();
  });
});
