/**
 * The GPU plan computes what the reference executor defines: random small DiTs, random schedules
 * (reuse, per-branch reuse, residual reuse, Taylor forecast, eps scale), random seeds, DDPM and
 * DDIM, with and without CFG. Agreement within 1e-4 of the result's scale (f32).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Action, BranchActions, ScheduleIR } from '../../compiler/ir/schedule.ts';
import { computeEverything } from '../../compiler/ir/schedule.ts';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { maxRelativeError, planFor, runOnGpu, runOnReference, weightsFor, type Scenario, type TinyConfig } from './harness.ts';

const gpu = await gpuOrSkip();

const configArb: fc.Arbitrary<TinyConfig> = fc.record({
  // Few distinct widths: every new shape is a new pipeline, and lavapipe JIT-compiles each one.
  depth: fc.integer({ min: 1, max: 3 }),
  hidden: fc.constant(32),
  heads: fc.constant(2),
  latent: fc.constant(8),
  channels: fc.constantFrom(1, 4),
  classes: fc.integer({ min: 2, max: 10 }),
  learn_sigma: fc.constantFrom(0, 1),
});

type Choice = 'compute' | 'reuse' | 'forecast1' | 'forecast2' | 'residual';
const actionOf = (c: Choice): Action | undefined =>
  c === 'reuse' ? { kind: 'reuse' } : c === 'forecast1' ? { kind: 'forecast', order: 1 } : c === 'forecast2' ? { kind: 'forecast', order: 2 } : undefined;

/** A schedule from per-step, per-block choices; step 0 computes everything (nothing is stored yet). */
function scheduleFrom(depth: number, steps: number, choices: { c: Choice; u: Choice }[][], eps: number): ScheduleIR {
  const base = computeEverything('DiT', steps);
  const table = base.table.map((_, k) => {
    const row: Record<string, BranchActions> = {};
    if (k === 0) return row;
    for (let b = 0; b < depth; b++) {
      const pick = choices[k % choices.length]![b % choices[0]!.length]!;
      // Residual reuse needs the same action in both branches to be meaningful; keep it simple.
      if (pick.c === 'residual') {
        row[`blocks[${b}]`] = { cond: { kind: 'reuse_residual' }, uncond: { kind: 'reuse_residual' } };
        continue;
      }
      const cond = actionOf(pick.c);
      const uncond = actionOf(pick.u === 'residual' ? 'compute' : pick.u);
      for (const t of ['attn', 'mlp']) {
        if (cond || uncond) row[`blocks[${b}].${t}`] = { cond: cond ?? { kind: 'compute' }, uncond: uncond ?? { kind: 'compute' } };
      }
    }
    return row;
  });
  return { ...base, name: 'random', table, epsScale: base.epsScale.map(() => eps) };
}

const choiceArb = fc.constantFrom<Choice>('compute', 'reuse', 'forecast1', 'forecast2', 'residual');

describe.skipIf(!gpu)('GPU plan ≡ reference executor', () => {
  it('over random small DiTs, schedules and seeds (rel 1e-4)', async () => {
    await fc.assert(
      fc.asyncProperty(
        configArb,
        fc.record({
          batch: fc.constant(1),
          steps: fc.integer({ min: 1, max: 6 }),
          cfg: fc.boolean(),
          sampler: fc.constantFrom<'ddpm' | 'ddim'>('ddpm', 'ddim'),
          seed: fc.integer({ min: 0, max: 1000 }),
          weightSeed: fc.integer({ min: 0, max: 1000 }),
          eps: fc.constantFrom(1, 1 / 0.965),
        }),
        fc.array(fc.array(fc.record({ c: choiceArb, u: choiceArb }), { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 4 }),
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
  }, 300_000);
});
