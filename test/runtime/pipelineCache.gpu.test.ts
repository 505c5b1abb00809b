/**
 * Pipelines are built once per distinct kernel and device: a second plan on the same device (a
 * schedule's plan after the no-cache plan, as the playground and `ditto eval` run them) gets the
 * pipelines the first one built, and only its own new kernels are compiled.
 */
import { describe, expect, it, vi } from 'vitest';
import { loadProgram, resolveSchedule } from '../../compiler/frontend.ts';
import { createPipelines } from '../../runtime/run/pipelines.ts';
import { createRunner, preparePipelines } from '../../runtime/run/runner.ts';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { DIT_FILE, TINY, planFor, tinyGraph, weightsFor, type Scenario } from './harness.ts';

const gpu = await gpuOrSkip();

const s: Scenario = { cfg: TINY, batch: 1, steps: 6, sampler: 'ddpm', seed: 1, weightSeed: 2, cfgScale: 3 };

describe.skipIf(!gpu)('pipelines shared between plans', () => {
  it("a second plan on the device reuses the first plan's pipelines, kernel for kernel", async () => {
    const none = planFor(gpu!, s, undefined).plan;
    const fora = resolveSchedule(loadProgram(DIT_FILE), 'fora(N=2)', tinyGraph(TINY, 2), { steps: s.steps });
    const cached = planFor(gpu!, s, fora).plan;
    const a = await createPipelines(gpu!.device, none);
    const b = await createPipelines(gpu!.device, cached);
    const byText = new Map(none.kernels.map((k, i) => [`${k.entryPoint}\n${k.wgsl}`, a[i]!]));
    let shared = 0;
    cached.kernels.forEach((k, i) => {
      const earlier = byText.get(`${k.entryPoint}\n${k.wgsl}`);
      if (earlier) {
        expect(b[i]!.pipeline).toBe(earlier.pipeline);
        expect(b[i]!.layout).toBe(earlier.layout);
        shared++;
      }
    });
    expect(shared).toBeGreaterThan(0);
    // Distinct kernels still get distinct pipelines.
    const distinct = new Set(b.map((p) => p.pipeline));
    expect(distinct.size).toBe(new Set(cached.kernels.map((k) => `${k.entryPoint}\n${k.wgsl}`)).size);
  });

  it('preparePipelines builds ahead what a runner of the plan then takes: nothing is compiled twice', async () => {
    const plan = planFor(gpu!, { ...s, batch: 2 }, undefined).plan; // other shapes: kernels no earlier test built
    await preparePipelines(gpu!, plan);
    const compiles = vi.spyOn(gpu!.device, 'createShaderModule');
    try {
      const runner = await createRunner(plan, weightsFor(tinyGraph(TINY, 4), s.weightSeed), { gpu: gpu! });
      runner.close();
      expect(compiles).not.toHaveBeenCalled();
    } finally {
      compiles.mockRestore();
    }
  });
});
