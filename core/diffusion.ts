/**
 * The diffusion schedule of DiT / IDDPM: 1000 linear betas (1e-4 .. 0.02, float64) respaced to S
 * sampling steps, with every derived array recomputed in respaced index space, in float64.
 * Index i here is the respaced count-down index (i = S−1 at the first, noisiest step); the model
 * is fed `timesteps[i]`, the original 1000-step timestep. See docs/ebcache.md "Diffusion schedule and respacing".
 */
import { DittoError } from './errors.ts';

export const TRAIN_STEPS = 1000;

/** Python's round(): half to even (no exact ties occur for the usual S, but stay faithful). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * IDDPM `space_timesteps(numTimesteps, [steps])`: one section, stride (n−1)/(S−1) accumulated in
 * float64 from 0 and rounded, exactly as the Python loop does it.
 */
export function spaceTimesteps(numTimesteps: number, steps: number): number[] {
  if (!Number.isInteger(steps) || steps < 1 || steps > numTimesteps) {
    throw new DittoError('E_INPUT', `sampling steps must be an integer in 1..${numTimesteps}, got ${steps}`);
  }
  const stride = steps > 1 ? (numTimesteps - 1) / (steps - 1) : 1;
  const taken: number[] = [];
  let cur = 0;
  for (let k = 0; k < steps; k++) {
    taken.push(roundHalfEven(cur));
    cur += stride;
  }
  return taken;
}

/** linspace(1e-4, 0.02, n) in float64, computed like numpy (start + k·step, last value exact). */
export function linearBetas(n = TRAIN_STEPS): Float64Array {
  const start = 1e-4 * (1000 / n);
  const end = 0.02 * (1000 / n);
  const out = new Float64Array(n);
  const step = (end - start) / (n - 1);
  for (let k = 0; k < n; k++) out[k] = start + k * step;
  out[n - 1] = end;
  return out;
}

export interface Diffusion {
  readonly steps: number;
  /** Original timestep fed to the model at respaced index i. */
  readonly timesteps: readonly number[];
  readonly betas: Float64Array;
  readonly alphasCumprod: Float64Array;
  readonly alphasCumprodPrev: Float64Array;
  readonly posteriorVariance: Float64Array;
  /** log of the posterior variance with entry 0 replaced by entry 1 (IDDPM's "clipped"). */
  readonly posteriorLogVarianceClipped: Float64Array;
  readonly posteriorMeanCoef1: Float64Array;
  readonly posteriorMeanCoef2: Float64Array;
  readonly sqrtRecipAlphasCumprod: Float64Array;
  readonly sqrtRecipm1AlphasCumprod: Float64Array;
  readonly logBetas: Float64Array;
}

function map(a: Float64Array, f: (v: number, i: number) => number): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = f(a[i]!, i);
  return out;
}

/** The respaced schedule for S sampling steps. */
export function makeDiffusion(steps: number): Diffusion {
  const base = linearBetas(TRAIN_STEPS);
  const keep = new Set(spaceTimesteps(TRAIN_STEPS, steps));
  const betasList: number[] = [];
  const timesteps: number[] = [];
  let cum = 1;
  let last = 1;
  for (let t = 0; t < TRAIN_STEPS; t++) {
    cum *= 1 - base[t]!;
    if (keep.has(t)) {
      betasList.push(1 - cum / last);
      last = cum;
      timesteps.push(t);
    }
  }
  const betas = Float64Array.from(betasList);
  const alphasCumprod = new Float64Array(steps);
  let c = 1;
  for (let i = 0; i < steps; i++) alphasCumprod[i] = c *= 1 - betas[i]!;
  const alphasCumprodPrev = map(alphasCumprod, (_, i) => (i === 0 ? 1 : alphasCumprod[i - 1]!));
  const posteriorVariance = map(betas, (b, i) => (b * (1 - alphasCumprodPrev[i]!)) / (1 - alphasCumprod[i]!));
  const clipFrom = steps > 1 ? 1 : 0;
  return {
    steps,
    timesteps,
    betas,
    alphasCumprod,
    alphasCumprodPrev,
    posteriorVariance,
    posteriorLogVarianceClipped: map(posteriorVariance, (v, i) => Math.log(i === 0 ? posteriorVariance[clipFrom]! : v)),
    posteriorMeanCoef1: map(betas, (b, i) => (b * Math.sqrt(alphasCumprodPrev[i]!)) / (1 - alphasCumprod[i]!)),
    posteriorMeanCoef2: map(betas, (b, i) => ((1 - alphasCumprodPrev[i]!) * Math.sqrt(1 - b)) / (1 - alphasCumprod[i]!)),
    sqrtRecipAlphasCumprod: map(alphasCumprod, (a) => Math.sqrt(1 / a)),
    sqrtRecipm1AlphasCumprod: map(alphasCumprod, (a) => Math.sqrt(1 / a - 1)),
    logBetas: map(betas, (b) => Math.log(b)),
  };
}
