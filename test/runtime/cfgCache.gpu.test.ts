/**
 * FasterCache's CFG-Cache (`cfg_cache`) on the GPU computes what the reference executor defines:
 * the lowpass kernel storing the bands where both CFG halves compute, the conditional half alone
 * running the network where they do not, and the elementwise combination of the bands — over random
 * small DiTs, step patterns, band weights, batches, DDPM and DDIM, within 1e-4 of the result's scale.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { gpuPlanError, TINY, type Scenario } from './harness.ts';
import { CFG_CACHE_STEPS, cfgCacheCaseArb, cfgCacheSchedule, configArb } from '../helpers/randomSchedules.ts';

const gpu = await gpuOrSkip();

describe.skipIf(!gpu)('GPU plan ≡ reference executor, CFG-Cache', () => {
  it('over random small DiTs, step patterns and weights (rel 1e-4)', async () => {
    await fc.assert(
      fc.asyncProperty(configArb, cfgCacheCaseArb, fc.integer({ min: 1, max: 2 }), async (cfg, r, batch) => {
        const s: Scenario = { cfg, batch, steps: CFG_CACHE_STEPS, sampler: r.sampler, seed: r.seed, weightSeed: r.seed + 1, cfgScale: 2.5 };
        const { plan, err } = await gpuPlanError(gpu!, s, cfgCacheSchedule(cfg.depth, r));
        expect(plan.kernels.some((k) => k.family === 'lowpass')).toBe(true);
        expect(err, `max error ${err} relative to the result's scale`).toBeLessThan(1e-4);
      }),
      { numRuns: 4, seed: 20261202, endOnFailure: true },
    );
  }, 1_800_000); // a bound for hangs only: lavapipe on a loaded 2-core machine can take many minutes

  it('the default tiny DiT, two images, a run of cfg_cache steps across the boundary (rel 1e-4)', async () => {
    const s: Scenario = { cfg: TINY, batch: 2, steps: CFG_CACHE_STEPS, sampler: 'ddpm', seed: 7, weightSeed: 8, cfgScale: 4 };
    const { err } = await gpuPlanError(gpu!, s, cfgCacheSchedule(TINY.depth, { skipped: [2, 3, 4, 5, 6, 8], low: 1.1, high: 1.2, boundary: 0.5, attnReuse: true }));
    expect(err, `max error ${err} relative to the result's scale`).toBeLessThan(1e-4);
  }, 1_800_000);
});
