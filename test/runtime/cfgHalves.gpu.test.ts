/**
 * Either CFG half alone on the GPU computes what the reference executor defines: the unconditional
 * half bound at the aligned byte below its start and reached through the embedding kernels' offsets
 * (t at element B, a small latent and its tokens at B·C·H·W), the conditional half from offset 0 —
 * over which half computes the output and the blocks at each step, within 1e-4 of the result's scale.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { gpuPlanError, TINY, type Scenario } from './harness.ts';
import { CFG_HALVES_STEPS, cfgHalvesArb, cfgHalvesSchedule, ODD_LATENT } from '../helpers/randomSchedules.ts';

const gpu = await gpuOrSkip();

describe.skipIf(!gpu)('GPU plan ≡ reference executor, each CFG half alone', () => {
  it('every mix of the halves on a latent whose halves start off the alignment (rel 1e-4)', async () => {
    const s: Scenario = { cfg: ODD_LATENT, batch: 1, steps: CFG_HALVES_STEPS, sampler: 'ddpm', seed: 3, weightSeed: 4, cfgScale: 3 };
    const { plan, err } = await gpuPlanError(gpu!, s, cfgHalvesSchedule(ODD_LATENT.depth, { out: ['both', 'uncond', 'cond', 'neither'], blocks: ['uncond', 'both', 'cond'] }));
    expect(plan.kernels.some((k) => k.family === 'timestep_embed' && (k.config as { offsets?: unknown }).offsets !== undefined)).toBe(true);
    expect(err, `max error ${err} relative to the result's scale`).toBeLessThan(1e-4);
  }, 1_800_000); // a bound for hangs only: lavapipe on a loaded 2-core machine can take many minutes

  it('over random step patterns, batches and latents (rel 1e-4)', async () => {
    await fc.assert(
      fc.asyncProperty(cfgHalvesArb, async (r) => {
        const s: Scenario = { cfg: r.odd ? ODD_LATENT : TINY, batch: r.batch, steps: CFG_HALVES_STEPS, sampler: r.sampler, seed: r.seed, weightSeed: r.seed + 1, cfgScale: 2.5 };
        const { err } = await gpuPlanError(gpu!, s, cfgHalvesSchedule(s.cfg.depth, r));
        expect(err, `max error ${err} relative to the result's scale`).toBeLessThan(1e-4);
      }),
      { numRuns: 3, seed: 20261202, endOnFailure: true },
    );
  }, 1_800_000);
});
