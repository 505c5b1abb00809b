/**
 * Dynamic rules in the compiler (no GPU): the structure of a dynamic step body — block 0, then one
 * dynamic_decide dispatch, then the compute path and the reuse path of blocks[1..] as indirect
 * dispatches whose argument triples the decide kernel writes — and the plan fields the runtime
 * reads (state buffer, reuse counter, indirect args buffer).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ScheduleIR } from '../../compiler/ir/schedule.ts';
import { compile } from '../../compiler/pipeline.ts';
import { LAVAPIPE_CAPS } from '../../compiler/plan/caps.ts';
import { loadPlan } from '../../compiler/plan/load.ts';
import type { Plan, PlanDispatch } from '../../compiler/plan/types.ts';
import { DittoError } from '../../core/errors.ts';
import { tensor } from '../../core/tensor.ts';
import { formatRunSummary, runSummary } from '../../cli/runSummary.ts';
import { planWorkStats } from '../../runtime/run/stats.ts';
import { firstBlock, tinyDit } from './helpers.ts';

const family = (plan: Plan, d: PlanDispatch) => plan.kernels[d.kernel]!.family;
const isDecide = (plan: Plan, d: PlanDispatch) => family(plan, d) === 'dynamic_decide';
const coversBlock = (plan: Plan, d: PlanDispatch, i: number) => d.covers.some((c) => plan.nodes[c]!.path?.startsWith(`blocks[${i}]`));

function compileFirstBlock(steps: number, p: { threshold: number; warm: number; most: number }, cfg = true) {
  const graph = tinyDit(cfg ? 2 : 1);
  const schedule = firstBlock(graph, steps, p);
  return { schedule, plan: compile(graph, schedule, { steps, batch: 1, ...(cfg ? { cfgScale: 4 } : {}), caps: LAVAPIPE_CAPS }).plan };
}

/** Checks every structural promise of a dynamic plan; returns the guarded dispatches per step. */
function checkStructure(plan: Plan, schedule: ScheduleIR): PlanDispatch[][] {
  const dyn = plan.dynamic!;
  expect(dyn).not.toBeNull();
  expect(plan.buffers[dyn.state]!.kind).toBe('dynamic');
  expect(dyn.rules).toHaveLength(1);
  // The prologue resets the state: each run decides afresh.
  expect(plan.prologue.dispatches.filter((d) => isDecide(plan, d))).toHaveLength(1);
  return plan.stepBody.map((bi, k) => {
    const ds = plan.bodies[bi]!.dispatches;
    const decide = ds.map((d, j) => (isDecide(plan, d) ? j : -1)).filter((j) => j >= 0);
    expect(decide).toHaveLength(1);
    const at = decide[0]!;
    // Block 0 (the signal) runs before the decision, unconditionally; nothing guarded runs before it.
    ds.forEach((d, j) => {
      if (coversBlock(plan, d, 0) && !isDecide(plan, d)) expect(j).toBeLessThan(at);
      if (d.guard) expect(j).toBeGreaterThan(at);
      if (coversBlock(plan, d, 0)) expect(d.guard).toBeUndefined();
    });
    const guarded = ds.filter((d) => d.guard);
    for (const d of ds) expect(d.indirect !== undefined).toBe(d.guard !== undefined);
    // Distinct argument triples inside the args buffer.
    const offsets = guarded.map((d) => d.indirect!.offset);
    expect(new Set(offsets).size).toBe(offsets.length);
    for (const d of guarded) {
      const buf = plan.buffers[d.indirect!.buffer]!;
      expect(buf.kind).toBe('indirect');
      expect(d.indirect!.offset + 12).toBeLessThanOrEqual(buf.bytes);
      expect(d.indirect!.offset % 4).toBe(0);
    }
    // The decide kernel writes each guarded dispatch's real workgroup counts on its own path, zeros on the other.
    const wgsl = plan.kernels[ds[at]!.kernel]!.wgsl;
    for (const d of guarded) {
      const slot = d.indirect!.offset / 12;
      const on = d.guard!.when === 'compute' ? '!reuse' : 'reuse';
      d.workgroups.forEach((w, a) => expect(wgsl).toContain(`args[${3 * slot + a}u] = select(0, ${w}, ${on});`));
    }
    const used = Object.values(schedule.table[k]!).some((a) => a.cond.kind === 'dynamic');
    expect(wgsl).toContain(`let reuse = ${used ? 'true' : 'false'} &&`);
    return guarded;
  });
}

describe('dynamic rules compile to GPU-side decisions', () => {
  const { schedule, plan } = compileFirstBlock(6, { threshold: 0.5, warm: 1, most: 2 });

  it('compiles first_block (no longer E_CHECK) and the plan passes the schema check', () => {
    expect(loadPlan(JSON.parse(JSON.stringify(plan)))).toEqual(plan);
    expect(plan.dynamic!.rules[0]).toMatchObject({ rule: 0, signal: 'blocks[0].h', threshold: 0.5, warmup: 1, maxConsecutive: 2, then: 'reuse_residual', usedSteps: 6 });
    expect(plan.dynamic!.rules[0]!.reusedSteps).toBe(plan.dynamic!.rules[0]!.stateOffset + 4 * plan.dynamic!.stateFields.indexOf('reused'));
  });

  it('dynamic steps carry both paths: blocks[1] computed (and its residual stored) or input + stored residual', () => {
    const guarded = checkStructure(plan, schedule);
    // Step 0 always computes (no previous signal): no guarded work there.
    expect(guarded[0]).toHaveLength(0);
    for (let k = 1; k < 6; k++) {
      const compute = guarded[k]!.filter((d) => d.guard!.when === 'compute');
      const reuse = guarded[k]!.filter((d) => d.guard!.when === 'reuse');
      expect(compute.length).toBeGreaterThan(0);
      expect(compute.some((d) => coversBlock(plan, d, 0))).toBe(false);
      const named = new Set(compute.flatMap((d) => d.covers.map((c) => plan.nodes[c]!.path)));
      for (const n of ['blocks[1].qkv', 'blocks[1].attn', 'blocks[1].mlp', 'blocks[1].h']) expect(named).toContain(n);
      expect(compute.map((d) => family(plan, d))).toEqual(expect.arrayContaining(['matmul', 'attention', 'layernorm_modulate']));
      expect(reuse.map((d) => d.role)).toEqual(['residual']);
      expect(reuse[0]!.cacheReads).toEqual(['cache:blocks[1]:res']);
      // The residual store is part of the compute path: skipped when the step reuses. No store at the last step.
      const stores = compute.filter((d) => d.role === 'cache_write');
      expect(stores.map((d) => d.cacheWrites)).toEqual(k < 5 ? [['cache:blocks[1]:res']] : []);
    }
  });

  it('the cost model counts a dynamic step on its compute path', () => {
    const body = plan.bodies[plan.stepBody[3]!]!;
    const computeFlops = body.dispatches.filter((d) => d.guard?.when !== 'reuse').reduce((a, d) => a + d.flops, 0);
    expect(plan.cost.perStep[3]!.flops).toBe(computeFlops);
    expect(plan.cost.flopsRatio).toBeGreaterThanOrEqual(1);
  });

  it('holds for random thresholds, warm-ups, limits, step counts, with and without CFG', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 10 }), fc.double({ min: 0.01, max: 3, noNaN: true }), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 4 }), fc.boolean(),
        (steps, threshold, warm, most, cfg) => {
          const w = Math.min(warm, steps);
          const { schedule: s, plan: p } = compileFirstBlock(steps, { threshold, warm: w, most }, cfg);
          const guarded = checkStructure(p, s);
          guarded.forEach((g, k) => expect(g.length > 0).toBe(k > 0));
        },
      ),
      { numRuns: 12 },
    );
  });

  it('a plan with a broken indirect dispatch is an E_PLAN error naming the field', () => {
    const bi = plan.stepBody[2]!;
    const j = plan.bodies[bi]!.dispatches.findIndex((d) => d.indirect);
    const broken = JSON.parse(JSON.stringify(plan));
    broken.bodies[bi].dispatches[j].indirect.buffer = plan.dynamic!.state;
    expect(() => loadPlan(broken)).toThrow(/indirect\.buffer.*kind 'indirect'/);
    const noRule = JSON.parse(JSON.stringify(plan));
    noRule.dynamic.rules[0].reusedSteps = 10_000;
    expect(() => loadPlan(noRule)).toThrow(DittoError);
  });
});

describe('the run summary reports the GPU decisions', () => {
  it('prints how many steps reused and computed, per rule, and carries them in --json', () => {
    const { plan } = compileFirstBlock(6, { threshold: 0.5, warm: 1, most: 2 });
    const dynamic = [{ rule: 0, signal: 'blocks[0].h', threshold: 0.5, reusedSteps: 2, computedSteps: 4 }];
    const out = { latents: tensor([1, 4, 8, 8], new Float32Array(256)), classes: [0], seconds: 1, work: planWorkStats(plan), dynamic };
    const summary = runSummary(plan, out, { outputs: {}, adapter: 'test' });
    expect(summary.dynamic).toEqual(dynamic);
    expect(formatRunSummary(summary)).toContain('dynamic    rule 0 (rel_l1(blocks[0].h) < 0.5): 2 steps reused, 4 computed (decided on the GPU)');
    const { dynamic: _d, ...staticOut } = out;
    expect(runSummary(plan, staticOut, { outputs: {}, adapter: 'test' }).dynamic).toBeUndefined();
  });
});

describe('dynamic rules the compiler rejects', () => {
  const graph = tinyDit(2);
  const base = firstBlock(graph, 4, { threshold: 0.5, warm: 1, most: 2 });
  const code = (s: ScheduleIR) => {
    try {
      compile(graph, s, { steps: 4, batch: 1, cfgScale: 4, caps: LAVAPIPE_CAPS });
    } catch (e) {
      expect(e).toBeInstanceOf(DittoError);
      return `${(e as DittoError).code}: ${(e as DittoError).message}`;
    }
    return 'compiled';
  };

  it('a rule whose targets come before its signal', () => {
    const s: ScheduleIR = {
      ...base,
      dynamic: [{ ...base.dynamic[0]!, signal: 'blocks[1].h' }],
      table: base.table.map(() => ({ 'blocks[0]': { cond: { kind: 'dynamic', rule: 0 }, uncond: { kind: 'dynamic', rule: 0 } } })),
    };
    // Caught by the schedule check (the signal depends on a target) before the lowering's own check.
    expect(code(s)).toMatch(/^E_CHECK: .*signal `blocks\[1\]\.h` of dynamic rule 0 depends on `blocks\[0\]`, which is not computed at step 0 \(cond\); a signal must be computed at every step/);
  });

  it('CFG branches following different rules, a signal that is not a node, a signal that is reused', () => {
    const mixed: ScheduleIR = { ...base, table: base.table.map(() => ({ 'blocks[1]': { cond: { kind: 'dynamic', rule: 0 }, uncond: { kind: 'compute' } } })) };
    expect(code(mixed)).toMatch(/^E_CHECK: .*both branches must follow the same dynamic rule/);
    expect(code({ ...base, dynamic: [{ ...base.dynamic[0]!, signal: 'blocks[9].h' }] })).toMatch(/^E_CHECK: .*signal `blocks\[9\]\.h` of dynamic rule 0 is neither/);
    const reusedSignal: ScheduleIR = { ...base, table: base.table.map((row, k) => (k === 2 ? { ...row, 'blocks[0]': { cond: { kind: 'reuse_residual' }, uncond: { kind: 'reuse_residual' } } } : row)) };
    expect(code(reusedSignal)).toMatch(/^E_CHECK: .*a signal must be computed at every step/);
  });
});
