/**
 * One sampler update at respaced count-down index i, on the B latents of the conditional half.
 *
 * Arithmetic is f32, operation by operation, in the order PyTorch's IDDPM code evaluates it: the
 * float64 schedule scalars are rounded to f32 when extracted (`_extract_into_tensor`), then every
 * elementwise op rounds to f32 (`Math.fround`). That keeps the reference within an ulp or so of
 * torch and gives the GPU kernels an exact recipe.
 */
import { DittoError } from '../../core/errors.ts';
import type { Diffusion } from '../../core/diffusion.ts';

const f = Math.fround;

/**
 * How the per-element variance of the DDPM step is chosen.
 * - `learned_range` (learn_sigma models): log σ² = frac·log β_i + (1 − frac)·log σ̃²_i, frac = (v + 1)/2.
 * - `fixed_large`: σ² = β_i, with β_0 replaced by σ̃²_1 (DiT's default when learn_sigma is false).
 * - `fixed_small`: σ² = σ̃²_i, the posterior variance, log clipped at i = 0.
 */
export type VarianceKind = 'learned_range' | 'fixed_large' | 'fixed_small';

function checkIndex(d: Diffusion, i: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= d.steps) {
    throw new DittoError('E_INTERNAL', `sampler index ${i} is outside 0..${d.steps - 1}`);
  }
}

/** x0 = sqrt(1/ᾱ_i)·x − sqrt(1/ᾱ_i − 1)·eps, no clipping. */
export function predictX0(d: Diffusion, i: number, x: Float32Array, eps: Float32Array): Float32Array {
  const a = f(d.sqrtRecipAlphasCumprod[i]!);
  const b = f(d.sqrtRecipm1AlphasCumprod[i]!);
  const out = new Float32Array(x.length);
  for (let j = 0; j < x.length; j++) out[j] = f(a * x[j]!) - f(b * eps[j]!);
  return out;
}

/** log σ² per element for the DDPM step. `v` (the model's variance channels) only for learned_range. */
function logVariance(d: Diffusion, i: number, kind: VarianceKind, v: Float32Array | undefined, n: number): Float32Array {
  const out = new Float32Array(n);
  if (kind === 'learned_range') {
    if (!v) throw new DittoError('E_INPUT', 'learned-range variance needs the model variance channels (learn_sigma = true)');
    const minLog = f(d.posteriorLogVarianceClipped[i]!);
    const maxLog = f(d.logBetas[i]!);
    for (let j = 0; j < n; j++) {
      const frac = f(f(v[j]! + 1) / 2);
      out[j] = f(frac * maxLog) + f(f(1 - frac) * minLog);
    }
    return out;
  }
  const lv =
    kind === 'fixed_small'
      ? d.posteriorLogVarianceClipped[i]!
      : Math.log(i === 0 ? d.posteriorVariance[d.steps > 1 ? 1 : 0]! : d.betas[i]!);
  return out.fill(f(lv));
}

/**
 * DDPM ancestral step: x_next = mean + [i ≠ 0]·exp(½ log σ²)·z, mean = c1_i·x0 + c2_i·x.
 * `noise` may be omitted at i = 0 (it is not used there).
 */
export function ddpmStep(
  d: Diffusion,
  i: number,
  x: Float32Array,
  eps: Float32Array,
  v: Float32Array | undefined,
  noise: Float32Array | undefined,
  variance: VarianceKind = 'learned_range',
): Float32Array {
  checkIndex(d, i);
  const x0 = predictX0(d, i, x, eps);
  const c1 = f(d.posteriorMeanCoef1[i]!);
  const c2 = f(d.posteriorMeanCoef2[i]!);
  const out = new Float32Array(x.length);
  for (let j = 0; j < x.length; j++) out[j] = f(c1 * x0[j]!) + f(c2 * x[j]!);
  if (i === 0) return out;
  if (!noise || noise.length !== x.length) {
    throw new DittoError('E_INTERNAL', `DDPM step ${i} needs ${x.length} noise values, got ${noise?.length ?? 0}`);
  }
  const lv = logVariance(d, i, variance, v, x.length);
  for (let j = 0; j < x.length; j++) out[j] = out[j]! + f(f(Math.exp(f(0.5 * lv[j]!))) * noise[j]!);
  return out;
}

/** DDIM with η = 0: eps re-derived from x0, x_next = x0·sqrt(ᾱ_prev) + sqrt(1 − ᾱ_prev)·eps′. */
export function ddimStep(d: Diffusion, i: number, x: Float32Array, eps: Float32Array): Float32Array {
  checkIndex(d, i);
  const x0 = predictX0(d, i, x, eps);
  const a = f(d.sqrtRecipAlphasCumprod[i]!);
  const b = f(d.sqrtRecipm1AlphasCumprod[i]!);
  const abp = f(d.alphasCumprodPrev[i]!);
  const sa = f(Math.sqrt(abp));
  const sb = f(Math.sqrt(f(1 - abp)));
  const out = new Float32Array(x.length);
  for (let j = 0; j < x.length; j++) {
    const e = f(f(f(a * x[j]!) - x0[j]!) / b);
    out[j] = f(x0[j]! * sa) + f(sb * e);
  }
  return out;
}
