/**
 * The GPU plan computes what the reference executor defines: random small DiTs, random schedules
 * (reuse, per-branch reuse, residual reuse, Taylor forecast, eps scale), random seeds, DDPM and
 * DDIM, with and without CFG. Agreement within 1e-4 of the result's scale (f32).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { maxRelativeError, planFor, runOnGpu, runOnReference, weightsFor, type Scenario } from './harness.ts';
import { choicesArb, configArb, runArb, scheduleFrom } from '../helpers/randomSchedules.ts';

const gpu = await gpuOrSkip();

describe.skipIf(!gpu)('GPU plan ≡ reference executor', () => {
  it('over random small DiTs, schedules and seeds (rel 1e-4)', async () => {
    await fc.assert(
      fc.asyncProperty(
        configArb,
        runArb,
        choicesArb,
        async (cfg, r, choices) => {
          const s: Scenario = { cfg, batch: r.batch, steps: r.steps, sampler: r.sampler, seed: r.seed, weightSeed: r.weightSeed, ...(r.cfg ? { cfgScale: 3 } : {}) };
          const schedule = scheduleFrom(cfg.depth, s.steps, choices, r.eps);
          const { graph, plan } = planFor(gpu!, s, schedule);
          const weights = weightsFor(graph, s.weightSeed);
          const got = await runOnGpu(gpu!, plan, weights, s);
          const want = runOnReference(graph, weights, schedule, s);
          expect(got.latents.shape).toEqual(want.shape);
          const err = maxRelativeError(got.latents.data, want.data);
          expect(err, `max error ${err} relative to the result's scale`).toBeLessThan(1e-4);
        },
      ),
      { numRuns: 5, seed: 20261125, endOnFailure: true },
    );
  }, 1_800_000); // a bound for hangs only: lavapipe on a loaded 2-core machine can take many minutes
});
