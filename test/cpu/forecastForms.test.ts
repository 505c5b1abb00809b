/**
 * The forecast forms (`forecast taylor(k)`, `forecast hermite(k, σ)`): each is one coefficient
 * function in compiler/ir/rules.ts, and a compiled plan run by the CPU plan interpreter forecasts
 * what the reference executor does with it — random small DiTs, orders, scales, evenly and unevenly
 * spaced computes, CFG on and off, DDPM and DDIM. No GPU involved.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/pipeline.ts';
import { HARDWARE_CAPS, LAVAPIPE_CAPS } from '../../compiler/plan/caps.ts';
import type { ForecastBasis, ScheduleIR } from '../../compiler/ir/schedule.ts';
import { forecastCoefficients, taylorForecastCoefficients, TaylorState } from '../../compiler/ir/rules.ts';
import { runPlanOnCpu } from '../../runtime/cpu/planInterpreter.ts';
import { sampleReference } from '../../runtime/reference/sample.ts';
import { classesFor, maxRelativeError, TINY, tinyGraph, weightsFor, type Scenario } from '../runtime/harness.ts';
import { configArb, HERMITE_STEPS, hermiteCaseArb, hermiteSchedule, taylorAt } from '../helpers/randomSchedules.ts';

/** He_j(x), probabilists' Hermite polynomials, from their explicit sums (an independent definition). */
function He(j: number, x: number): number {
  let s = 0;
  const fact = (n: number): number => (n <= 1 ? 1 : n * fact(n - 1));
  for (let i = 0; 2 * i <= j; i++) s += ((-1) ** i * x ** (j - 2 * i)) / (fact(i) * fact(j - 2 * i) * 2 ** i);
  return fact(j) * s;
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
    fc.assert(
      fc.property(
        configArb,
        hermiteCaseArb,
        fc.constantFrom(HARDWARE_CAPS, LAVAPIPE_CAPS),
        (cfg, r, caps) => {
          const steps = HERMITE_STEPS;
          const schedule = hermiteSchedule(cfg.depth, r);
          const s: Scenario = { cfg, batch: 1, steps, sampler: r.sampler, seed: r.seed, weightSeed: r.seed + 1, ...(r.cfg ? { cfgScale: 2.5 } : {}) };
          const graph = tinyGraph(cfg, r.cfg ? 2 : 1);
          const { plan } = compile(graph, schedule, { steps, batch: 1, sampler: r.sampler, caps, ...(r.cfg ? { cfgScale: 2.5 } : {}) });
          const weights = weightsFor(graph, s.weightSeed);
          const got = runPlanOnCpu(plan, weights, { seed: s.seed, classes: classesFor(s) });
          const want = sampleReference(graph, weights, schedule, { sampler: r.sampler, classes: classesFor(s), seed: s.seed, ...(r.cfg ? { cfgScale: 2.5 } : {}) });
          const err = maxRelativeError(got.latents.data, want.latents.data);
          expect(err, `max error ${err} relative to the result's scale`).toBeLessThan(1e-4);
        },
      ),
      { numRuns: 12, seed: 20261202, endOnFailure: true },
    );
  }, 600_000);

  it('the plan carries the Hermite coefficients: on a pattern where they matter, a Taylor plan is far from the Hermite reference', () => {
    const s: Scenario = { cfg: TINY, batch: 1, steps: 16, sampler: 'ddpm', seed: 2, weightSeed: 4, cfgScale: 1.5 };
    const computes = [0, 1, 2, 6, 10, 14];
    const hermite = taylorAt(TINY.depth, s.steps, computes, 2, { form: 'hermite', sigma: 1.5 });
    const graph = tinyGraph(TINY, 2);
    const weights = weightsFor(graph, s.weightSeed);
    const want = sampleReference(graph, weights, hermite, { sampler: 'ddpm', classes: classesFor(s), seed: s.seed, cfgScale: 1.5 }).latents;
    const run = (schedule: ScheduleIR) => runPlanOnCpu(compile(graph, schedule, { steps: s.steps, batch: 1, sampler: 'ddpm', caps: HARDWARE_CAPS, cfgScale: 1.5 }).plan, weights, { seed: s.seed, classes: classesFor(s) }).latents;
    const same = maxRelativeError(run(hermite).data, want.data);
    const other = maxRelativeError(run(taylorAt(TINY.depth, s.steps, computes, 2)).data, want.data);
    expect(same).toBeLessThan(1e-5);
    expect(other).toBeGreaterThan(100 * same);
  }, 600_000);
});
