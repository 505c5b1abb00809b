/**
 * What each cache rule of the Schedule IR computes: the one definition of reuse, reuse residual,
 * Taylor forecast, the dynamic `when` decision and the eps scale. The reference executor
 * (runtime/reference/) evaluates these functions element by element; the compiler
 * (passes/specialise.ts, passes/lower.ts, plan/sampler.ts) takes from them the coefficients a plan
 * carries per step, and the CPU plan interpreter (runtime/planCpu/) runs the dynamic decision with
 * them. docs/cache-rules.md states the same in prose.
 *
 * Arithmetic is f32 per operation (`Math.fround`) in the order the plan's kernels evaluate it, so
 * the reference and a plan differ only by the rounding of the model's own sums.
 */
import { invariant } from '../../core/errors.ts';
import type { DynamicRule, ForecastBasis, TokenOrder } from './schedule.ts';

const f = Math.fround;

// ---------------------------------------------------------------------------------------------
// reuse and reuse residual

/** `reuse`: a node's value at a non-computing step is the value stored at its last compute. */
export function reuseValue(stored: Float32Array): Float32Array {
  return stored;
}

/** What a block target stores at a compute: its residual, output − input. */
export function residualOf(output: ArrayLike<number>, input: ArrayLike<number>): Float32Array {
  const r = new Float32Array(output.length);
  for (let e = 0; e < r.length; e++) r[e] = f(output[e]! - input[e]!);
  return r;
}

/** `reuse residual`: the block's output is its current input plus the stored residual. */
export function withResidual(input: ArrayLike<number>, residual: ArrayLike<number>): Float32Array {
  const r = new Float32Array(input.length);
  for (let e = 0; e < r.length; e++) r[e] = f(input[e]! + residual[e]!);
  return r;
}

// ---------------------------------------------------------------------------------------------
// forecast taylor(k) — TaylorSeer's definition (docs/decisions.md "Taylor forecast")
//
// The cache keeps d0 (the value at the last compute) and differences d1 … dK. At each compute at
// step s, after the previous compute at step p:
//     d0 ← f(s);   d_j ← (d_{j−1}[new] − d_{j−1}[old]) / (s − p)   for j = 1 … min(K, computes before s)
// and a forecast m = k − s steps after the last compute, of order o ≤ computes − 1, is
//     f(k) ≈ Σ_{j=0..o} d_j · m^j / j!.
// With evenly spaced computes d_j/j!·m^j is the j-th term of a Taylor series whose derivatives are
// finite differences; with uneven spacing each refresh divides by the last interval only.

/** The factor a compute at `step` multiplies each new difference by: 1 / (steps since the previous compute). */
export function taylorRefreshFactor(previousCompute: number | undefined, step: number): number {
  return previousCompute === undefined ? 0 : 1 / (step - previousCompute);
}

/** The highest difference a compute can refresh: the order asked for, bounded by the computes before it. */
export function taylorRefreshOrders(maxOrder: number, computesBefore: number): number {
  return Math.min(maxOrder, computesBefore);
}

/** The order a forecast can use: the order asked for, bounded by the history (computes so far − 1). */
export function taylorUsableOrder(order: number, computes: number): number {
  return Math.min(order, computes - 1);
}

/** Coefficients c_j = m^j / j! of d_0 … d_order in a forecast m steps after the last compute. */
export function taylorForecastCoefficients(m: number, order: number): number[] {
  const c = [1];
  for (let j = 1; j <= order; j++) c.push(c[j - 1]! * (m / j));
  return c;
}

// ---------------------------------------------------------------------------------------------
// forecast hermite(k, σ) — HiCache's scaled Hermite basis (docs/decisions.md "Hermite forecast")
//
// The same stored differences d_j as Taylor, expanded in scaled probabilists' Hermite polynomials
// instead of monomials: f(k) ≈ Σ_j d_j · σ^j·He_j(m/σ) / j!. With p_j = σ^j·He_j(m/σ) the
// three-term recurrence He_{j+1}(x) = x·He_j(x) − j·He_{j−1}(x) becomes
//     p_0 = 1,  p_1 = m,  p_{j+1} = m·p_j − j·σ²·p_{j−1},
// so σ = 0 is exactly Taylor and σ damps the high-order terms, which grow fastest far from the
// last compute (HiCache's point: m^j overshoots there).

/** Coefficients of d_0 … d_order in a forecast m steps after the last compute, in `basis` (absent:
 *  Taylor). `exp` is not linear in the differences: below order 2 it is Taylor's (the line through
 *  the last two computes), at order 2 it is `exponentialForecast`, and this function is not used.
 *  `linear` needs `interval`, the steps between the last two computes, at order 1. */
export function forecastCoefficients(m: number, order: number, basis?: ForecastBasis, interval?: number): number[] {
  if (!basis || basis.form === 'exp') return taylorForecastCoefficients(m, order);
  if (basis.form === 'foca') return focaForecastCoefficients(m, order);
  if (basis.form === 'linear') return linearForecastCoefficients(order, basis.weight, interval);
  const s2 = basis.sigma * basis.sigma;
  const p = [1, m];
  for (let j = 1; j < order; j++) p.push(m * p[j]! - j * s2 * p[j - 1]!);
  const c = [1];
  let factorial = 1;
  for (let j = 1; j <= order; j++) {
    factorial *= j;
    c.push(p[j]! / factorial);
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// forecast linear(w) — FasterCache's dynamic feature reuse (docs/decisions.md "FasterCache")
//
// Between computes a feature is the last computed value plus w times the change between the last
// two computes, F ≈ F_last + w·(F_last − F_prev), with w given per step (the paper raises it over
// the trajectory). In the stored differences, d1 = (F_last − F_prev)/h with h the steps between
// those computes, that is d0 + w·h·d1, whatever the number of steps m since the last compute:
// w = m/h is taylor(1), w = 0 is reuse. With one compute so far it is the last computed value.

/** `linear`'s coefficients of d_0 … d_order (order ≤ 1); `interval` = h, needed at order 1. */
export function linearForecastCoefficients(order: number, weight: number, interval: number | undefined): number[] {
  if (order < 1) return [1];
  invariant(interval !== undefined && interval > 0, `linear forecast: the interval between the last two computes must be > 0, got ${interval}`);
  return [1, weight * interval];
}

// ---------------------------------------------------------------------------------------------
// forecast foca — FoCa's forecast-then-calibrate (docs/decisions.md "FoCa forecast")
//
// The feature trajectory is an ODE dF/dk = g. The stored history gives F_s = d0 (the last
// compute), the slope there g_s = d1 (TaylorSeer's backward difference) and its rate d2.
//   forecast (BDF2, made explicit):  F̂ = 4/3·F_s − 1/3·F_{s−m} + 2/3·m·ĝ_{s+m}
//       with the point one horizon back read along the stored slope, F_{s−m} = d0 − m·d1, and the
//       slope at the target extrapolated along its rate, ĝ_{s+m} = d1 + m·d2:
//       F̂ = d0 + m·d1 + (2/3)·m²·d2
//   calibrate (Heun, the trapezoid): F = F_s + m/2·(g_s + g̃), g̃ = (F̂ − F_s)/m the slope the
//       forecast implies:  F = d0 + m·d1 + (1/3)·m²·d2.
// So FoCa keeps Taylor's first-order term and gives the curvature a third of the horizon's square
// where Taylor gives half: the corrector averages the slope at both ends instead of trusting the
// extrapolated one, which is what keeps long horizons stable. With one stored difference (two
// computes) both stages reduce to the line d0 + m·d1.

/** FoCa's coefficients of d_0 … d_order (order ≤ 2) m steps after the last compute. */
export function focaForecastCoefficients(m: number, order: number): number[] {
  const c = [1];
  if (order >= 1) c.push(m);
  if (order >= 2) c.push((m * m) / 3);
  return c;
}

// ---------------------------------------------------------------------------------------------
// forecast exp — an exponential fit of the last three computes (docs/decisions.md "Exponential
// forecast")
//
// As a one-mode dynamic-mode-decomposition predictor: per element, the change between computes is
// taken to shrink (or hold) by a fixed ratio per step. The slope over the last interval is d1, the
// one before it d1 − h·d2 (h = steps between the last two computes: the refresh inverted), their
// ratio r = ρ^h (ρ the per-step ratio). Per-step increments δ·ρ^i then give
//     F(s+m) = d0 + h·d1 · r · G(m) / G(h),    G(n) = Σ_{i=0}^{n−1} ρ^i,  ρ^i = r^{i/h},
// which is exact on F(k) = a + b·ρ^k with evenly spaced computes, and is the line d0 + m·d1 at r = 1.
// The ratio is a regularised least-squares fit, r = d1·d1′ / (d1′² + ε), clamped to [r_min, 1]: no
// division by zero where the slope was flat, no growth (a mode with |ρ| > 1 explodes over a long
// horizon), a sign flip (oscillation) read as "the change has died out". G(h) ≥ 1, so the division
// is safe and every term is positive (no cancellation near r = 1).

/** ε of the ratio's fit and the smallest ratio (r_min > 0 so that r^{i/h} is a plain power). */
export const EXP_FORECAST = Object.freeze({ epsilon: 1e-30, minRatio: 1e-4 });

/** The arithmetic `exponentialForecast` is written in: f32 numbers in the reference, expression
 *  trees in the compiled plan (passes/lowerCache.ts), so the formula exists once. */
export interface ForecastAlgebra<T> {
  c(value: number): T;
  add(a: T, b: T): T;
  sub(a: T, b: T): T;
  mul(a: T, b: T): T;
  div(a: T, b: T): T;
  min(a: T, b: T): T;
  max(a: T, b: T): T;
  pow(a: T, b: T): T;
}

/** The `exp` forecast m steps after the last compute, h steps after the one before it. */
export function exponentialForecast<T>(A: ForecastAlgebra<T>, d0: T, d1: T, d2: T, m: number, h: number): T {
  const prev = A.sub(d1, A.mul(d2, A.c(h)));
  const fit = A.div(A.mul(d1, prev), A.add(A.mul(prev, prev), A.c(EXP_FORECAST.epsilon)));
  const r = A.min(A.max(fit, A.c(EXP_FORECAST.minRatio)), A.c(1));
  // Σ_{i<n} r^{i/h} as a balanced sum, so the plan's expression stays shallow for long horizons.
  const G = (n: number): T => {
    const sum = (lo: number, hi: number): T => {
      if (hi - lo === 1) return lo === 0 ? A.c(1) : A.pow(r, A.c(lo / h));
      const mid = (lo + hi) >> 1;
      return A.add(sum(lo, mid), sum(mid, hi));
    };
    return sum(0, n);
  };
  const gm = G(m);
  const gh = h === 1 ? undefined : G(h);
  const growth = gh === undefined ? A.mul(r, gm) : A.div(A.mul(r, gm), gh);
  return A.add(d0, A.mul(A.mul(d1, A.c(h)), growth));
}

/** `exponentialForecast` on f32 numbers, each operation rounded as the plan's kernel rounds it. */
export const F32_ALGEBRA: ForecastAlgebra<number> = {
  c: (v) => f(v),
  add: (a, b) => f(a + b),
  sub: (a, b) => f(a - b),
  mul: (a, b) => f(a * b),
  div: (a, b) => f(a / b),
  min: (a, b) => Math.min(a, b),
  max: (a, b) => Math.max(a, b),
  pow: (a, b) => f(Math.pow(a, b)),
};

/** What a forecast's basis is called in messages and plan notes. */
export function forecastName(order: number, basis?: ForecastBasis): string {
  if (!basis) return `taylor(${order})`;
  if (basis.form === 'hermite') return `hermite(${order}, ${basis.sigma})`;
  if (basis.form === 'linear') return order < 1 ? `linear(${basis.weight}) (one compute so far: its value)` : `linear(${basis.weight})`;
  return order < 2 ? `${basis.form} (order ${order}: the line through the last two computes)` : basis.form;
}

/** The Taylor state of one target in one CFG branch, evaluated on the CPU with the plan's f32 arithmetic. */
export class TaylorState {
  /** d[0] = last computed value, d[j] = j-th difference. */
  d: Float32Array[] = [];
  /** Steps of the computes so far. */
  readonly computes: number[] = [];

  constructor(readonly maxOrder: number) {}

  /** A compute at `step` with value v: refresh d_0 … d_orders in place (what the plan's taylor_update does). */
  refresh(step: number, v: Float32Array): void {
    const orders = taylorRefreshOrders(this.maxOrder, this.computes.length);
    const factor = f(taylorRefreshFactor(this.computes[this.computes.length - 1], step));
    const next: Float32Array[] = [v.slice()];
    for (let j = 1; j <= orders; j++) {
      const prevNew = next[j - 1]!;
      const prevOld = this.d[j - 1]!;
      const dj = new Float32Array(v.length);
      for (let e = 0; e < v.length; e++) dj[e] = f(f(prevNew[e]! - prevOld[e]!) * factor);
      next.push(dj);
    }
    this.d = next;
    this.computes.push(step);
  }

  /** The forecast of order ≤ `order` at step k in `basis` (what the plan's forecast instruction does). */
  forecast(k: number, order: number, basis?: ForecastBasis): Float32Array {
    const last = this.computes[this.computes.length - 1]!;
    const o = taylorUsableOrder(order, this.computes.length);
    if (basis?.form === 'exp' && o >= 2) {
      const h = last - this.computes[this.computes.length - 2]!;
      const [d0, d1, d2] = this.d as [Float32Array, Float32Array, Float32Array];
      return d0.map((v, e) => exponentialForecast(F32_ALGEBRA, v, d1[e]!, d2[e]!, k - last, h));
    }
    const interval = this.computes.length >= 2 ? last - this.computes[this.computes.length - 2]! : undefined;
    const c = forecastCoefficients(k - last, o, basis, interval).map(f);
    const out = this.d[0]!.slice();
    for (let j = 1; j <= o; j++) {
      const dj = this.d[j]!;
      for (let e = 0; e < out.length; e++) out[e] = f(out[e]! + f(dj[e]! * c[j]!));
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// dynamic `when rel_l1(signal) < θ warmup W max M`

/** Relative L1 change Σ|cur − prev| / Σ|prev| (0/0 counts as no change), summed in f64. */
export function relL1(prev: ArrayLike<number>, cur: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < cur.length; i++) {
    num += Math.abs(cur[i]! - prev[i]!);
    den += Math.abs(prev[i]!);
  }
  if (den === 0) return num === 0 ? 0 : Infinity;
  return num / den;
}

/** A rule's state between steps. */
export interface DynamicState {
  /** Whether a previous signal exists (false before step 0). */
  hasPrev: boolean;
  /** Σ s since the targets last computed. */
  acc: number;
  /** Reuses in a row. */
  consecutive: number;
  /** Reuses so far in the run (for `total`). */
  reused?: number;
}

export const DYNAMIC_START: DynamicState = Object.freeze({ hasPrev: false, acc: 0, consecutive: 0, reused: 0 });

/** The parameters of a rule's decision with every default filled in (what the plan's kernel carries). */
export interface DecideParams {
  /** What s is: absent, the relative L1 change of the signal; `transform_rate`, EasyCache's
   *  estimate of the output change (below). */
  metric?: 'transform_rate';
  threshold: number;
  warmup: number;
  /** Infinity: no limit. */
  maxConsecutive: number;
  against: 'step' | 'compute';
  /** Highest degree first; empty: s is used as measured. */
  rescale: number[];
  /** Infinity: no cap. */
  cap: number;
  /** Infinity: no limit. */
  maxReused: number;
}

export function decideParams(rule: DynamicRule): DecideParams {
  return {
    ...(rule.metric === 'transform_rate' ? { metric: 'transform_rate' as const } : {}),
    threshold: rule.threshold,
    warmup: rule.warmup,
    maxConsecutive: rule.maxConsecutive,
    against: rule.against ?? 'step',
    rescale: [...(rule.rescale ?? [])],
    cap: rule.cap ?? Infinity,
    maxReused: rule.maxReused ?? Infinity,
  };
}

/** TeaCache's rescaling: the polynomial Σ c_j·s^(n−j) (Horner, highest degree first); no coefficients: s. */
export function rescaleSignal(coefficients: readonly number[], s: number): number {
  if (coefficients.length === 0) return s;
  let r = 0;
  for (const c of coefficients) r = r * s + c;
  return r;
}

/**
 * One step of a dynamic rule: with the signal's change s (undefined at the first step), the
 * decision, and the state after it. s is first rescaled (`rescale`), then acc += s. The compared
 * value is acc (`against: step`) or s itself (`against: compute`). Reuse iff the step uses the rule,
 * a previous signal exists, k ≥ warmup, the compared value < threshold, acc < cap, reuses in a row
 * < max and reuses in the run < total; a compute decision, and a step that does not use the rule,
 * reset acc and the count (and, against compute, make this step's signal the new reference).
 */
export function dynamicDecision(rule: DynamicRule | DecideParams, state: DynamicState, k: number, s: number | undefined, used: boolean): { reuse: boolean; accumulated: number; measured?: number; next: DynamicState } {
  const p = 'signal' in rule ? decideParams(rule) : rule;
  const m = s === undefined ? undefined : rescaleSignal(p.rescale, s);
  const acc = m === undefined ? state.acc : state.acc + m;
  const compared = p.against === 'compute' ? m : acc;
  const reused = state.reused ?? 0;
  const reuse =
    used && m !== undefined && k >= p.warmup && compared! < p.threshold && acc < p.cap && state.consecutive < p.maxConsecutive && reused < p.maxReused;
  return {
    reuse,
    accumulated: acc,
    ...(m !== undefined ? { measured: m } : {}),
    next: reuse ? { hasPrev: true, acc, consecutive: state.consecutive + 1, reused: reused + 1 } : { hasPrev: true, acc: 0, consecutive: 0, reused },
  };
}

/** Whether the rule's reference signal (`prev`) becomes this step's signal: always against the
 *  previous step, only on a step that did not reuse against the last compute. */
export function dynamicKeepsSignal(p: DecideParams, reuse: boolean): boolean {
  return p.against === 'step' || !reuse;
}

/**
 * Whether the work of one path of a dynamic step runs, from each CFG branch's decision (`reuse`:
 * true where the branch reuses; without `per_branch` both are the rule's one decision). The batch
 * takes the reuse path when every branch reuses, else the compute path. On the compute path a
 * `per_branch` rule's half-batch work (`branch` given) stores the residual of a branch that
 * computes (`compute`) and gives a branch that reuses its stored residual (`reuse`): the images
 * are those of each branch deciding alone; the time is that of the branch that computes more.
 */
export function guardRuns(when: 'compute' | 'reuse', branch: 'cond' | 'uncond' | undefined, reuse: { cond: boolean; uncond: boolean }): boolean {
  if (branch === undefined) return (when === 'reuse') === (reuse.cond && reuse.uncond);
  const own = reuse[branch];
  const other = reuse[branch === 'cond' ? 'uncond' : 'cond'];
  return when === 'compute' ? !own : own && !other;
}

// ---------------------------------------------------------------------------------------------
// `when transform_rate(blocks[a..b]) < τ` — EasyCache's runtime-adaptive reuse
// (docs/decisions.md "EasyCache")
//
// The span's transformation is output − input (what `reuse residual` stores). At every step the
// rule does not reuse (a compute), with x, o the span's input and output and x_c, o_c those of the
// previous compute, the transformation rate is measured:
//     rate = Σ|o − o_c| / Σ|x − x_c|          (none while fewer than two computes, or Σ|x − x_c| = 0)
// and at every step, with x_{k−1} the input at the previous step, the output change is estimated
//     s_k = rate · Σ|x_k − x_{k−1}| / Σ|o_c|
// and decided on as any dynamic rule's s (`dynamicDecision`, against the previous step): summed
// since the last compute, reuse while the sum stays under τ. Without a rate there is no s (compute).
// Sums are over the whole model batch (both CFG halves: the decision is one per step).

/** Σ|a − b| in f64 (f32 operands). */
export function l1Distance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s;
}

/** Σ|a| in f64. */
export function l1Norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]!);
  return s;
}

/** The transformation rate between two consecutive computes (undefined when the input did not move). */
export function transformRate(outputChange: number, inputChange: number): number | undefined {
  return inputChange > 0 ? outputChange / inputChange : undefined;
}

/** s_k: the output change EasyCache predicts from the input change since the previous step
 *  (undefined without a rate; 0/0 is no change and x/0 an infinite one, as in `relL1`). */
export function transformRateChange(rate: number | undefined, inputChange: number, outputNorm: number): number | undefined {
  if (rate === undefined) return undefined;
  const num = rate * inputChange;
  if (outputNorm === 0) return num === 0 ? 0 : Infinity;
  return num / outputNorm;
}

// ---------------------------------------------------------------------------------------------
// FasterCache's CFG-Cache frequency split (docs/decisions.md "FasterCache")
//
// FasterCache splits the cached (uncond − cond) difference Δ of the model's output into low and high
// frequencies over each H×W plane: with the centred 2-D DFT, the low part keeps the frequencies
// within radius ⌊min(H, W)/5⌋ of zero, the high part the rest. The split is linear, so
//     low(Δ) = Re IDFT2(M ⊙ DFT2(Δ)),   high(Δ) = Δ − low(Δ)
// and, M being symmetric (f ↦ −f), low(Δ) is real: it is the circular convolution of Δ with the
// real kernel K = IDFT2(M), which is what a plan computes (`lowpassKernel`).

/** FasterCache's low-frequency radius for an H×W plane. */
export function lowpassRadius(H: number, W: number): number {
  return Math.floor(Math.min(H, W) / 5);
}

/** The signed frequency of DFT index u of n (the position fftshift gives it, minus the centre). */
function signedFrequency(u: number, n: number): number {
  return u <= n - 1 - Math.floor(n / 2) ? u : u - n;
}

/** Whether frequency (u, v) of an H×W DFT is in the low band of radius r. */
export function inLowBand(u: number, v: number, H: number, W: number, r: number): boolean {
  const fy = signedFrequency(u, H);
  const fx = signedFrequency(v, W);
  return fy * fy + fx * fx <= r * r;
}

/** The definition: each H×W plane of `data` through DFT2, the low band kept, inverse DFT2, real part (f64). */
export function lowpassPlanes(data: ArrayLike<number>, H: number, W: number, r: number): Float64Array {
  const n = H * W;
  const out = new Float64Array(data.length);
  for (let p = 0; p + n <= data.length; p += n) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        // Σ over kept (u, v) of X[u, v]·e^{+2πi(uy/H + vx/W)} / (HW), X = Σ_{y', x'} d·e^{−2πi(uy'/H + vx'/W)}.
        let re = 0;
        for (let u = 0; u < H; u++) {
          for (let v = 0; v < W; v++) {
            if (!inLowBand(u, v, H, W, r)) continue;
            let xr = 0;
            let xi = 0;
            for (let yy = 0; yy < H; yy++) {
              for (let xx = 0; xx < W; xx++) {
                const a = -2 * Math.PI * ((u * yy) / H + (v * xx) / W);
                const d = data[p + yy * W + xx]!;
                xr += d * Math.cos(a);
                xi += d * Math.sin(a);
              }
            }
            const b = 2 * Math.PI * ((u * y) / H + (v * x) / W);
            re += xr * Math.cos(b) - xi * Math.sin(b);
          }
        }
        out[p + y * W + x] = re / n;
      }
    }
  }
  return out;
}

/** K[dy·W + dx] = Re IDFT2(M)[dy, dx]: low(Δ)[y, x] = Σ_{y', x'} K[(y − y') mod H, (x − x') mod W]·Δ[y', x']. */
export function lowpassKernel(H: number, W: number, r: number): Float64Array {
  const k = new Float64Array(H * W);
  for (let u = 0; u < H; u++) {
    for (let v = 0; v < W; v++) {
      if (!inLowBand(u, v, H, W, r)) continue;
      for (let dy = 0; dy < H; dy++) for (let dx = 0; dx < W; dx++) k[dy * W + dx]! += Math.cos(2 * Math.PI * ((u * dy) / H + (v * dx) / W));
    }
  }
  for (let i = 0; i < k.length; i++) k[i]! /= H * W;
  return k;
}

/**
 * low(Δ) in f32, as the `lowpass` kernel family sums it (compiler/kernels/lowpass.ts): per output
 * element, Σ K[(y − y′) mod H, (x − x′) mod W]·Δ[y′, x′] over its plane in row-major order, f32
 * rounding per operation. The CPU definition of the family and the reference executor use this.
 */
export function lowpassConvolve(data: ArrayLike<number>, out: { [i: number]: number; length: number }, H: number, W: number, r: number): void {
  const k = Float32Array.from(lowpassKernel(H, W, r));
  const n = H * W;
  for (let p = 0; p + n <= out.length; p += n) {
    for (let y = 0; y < H; y++) {
      for (let xo = 0; xo < W; xo++) {
        let acc = 0;
        for (let yy = 0; yy < H; yy++) {
          const dy = (y + H - yy) % H;
          for (let xx = 0; xx < W; xx++) acc = f(acc + f(k[dy * W + ((xo + W - xx) % W)]! * data[p + yy * W + xx]!));
        }
        out[p + y * W + xo] = acc;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// `cfg_cache(low: g_l, high: g_h, boundary: b)` — FasterCache's CFG-Cache (docs/decisions.md
// "FasterCache")
//
// At a step where the unconditional half of the model output is computed, Δ = uncond − cond is
// split per H×W plane into low(Δ) (the lowpass above, radius ⌊min(H, W)/5⌋) and high(Δ) = Δ − low(Δ),
// and both are stored. At a `cfg_cache` step the unconditional output is
//     uncond = cond + w_low·low(Δ) + w_high·high(Δ)
// with weights that compound from 1 at every `cfg_cache` step since the last compute: ×g_l while
// the step's t = (S − 1 − k)/S is > b (low frequencies early), else ×g_h (high frequencies late).

/** The stored bands of Δ = uncond − cond over planes of H×W: Δ and low(Δ) as the plan computes them
 *  (Δ elementwise in f32, then the lowpass, then high = Δ − low). */
export function cfgBands(uncond: ArrayLike<number>, cond: ArrayLike<number>, H: number, W: number): { low: Float32Array; high: Float32Array } {
  const high = new Float32Array(cond.length);
  for (let e = 0; e < high.length; e++) high[e] = f(uncond[e]! - cond[e]!);
  const low = new Float32Array(cond.length);
  lowpassConvolve(high, low, H, W, lowpassRadius(H, W));
  for (let e = 0; e < high.length; e++) high[e] = f(high[e]! - low[e]!);
  return { low, high };
}

/** The band weights of every step (undefined where the step is not `cfg_cache`), from the
 *  unconditional actions of the model output over the S steps. */
export function cfgCacheWeights(actions: readonly { kind: string; low?: number; high?: number; boundary?: number }[]): ({ low: number; high: number } | undefined)[] {
  const S = actions.length;
  let low = 1;
  let high = 1;
  return actions.map((a, k) => {
    if (a.kind !== 'cfg_cache') {
      low = 1;
      high = 1;
      return undefined;
    }
    if ((S - 1 - k) / S > a.boundary!) low *= a.low!;
    else high *= a.high!;
    return { low, high };
  });
}

/** One unconditional output element at a `cfg_cache` step, in the kernel's order: (c + w_l·l) + w_h·h. */
export function uncondFromBands(cond: number, low: number, high: number, w: { low: number; high: number }): number {
  return f(f(cond + f(low * f(w.low))) + f(high * f(w.high)));
}

// ---------------------------------------------------------------------------------------------
// eps scale

/** The multiplier on the predicted noise at step k (after guidance, eps channels only). */
export function epsScaleAt(epsScale: readonly number[], k: number): number {
  return epsScale[k] ?? 1;
}

/** One eps element scaled by m, in f32 (m = 1 leaves it untouched). */
export function scaleEps(e: number, m: number): number {
  return m === 1 ? e : f(e * f(m));
}

// ---------------------------------------------------------------------------------------------
// `when magnitude "curve" < θ max K retain r` — MagCache's definition
//
// The curve holds, per step, the magnitude ratio γ_k of the cached span's residual r = output −
// input to the previous step's: γ_k = mean over token rows of ‖r_k‖ / ‖r_{k−1}‖ (γ_0 = 1). Skipping
// step k after the last compute multiplies the residual's magnitude by Π γ; MagCache's estimate of
// the error is Σ |1 − Π γ| over the steps skipped so far. Because the curve is calibrated once per
// model, the decisions are the same for every input: they are taken when the schedule is resolved.

export interface MagnitudeParams {
  /** Skip while the accumulated error estimate stays under this. */
  threshold: number;
  /** Most skipped steps in a row (MagCache's K). */
  maxSkips: number;
  /** The first ⌊retention·S⌋ steps (at least the first) always compute. */
  retention: number;
}

/** A calibrated curve mapped to S steps by nearest index, as MagCache's released code does
 *  (index round(j·(n−1)/(S−1)); one step takes the last entry). */
export function interpolateCurve(curve: readonly number[], S: number): number[] {
  if (curve.length === S) return [...curve];
  if (S === 1) return [curve[curve.length - 1]!];
  const scale = (curve.length - 1) / (S - 1);
  return Array.from({ length: S }, (_, j) => curve[Math.round(j * scale)]!);
}

/** Per step, whether MagCache skips it (reuses the span's residual). `used[k]`: the rule applies at
 *  step k (elsewhere the targets compute and the estimate resets). */
export function magnitudeSkips(ratios: readonly number[], p: MagnitudeParams, used: readonly boolean[]): boolean[] {
  const S = used.length;
  const keep = Math.max(1, Math.floor(p.retention * S));
  let ratio = 1;
  let err = 0;
  let skipped = 0;
  return used.map((u, k) => {
    if (!u || k < keep) {
      ratio = 1;
      err = 0;
      skipped = 0;
      return false;
    }
    ratio *= ratios[k]!;
    skipped += 1;
    err += Math.abs(1 - ratio);
    if (err < p.threshold && skipped <= p.maxSkips) return true;
    ratio = 1;
    err = 0;
    skipped = 0;
    return false;
  });
}

/** γ_k: the mean over rows (of `width` values) of ‖cur row‖ / ‖prev row‖ — what `ditto calibrate
 *  --magnitude` records per step. Rows whose previous norm is 0 are left out. */
export function magnitudeRatio(prev: ArrayLike<number>, cur: ArrayLike<number>, width: number): number {
  let sum = 0;
  let rows = 0;
  for (let r = 0; r + width <= cur.length; r += width) {
    let a = 0;
    let b = 0;
    for (let e = r; e < r + width; e++) {
      a += cur[e]! * cur[e]!;
      b += prev[e]! * prev[e]!;
    }
    if (b === 0) continue;
    sum += Math.sqrt(a / b);
    rows++;
  }
  return rows === 0 ? 1 : sum / rows;
}

// ---------------------------------------------------------------------------------------------
// `compute tokens(f, by = …)` — token-level caching (ToCa, ClusCa; docs/cache-rules.md)
//
// A target [N, T, D] computed on a subset of its T token rows. Which rows: each token remembers the
// step of its last compute (a full compute sets every token's). At a partial compute the
// n = tokenCount(f, T) tokens with the oldest last compute are recomputed, ties broken by the
// order's rank (tokenRanks); the others keep the value stored at their own last compute. The
// selection needs no data, so the compiler replays this bookkeeping when it builds the plan and
// the reference executor replays it while sampling — the same class, `TokenHistory`.

/** Tokens recomputed by a partial compute of `fraction` of `tokens`: ⌈f·T⌉, at least 1, at most T. */
export function tokenCount(fraction: number, tokens: number): number {
  return Math.min(tokens, Math.max(1, Math.ceil(fraction * tokens - 1e-9)));
}

/** Side of the square token grid of T tokens, or undefined when T is not a square. */
export function tokenGrid(tokens: number): number | undefined {
  const g = Math.round(Math.sqrt(tokens));
  return g * g === tokens ? g : undefined;
}

/** What a token order cannot be used for with T tokens (undefined: it can). */
export function tokenOrderProblem(by: TokenOrder, tokens: number): string | undefined {
  if (by.form === 'staleness') return undefined;
  const g = tokenGrid(tokens);
  if (g === undefined) return `\`by = cluster(${by.size})\` needs a square grid of tokens, but the target has ${tokens}`;
  if (!Number.isInteger(by.size) || by.size < 1 || by.size > g) return `the cluster size must be a whole number from 1 to the token grid's side ${g}, got ${by.size}`;
  return undefined;
}

/**
 * The tie-break rank of every token: raster order for `staleness`; for `cluster(s)`, the
 * position inside its s×s patch first (row-major), then the patch (row-major over the grid;
 * patches at the edge of a grid that s does not divide are smaller).
 */
export function tokenRanks(by: TokenOrder, tokens: number): Int32Array {
  const rank = new Int32Array(tokens);
  if (by.form === 'staleness') {
    for (let t = 0; t < tokens; t++) rank[t] = t;
    return rank;
  }
  const g = tokenGrid(tokens)!;
  const s = by.size;
  const across = Math.ceil(g / s);
  const key = (t: number) => {
    const y = Math.floor(t / g);
    const x = t % g;
    const within = (y % s) * s + (x % s);
    const patch = Math.floor(y / s) * across + Math.floor(x / s);
    return within * across * across + patch;
  };
  const order = Array.from({ length: tokens }, (_, t) => t).sort((a, b) => key(a) - key(b));
  order.forEach((t, r) => (rank[t] = r));
  return rank;
}

/** Per token, the step of its last compute (−1: never); one per target and CFG branch. */
export class TokenHistory {
  readonly last: Int32Array;
  constructor(readonly tokens: number) {
    this.last = new Int32Array(tokens).fill(-1);
  }

  /** A full compute at step k: every token is fresh. */
  computeAll(k: number): void {
    this.last.fill(k);
  }

  /** A partial compute at step k: the chosen tokens, ascending, which become fresh. */
  select(k: number, fraction: number, by: TokenOrder): number[] {
    const rank = tokenRanks(by, this.tokens);
    const order = Array.from({ length: this.tokens }, (_, t) => t).sort((a, b) => this.last[a]! - this.last[b]! || rank[a]! - rank[b]!);
    const chosen = order.slice(0, tokenCount(fraction, this.tokens)).sort((a, b) => a - b);
    for (const t of chosen) this.last[t] = k;
    return chosen;
  }
}

/**
 * The value of a partially computed target in one CFG half: rows [samples, T, width] where token
 * t is `fresh`'s row when t is chosen, else `stored`'s. `fresh` may hold every token (the
 * reference computes them all and keeps the chosen) — the values of the others are not read.
 */
export function mergeTokens(fresh: Float32Array, stored: Float32Array, chosen: readonly number[], tokens: number, width: number): Float32Array {
  const out = stored.slice();
  const samples = stored.length / (tokens * width);
  for (let b = 0; b < samples; b++) {
    for (const t of chosen) {
      const at = (b * tokens + t) * width;
      out.set(fresh.subarray(at, at + width), at);
    }
  }
  return out;
}
