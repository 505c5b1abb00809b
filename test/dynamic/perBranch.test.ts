/**
 * TeaCache with one accumulator per CFG branch (`per_branch`, models/schedules/teacache-branches.ditto)
 * run by the CPU plan interpreter against the reference executor: random small DiTs, seeds, DDPM
 * and DDIM, CFG on. Each branch's decisions must be the reference's (the plan's per-branch counters
 * equal the reference's reuses per branch), the latents the reference's up to f32 rounding, and the
 * runs must include steps where the branches disagree (one reuses its residual while the batch
 * computes). Bad uses are refused with a clear message.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/pipeline.ts';
import { LAVAPIPE_CAPS } from '../../compiler/plan/caps.ts';
import { loadPlan } from '../../compiler/plan/load.ts';
import { isDittoError } from '../../core/errors.ts';
import { runPlanOnCpu } from '../../runtime/cpu/planInterpreter.ts';
import type { DecisionTrace } from '../../runtime/reference/dynamicRule.ts';
import { sampleReference } from '../../runtime/reference/sample.ts';
import type { ScheduleIR } from '../../compiler/ir/schedule.ts';
import { CFG_CACHE_STEPS, cfgCacheSchedule, firstBlock } from '../helpers/randomSchedules.ts';
import { cpuPlanError, maxRelativeError, TINY, tinyGraph, weightsFor, type Scenario } from '../runtime/harness.ts';
import { methodRun, methodSchedule, sinceComputeRun, traceOf, tracesOf } from './methods.ts';

const scenario = fc.record({
  depth: fc.integer({ min: 2, max: 4 }),
  seed: fc.integer({ min: 0, max: 1000 }),
  weightSeed: fc.integer({ min: 0, max: 1000 }),
  batch: fc.integer({ min: 1, max: 2 }),
  sampler: fc.constantFrom<'ddpm' | 'ddim'>('ddpm', 'ddim'),
  q: fc.constantFrom(0.3, 0.5, 0.7),
});
// Random weights barely separate the branches; a stronger label embedding makes them disagree
// (test/dynamic/methods.ts strengthenLabels).

/** Steps where exactly one branch reused. */
function disagreements(traces: { decision: string; used: boolean }[][]): number {
  const [c, u] = traces as [{ decision: string; used: boolean }[], { decision: string; used: boolean }[]];
  return c.filter((t, k) => t.used && t.decision !== u[k]!.decision).length;
}

describe('TeaCache per CFG branch: plan on the CPU = reference executor', () => {
  it('same decisions per branch and latents over random DiTs, seeds, batches, samplers', () => {
    const totals = { reused: 0, computed: 0, split: 0 };
    fc.assert(
      fc.property(scenario, (p) => {
        const s: Scenario = { cfg: { ...TINY, depth: p.depth }, batch: p.batch, steps: 8, sampler: p.sampler, seed: p.seed, weightSeed: p.weightSeed, cfgScale: 3 };
        const run = methodRun('teacache_branches', s, p.q, 30);
        const { plan } = compile(run.graph, run.schedule, { steps: s.steps, batch: s.batch, sampler: s.sampler, caps: LAVAPIPE_CAPS, cfgScale: 3 });
        const got = runPlanOnCpu(plan, run.weights, { seed: s.seed, classes: run.classes });
        const rule = run.ref.stats.dynamic[0]!;
        expect(rule.uncond, 'the reference keeps the uncond branch apart').toBeDefined();
        expect(got.dynamic?.map((d) => [d.reusedSteps, d.computedSteps, d.uncond?.reusedSteps, d.uncond?.computedSteps]), traceOf(run.ref)).toEqual([[rule.reused, rule.computed, rule.uncond!.reused, rule.uncond!.computed]]);
        expect(maxRelativeError(got.latents.data, run.ref.latents.data), traceOf(run.ref)).toBeLessThan(1e-4);
        totals.reused += rule.reused + rule.uncond!.reused;
        totals.computed += rule.computed + rule.uncond!.computed;
        totals.split += disagreements(tracesOf(run.ref));
      }),
      { numRuns: 8, seed: 21 },
    );
    expect(totals.reused).toBeGreaterThan(0);
    expect(totals.computed).toBeGreaterThan(0);
    expect(totals.split, 'some steps have one branch reusing while the other computes').toBeGreaterThan(0);
  }, 900_000);

  it('each branch accumulates its own signal and resets its sum at its own computes', () => {
    const s: Scenario = { cfg: { ...TINY, depth: 3 }, batch: 1, steps: 10, sampler: 'ddim', seed: 4, weightSeed: 9, cfgScale: 3 };
    const run = methodRun('teacache_branches', s, 0.5, 30);
    const [cond, uncond] = tracesOf(run.ref) as [DecisionTrace[], DecisionTrace[]];
    expect(cond.some((t, k) => t.signal !== uncond[k]!.signal), 'the branches measure different halves').toBe(true);
    for (const trace of [cond, uncond]) {
      let acc = 0;
      for (const t of trace) {
        if (t.signal === undefined) continue;
        acc += t.signal;
        expect(t.accumulated).toBeCloseTo(acc, 10);
        if (!t.used || t.decision === 'compute') acc = 0;
      }
    }
  });

  it('the plan guards each half: stores on the compute path per branch, the stored residual for a branch that reuses while the batch computes', () => {
    const graph = tinyGraph({ ...TINY, depth: 2 }, 2);
    const schedule = methodSchedule('teacache_branches', graph, 6, { c4: 0, c3: 0, c2: 1.5, c1: 0.8, c0: 0.01, threshold: 0.5 });
    expect(schedule.dynamic[0]!.perBranch).toBe(true);
    const { plan } = compile(graph, schedule, { steps: 6, batch: 1, sampler: 'ddim', cfgScale: 3, caps: LAVAPIPE_CAPS });
    expect(plan.dynamic!.rules[0]!.perBranch).toBeDefined();
    const body = plan.bodies[plan.stepBody[2]!]!;
    const guards = body.dispatches.filter((d) => d.guard?.branch).map((d) => `${d.guard!.when}:${d.guard!.branch}:${d.role}`);
    expect(guards).toEqual(['compute:cond:cache_write', 'reuse:cond:residual', 'compute:uncond:cache_write', 'reuse:uncond:residual', 'compute:cond:cache_write', 'reuse:cond:residual', 'compute:uncond:cache_write', 'reuse:uncond:residual']);
    // Costed on the compute path: the per-half stores count, the per-half additions do not.
    const cost = plan.cost.perStep[2]!;
    expect(cost.dispatches).toBe(body.dispatches.filter((d) => d.guard?.when !== 'reuse').length);
  });

  it('the plan round-trips through the loader, which refuses a bad branch guard or uncond record naming the field', () => {
    const graph = tinyGraph({ ...TINY, depth: 2 }, 2);
    const schedule = methodSchedule('teacache_branches', graph, 6, { c4: 0, c3: 0, c2: 1.5, c1: 0.8, c0: 0.01, threshold: 0.5 });
    const { plan } = compile(graph, schedule, { steps: 6, batch: 1, sampler: 'ddim', cfgScale: 3, caps: LAVAPIPE_CAPS });
    expect(loadPlan(JSON.parse(JSON.stringify(plan)))).toEqual(plan);
    const badGuard = JSON.parse(JSON.stringify(plan));
    const body = badGuard.bodies[badGuard.stepBody[2]];
    body.dispatches.find((d: { guard?: { branch?: string } }) => d.guard?.branch).guard.branch = 'both';
    expect(() => loadPlan(badGuard)).toThrow(/guard\.branch.*must be cond or uncond/);
    const badRecord = JSON.parse(JSON.stringify(plan));
    badRecord.dynamic.rules[0].perBranch.stateOffset = 1 << 20;
    expect(() => loadPlan(badRecord)).toThrow(/dynamic\.rules\[0\]\.perBranch\.stateOffset/);
  });
});

describe('per_branch against the last compute (DBCache-like: since compute, cap, total)', () => {
  it('each half keeps its own reference signal: plan on the CPU = reference, decisions per branch', () => {
    let split = 0;
    // Thresholds with every compared value at least 3% away, and branches that disagree.
    for (const [seed, threshold] of [[5, 0.6], [6, 0.6]] as const) {
      const s: Scenario = { cfg: { ...TINY, depth: 3 }, batch: 1, steps: 8, sampler: 'ddim', seed, weightSeed: seed + 10, cfgScale: 3 };
      const run = sinceComputeRun(s, threshold);
      const { plan } = compile(run.graph, run.schedule, { steps: s.steps, batch: 1, sampler: 'ddim', caps: LAVAPIPE_CAPS, cfgScale: 3 });
      const got = runPlanOnCpu(plan, run.weights, { seed: s.seed, classes: run.classes });
      const rule = run.ref.stats.dynamic[0]!;
      expect(got.dynamic?.map((d) => [d.reusedSteps, d.uncond?.reusedSteps]), traceOf(run.ref)).toEqual([[rule.reused, rule.uncond!.reused]]);
      expect(maxRelativeError(got.latents.data, run.ref.latents.data), traceOf(run.ref)).toBeLessThan(1e-4);
      split += disagreements(tracesOf(run.ref));
    }
    expect(split).toBeGreaterThan(0);
  }, 600_000);
});

describe('per_branch with FasterCache CFG-Cache', () => {
  it('a per_branch first-block rule beside cfg_cache steps: plan on the CPU = reference (rel 1e-4), at several thresholds', () => {
    const base = cfgCacheSchedule(TINY.depth, { skipped: [2, 3, 5, 7, 8], low: 1.1, high: 1.2, boundary: 0.5, attnReuse: true });
    for (const threshold of [0.1, 0.3, 1]) {
      const fb = firstBlock(TINY.depth, CFG_CACHE_STEPS, threshold, 2, 2);
      // The signal is measured over both halves at every step, so each branch has its own.
      const schedule: ScheduleIR = { ...fb, dynamic: [{ ...fb.dynamic[0]!, perBranch: true }], table: fb.table.map((row, k) => ({ ...row, ...(base.table[k]!['out'] ? { out: base.table[k]!['out']! } : {}) })) };
      const s: Scenario = { cfg: TINY, batch: 2, steps: CFG_CACHE_STEPS, sampler: 'ddpm', seed: 1, weightSeed: 2, cfgScale: 3 };
      const err = cpuPlanError(s, schedule, LAVAPIPE_CAPS);
      expect(err, `threshold ${threshold}: max error ${err}`).toBeLessThan(1e-4);
    }
  }, 600_000);
});

describe('per_branch: bad uses are refused', () => {
  const graph = tinyGraph({ ...TINY, depth: 2 }, 1);
  const schedule = methodSchedule('teacache_branches', graph, 6, { c4: 0, c3: 0, c2: 1.5, c1: 0.8, c0: 0.01, threshold: 0.5 });

  const message = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      expect(isDittoError(e), String(e)).toBe(true);
      return (e as Error).message;
    }
    throw new Error('expected an error');
  };

  it('compiling without CFG names the rule and says it needs CFG', () => {
    expect(message(() => compile(graph, schedule, { steps: 6, batch: 1, sampler: 'ddim', caps: LAVAPIPE_CAPS }))).toMatch(/schedule 'teacache_branches': dynamic rule 0 \(rel_l1\(blocks\[0\]\.msa_in\) … per_branch\) keeps one decision per CFG branch, so it needs CFG/);
  });

  it('the reference refuses it without CFG too', () => {
    expect(message(() => sampleReference(graph, weightsFor(graph, 1), schedule, { sampler: 'ddim', classes: [1], seed: 1 }))).toMatch(/needs CFG/);
  });
});
