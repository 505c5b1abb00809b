/**
 * DBCache, TeaCache and EasyCache (models/schedules/) compiled and run by the CPU plan interpreter against the
 * reference executor: random small DiTs, seeds, CFG on and off, DDPM and DDIM. The plan must take
 * the reference's decisions (its counters equal the reference's reuses) and give its latents up to
 * f32 rounding. MagCache resolves to a static table: its decisions are checked against the
 * definition directly.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/pipeline.ts';
import { LAVAPIPE_CAPS } from '../../compiler/plan/caps.ts';
import { interpolateCurve, magnitudeSkips } from '../../compiler/ir/rules.ts';
import { parseMagnitudeCurve } from '../../compiler/schedule/magnitudeRule.ts';
import { runPlanOnCpu } from '../../runtime/cpu/planInterpreter.ts';
import { maxRelativeError, TINY, tinyGraph, type Scenario } from '../runtime/harness.ts';
import { methodRun, methodSchedule, traceOf, type Method } from './methods.ts';

const scenario = fc.record({
  depth: fc.integer({ min: 3, max: 4 }),
  seed: fc.integer({ min: 0, max: 1000 }),
  weightSeed: fc.integer({ min: 0, max: 1000 }),
  cfg: fc.boolean(),
  sampler: fc.constantFrom<'ddpm' | 'ddim'>('ddpm', 'ddim'),
  q: fc.constantFrom(0.3, 0.5, 0.7),
});

describe('cache methods: plan on the CPU = reference executor', () => {
  for (const method of ['dbcache', 'teacache', 'easycache'] as const satisfies readonly Method[]) {
    it(`${method}: same decisions and latents over random DiTs, seeds, CFG, samplers`, () => {
      let reused = 0;
      let computed = 0;
      fc.assert(
        fc.property(scenario, (p) => {
          const s: Scenario = { cfg: { ...TINY, depth: p.depth }, batch: 1, steps: 8, sampler: p.sampler, seed: p.seed, weightSeed: p.weightSeed, ...(p.cfg ? { cfgScale: 3 } : {}) };
          const run = methodRun(method, s, p.q);
          const { plan } = compile(run.graph, run.schedule, { steps: s.steps, batch: s.batch, sampler: s.sampler, caps: LAVAPIPE_CAPS, ...(s.cfgScale !== undefined ? { cfgScale: s.cfgScale } : {}) });
          const got = runPlanOnCpu(plan, run.weights, { seed: s.seed, classes: run.classes });
          const rule = run.ref.stats.dynamic[0]!;
          expect(got.dynamic?.map((d) => [d.reusedSteps, d.computedSteps]), traceOf(run.ref)).toEqual([[rule.reused, rule.computed]]);
          expect(maxRelativeError(got.latents.data, run.ref.latents.data), traceOf(run.ref)).toBeLessThan(1e-4);
          reused += rule.reused;
          computed += rule.computed;
        }),
        { numRuns: 6, seed: { dbcache: 11, teacache: 12, easycache: 13 }[method] },
      );
      expect(reused).toBeGreaterThan(0);
      expect(computed).toBeGreaterThan(0);
    }, 900_000);
  }

  it('dbcache computes the first Fn and last Bn blocks at every step, and every period-th step whatever the signal', () => {
    const graph = tinyGraph({ ...TINY, depth: 4 }, 1);
    const s = methodSchedule('dbcache', graph, 12, { Fn: 1, Bn: 1, threshold: 0.1, period: 3 });
    for (let k = 0; k < 12; k++) {
      const row = s.table[k]!;
      expect(row['blocks[0]']).toBeUndefined();
      expect(row['blocks[3]']).toBeUndefined();
      for (const b of ['blocks[1]', 'blocks[2]']) expect(row[b]?.cond.kind ?? 'compute').toBe(k % 3 === 0 ? 'compute' : 'dynamic');
    }
    expect(s.dynamic[0]).toMatchObject({ signal: 'blocks[0].residual', against: 'compute' });
    // The plan's heatmap marks the middle blocks' work at the rule's steps as decided on the GPU.
    const { plan } = compile(graph, s, { steps: 12, batch: 1, sampler: 'ddim', caps: LAVAPIPE_CAPS });
    const row = plan.heatmap.rows.findIndex((r) => r.label === 'blocks[1]');
    const first = plan.heatmap.rows.findIndex((r) => r.label === 'blocks[0].attn');
    expect(plan.heatmap.cond.map((c) => c[row])).toEqual(Array.from({ length: 12 }, (_, k) => (k % 3 === 0 ? 'c' : 'y')));
    expect(plan.heatmap.cond.every((c) => c[first] === 'c')).toBe(true);
  });

  it('easycache decides the whole stack after warm-up; its rate is measured after the stack, on the compute path where the rule decides', () => {
    const graph = tinyGraph({ ...TINY, depth: 3 }, 2);
    const S = 10;
    const s = methodSchedule('easycache', graph, S, { R: 3, threshold: 0.2 });
    expect(s.dynamic[0]).toMatchObject({ metric: 'transform_rate', signal: 'blocks[0..3].residual', then: 'reuse_residual' });
    for (let k = 0; k < S; k++) for (const b of ['blocks[0]', 'blocks[1]', 'blocks[2]']) expect(s.table[k]![b]?.cond.kind ?? 'compute').toBe(k >= 3 && k < S - 1 ? 'dynamic' : 'compute');
    const { plan } = compile(graph, s, { steps: S, batch: 1, sampler: 'ddpm', cfgScale: 3, caps: LAVAPIPE_CAPS });
    expect(plan.dynamic!.rules[0]!.metric).toBe('transform_rate');
    plan.stepBody.forEach((body, k) => {
      const rate = plan.bodies[body]!.dispatches.filter((d) => plan.kernels[d.kernel]!.key.startsWith('dynamic_rate'));
      expect(rate, `step ${k}`).toHaveLength(1);
      expect(rate[0]!.guard?.when, `step ${k}`).toBe(k >= 3 && k < S - 1 ? 'compute' : undefined);
    });
  });

  it('magcache resolves to the static skips of the definition, per branch, from the interpolated curve', () => {
    const graph = tinyGraph(TINY, 2);
    const parsed = parseMagnitudeCurve(readFileSync(fileURLToPath(new URL('../../models/schedules/magcache-fmnist.json', import.meta.url)), 'utf8'));
    if (typeof parsed === 'string') throw new Error(parsed);
    const curve = parsed;
    for (const steps of [10, 20, 37]) {
      for (const [threshold, K, retention] of [[0.06, 2, 0.2], [0.5, 3, 0.1], [0.01, 1, 0]] as const) {
        const s = methodSchedule('magcache', graph, steps, { threshold, K, retention });
        for (const b of ['cond', 'uncond'] as const) {
          const want = magnitudeSkips(interpolateCurve((b === 'uncond' ? curve.uncond : undefined) ?? curve.cond, steps), { threshold, maxSkips: K, retention }, Array.from({ length: steps }, () => true));
          expect(s.table.map((row) => row['blocks[0]']?.[b].kind === 'reuse_residual')).toEqual(want);
        }
        const want = magnitudeSkips(interpolateCurve(curve.cond, steps), { threshold, maxSkips: K, retention }, Array.from({ length: steps }, () => true));
        expect(want[0]).toBe(false);
        let run = 0;
        for (const w of want) {
          run = w ? run + 1 : 0;
          expect(run).toBeLessThanOrEqual(K);
        }
      }
    }
  });
});
