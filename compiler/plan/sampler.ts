/**
 * The sampler as plan data: the per-step parameter row (timestep fed to the model, exposure-bias
 * eps scale, DDPM/DDIM coefficients), computed here once so the runtime only uploads it. Field
 * order is the row layout: elementwise kernels read field j as uniform j of the step's row.
 * The schedule itself comes from core/diffusion.ts (pure TS, float64), the same code the
 * reference executor uses, so the two cannot drift apart.
 */
import { makeDiffusion } from '../../core/diffusion.ts';
import { epsScaleAt } from '../ir/rules.ts';

export const PARAM_FIELDS = [
  't_model', // original 1000-step timestep fed to the model
  'eps_scale', // multiplier on the predicted noise (EB-Cache exposure bias), 1 by default
  'sqrt_recip_ab', // sqrt(1/ᾱ_i)
  'sqrt_recipm1_ab', // sqrt(1/ᾱ_i − 1)
  'coef1', // posterior mean coefficient of x0
  'coef2', // posterior mean coefficient of x_t
  'log_beta', // learned-range upper bound log β_i
  'post_log_var', // learned-range lower bound: clipped log posterior variance
  'fixed_log_var', // fixed-large log variance (models without learned sigma)
  'noise_flag', // 1 when noise is added (i ≠ 0), else 0
  'sqrt_ab_prev', // DDIM: sqrt(ᾱ_prev)
  'sqrt_one_minus_ab_prev', // DDIM: sqrt(1 − ᾱ_prev)
  'step', // k, sampling order
  'countdown', // i = S − 1 − k
] as const;

export type ParamField = (typeof PARAM_FIELDS)[number];

export function paramIndex(name: ParamField): number {
  return PARAM_FIELDS.indexOf(name);
}

/** One row per sampling step k (sampling order), values in PARAM_FIELDS order. */
export function samplerParamRows(steps: number, epsScale: readonly number[]): number[][] {
  const d = makeDiffusion(steps);
  const rows: number[][] = [];
  for (let k = 0; k < steps; k++) {
    const i = steps - 1 - k;
    const abPrev = d.alphasCumprodPrev[i]!;
    const fixed = Math.log(i === 0 ? d.posteriorVariance[steps > 1 ? 1 : 0]! : d.betas[i]!);
    const row: Record<ParamField, number> = {
      t_model: d.timesteps[i]!,
      eps_scale: epsScaleAt(epsScale, k),
      sqrt_recip_ab: d.sqrtRecipAlphasCumprod[i]!,
      sqrt_recipm1_ab: d.sqrtRecipm1AlphasCumprod[i]!,
      coef1: d.posteriorMeanCoef1[i]!,
      coef2: d.posteriorMeanCoef2[i]!,
      log_beta: d.logBetas[i]!,
      post_log_var: d.posteriorLogVarianceClipped[i]!,
      fixed_log_var: fixed,
      noise_flag: i === 0 ? 0 : 1,
      sqrt_ab_prev: Math.sqrt(abPrev),
      sqrt_one_minus_ab_prev: Math.sqrt(1 - abPrev),
      step: k,
      countdown: i,
    };
    // With a single step the variance terms of i = 0 are log(0) = −∞; they only ever multiply the
    // noise of a step that adds none (noise_flag 0), and JSON cannot hold −∞, so they become 0.
    rows.push(PARAM_FIELDS.map((f) => (Number.isFinite(row[f]) ? row[f] : 0)));
  }
  return rows;
}
