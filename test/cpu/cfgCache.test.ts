/**
 * FasterCache's CFG-Cache (`cfg_cache`): the band split and the compounding weights are one
 * definition in compiler/ir/rules.ts; the reference executor sets the unconditional half from it,
 * and a compiled plan, run by the CPU plan interpreter, stores the bands with a lowpass dispatch
 * where both halves compute and runs only the conditional half of the network where it does not —
 * the same latents over random small DiTs, step patterns, weights, DDPM and DDIM.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/pipeline.ts';
import { HARDWARE_CAPS, LAVAPIPE_CAPS } from '../../compiler/plan/caps.ts';
import { computeEverything, type ScheduleIR } from '../../compiler/ir/schedule.ts';
import { cfgBands, cfgCacheWeights, lowpassPlanes, lowpassRadius, uncondFromBands } from '../../compiler/ir/rules.ts';
import { runPlanOnCpu } from '../../runtime/cpu/planInterpreter.ts';
import { sampleReference } from '../../runtime/reference/sample.ts';
import { classesFor, cpuPlanError, maxRelativeError, TINY, tinyGraph, weightsFor, type Scenario } from '../runtime/harness.ts';
import { CFG_CACHE_STEPS, cfgCacheCaseArb, cfgCacheSchedule, configArb, firstBlock } from '../helpers/randomSchedules.ts';

const cached = (low: number, high: number, boundary: number) => ({ kind: 'cfg_cache', low, high, boundary });

describe('the CFG-Cache definition (compiler/ir/rules.ts)', () => {
  it('the bands split uncond − cond: low is the DFT definition of the disc, low + high = Δ', () => {
    fc.assert(
      fc.property(fc.constantFrom([1, 8, 8], [2, 5, 7], [1, 16, 16]), fc.integer({ min: 0, max: 1000 }), ([P, H, W], seed) => {
        const n = P! * H! * W!;
        const rnd = (s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + s * 78.233) * 2);
        const u = rnd(seed);
        const c = rnd(seed + 1);
        const { low, high } = cfgBands(u, c, H!, W!);
        const delta = Float32Array.from(u, (v, i) => Math.fround(v - c[i]!));
        expect(low).toAllClose(Float32Array.from(lowpassPlanes(delta, H!, W!, lowpassRadius(H!, W!))), { atol: 1e-4, rtol: 1e-4 });
        for (let i = 0; i < n; i++) expect(low[i]! + high[i]!).toBeCloseTo(delta[i]!, 5);
        // With both weights 1 the unconditional output is recovered.
        for (let i = 0; i < n; i++) expect(uncondFromBands(c[i]!, low[i]!, high[i]!, { low: 1, high: 1 })).toBeCloseTo(u[i]!, 4);
      }),
      { numRuns: 20, seed: 20261202 },
    );
  });

  it('the weights compound per cfg_cache step since the last compute: ×low while t > boundary, ×high after', () => {
    const S = 10;
    // t = (S − 1 − k)/S: 0.9 … 0; boundary 0.5 puts steps 0–3 early (t > 0.5), 4–9 late (t = 0.5 at k = 4).
    const acts = Array.from({ length: S }, (_, k) => ([1, 2, 4, 5, 6, 9].includes(k) ? cached(2, 3, 0.5) : { kind: 'compute' }));
    expect(cfgCacheWeights(acts)).toEqual([undefined, { low: 2, high: 1 }, { low: 4, high: 1 }, undefined, { low: 1, high: 3 }, { low: 1, high: 9 }, { low: 1, high: 27 }, undefined, undefined, { low: 1, high: 3 }]);
    // A run across the boundary keeps the low band's growth and starts the high band's.
    const across = Array.from({ length: S }, (_, k) => (k >= 2 && k <= 5 ? cached(2, 3, 0.5) : { kind: 'compute' }));
    expect(cfgCacheWeights(across).slice(2, 6)).toEqual([{ low: 2, high: 1 }, { low: 4, high: 1 }, { low: 4, high: 3 }, { low: 4, high: 9 }]);
  });
});

describe('the plan runs only the conditional half at a cfg_cache step', () => {
  const graph = tinyGraph(TINY, 4);
  const schedule = cfgCacheSchedule(TINY.depth, { skipped: [2, 3, 5], low: 1.1, high: 1.1, boundary: 0.5, attnReuse: false });
  const { plan } = compile(graph, schedule, { steps: CFG_CACHE_STEPS, batch: 2, sampler: 'ddpm', caps: HARDWARE_CAPS, cfgScale: 2 });
  const families = (k: number) => plan.bodies[plan.stepBody[k]!]!.dispatches.map((d) => plan.kernels[d.kernel]!);

  it('every token matmul at half the rows, no lowpass; the step before stores the bands with one lowpass dispatch', () => {
    const tokenRows = (k: number) => families(k).filter((kn) => kn.family === 'matmul').map((kn) => (kn.config as { M: number }).M).filter((M) => M >= 16);
    expect(new Set(tokenRows(0))).toEqual(new Set([4 * 16]));
    expect(new Set(tokenRows(2))).toEqual(new Set([2 * 16]));
    expect(families(2).filter((kn) => kn.family === 'attention')).toHaveLength(TINY.depth);
    expect(families(2).some((kn) => kn.family === 'lowpass')).toBe(false);
    // Step 1 computes both halves and is followed by a cfg_cache step: it stores the bands.
    expect(families(1).filter((kn) => kn.family === 'lowpass')).toHaveLength(1);
    // Step 3 is followed by a compute (4): nothing to store; step 4 stores for step 5.
    expect(families(3).some((kn) => kn.family === 'lowpass')).toBe(false);
    expect(families(4).filter((kn) => kn.family === 'lowpass')).toHaveLength(1);
    expect(families(0).some((kn) => kn.family === 'lowpass')).toBe(false);
  });

  it('is priced at about half a step', () => {
    const [full, half] = [plan.cost.perStep[0]!.flops, plan.cost.perStep[2]!.flops];
    expect(half / full).toBeGreaterThan(0.45);
    expect(half / full).toBeLessThan(0.55);
    expect(plan.cost.flopsRatio).toBeLessThan(1);
    expect(plan.heatmap.uncond[2]).toMatch(/^d+b$/);
  });

  it('needs classifier-free guidance: without it the schedule is refused by name', () => {
    const g1 = tinyGraph(TINY, 2);
    expect(() => compile(g1, schedule, { steps: CFG_CACHE_STEPS, batch: 2, sampler: 'ddpm', caps: HARDWARE_CAPS })).toThrow(/schedule 'cfg_cache': it takes the unconditional output from the conditional one \(`cfg_cache`, step 2\), but this run has no classifier-free guidance/);
    expect(() => sampleReference(g1, weightsFor(g1, 1), schedule, { sampler: 'ddpm', classes: [0, 1], seed: 1 })).toThrow(/no classifier-free guidance/);
  });

  it('refuses a Schedule IR that puts cfg_cache on the conditional half or on another node', () => {
    const bad = (row: ScheduleIR['table'][number]): ScheduleIR => ({ ...computeEverything('DiT', 3), name: 'bad', table: [{}, row, {}] });
    const opts = { steps: 3, batch: 2, sampler: 'ddim' as const, caps: HARDWARE_CAPS, cfgScale: 2 };
    expect(() => compile(graph, bad({ out: { cond: cached(1, 1, 0.5) as never, uncond: { kind: 'compute' } } }), opts)).toThrow(/applies to the `uncond` branch only/);
    expect(() => compile(graph, bad({ 'blocks[0].attn': { cond: { kind: 'compute' }, uncond: cached(1, 1, 0.5) as never } }), opts)).toThrow(/`cfg_cache` applies to the model output `out`, not to `blocks\[0\].attn`/);
    expect(() => compile(graph, bad({ out: { cond: { kind: 'compute' }, uncond: cached(0, 1, 0.5) as never } }), opts)).toThrow(/growths of `cfg_cache` must be finite numbers > 0/);
  });
});

describe('plan on the CPU ≡ reference executor, CFG-Cache', () => {
  it('over random small DiTs, step patterns, weights, with and without attention reuse (rel 1e-4)', () => {
    fc.assert(
      fc.property(configArb, cfgCacheCaseArb, fc.integer({ min: 1, max: 2 }), fc.constantFrom(HARDWARE_CAPS, LAVAPIPE_CAPS), (cfg, r, batch, caps) => {
        const s: Scenario = { cfg, batch, steps: CFG_CACHE_STEPS, sampler: r.sampler, seed: r.seed, weightSeed: r.seed + 1, cfgScale: 2.5 };
        const err = cpuPlanError(s, cfgCacheSchedule(cfg.depth, r), caps);
        expect(err, `max error ${err} relative to the result's scale`).toBeLessThan(1e-4);
      }),
      { numRuns: 12, seed: 20261202, endOnFailure: true },
    );
  }, 600_000);

  it('with a dynamic rule on the blocks, and with the conditional output reused at a cfg_cache step (rel 1e-4)', () => {
    const base = cfgCacheSchedule(TINY.depth, { skipped: [2, 3, 5, 7, 8], low: 1.1, high: 1.2, boundary: 0.5, attnReuse: true });
    const fb = firstBlock(TINY.depth, CFG_CACHE_STEPS, 0.3, 2, 2);
    // The rule's signal is measured over the whole batch, so it stays live in the unconditional half.
    const dynamic: ScheduleIR = { ...fb, table: fb.table.map((row, k) => ({ ...row, ...(base.table[k]!['out'] ? { out: base.table[k]!['out']! } : {}) })) };
    const condReuse: ScheduleIR = { ...base, table: base.table.map((row, k) => (k === 3 ? { ...row, out: { cond: { kind: 'reuse' }, uncond: row['out']!.uncond } } : row)) };
    for (const schedule of [dynamic, condReuse]) {
      const s: Scenario = { cfg: TINY, batch: 2, steps: CFG_CACHE_STEPS, sampler: 'ddpm', seed: 1, weightSeed: 2, cfgScale: 3 };
      const err = cpuPlanError(s, schedule, LAVAPIPE_CAPS);
      expect(err, `${schedule.name}: max error ${err}`).toBeLessThan(1e-4);
    }
  }, 600_000);

  it('what the bands give matters: the plan is far closer to the reference than to computing both halves', () => {
    const s: Scenario = { cfg: TINY, batch: 1, steps: CFG_CACHE_STEPS, sampler: 'ddim', seed: 3, weightSeed: 5, cfgScale: 4 };
    const graph = tinyGraph(TINY, 2);
    const weights = weightsFor(graph, s.weightSeed);
    const schedule = cfgCacheSchedule(TINY.depth, { skipped: [2, 4, 5, 7], low: 1.3, high: 0.8, boundary: 0.5, attnReuse: false });
    const run = (sch: ScheduleIR) => runPlanOnCpu(compile(graph, sch, { steps: s.steps, batch: 1, sampler: 'ddim', caps: HARDWARE_CAPS, cfgScale: 4 }).plan, weights, { seed: s.seed, classes: classesFor(s) }).latents;
    const want = sampleReference(graph, weights, schedule, { sampler: 'ddim', classes: classesFor(s), seed: s.seed, cfgScale: 4 }).latents;
    const same = maxRelativeError(run(schedule).data, want.data);
    const all = maxRelativeError(run(computeEverything('DiT', s.steps)).data, want.data);
    expect(same).toBeLessThan(1e-5);
    expect(all).toBeGreaterThan(100 * same);
  }, 600_000);
});
