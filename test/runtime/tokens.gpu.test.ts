/**
 * Partial computes (`compute tokens(f, by = …)`) on the GPU compute what the reference executor
 * defines: the token_rows gather and scatter kernels and the MLP on the chosen rows, over random
 * small DiTs, fractions, orders, full-compute patterns, CFG on and off (branches alike and
 * different), DDPM and DDIM, within 1e-4 of the result's scale. The selection itself is one
 * definition (compiler/ir/rules.ts TokenHistory) that both sides replay.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { gpuPlanError, TINY, type Scenario } from './harness.ts';
import { configArb, TOKENS_STEPS, tokensCaseArb, tokensSchedule } from '../helpers/randomSchedules.ts';

const gpu = await gpuOrSkip();

describe.skipIf(!gpu)('GPU plan ≡ reference executor, partial computes', () => {
  it('over random small DiTs, fractions, orders and compute patterns (rel 1e-4)', async () => {
    await fc.assert(
      fc.asyncProperty(configArb, tokensCaseArb, async (cfg, r) => {
        const s: Scenario = { cfg, batch: 1, steps: TOKENS_STEPS, sampler: r.sampler, seed: r.seed, weightSeed: r.seed + 1, ...(r.cfg ? { cfgScale: 2.5 } : {}) };
        const schedule = tokensSchedule(cfg.depth, r);
        const { plan, err } = await gpuPlanError(gpu!, s, schedule);
        expect(plan.kernels.some((k) => k.family === 'token_rows')).toBe(true);
        expect(err, `max error ${err} relative to the result's scale`).toBeLessThan(1e-4);
      }),
      { numRuns: 4, seed: 20261202, endOnFailure: true },
    );
  }, 1_800_000); // a bound for hangs only: lavapipe on a loaded 2-core machine can take many minutes

  it('attention on the chosen queries and the MLP on the chosen rows, CFG halves with different selections (rel 1e-4)', async () => {
    const r = { fraction: 0.25, order: { form: 'cluster' as const, size: 2 }, computes: [5], attn: 'tokens' as const, uncond: 'half' as const };
    const s: Scenario = { cfg: TINY, batch: 2, steps: TOKENS_STEPS, sampler: 'ddim', seed: 11, weightSeed: 12, cfgScale: 2.5 };
    const schedule = tokensSchedule(TINY.depth, r);
    const { plan, err } = await gpuPlanError(gpu!, s, schedule);
    expect(plan.kernels.some((k) => k.family === 'attention' && (k.config as { queries?: number[] }).queries !== undefined)).toBe(true);
    expect(err, `max error ${err} relative to the result's scale`).toBeLessThan(1e-4);
  }, 1_800_000);
});
