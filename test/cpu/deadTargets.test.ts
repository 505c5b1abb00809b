/**
 * A target the schedule computes at a step where nothing live reads it — a block under a reused
 * model output — is dead there: the reference executor evaluates only what the output needs, so it
 * neither computes that block nor refreshes its cache or forecast history, and a later reuse reads
 * the value of an earlier step. The plan must do the same (no work, no store), or the later reuse
 * reads a newer value than the reference's. Plan on the CPU ≡ reference executor.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeEverything, type BranchActions, type ScheduleIR } from '../../compiler/ir/schedule.ts';
import { compile } from '../../compiler/pipeline.ts';
import { HARDWARE_CAPS, LAVAPIPE_CAPS } from '../../compiler/plan/caps.ts';
import { runPlanOnCpu } from '../../runtime/cpu/planInterpreter.ts';
import { sampleReference } from '../../runtime/reference/sample.ts';
import { classesFor, cpuPlanError, maxRelativeError, TINY, tinyGraph, weightsFor, type Scenario } from '../runtime/harness.ts';
import { choicesArb, configArb, firstBlock, outReuseArb, runArb, scenarioOf, scheduleFrom, withOutReuse } from '../helpers/randomSchedules.ts';

const STEPS = 8;
const REUSE: BranchActions = { cond: { kind: 'reuse' }, uncond: { kind: 'reuse' } };

/** `out` reused at `outReused`; every block's residual reused at `blocksReused` (computed elsewhere). */
function outThenBlocks(outReused: readonly number[], blocksReused: readonly number[], depth = TINY.depth): ScheduleIR {
  const base = computeEverything('DiT', STEPS);
  const table = base.table.map((_, k) => {
    const row: Record<string, BranchActions> = {};
    if (outReused.includes(k)) row['out'] = REUSE;
    if (blocksReused.includes(k)) for (let b = 0; b < depth; b++) row[`blocks[${b}]`] = { cond: { kind: 'reuse_residual' }, uncond: { kind: 'reuse_residual' } };
    return row;
  });
  return { ...base, name: 'out_then_blocks', table };
}

/** Every block's attn and mlp forecast (order 2) except at `computes`; `out` reused at `outReused`. */
function forecastUnderReusedOut(computes: readonly number[], outReused: readonly number[]): ScheduleIR {
  const base = computeEverything('DiT', STEPS);
  const f = { kind: 'forecast' as const, order: 2 };
  const table = base.table.map((_, k) => {
    const row: Record<string, BranchActions> = {};
    if (outReused.includes(k)) row['out'] = REUSE;
    if (!computes.includes(k)) for (let b = 0; b < TINY.depth; b++) for (const t of ['attn', 'mlp']) row[`blocks[${b}].${t}`] = { cond: f, uncond: f };
    return row;
  });
  return { ...base, name: 'forecast_under_reused_out', table };
}

describe('a target computed where nothing reads it is dead: not computed, not stored', () => {
  it('out reused at step 1, the blocks reused at step 2: the blocks hold step 0, as in the reference (rel 1e-6)', () => {
    // Storing the blocks at step 1 put the plan 1e-5–3e-5 away from the reference here (f32 sums alone: ~1e-7).
    for (const cfgScale of [undefined, 2.5]) {
      for (const seed of [1, 2, 3]) {
        const s: Scenario = { cfg: TINY, batch: 1, steps: STEPS, sampler: 'ddpm', seed, weightSeed: seed + 10, ...(cfgScale !== undefined ? { cfgScale } : {}) };
        const err = cpuPlanError(s, outThenBlocks([1], [2]), HARDWARE_CAPS);
        expect(err, `cfg ${cfgScale}, seed ${seed}: max error ${err}`).toBeLessThan(1e-6);
      }
    }
  }, 600_000);

  it('the dead step does no block work: its body is that of a schedule without block targets', () => {
    const graph = tinyGraph(TINY, 1);
    const step1 = (schedule: ScheduleIR) => {
      const { plan } = compile(graph, schedule, { steps: STEPS, batch: 1, sampler: 'ddpm', caps: HARDWARE_CAPS });
      return plan.bodies[plan.stepBody[1]!]!.dispatches.length;
    };
    expect(step1(outThenBlocks([1], [2]))).toBe(step1(outThenBlocks([1], [])));
  });

  it('a Taylor forecast skips the dead compute in its history (rel 2e-6)', () => {
    for (const cfgScale of [undefined, 2]) {
      const s: Scenario = { cfg: TINY, batch: 1, steps: STEPS, sampler: 'ddim', seed: 7, weightSeed: 8, ...(cfgScale !== undefined ? { cfgScale } : {}) };
      const err = cpuPlanError(s, forecastUnderReusedOut([0, 1, 2, 4, 6], [2]), HARDWARE_CAPS);
      expect(err, `cfg ${cfgScale}: max error ${err}`).toBeLessThan(2e-6);
    }
  }, 600_000);

  it('a dynamic rule whose targets are dead under a reused output: same decisions and latents (rel 6e-7; storing them was 1.1e-6)', () => {
    for (const threshold of [0.5, 5]) {
      const s: Scenario = { cfg: { ...TINY, depth: 3 }, batch: 1, steps: STEPS, sampler: 'ddim', seed: 4, weightSeed: 9, cfgScale: 2 };
      const fb = firstBlock(3, STEPS, threshold, 1, 3);
      const schedule: ScheduleIR = { ...fb, table: fb.table.map((row, k) => (k === 2 || k === 4 ? { ...row, out: REUSE } : row)) };
      const graph = tinyGraph(s.cfg, 2);
      const { plan } = compile(graph, schedule, { steps: STEPS, batch: 1, sampler: s.sampler, caps: LAVAPIPE_CAPS, cfgScale: s.cfgScale! });
      const weights = weightsFor(graph, s.weightSeed);
      const got = runPlanOnCpu(plan, weights, { seed: s.seed, classes: classesFor(s) });
      const want = sampleReference(graph, weights, schedule, { sampler: s.sampler, classes: classesFor(s), seed: s.seed, cfgScale: s.cfgScale! });
      expect(got.dynamic?.map((d) => d.reusedSteps)).toEqual(want.stats.dynamic.map((d) => d.reused));
      const err = maxRelativeError(got.latents.data, want.latents.data);
      expect(err, `threshold ${threshold}: max error ${err}`).toBeLessThan(6e-7);
    }
  }, 600_000);

  it('over random small DiTs with the output and the blocks reused or computed at random steps (rel 2e-6)', () => {
    fc.assert(
      fc.property(configArb, runArb, choicesArb, outReuseArb, fc.constantFrom(HARDWARE_CAPS, LAVAPIPE_CAPS), (cfg, r, choices, out, caps) => {
        const s = scenarioOf(cfg, { ...r, steps: r.steps + 2 });
        const err = cpuPlanError(s, withOutReuse(scheduleFrom(cfg.depth, s.steps, choices, r.eps), out), caps);
        expect(err, `max error ${err} relative to the result's scale`).toBeLessThan(2e-6);
      }),
      { numRuns: 25, seed: 20261202, endOnFailure: true },
    );
  }, 600_000);
});
