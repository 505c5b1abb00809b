/**
 * Token-level caching (`compute tokens(f, by = …)`): the selection is one definition in
 * compiler/ir/rules.ts (TokenHistory), the reference executor keeps the chosen rows of a full
 * compute, and a compiled plan run by the CPU plan interpreter gathers those rows, runs the MLP on
 * them only and scatters them into the cache — the same latents over random small DiTs, fractions,
 * orders, full-compute patterns, CFG on and off (branches alike and different), DDPM and DDIM.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/pipeline.ts';
import { HARDWARE_CAPS, LAVAPIPE_CAPS } from '../../compiler/plan/caps.ts';
import { computeEverything, type ScheduleIR } from '../../compiler/ir/schedule.ts';
import { mergeTokens, tokenCount, TokenHistory, tokenRanks } from '../../compiler/ir/rules.ts';
import { tokenCone } from '../../compiler/ir/tokenCone.ts';
import { nodeByPath } from '../../compiler/ir/graph.ts';
import { runPlanOnCpu } from '../../runtime/cpu/planInterpreter.ts';
import { sampleReference } from '../../runtime/reference/sample.ts';
import { classesFor, cpuPlanError, maxRelativeError, TINY, tinyGraph, weightsFor, type Scenario } from '../runtime/harness.ts';
import { configArb, TOKENS_STEPS, tokensCaseArb, tokensSchedule } from '../helpers/randomSchedules.ts';

describe('token selection (compiler/ir/rules.ts)', () => {
  it('staleness: the tokens computed longest ago, round-robin after a full compute', () => {
    const h = new TokenHistory(16);
    h.computeAll(0);
    expect(h.select(1, 0.25, { form: 'staleness' })).toEqual([0, 1, 2, 3]);
    expect(h.select(2, 0.25, { form: 'staleness' })).toEqual([4, 5, 6, 7]);
    expect(h.select(3, 0.5, { form: 'staleness' })).toEqual([8, 9, 10, 11, 12, 13, 14, 15]);
    expect(h.select(4, 0.25, { form: 'staleness' })).toEqual([0, 1, 2, 3]);
    h.computeAll(5);
    expect(h.select(6, 0.1, { form: 'staleness' })).toEqual([0, 1]);
  });

  it('cluster(s) with fraction 1/s²: one token per s×s patch per step, each patch position in turn', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), (s, mult) => {
        const g = s * mult;
        const h = new TokenHistory(g * g);
        h.computeAll(0);
        const seen = new Set<number>();
        for (let step = 1; step <= s * s; step++) {
          const chosen = h.select(step, 1 / (s * s), { form: 'cluster', size: s });
          expect(chosen).toHaveLength(mult * mult);
          const patches = new Set(chosen.map((t) => Math.floor(Math.floor(t / g) / s) * mult + Math.floor((t % g) / s)));
          expect(patches.size).toBe(mult * mult);
          const within = new Set(chosen.map((t) => (Math.floor(t / g) % s) * s + ((t % g) % s)));
          expect(within.size).toBe(1);
          for (const t of chosen) seen.add(t);
        }
        expect(seen.size).toBe(g * g);
      }),
      { numRuns: 50, seed: 20261202 },
    );
  });

  it('every token is recomputed within ⌈1/f⌉ partial computes, whatever the order', () => {
    fc.assert(
      fc.property(fc.double({ min: 0.02, max: 1, noNaN: true }), fc.constantFrom(2, 3, 4, 5), fc.integer({ min: 1, max: 5 }), (frac, g, size) => {
        const T = g * g;
        const by = size <= g ? { form: 'cluster' as const, size } : { form: 'staleness' as const };
        const h = new TokenHistory(T);
        h.computeAll(0);
        const rounds = Math.ceil(T / tokenCount(frac, T));
        for (let k = 1; k <= rounds; k++) {
          const chosen = h.select(k, frac, by);
          expect(chosen).toHaveLength(tokenCount(frac, T));
          expect([...chosen].sort((a, b) => a - b)).toEqual(chosen);
        }
        expect([...h.last].every((l) => l > 0)).toBe(true);
        expect(new Set(tokenRanks(by, T)).size).toBe(T);
      }),
      { numRuns: 200, seed: 20261202 },
    );
  });

  it('tokenCount is ⌈f·T⌉ within [1, T]; mergeTokens keeps the chosen rows of the fresh value', () => {
    expect([tokenCount(0.25, 16), tokenCount(0.3, 16), tokenCount(0.001, 16), tokenCount(1, 16)]).toEqual([4, 5, 1, 16]);
    const fresh = Float32Array.from({ length: 2 * 3 * 2 }, (_, i) => i + 100);
    const stored = new Float32Array(12);
    expect([...mergeTokens(fresh, stored, [1], 3, 2)]).toEqual([0, 0, 102, 103, 0, 0, 0, 0, 108, 109, 0, 0]);
  });

  it("DiT's MLP is token-wise (its cone: layernorm → modulate → fc1 → GELU → fc2); attention joins by its queries, reading qkv in full", () => {
    const g = tinyGraph(TINY, 2);
    const cone = tokenCone(g, nodeByPath(g, 'blocks[0].mlp')!.id);
    expect(typeof cone).not.toBe('string');
    if (typeof cone === 'string') return;
    expect(cone.nodes.map((id) => g.nodes[id]!.op.kind)).toEqual(['layernorm', 'modulate', 'linear', 'unary', 'linear']);
    expect(cone.gathered).toHaveLength(1);
    const attn = tokenCone(g, nodeByPath(g, 'blocks[0].attn')!.id);
    if (typeof attn === 'string') throw new Error(attn);
    expect(attn.nodes.map((id) => g.nodes[id]!.op.kind)).toEqual(['attention', 'linear']);
    expect(attn.gathered).toEqual([]);
    expect(attn.full.map((id) => g.nodes[id]!.path)).toEqual(['blocks[0].qkv']);
    const embed = g.nodes.find((n) => n.op.kind === 'patch_embed')!;
    expect(tokenCone(g, embed.id)).toMatch(/patch_embed, which is not token-wise/);
  });
});

describe('the cost model prices a partial compute by its fraction', () => {
  it('the MLP FLOPs of a partial step are n/T of a full step\'s (n = ⌈f·T⌉ rows)', () => {
    const graph = tinyGraph(TINY, 1);
    const stepFlops = (mlp: ScheduleIR['table'][number][string] | undefined) => {
      const base = computeEverything('DiT', 2);
      const row: Record<string, NonNullable<typeof mlp>> = {};
      for (let b = 0; b < TINY.depth; b++) {
        row[`blocks[${b}].attn`] = { cond: { kind: 'reuse' }, uncond: { kind: 'reuse' } };
        if (mlp) row[`blocks[${b}].mlp`] = mlp;
      }
      const plan = compile(graph, { ...base, table: [{}, row] }, { steps: 2, batch: 1, sampler: 'ddim', caps: HARDWARE_CAPS }).plan;
      return plan.cost.perStep[1]!.flops;
    };
    const reuse = stepFlops({ cond: { kind: 'reuse' }, uncond: { kind: 'reuse' } });
    const full = stepFlops(undefined);
    for (const [fraction, n] of [[0.25, 4], [0.5, 8], [0.3, 5], [1, 16]] as const) {
      const partial = stepFlops({ cond: { kind: 'tokens', fraction, by: { form: 'staleness' } }, uncond: { kind: 'compute' } });
      expect((partial - reuse) / (full - reuse), `fraction ${fraction}`).toBeCloseTo(n / 16, 6);
    }
  });
});

describe('plan on the CPU ≡ reference executor, partial computes', () => {
  it('over random small DiTs, fractions, orders and compute patterns (rel 1e-4)', () => {
    fc.assert(
      fc.property(configArb, tokensCaseArb, fc.constantFrom(HARDWARE_CAPS, LAVAPIPE_CAPS), (cfg, r, caps) => {
        const steps = TOKENS_STEPS;
        const schedule = tokensSchedule(cfg.depth, r);
        const s: Scenario = { cfg, batch: 1, steps, sampler: r.sampler, seed: r.seed, weightSeed: r.seed + 1, ...(r.cfg ? { cfgScale: 2.5 } : {}) };
        const err = cpuPlanError(s, schedule, caps);
        expect(err, `max error ${err} relative to the result's scale`).toBeLessThan(1e-4);
      }),
      { numRuns: 14, seed: 20261202, endOnFailure: true },
    );
  }, 600_000);

  it('the plan runs the MLP on the chosen rows only, and what it keeps matters', () => {
    const s: Scenario = { cfg: TINY, batch: 1, steps: 8, sampler: 'ddpm', seed: 3, weightSeed: 5, cfgScale: 1.5 };
    const graph = tinyGraph(TINY, 2);
    const weights = weightsFor(graph, s.weightSeed);
    const r = { fraction: 0.25, order: { form: 'cluster' as const, size: 2 }, computes: [4], attn: 'compute' as const, uncond: 'same' as const };
    const base = tokensSchedule(TINY.depth, r);
    const schedule: ScheduleIR = { ...base, steps: 8, table: base.table.slice(0, 8), epsScale: base.epsScale.slice(0, 8) };
    const { plan } = compile(graph, schedule, { steps: 8, batch: 1, sampler: 'ddpm', caps: HARDWARE_CAPS, cfgScale: 1.5 });
    // 16 tokens, 4 chosen, both CFG halves: fc1 and fc2 of every block run on 2·4 rows.
    const partialBody = plan.bodies[plan.stepBody[1]!]!;
    const fams = partialBody.dispatches.map((d) => plan.kernels[d.kernel]!);
    expect(fams.filter((kn) => kn.family === 'token_rows')).toHaveLength(2 * TINY.depth);
    const M = fams.filter((kn) => kn.family === 'matmul').map((kn) => (kn.config as { M: number }).M);
    expect(M.filter((m) => m === 8)).toHaveLength(2 * TINY.depth);
    expect(plan.cost.flopsRatio).toBeLessThan(1);
    // Attention computed on some tokens: the chosen queries against all 16 keys — per CFG half,
    // 8 for cond (tokens(0.5)) and 4 for uncond (the case's tokens(0.25)).
    const attnPlan = compile(graph, tokensSchedule(TINY.depth, { ...r, attn: 'tokens' }), { steps: TOKENS_STEPS, batch: 1, sampler: 'ddpm', caps: HARDWARE_CAPS, cfgScale: 1.5 }).plan;
    const attn = attnPlan.bodies[attnPlan.stepBody[1]!]!.dispatches.map((d) => attnPlan.kernels[d.kernel]!).filter((kn) => kn.family === 'attention');
    expect(attn.map((kn) => (kn.config as { T: number; queries?: number[] }).queries?.length)).toEqual(Array(TINY.depth).fill([8, 4]).flat());
    const run = (sch: ScheduleIR) => runPlanOnCpu(compile(graph, sch, { steps: 8, batch: 1, sampler: 'ddpm', caps: HARDWARE_CAPS, cfgScale: 1.5 }).plan, weights, { seed: s.seed, classes: classesFor(s) }).latents;
    const want = sampleReference(graph, weights, schedule, { sampler: 'ddpm', classes: classesFor(s), seed: s.seed, cfgScale: 1.5 }).latents;
    const same = maxRelativeError(run(schedule).data, want.data);
    const reuse: ScheduleIR = { ...schedule, table: schedule.table.map((row) => Object.fromEntries(Object.entries(row).map(([p]) => [p, { cond: { kind: 'reuse' }, uncond: { kind: 'reuse' } }]))) };
    const other = maxRelativeError(run(reuse).data, want.data);
    const all = maxRelativeError(run(computeEverything('DiT', 8)).data, want.data);
    expect(same).toBeLessThan(1e-5);
    expect(other).toBeGreaterThan(100 * same);
    expect(all).toBeGreaterThan(100 * same);
  }, 600_000);
});
