/** The plan format: FLOPs ratio of the released EB-Cache table, sampler data, and the load-time schema check. */
import { describe, expect, it } from 'vitest';
import { DittoError } from '../../core/errors.ts';
import { compile } from '../../compiler/pipeline.ts';
import { loadPlan } from '../../compiler/plan/load.ts';
import { planSummary } from '../../compiler/plan/summary.ts';
import { buildDiTGraph, DIT_XL_2, TINY_DIT } from '../helpers/ditGraph.ts';
import { ebcache, EBCACHE_TABLE_SAMPLING_ORDER, fora } from './schedules.ts';

describe('cost model', () => {
  it('predicts the FLOPs ratio 0.681 of the released EB-Cache table on DiT-XL/2 at 50 steps', () => {
    expect(EBCACHE_TABLE_SAMPLING_ORDER).toHaveLength(50);
    expect(EBCACHE_TABLE_SAMPLING_ORDER.filter((c) => c === 0)).toHaveLength(34);
    const { plan } = compile(buildDiTGraph(DIT_XL_2, 2), ebcache(28), { steps: 50, cfgScale: 1.5, batch: 1 });
    expect(plan.cost.flopsRatio).toBeCloseTo(0.681, 2);
    expect(plan.cost.predictedSpeedup).toBeGreaterThan(1.2);
    // A full forward is ~118.6 GMACs per sample and branch (docs/ebcache.md "Cost"): 2 × 2 × 118.6 GFLOPs here.
    expect(plan.cost.allCompute.flops / 4e9).toBeCloseTo(118.6, 0);
    expect(plan.bodies).toHaveLength(3); // compute, compute-and-store, reuse
    // Cache: attn + mlp of 28 blocks, [2, 256, 1152] f32 each (docs/ebcache.md "What is cached": ≈ 132 MB).
    expect(plan.cost.memory.cache).toBe(2 * 28 * 2 * 256 * 1152 * 4);
    expect(plan.sampler.rows[0]![plan.sampler.fields.indexOf('t_model')]).toBe(999);
    expect(plan.sampler.rows[49]![plan.sampler.fields.indexOf('noise_flag')]).toBe(0);
    expect(plan.sampler.rows[10]![plan.sampler.fields.indexOf('eps_scale')]).toBeCloseTo(1 / 0.965, 12);
  });
});

describe('loadPlan', () => {
  const plan = compile(buildDiTGraph(TINY_DIT, 2), fora(TINY_DIT.depth, 4, 2), { steps: 4, cfgScale: 1.5, batch: 1 }).plan;
  const text = JSON.stringify(plan);
  const broken = (f: (p: any) => void) => {
    const p = JSON.parse(text);
    f(p);
    return JSON.stringify(p);
  };
  const error = (json: string) => {
    try {
      loadPlan(json);
    } catch (e) {
      expect(e).toBeInstanceOf(DittoError);
      expect((e as DittoError).code).toBe('E_PLAN');
      return (e as DittoError).message;
    }
    throw new Error('loadPlan accepted a broken plan');
  };

  it('round-trips a compiled plan', () => {
    expect(loadPlan(text)).toEqual(plan);
    expect(planSummary(loadPlan(text)).dispatchesPerStep).toHaveLength(4);
  });

  it('names the field that is wrong', () => {
    expect(error('{')).toMatch(/not valid JSON/);
    expect(error(broken((p) => (p.format = 'other')))).toMatch(/format/);
    expect(error(broken((p) => (p.version = 2)))).toMatch(/version is 2.*recompile/);
    expect(error(broken((p) => (p.bodies[0].dispatches[1].kernel = 999)))).toMatch(/bodies\[0\]\.dispatches\[1\]\.kernel/);
    expect(error(broken((p) => p.stepBody.pop()))).toMatch(/stepBody has 3 entries/);
    expect(error(broken((p) => (p.bodies[1].dispatches[0].bindings[0].buffer = -1)))).toMatch(/bodies\[1\]\.dispatches\[0\]\.bindings\[0\]\.buffer/);
    expect(error(broken((p) => delete p.sampler))).toMatch(/sampler must be an object/);
  });
});
