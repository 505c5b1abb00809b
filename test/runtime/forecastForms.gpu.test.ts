/**
 * Hermite, FoCa, exponential and linear (FasterCache) forecasts on the GPU compute what the reference executor defines
 * (the same function, compiler/ir/rules.ts, on both sides): random small DiTs, orders, scales, even and uneven
 * computes, CFG on and off, DDPM and DDIM, within 1e-4 of the result's scale.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { gpuPlanError, type Scenario } from './harness.ts';
import { configArb, HERMITE_STEPS, hermiteCaseArb, hermiteSchedule, linearCaseArb, linearSchedule, twoDifferenceCaseArb, twoDifferenceSchedule } from '../helpers/randomSchedules.ts';

const gpu = await gpuOrSkip();

describe.skipIf(!gpu)('GPU plan ≡ reference executor, Hermite forecasts', () => {
  it('over random small DiTs, orders, scales and compute patterns (rel 1e-4)', async () => {
    await fc.assert(
      fc.asyncProperty(
        configArb,
        hermiteCaseArb,
        async (cfg, r) => {
          const s: Scenario = { cfg, batch: 1, steps: HERMITE_STEPS, sampler: r.sampler, seed: r.seed, weightSeed: r.seed + 1, ...(r.cfg ? { cfgScale: 2.5 } : {}) };
          const schedule = hermiteSchedule(cfg.depth, r);
          const { err } = await gpuPlanError(gpu!, s, schedule);
          expect(err, `max error ${err} relative to the result's scale`).toBeLessThan(1e-4);
        },
      ),
      { numRuns: 4, seed: 20261202, endOnFailure: true },
    );
  }, 1_800_000); // a bound for hangs only: lavapipe on a loaded 2-core machine can take many minutes
});

describe.skipIf(!gpu)('GPU plan ≡ reference executor, foca and exp forecasts', () => {
  it('over random small DiTs, both forms and compute patterns (rel 1e-4)', async () => {
    await fc.assert(
      fc.asyncProperty(
        configArb,
        twoDifferenceCaseArb,
        async (cfg, r) => {
          const s: Scenario = { cfg, batch: 1, steps: HERMITE_STEPS, sampler: r.sampler, seed: r.seed, weightSeed: r.seed + 1, ...(r.cfg ? { cfgScale: 2.5 } : {}) };
          const schedule = twoDifferenceSchedule(cfg.depth, r);
          const { err } = await gpuPlanError(gpu!, s, schedule);
          expect(err, `max error ${err} relative to the result's scale (${r.form})`).toBeLessThan(1e-4);
        },
      ),
      { numRuns: 4, seed: 20261202, endOnFailure: true },
    );
  }, 1_800_000); // a bound for hangs only: lavapipe on a loaded 2-core machine can take many minutes
});

describe.skipIf(!gpu)('GPU plan ≡ reference executor, linear forecasts', () => {
  it('over random small DiTs, weight ramps and compute patterns (rel 1e-4)', async () => {
    await fc.assert(
      fc.asyncProperty(
        configArb,
        linearCaseArb,
        async (cfg, r) => {
          const s: Scenario = { cfg, batch: 1, steps: HERMITE_STEPS, sampler: r.sampler, seed: r.seed, weightSeed: r.seed + 1, ...(r.cfg ? { cfgScale: 2.5 } : {}) };
          const { err } = await gpuPlanError(gpu!, s, linearSchedule(cfg.depth, r));
          expect(err, `max error ${err} relative to the result's scale (weight ${r.weight} + ${r.slope}·k)`).toBeLessThan(1e-4);
        },
      ),
      { numRuns: 3, seed: 20261203, endOnFailure: true },
    );
  }, 1_800_000); // a bound for hangs only: lavapipe on a loaded 2-core machine can take many minutes
});
