/**
 * The forecast forms (`forecast taylor(k)`, `hermite(k, σ)`, `foca`, `exp`, `linear(w)`): each is one function
 * in compiler/ir/rules.ts, and a compiled plan run by the CPU plan interpreter forecasts what the
 * reference executor does with it — random small DiTs, orders, scales, evenly and unevenly
 * spaced computes, CFG on and off, DDPM and DDIM. No GPU involved.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/pipeline.ts';
import { HARDWARE_CAPS, LAVAPIPE_CAPS } from '../../compiler/plan/caps.ts';
import type { ForecastBasis, ScheduleIR } from '../../compiler/ir/schedule.ts';
import { EXP_FORECAST, forecastCoefficients, linearForecastCoefficients, taylorForecastCoefficients, TaylorState } from '../../compiler/ir/rules.ts';
import { runPlanOnCpu } from '../../runtime/cpu/planInterpreter.ts';
import { sampleReference } from '../../runtime/reference/sample.ts';
import { classesFor, cpuPlanError, maxRelativeError, TINY, tinyGraph, weightsFor, type Scenario } from '../runtime/harness.ts';
import { configArb, forecastScenario, type ForecastCase, hermiteCaseArb, hermiteSchedule, linearCaseArb, linearSchedule, taylorAt, twoDifferenceCaseArb, twoDifferenceSchedule } from '../helpers/randomSchedules.ts';

/** He_j(x), probabilists' Hermite polynomials, from their explicit sums (an independent definition). */
function He(j: number, x: number): number {
  let s = 0;
  const fact = (n: number): number => (n <= 1 ? 1 : n * fact(n - 1));
  for (let i = 0; 2 * i <= j; i++) s += ((-1) ** i * x ** (j - 2 * i)) / (fact(i) * fact(j - 2 * i) * 2 ** i);
  return fact(j) * s;
}

/** The compiled plan, run by the CPU plan interpreter, against the reference executor over random
 *  small DiTs and cases of one forecast form, on both capability profiles. */
function cpuMatchesReference<R extends ForecastCase>(caseArb: fc.Arbitrary<R>, scheduleOf: (depth: number, r: R) => ScheduleIR, numRuns: number, seed: number): void {
  fc.assert(
    fc.property(configArb, caseArb, fc.constantFrom(HARDWARE_CAPS, LAVAPIPE_CAPS), (cfg, r, caps) => {
      const err = cpuPlanError(forecastScenario(cfg, r), scheduleOf(cfg.depth, r), caps);
      expect(err, `max error ${err} relative to the result's scale`).toBeLessThan(1e-4);
    }),
    { numRuns, seed, endOnFailure: true },
  );
}

/** On 16 steps with uneven computes, where the forms differ: the error of a schedule's plan against
 *  its own reference (`same`), and of another schedule's plan against that reference (`other`). */
function carriedForm(schedule: (computes: number[]) => ScheduleIR, otherSchedule: (computes: number[]) => ScheduleIR): { same: number; other: number } {
  const s: Scenario = { cfg: TINY, batch: 1, steps: 16, sampler: 'ddpm', seed: 2, weightSeed: 4, cfgScale: 1.5 };
  const computes = [0, 1, 2, 6, 10, 14];
  const graph = tinyGraph(TINY, 2);
  const weights = weightsFor(graph, s.weightSeed);
  const run = (sch: ScheduleIR) => runPlanOnCpu(compile(graph, sch, { steps: s.steps, batch: 1, sampler: 'ddpm', caps: HARDWARE_CAPS, cfgScale: 1.5 }).plan, weights, { seed: s.seed, classes: classesFor(s) }).latents;
  const wanted = schedule(computes);
  const want = sampleReference(graph, weights, wanted, { sampler: 'ddpm', classes: classesFor(s), seed: s.seed, cfgScale: 1.5 }).latents;
  return { same: maxRelativeError(run(wanted).data, want.data), other: maxRelativeError(run(otherSchedule(computes)).data, want.data) };
}

describe('forecast coefficients', () => {
  it('hermite(k, σ) is σ^j·He_j(m/σ)/j!, and Taylor as σ → 0', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 6 }), fc.double({ min: 0.05, max: 4, noNaN: true }), (m, order, sigma) => {
        const c = forecastCoefficients(m, order, { form: 'hermite', sigma });
        expect(c).toHaveLength(order + 1);
        let factorial = 1;
        for (let j = 0; j <= order; j++) {
          if (j > 0) factorial *= j;
          const want = (sigma ** j * He(j, m / sigma)) / factorial;
          expect(Math.abs(c[j]! - want)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(want)));
        }
        const tiny = forecastCoefficients(m, order, { form: 'hermite', sigma: 1e-9 });
        taylorForecastCoefficients(m, order).forEach((t, j) => expect(tiny[j]).toBeCloseTo(t, 6));
      }),
      { numRuns: 200, seed: 20261202 },
    );
    // He_2(x) = x² − 1, He_3(x) = x³ − 3x at m = 2, σ = 1: 1, 2, 3/2, 2/6.
    expect(forecastCoefficients(2, 3, { form: 'hermite', sigma: 1 })).toEqual([1, 2, 1.5, 2 / 6]);
    expect(forecastCoefficients(2, 3)).toEqual(taylorForecastCoefficients(2, 3));
  });

  it('the reference forecast uses the basis: hermite differs from taylor, by the basis alone', () => {
    const st = new TaylorState(2);
    const f = (s: number) => new Float32Array([0.1 * s * s + 0.01 * s * s * s]);
    for (const s of [0, 3, 6]) st.refresh(s, f(s));
    const basis: ForecastBasis = { form: 'hermite', sigma: 0.8 };
    const [d0, d1, d2] = st.d.map((d) => d[0]!);
    const c = forecastCoefficients(4, 2, basis);
    expect(st.forecast(10, 2, basis)[0]).toBeCloseTo(d0! + c[1]! * d1! + c[2]! * d2!, 4);
    expect(st.forecast(10, 2, basis)[0]).not.toBeCloseTo(st.forecast(10, 2)[0]!, 3);
  });
});

describe('plan on the CPU ≡ reference executor, Hermite forecasts', () => {
  it('over random small DiTs, orders, scales and compute patterns (rel 1e-4)', () => {
    cpuMatchesReference(hermiteCaseArb, hermiteSchedule, 12, 20261202);
  }, 600_000);

  it('the plan carries the Hermite coefficients: on a pattern where they matter, a Taylor plan is far from the Hermite reference', () => {
    const { same, other } = carriedForm((computes) => taylorAt(TINY.depth, 16, computes, 2, { form: 'hermite', sigma: 1.5 }), (computes) => taylorAt(TINY.depth, 16, computes, 2));
    expect(same).toBeLessThan(1e-5);
    expect(other).toBeGreaterThan(100 * same);
  }, 600_000);
});

/** A TaylorState refreshed with f at the given computes (one element per value of f). */
function stateAt(computes: readonly number[], f: (s: number) => number[]): TaylorState {
  const st = new TaylorState(2);
  for (const s of computes) st.refresh(s, new Float32Array(f(s)));
  return st;
}

describe('forecast foca: BDF2 forecast, Heun calibration', () => {
  it('is the two stages over the stored slope and its rate, written out independently', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 }), fc.double({ min: -5, max: 5, noNaN: true }), fc.double({ min: -5, max: 5, noNaN: true }), fc.double({ min: -5, max: 5, noNaN: true }), (m, d0, d1, d2) => {
        const back = d0 - m * d1; // F_{s−m} along the stored slope
        const slopeAhead = d1 + m * d2; // the slope extrapolated to s+m
        const forecast = (4 / 3) * d0 - (1 / 3) * back + (2 / 3) * m * slopeAhead; // BDF2
        const calibrated = d0 + (m / 2) * (d1 + (forecast - d0) / m); // Heun
        const c = forecastCoefficients(m, 2, { form: 'foca' });
        const got = c[0]! * d0 + c[1]! * d1 + c[2]! * d2;
        expect(Math.abs(got - calibrated)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(calibrated)));
      }),
      { numRuns: 200, seed: 20261202 },
    );
    expect(forecastCoefficients(3, 2, { form: 'foca' })).toEqual([1, 3, 3]);
    expect(forecastCoefficients(3, 1, { form: 'foca' })).toEqual(taylorForecastCoefficients(3, 1));
  });

  it('damps the curvature against taylor(2): the same line, a third of m² instead of half', () => {
    const st = stateAt([0, 3, 6], (s) => [0.1 * s * s]);
    const t = st.forecast(10, 2)[0]!;
    const foca = st.forecast(10, 2, { form: 'foca' })[0]!;
    const [d0, d1, d2] = st.d.map((d) => d[0]!) as [number, number, number];
    expect(foca).toBeCloseTo(d0 + 4 * d1 + (16 / 3) * d2, 4);
    expect(t - foca).toBeCloseTo((16 / 2 - 16 / 3) * d2, 4);
  });
});

describe('forecast exp: an exponential fit of the last three computes', () => {
  it('is exact on a + b·ρ^k with evenly spaced computes, for any interval and horizon', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 12 }), fc.double({ min: 0.3, max: 0.97, noNaN: true }),
        fc.double({ min: -2, max: 2, noNaN: true }), fc.double({ min: 0.5, max: 3, noNaN: true }), fc.boolean(),
        (h, m, rho, a, b, negative) => {
          const F = (k: number) => a + (negative ? -b : b) * rho ** k;
          const st = stateAt([0, h, 2 * h], (s) => [F(s)]);
          const got = st.forecast(2 * h + m, 2, { form: 'exp' })[0]!;
          // f32 differences of a slowly changing value lose digits: compare on the scale of the change.
          expect(Math.abs(got - F(2 * h + m))).toBeLessThanOrEqual(2e-3 * Math.max(b, 1e-3) + 1e-5 * Math.abs(a));
        },
      ),
      { numRuns: 300, seed: 20261202 },
    );
  });

  it('is the line where the change holds, close to the last value where it flips sign, and taylor(1) on two computes', () => {
    const line = stateAt([0, 2, 4], (s) => [1 + 0.5 * s]);
    expect(line.forecast(7, 2, { form: 'exp' })[0]).toBeCloseTo(1 + 0.5 * 7, 5);
    // growth is clamped to the line
    const grow = stateAt([0, 1, 2], (s) => [2 ** s]);
    expect(grow.forecast(4, 2, { form: 'exp' })[0]).toBeCloseTo(4 + 2 * 2, 4);
    // an oscillation reads as a change that has died out: the last value plus r_min's share of the slope
    const flip = stateAt([0, 1, 2], (s) => [s % 2]);
    expect(Math.abs(flip.forecast(3, 2, { form: 'exp' })[0]! - 0)).toBeLessThan(10 * EXP_FORECAST.minRatio);
    // a flat slope before the last interval: the regularised fit is 0, no division by zero, and a
    // change with no history to fit is not continued (the last value, as reuse)
    const start = stateAt([0, 1, 2], (s) => [s < 2 ? 3 : 5]);
    expect(Math.abs(start.forecast(4, 2, { form: 'exp' })[0]! - 5)).toBeLessThan(10 * EXP_FORECAST.minRatio);
    const two = stateAt([0, 3], (s) => [s * s]);
    expect(two.forecast(5, 2, { form: 'exp' })[0]).toBeCloseTo(two.forecast(5, 1)[0]!, 6);
  });
});

describe('plan on the CPU ≡ reference executor, foca and exp forecasts', () => {
  it('over random small DiTs, both forms and compute patterns (rel 1e-4)', () => {
    cpuMatchesReference(twoDifferenceCaseArb, twoDifferenceSchedule, 12, 20261202);
  }, 600_000);

  it('the plan carries the form: on a pattern where it matters, a Taylor plan is far from the foca and exp references', () => {
    for (const form of ['foca', 'exp'] as const) {
      const { same, other } = carriedForm((computes) => taylorAt(TINY.depth, 16, computes, 2, { form }), (computes) => taylorAt(TINY.depth, 16, computes, 2));
      expect(same, form).toBeLessThan(1e-5);
      expect(other, form).toBeGreaterThan(100 * same);
    }
  }, 600_000);
});

describe('forecast linear(w): FasterCache\'s feature reuse', () => {
  it('is the last compute plus w times the change between the last two, written out independently', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 12 }), fc.double({ min: 0, max: 2, noNaN: true }),
        fc.double({ min: -4, max: 4, noNaN: true }), fc.double({ min: -4, max: 4, noNaN: true }),
        (h, m, w, before, last) => {
          const st = stateAt([0, h], (s) => [s === 0 ? before : last]);
          const want = Math.fround(last) + w * (Math.fround(last) - Math.fround(before));
          const got = st.forecast(h + m, 1, { form: 'linear', weight: w })[0]!;
          expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want), Math.abs(before), Math.abs(last)));
        },
      ),
      { numRuns: 300, seed: 20261203 },
    );
    expect(linearForecastCoefficients(1, 0.3, 2)).toEqual([1, 0.6]);
    expect(forecastCoefficients(5, 1, { form: 'linear', weight: 0.3 }, 2)).toEqual([1, 0.6]);
    expect(linearForecastCoefficients(0, 0.3, undefined)).toEqual([1]);
    expect(() => linearForecastCoefficients(1, 0.3, undefined)).toThrow(/interval/);
  });

  it('does not grow with the steps since the compute; w = m/h is taylor(1), w = 0 is reuse, one compute is its value', () => {
    const st = stateAt([0, 2, 4], (s) => [1 + 0.5 * s * s]);
    const at = (k: number, weight: number) => st.forecast(k, 1, { form: 'linear', weight })[0]!;
    expect(at(5, 0.4)).toBe(at(7, 0.4));
    expect(at(5, 0.5)).toBeCloseTo(st.forecast(5, 1)[0]!, 5); // m = 1, h = 2
    expect(at(7, 1.5)).toBeCloseTo(st.forecast(7, 1)[0]!, 5); // m = 3, h = 2
    expect(at(6, 0)).toBe(st.d[0]![0]);
    const one = stateAt([0], () => [2.5]);
    expect(one.forecast(3, 1, { form: 'linear', weight: 0.7 })[0]).toBe(2.5);
  });
});

describe('plan on the CPU ≡ reference executor, linear forecasts', () => {
  it('over random small DiTs, weight ramps and compute patterns (rel 1e-4)', () => {
    cpuMatchesReference(linearCaseArb, linearSchedule, 10, 20261203);
  }, 600_000);

  it('the plan carries each step\'s weight: a constant-weight plan is far from the reference of a ramp', () => {
    const { same, other } = carriedForm(
      (computes) => taylorAt(TINY.depth, 16, computes, 1, (k) => ({ form: 'linear', weight: k / 15 })),
      (computes) => taylorAt(TINY.depth, 16, computes, 1, { form: 'linear', weight: 0.5 }),
    );
    expect(same).toBeLessThan(1e-5);
    expect(other).toBeGreaterThan(100 * same);
  }, 600_000);
});

describe('refreshing the stored differences only where a forecast reads them', () => {
  it('a compute no forecast reads through refreshes nothing, one c₋ᵢ back refreshes up to order o − i, and the plan equals the reference', () => {
    const s: Scenario = { cfg: TINY, batch: 1, steps: 16, sampler: 'ddpm', seed: 3, weightSeed: 5, cfgScale: 1.5 };
    // Order-2 forecasts at 7, 8 (from computes 4, 5, 6), 11, 12 (6, 9, 10) and 14, 15 (9, 10, 13).
    const schedule = taylorAt(TINY.depth, s.steps, [0, 1, 2, 3, 4, 5, 6, 9, 10, 13], 2);
    const graph = tinyGraph(TINY, 2);
    const weights = weightsFor(graph, s.weightSeed);
    const { plan } = compile(graph, schedule, { steps: s.steps, batch: 1, sampler: 'ddpm', caps: HARDWARE_CAPS, cfgScale: 1.5 });
    const refreshes = (k: number) => plan.bodies[plan.stepBody[k]!]!.dispatches.filter((d) => /^Taylor refresh of blocks\[0\]\.mlp/.test(d.note ?? '')).map((d) => Number(/order (\d+)/.exec(d.note!)![1]));
    for (const k of [0, 1, 2, 3]) expect(refreshes(k), `step ${k}`).toEqual([]);
    expect(refreshes(4)).toEqual([0]);
    expect(refreshes(5)).toEqual([1]);
    expect(refreshes(6)).toEqual([2]);
    expect(refreshes(13)).toEqual([2]);
    const want = sampleReference(graph, weights, schedule, { sampler: 'ddpm', classes: classesFor(s), seed: s.seed, cfgScale: 1.5 }).latents;
    const got = runPlanOnCpu(plan, weights, { seed: s.seed, classes: classesFor(s) }).latents;
    expect(maxRelativeError(got.data, want.data)).toBeLessThan(1e-5);
  }, 600_000);
});
