/**
 * Hermite, FoCa, exponential and linear (FasterCache) forecasts on the GPU compute what the reference executor defines
 * (the same function, compiler/ir/rules.ts, on both sides): random small DiTs, orders, scales, even and uneven
 * computes, CFG on and off, DDPM and DDIM, within 1e-4 of the result's scale.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { gpuPlanError } from './harness.ts';
import type { ScheduleIR } from '../../compiler/ir/schedule.ts';
import { configArb, forecastScenario, type ForecastCase, hermiteCaseArb, hermiteSchedule, linearCaseArb, linearSchedule, twoDifferenceCaseArb, twoDifferenceSchedule } from '../helpers/randomSchedules.ts';

const gpu = await gpuOrSkip();

/** The GPU plan against the reference executor over random small DiTs and cases of one form. */
async function gpuMatchesReference<R extends ForecastCase>(caseArb: fc.Arbitrary<R>, scheduleOf: (depth: number, r: R) => ScheduleIR, numRuns: number, seed: number): Promise<void> {
  await fc.assert(
    fc.asyncProperty(configArb, caseArb, async (cfg, r) => {
      const { err } = await gpuPlanError(gpu!, forecastScenario(cfg, r), scheduleOf(cfg.depth, r));
      expect(err, `max error ${err} relative to the result's scale (${JSON.stringify(r)})`).toBeLessThan(1e-4);
    }),
    { numRuns, seed, endOnFailure: true },
  );
}

// Each bound is for hangs only: lavapipe on a loaded 2-core machine can take many minutes.
describe.skipIf(!gpu)('GPU plan ≡ reference executor, Hermite forecasts', () => {
  it('over random small DiTs, orders, scales and compute patterns (rel 1e-4)', () => gpuMatchesReference(hermiteCaseArb, hermiteSchedule, 4, 20261202), 1_800_000);
});

describe.skipIf(!gpu)('GPU plan ≡ reference executor, foca and exp forecasts', () => {
  it('over random small DiTs, both forms and compute patterns (rel 1e-4)', () => gpuMatchesReference(twoDifferenceCaseArb, twoDifferenceSchedule, 4, 20261202), 1_800_000);
});

describe.skipIf(!gpu)('GPU plan ≡ reference executor, linear forecasts', () => {
  it('over random small DiTs, weight ramps and compute patterns (rel 1e-4)', () => gpuMatchesReference(linearCaseArb, linearSchedule, 3, 20261203), 1_800_000);
});
