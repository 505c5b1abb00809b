/**
 * A compiled plan, run by the CPU plan interpreter, computes what the reference executor defines:
 * random small DiTs × random schedules (reuse, per-branch reuse, residual reuse, Taylor forecasts
 * with even and uneven computes, eps scale, a dynamic rule), DDPM and DDIM, with and without CFG,
 * for both caps profiles (kernel variants differ; their semantics do not). No GPU involved, so a
 * failure here is a compiler pass, not a kernel.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/pipeline.ts';
import { HARDWARE_CAPS, LAVAPIPE_CAPS, type CompileCaps } from '../../compiler/plan/caps.ts';
import type { Plan } from '../../compiler/plan/types.ts';
import type { ScheduleIR } from '../../compiler/ir/schedule.ts';
import type { Graph } from '../../compiler/ir/graph.ts';
import { runPlanOnCpu } from '../../runtime/cpu/planInterpreter.ts';
import { sampleReference } from '../../runtime/reference/sample.ts';
import { isDittoError } from '../../core/errors.ts';
import { runPlanOnCpu as apiRunPlanOnCpu } from '../../index.ts';
import { classesFor, maxRelativeError, TINY, tinyGraph, weightsFor, type Scenario } from '../runtime/harness.ts';
import { choicesArb, configArb, firstBlock, runArb, scenarioOf, scheduleFrom, taylorAt } from '../helpers/randomSchedules.ts';

function planOf(s: Scenario, schedule: ScheduleIR | undefined, caps: CompileCaps): { graph: Graph; plan: Plan } {
  const graph = tinyGraph(s.cfg, s.cfgScale !== undefined ? 2 * s.batch : s.batch);
  const { plan } = compile(graph, schedule, { steps: s.steps, batch: s.batch, sampler: s.sampler, caps, ...(s.cfgScale !== undefined ? { cfgScale: s.cfgScale } : {}) });
  return { graph, plan };
}

function compare(s: Scenario, schedule: ScheduleIR, caps: CompileCaps) {
  const { graph, plan } = planOf(s, schedule, caps);
  const weights = weightsFor(graph, s.weightSeed);
  const got = runPlanOnCpu(plan, weights, { seed: s.seed, classes: classesFor(s) });
  const want = sampleReference(graph, weights, schedule, { sampler: s.sampler, classes: classesFor(s), seed: s.seed, ...(s.cfgScale !== undefined ? { cfgScale: s.cfgScale } : {}) });
  expect(got.latents.shape).toEqual(want.latents.shape);
  return { err: maxRelativeError(got.latents.data, want.latents.data), got, want };
}

describe('plan on the CPU ≡ reference executor', () => {
  it('over random small DiTs, schedules and seeds, both caps profiles (rel 1e-4)', () => {
    fc.assert(
      fc.property(configArb, runArb, choicesArb, fc.constantFrom(HARDWARE_CAPS, LAVAPIPE_CAPS), (cfg, r, choices, caps) => {
        const s = scenarioOf(cfg, r);
        const { err } = compare(s, scheduleFrom(cfg.depth, s.steps, choices, r.eps), caps);
        expect(err, `max error ${err} relative to the result's scale`).toBeLessThan(1e-4);
      }),
      { numRuns: 25, seed: 20261202, endOnFailure: true },
    );
  }, 600_000);

  it('Taylor forecasts between unevenly spaced computes (the shipped taylorseer pattern 0, 1, 2, 4, 8, …) agree to 5e-6', () => {
    // Tighter than the random cases: f32 sums alone keep the two within 5e-7 here, while two
    // different forecast definitions (differences over the last interval vs over each span) were
    // 1e-4 apart on this pattern, and scaling the plan's forecast coefficients by 1.01 moves the
    // result by 2e-6–1e-5 — so a drift in either side's definition fails this test.
    const computes = [0, 1, 2, ...Array.from({ length: 12 }, (_, i) => 4 * (i + 1))];
    for (const order of [1, 2, 3]) {
      const s: Scenario = { cfg: TINY, batch: 1, steps: 50, sampler: 'ddpm', seed: order, weightSeed: 5, cfgScale: 1.5 };
      const { err } = compare(s, taylorAt(TINY.depth, s.steps, computes, order), HARDWARE_CAPS);
      expect(err, `order ${order}: max error ${err}`).toBeLessThan(5e-6);
    }
  }, 600_000);

  it('a dynamic rule decides the same steps as the reference and gives the same latents', () => {
    for (const [threshold, warmup, max] of [[0.5, 1, 2], [5, 2, 100], [1e-9, 1, 3]] as const) {
      const s: Scenario = { cfg: { ...TINY, depth: 3 }, batch: 1, steps: 8, sampler: 'ddim', seed: 4, weightSeed: 9, cfgScale: 2 };
      const schedule = firstBlock(3, s.steps, threshold, warmup, max);
      const { err, got, want } = compare(s, schedule, LAVAPIPE_CAPS);
      expect(got.dynamic?.map((d) => d.reusedSteps)).toEqual(want.stats.dynamic.map((d) => d.reused));
      expect(err).toBeLessThan(1e-4);
    }
  }, 600_000);

  it('no schedule and an all-compute schedule give the reference bit for bit in shape and within f32 sums', () => {
    const s: Scenario = { cfg: TINY, batch: 2, steps: 3, sampler: 'ddpm', seed: 3, weightSeed: 3, cfgScale: 4 };
    const { graph, plan } = planOf(s, undefined, HARDWARE_CAPS);
    const weights = weightsFor(graph, s.weightSeed);
    const got = runPlanOnCpu(plan, weights, { seed: s.seed, classes: classesFor(s) });
    const want = sampleReference(graph, weights, { name: 'none', model: 'DiT', steps: 3, table: [{}, {}, {}], epsScale: [1, 1, 1], dynamic: [] }, { sampler: 'ddpm', classes: classesFor(s), seed: s.seed, cfgScale: 4 });
    expect(maxRelativeError(got.latents.data, want.latents.data)).toBeLessThan(5e-6);
  });

  it('a plan with a kernel family it does not know is E_PLAN naming the family', () => {
    const s: Scenario = { cfg: TINY, batch: 1, steps: 1, sampler: 'ddim', seed: 0, weightSeed: 0 };
    const { graph, plan } = planOf(s, undefined, HARDWARE_CAPS);
    const broken: Plan = { ...plan, kernels: plan.kernels.map((k, i) => (i === plan.bodies[0]!.dispatches[0]!.kernel ? { ...k, family: 'warp_drive' } : k)) };
    try {
      runPlanOnCpu(broken, weightsFor(graph, 0), { seed: 0 });
      expect.unreachable();
    } catch (e) {
      expect(isDittoError(e) && e.code).toBe('E_PLAN');
      expect((e as Error).message).toMatch(/warp_drive/);
    }
  });

  it('the Node API runs a plan given as JSON text', () => {
    const s: Scenario = { cfg: TINY, batch: 1, steps: 2, sampler: 'ddim', seed: 5, weightSeed: 1 };
    const { graph, plan } = planOf(s, undefined, HARDWARE_CAPS);
    const weights = weightsFor(graph, 1);
    const viaApi = apiRunPlanOnCpu(JSON.stringify(plan), weights, { seed: 5, classes: [3] });
    expect(Array.from(viaApi.latents.data)).toEqual(Array.from(runPlanOnCpu(plan, weights, { seed: 5, classes: [3] }).latents.data));
    expect(() => apiRunPlanOnCpu(plan, weights, { seed: 5, classes: [3, 4] })).toThrow(/compiled for 1 image/);
  });
});
