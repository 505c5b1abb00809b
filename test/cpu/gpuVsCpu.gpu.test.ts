/**
 * The GPU runs a plan as the CPU plan interpreter does: the same compiled plan (for the test
 * adapter's caps, so the GPU's own kernel variants) on both, random small DiTs × schedules ×
 * seeds, dynamic rules included. Both execute the same dispatch list, so a difference here is a
 * kernel (or the runtime's binding), never a compiler pass.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runPlanOnCpu } from '../../runtime/cpu/planInterpreter.ts';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { choicesArb, configArb, firstBlock, runArb, scenarioOf, scheduleFrom } from '../helpers/randomSchedules.ts';
import { classesFor, maxRelativeError, planFor, runOnGpu, TINY, weightsFor, type Scenario } from '../runtime/harness.ts';

const gpu = await gpuOrSkip();

describe.skipIf(!gpu)('GPU ≡ plan on the CPU', () => {
  it('over random small DiTs, schedules and seeds (rel 1e-4)', async () => {
    await fc.assert(
      fc.asyncProperty(configArb, runArb, choicesArb, async (cfg, r, choices) => {
        const s = scenarioOf(cfg, r);
        const { graph, plan } = planFor(gpu!, s, scheduleFrom(cfg.depth, s.steps, choices, r.eps));
        const weights = weightsFor(graph, s.weightSeed);
        const got = await runOnGpu(gpu!, plan, weights, s);
        const want = runPlanOnCpu(plan, weights, { seed: s.seed, classes: classesFor(s) });
        const err = maxRelativeError(got.latents.data, want.latents.data);
        expect(err, `max error ${err} relative to the result's scale`).toBeLessThan(1e-4);
      }),
      { numRuns: 4, seed: 20261202, endOnFailure: true },
    );
  }, 900_000);

  it('a dynamic rule: the same decisions and latents', async () => {
    const s: Scenario = { cfg: { ...TINY, depth: 3 }, batch: 1, steps: 6, sampler: 'ddim', seed: 2, weightSeed: 4, cfgScale: 2 };
    const { graph, plan } = planFor(gpu!, s, firstBlock(3, s.steps, 0.5, 1, 2));
    const weights = weightsFor(graph, s.weightSeed);
    const got = await runOnGpu(gpu!, plan, weights, s);
    const want = runPlanOnCpu(plan, weights, { seed: s.seed, classes: classesFor(s) });
    expect(got.dynamic?.map((d) => d.reusedSteps)).toEqual(want.dynamic?.map((d) => d.reusedSteps));
    expect(maxRelativeError(got.latents.data, want.latents.data)).toBeLessThan(1e-4);
  }, 900_000);
});
