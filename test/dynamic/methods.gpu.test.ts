/**
 * DBCache, TeaCache and EasyCache (models/schedules/) on the GPU against the reference executor: small random
 * DiTs, seeds, CFG on and off, DDPM and DDIM, thresholds chosen from each run's own signal so that
 * some steps reuse and some compute (test/dynamic/methods.ts). The GPU decides without a readback
 * during sampling; its counters, read once after the run, must equal the reference's decisions,
 * and its latents the reference's up to f32 rounding.
 */
import { describe, expect, it } from 'vitest';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { maxRelativeError, planFor, runOnGpu, TINY, type Scenario } from '../runtime/harness.ts';
import { methodRun, traceOf, type Method } from './methods.ts';

process.env.XDG_RUNTIME_DIR ??= '/tmp/xdg';
const gpu = await gpuOrSkip();

interface Case extends Scenario {
  method: Method;
  q: number;
}

const CASES: Case[] = [
  { method: 'dbcache', q: 0.5, cfg: { ...TINY, depth: 3 }, batch: 1, steps: 8, sampler: 'ddpm', seed: 1, weightSeed: 2, cfgScale: 3 },
  { method: 'dbcache', q: 0.7, cfg: { ...TINY, depth: 4 }, batch: 2, steps: 8, sampler: 'ddim', seed: 3, weightSeed: 4 },
  { method: 'teacache', q: 0.5, cfg: { ...TINY, depth: 3 }, batch: 1, steps: 8, sampler: 'ddim', seed: 5, weightSeed: 6, cfgScale: 3 },
  { method: 'teacache', q: 0.7, cfg: { ...TINY, depth: 3 }, batch: 1, steps: 8, sampler: 'ddpm', seed: 7, weightSeed: 8 },
  { method: 'easycache', q: 0.5, cfg: { ...TINY, depth: 3 }, batch: 1, steps: 8, sampler: 'ddpm', seed: 9, weightSeed: 10, cfgScale: 3 },
  { method: 'easycache', q: 0.7, cfg: { ...TINY, depth: 4 }, batch: 2, steps: 8, sampler: 'ddim', seed: 11, weightSeed: 12 },
];

describe.skipIf(!gpu)('cache methods on the GPU = reference executor', () => {
  const totals = { reused: 0, computed: 0 };
  for (const c of CASES) {
    it(`${c.method}, depth ${c.cfg.depth}, ${c.sampler}, ${c.cfgScale ? 'CFG' : 'no CFG'}, seed ${c.seed}`, async () => {
      const run = methodRun(c.method, c, c.q);
      const { plan } = planFor(gpu!, c, run.schedule);
      const out = await runOnGpu(gpu!, plan, run.weights, c);
      const rule = run.ref.stats.dynamic[0]!;
      expect(out.dynamic?.map((d) => [d.reusedSteps, d.computedSteps]), traceOf(run.ref)).toEqual([[rule.reused, rule.computed]]);
      expect(maxRelativeError(out.latents.data, run.ref.latents.data), traceOf(run.ref)).toBeLessThan(1e-4);
      totals.reused += rule.reused;
      totals.computed += rule.computed;
    }, 600_000);
  }

  it('the cases exercise both decisions', () => {
    expect(totals.reused).toBeGreaterThan(0);
    expect(totals.computed).toBeGreaterThan(0);
  });
});
