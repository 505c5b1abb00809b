/**
 * A CFG step may run either half of the batch alone: the conditional half (`uncond { … reuse }`,
 * `cfg_cache`) or the unconditional one (`cond { out reuse }`). The unconditional half starts at
 * element B of t, at B·C·H·W of the latent and at B·T·p²·C of the tokens unpatchify reads — off the
 * 256-byte storage alignment for small latents and for any odd batch — so the embedding kernels take
 * element offsets. Plan on the CPU ≡ reference executor over which half computes at each step.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeEverything, type BranchActions, type ScheduleIR } from '../../compiler/ir/schedule.ts';
import { compile } from '../../compiler/pipeline.ts';
import { HARDWARE_CAPS, LAVAPIPE_CAPS } from '../../compiler/plan/caps.ts';
import { cpuPlanError, TINY, tinyGraph, type Scenario, type TinyConfig } from '../runtime/harness.ts';
import { CFG_HALVES_STEPS, cfgHalvesArb, cfgHalvesSchedule, ODD_LATENT } from '../helpers/randomSchedules.ts';

describe('a step that runs only the unconditional half compiles', () => {
  const onlyUncond = (k: number): ScheduleIR => {
    const base = computeEverything('DiT', CFG_HALVES_STEPS);
    const reuse: BranchActions = { cond: { kind: 'reuse' }, uncond: { kind: 'compute' } };
    return { ...base, name: 'cond_out_reuse', table: base.table.map((_, j): Record<string, BranchActions> => (j === k ? { out: reuse } : {})) };
  };

  it('every dispatch of the split step is of the unconditional half, at offsets the kernels take', () => {
    for (const [cfg, batch] of [[ODD_LATENT, 1], [TINY, 1], [TINY, 3]] as [TinyConfig, number][]) {
      const graph = tinyGraph(cfg, 2 * batch);
      const { plan } = compile(graph, onlyUncond(2), { steps: CFG_HALVES_STEPS, batch, sampler: 'ddim', caps: HARDWARE_CAPS, cfgScale: 2 });
      const model = plan.bodies[plan.stepBody[2]!]!.dispatches.filter((d) => d.role === 'model');
      expect(model.length).toBeGreaterThan(0);
      expect(new Set(model.map((d) => d.branch))).toEqual(new Set(['uncond']));
      const te = plan.kernels.find((k) => k.family === 'timestep_embed' && (k.config as { offsets?: { t?: number } }).offsets?.t === batch);
      expect(te, `a timestep_embed kernel reading t from element ${batch}`).toBeDefined();
      for (const d of model) for (const b of d.bindings) expect(b.offset % HARDWARE_CAPS.minStorageBufferOffsetAlignment).toBe(0);
    }
  });

  it('on a model whose per-sample activations are off the alignment: refused by name, not an internal error', () => {
    // 9 tokens × 32 channels: the unconditional half of every activation starts at byte 1152·B.
    const graph = tinyGraph({ ...ODD_LATENT, hidden: 32, heads: 2 }, 2);
    const compileIt = () => compile(graph, onlyUncond(2), { steps: CFG_HALVES_STEPS, batch: 1, sampler: 'ddim', caps: HARDWARE_CAPS, cfgScale: 2 });
    expect(compileIt).toThrow(expect.objectContaining({ code: 'E_CHECK', span: expect.objectContaining({ file: expect.stringMatching(/dit\.ditto$/) }) }));
    expect(compileIt).toThrow(/schedule 'cond_out_reuse': step 2 runs the unconditional CFG half alone, but the model's layernorm \(\S+dit\.ditto:\d+:\d+\) cannot run on it: the half starts at byte 1152 of its \w+ operand, not a multiple of the adapter's storage alignment \(256 bytes\)/);
  });
});

describe('plan on the CPU ≡ reference executor, each CFG half alone', () => {
  it('over which half computes the output (and the blocks) at each step: cond, uncond, both, neither (rel 2e-6)', () => {
    fc.assert(
      fc.property(cfgHalvesArb, fc.constantFrom(HARDWARE_CAPS, LAVAPIPE_CAPS), (r, caps) => {
        const s: Scenario = { cfg: r.odd ? ODD_LATENT : TINY, batch: r.batch, steps: CFG_HALVES_STEPS, sampler: r.sampler, seed: r.seed, weightSeed: r.seed + 1, cfgScale: 2.5 };
        const err = cpuPlanError(s, cfgHalvesSchedule(s.cfg.depth, r), caps);
        expect(err, `max error ${err} relative to the result's scale`).toBeLessThan(2e-6);
      }),
      { numRuns: 30, seed: 20261202, endOnFailure: true },
    );
  }, 600_000);

  it('a latent whose halves start off the alignment: the output reused in the conditional half every other step (rel 1e-4)', () => {
    const s: Scenario = { cfg: ODD_LATENT, batch: 1, steps: CFG_HALVES_STEPS, sampler: 'ddpm', seed: 4, weightSeed: 5, cfgScale: 3 };
    const err = cpuPlanError(s, cfgHalvesSchedule(ODD_LATENT.depth, { out: ['both', 'uncond'], blocks: ['both'] }), LAVAPIPE_CAPS);
    expect(err, `max error ${err} relative to the result's scale`).toBeLessThan(1e-4);
  }, 600_000);
});
