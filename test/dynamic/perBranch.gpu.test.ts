/**
 * TeaCache per CFG branch (models/schedules/teacache-branches.ditto) on the GPU against the
 * reference executor: the decide kernel reduces each half of the signal on its own and keeps two
 * accumulators, with no readback during sampling; the per-branch counters read once after the run
 * must equal the reference's decisions and the latents the reference's up to f32 rounding —
 * including steps where one branch reuses its residual while the batch computes.
 */
import { describe, expect, it } from 'vitest';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { maxRelativeError, planFor, runOnGpu, TINY, type Scenario } from '../runtime/harness.ts';
import { methodRun, sinceComputeRun, traceOf, tracesOf } from './methods.ts';

process.env.XDG_RUNTIME_DIR ??= '/tmp/xdg';
const gpu = await gpuOrSkip();

const CASES: (Scenario & { q: number })[] = [
  { q: 0.5, cfg: { ...TINY, depth: 3 }, batch: 1, steps: 8, sampler: 'ddim', seed: 5, weightSeed: 6, cfgScale: 3 },
  { q: 0.3, cfg: { ...TINY, depth: 2 }, batch: 2, steps: 8, sampler: 'ddpm', seed: 7, weightSeed: 8, cfgScale: 3 },
];

describe.skipIf(!gpu)('TeaCache per CFG branch on the GPU = reference executor', () => {
  const totals = { reused: 0, computed: 0, split: 0 };
  for (const c of CASES) {
    it(`depth ${c.cfg.depth}, batch ${c.batch}, ${c.sampler}, seed ${c.seed}`, async () => {
      const run = methodRun('teacache_branches', c, c.q, 30);
      const { plan } = planFor(gpu!, c, run.schedule);
      const out = await runOnGpu(gpu!, plan, run.weights, c);
      const rule = run.ref.stats.dynamic[0]!;
      expect(out.dynamic?.map((d) => [d.reusedSteps, d.computedSteps, d.uncond?.reusedSteps, d.uncond?.computedSteps]), traceOf(run.ref)).toEqual([[rule.reused, rule.computed, rule.uncond!.reused, rule.uncond!.computed]]);
      expect(maxRelativeError(out.latents.data, run.ref.latents.data), traceOf(run.ref)).toBeLessThan(1e-4);
      const [cond, uncond] = tracesOf(run.ref);
      totals.reused += rule.reused + rule.uncond!.reused;
      totals.computed += rule.computed + rule.uncond!.computed;
      totals.split += cond!.filter((t, k) => t.used && t.decision !== uncond![k]!.decision).length;
    }, 600_000);
  }

  it('against the last compute (since compute, cap, total): each half keeps its own reference signal', async () => {
    for (const seed of [5, 6]) {
      const c: Scenario = { cfg: { ...TINY, depth: 3 }, batch: 1, steps: 8, sampler: 'ddim', seed, weightSeed: seed + 10, cfgScale: 3 };
      const run = sinceComputeRun(c, 0.6);
      const { plan } = planFor(gpu!, c, run.schedule);
      const out = await runOnGpu(gpu!, plan, run.weights, c);
      const rule = run.ref.stats.dynamic[0]!;
      expect(out.dynamic?.map((d) => [d.reusedSteps, d.uncond?.reusedSteps]), traceOf(run.ref)).toEqual([[rule.reused, rule.uncond!.reused]]);
      expect(maxRelativeError(out.latents.data, run.ref.latents.data), traceOf(run.ref)).toBeLessThan(1e-4);
    }
  }, 600_000);

  it('the cases exercise both decisions and branches that disagree', () => {
    expect(totals.reused).toBeGreaterThan(0);
    expect(totals.computed).toBeGreaterThan(0);
    expect(totals.split).toBeGreaterThan(0);
  });
});
