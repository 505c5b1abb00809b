/** Kernel counts per step, hoisting, CFG splitting, dump and error paths of the pass pipeline. */
import { describe, expect, it } from 'vitest';
import { compile, PASS_NAMES, runPasses } from '../../compiler/pipeline.ts';
import type { Plan, PlanBody } from '../../compiler/plan/types.ts';
import { buildDiTGraph, TINY_DIT } from '../helpers/ditGraph.ts';
import { both, C, F, fora, R, RES, schedule } from './schedules.ts';
import { DittoError } from '../../core/errors.ts';

const depth = TINY_DIT.depth;
const graph = (batch: number) => buildDiTGraph(TINY_DIT, batch);

function bodyAt(p: Plan, k: number): PlanBody {
  return p.bodies[p.stepBody[k]!]!;
}

function families(p: Plan, b: PlanBody): string[] {
  return b.dispatches.map((d) => p.kernels[d.kernel]!.family);
}

/** Graph nodes inside blocks whose op is heavy (qkv/proj/fc1/fc2 linears, attention). */
function blockHeavyNodes(p: Plan): Set<number> {
  const g = graph(2);
  const s = new Set<number>();
  for (const b of g.blocks) for (const id of b.nodes) {
    const n = g.nodes[id]!;
    if (n.op.kind === 'attention' || (n.op.kind === 'linear' && !n.path?.endsWith('.ada'))) s.add(id);
  }
  return s;
}

describe('FORA reuse steps', () => {
  const plan = compile(graph(2), fora(depth, 6, 3), { steps: 6, cfgScale: 1.5, batch: 1 }).plan;

  it('runs no attention and no MLP kernel in any block at a reuse step', () => {
    const heavy = blockHeavyNodes(plan);
    for (const k of [1, 2, 4, 5]) {
      const b = bodyAt(plan, k);
      expect(families(plan, b)).not.toContain('attention');
      expect(b.dispatches.filter((d) => d.covers.some((c) => heavy.has(c)) && d.role === 'model')).toEqual([]);
      // Matmuls left: timestep MLP (2), the concatenated adaLN projections (1), patch embed (1), final linear (1).
      expect(families(plan, b).filter((f) => f === 'matmul')).toHaveLength(5);
      expect(b.cacheReads.sort()).toEqual(Array.from({ length: depth }, (_, i) => [`cache:blocks[${i}].attn`, `cache:blocks[${i}].mlp`]).flat().sort());
      expect(b.cacheWrites).toEqual([]);
    }
  });

  it('computes and stores at the refresh steps', () => {
    for (const k of [0, 3]) {
      const b = bodyAt(plan, k);
      expect(families(plan, b).filter((f) => f === 'attention')).toHaveLength(depth);
      expect(b.cacheWrites.length).toBe(2 * depth);
    }
    expect(plan.stepBody[0]).toBe(plan.stepBody[3]);
    expect(plan.stepBody[1]).toBe(plan.stepBody[5]);
    expect(plan.bodies).toHaveLength(2);
    expect(plan.cost.perStep[1]!.flops).toBeLessThan(plan.cost.perStep[0]!.flops / 3);
  });

  it('hoists the label embedding into the prologue', () => {
    expect(families(plan, plan.prologue)).toEqual(['label_embed']);
    for (const b of plan.bodies) expect(families(plan, b)).not.toContain('label_embed');
  });

  it('computes all depth adaLN projections and the final one as one matmul over a fused weight', () => {
    const fused = plan.buffers.filter((b) => b.kind === 'fused_weight');
    expect(fused.map((b) => b.sources!.length)).toEqual([depth + 1, depth + 1]);
    expect(fused[0]!.sources!.map((s) => s.name)).toEqual([
      ...Array.from({ length: depth }, (_, i) => `blocks.${i}.adaLN_modulation.1.weight`), 'final_layer.adaLN_modulation.1.weight',
    ]);
    expect(plan.buffers.some((b) => b.name === 'blocks.0.adaLN_modulation.1.weight')).toBe(false);
  });
});

describe('residual reuse and forecasts', () => {
  it('residual reuse of all blocks leaves no block work and one fused add chain', () => {
    const s = schedule('delta', 4, (k) => (k % 2 ? Object.fromEntries(Array.from({ length: depth }, (_, i) => [`blocks[${i}]`, both(RES)])) : {}));
    const plan = compile(graph(1), s, { steps: 4, batch: 1 }).plan;
    const b = bodyAt(plan, 1);
    expect(families(plan, b)).not.toContain('attention');
    expect(families(plan, b).filter((f) => f === 'layernorm_modulate')).toHaveLength(1); // the final layer's
    const res = b.dispatches.filter((d) => d.role === 'residual');
    expect(res.length).toBeGreaterThanOrEqual(1);
    expect(bodyAt(plan, 0).cacheWrites.sort()).toEqual(Array.from({ length: depth }, (_, i) => `cache:blocks[${i}]:res`).sort());
  });

  it('Taylor forecasts read the difference slots and refresh them at computes', () => {
    const s = schedule('taylor', 8, (k) => (k % 3 === 0 ? {} : { 'blocks[0].mlp': both(F(1)) }));
    const plan = compile(graph(1), s, { steps: 8, batch: 1 }).plan;
    expect(bodyAt(plan, 4).cacheReads.sort()).toEqual(['cache:blocks[0].mlp', 'cache:blocks[0].mlp:d1']);
    expect(bodyAt(plan, 3).cacheWrites.sort()).toEqual(['cache:blocks[0].mlp', 'cache:blocks[0].mlp:d1']);
    // At step 1 only one compute is known: the forecast falls back to order 0 (d0 only).
    expect(bodyAt(plan, 1).cacheReads).toEqual(['cache:blocks[0].mlp']);
  });
});

describe('per-step numbers of the cache work', () => {
  // Every block's MLP: computed at 0, 1, 2, then every fourth step; taylor(2) in between, so the
  // forecasts sit 1, 2 and 3 steps after a compute and the refreshes 1 and 4 steps after the last.
  const row = (k: number) => (k < 3 || k % 4 === 2 ? {} : Object.fromEntries(Array.from({ length: depth }, (_, i) => [`blocks[${i}].mlp`, both(F(2))])));
  const plan = compile(graph(1), schedule('taylor2', 14, row), { steps: 14, batch: 1 }).plan;
  const forecasts = (b: PlanBody) => b.dispatches.filter((d) => /^forecast /.test(d.note ?? ''));
  const column = (note: string) => Number(/in params\[(\d+)…/.exec(note)![1]);

  it('leave the body to the params row: forecasts 1, 2 and 3 steps ahead are one body', () => {
    expect(new Set([3, 4, 5].map((k) => plan.stepBody[k]))).toEqual(new Set([plan.stepBody[7]]));
    expect(new Set([7, 8, 9, 11, 12, 13].map((k) => plan.stepBody[k])).size).toBe(1);
    // A compute whose refresh spans 1 step (step 2) and one spanning 4 (step 6): one body too.
    expect(plan.stepBody[6]).toBe(plan.stepBody[10]);
  });

  it('carry each forecast\'s coefficients m and m²/2 in the row, one column pair for every block', () => {
    const notes = forecasts(bodyAt(plan, 3)).map((d) => d.note!);
    expect(notes).toHaveLength(depth);
    const c = new Set(notes.map(column));
    expect(c.size).toBe(1);
    const first = [...c][0]!;
    for (const [k, m] of [[3, 1], [4, 2], [5, 3], [7, 1], [13, 3]] as const) {
      expect(plan.sampler.rows[k]!.slice(first, first + 2)).toEqual([m, (m * m) / 2]);
    }
    // The forecast kernel is one WGSL module for all blocks.
    expect(new Set(forecasts(bodyAt(plan, 3)).map((d) => d.kernel)).size).toBe(1);
  });

  it('carry the refresh factor 1/Δ of the steps since the previous compute', () => {
    const refresh = bodyAt(plan, 6).dispatches.find((d) => /^Taylor refresh/.test(d.note ?? ''))!;
    const col = Number(/1\/Δ in params\[(\d+)\]/.exec(refresh.note!)![1]);
    expect(plan.sampler.rows[2]![col]).toBe(1);
    expect(plan.sampler.rows[6]![col]).toBe(0.25);
    expect(plan.sampler.rows[10]![col]).toBe(0.25);
  });
});

describe('CFG branches with different schedules', () => {
  it('splits the batch: the uncond half reuses while the cond half computes', () => {
    const s = schedule('split', 4, (k) => (k === 0 ? {} : { 'blocks[1].attn': { cond: C, uncond: R } }));
    const { plan } = compile(graph(4), s, { steps: 4, cfgScale: 4, batch: 2 });
    const b = bodyAt(plan, 2);
    const att = b.dispatches.filter((d) => plan.kernels[d.kernel]!.family === 'attention');
    expect(att.map((d) => d.branch ?? 'both').sort()).toEqual(['both', 'cond']);
    const half = plan.kernels[att.find((d) => d.branch === 'cond')!.kernel]!.config as { B: number };
    expect(half.B).toBe(2);
    expect(b.cacheReads).toContain('cache:blocks[1].attn');
    expect(plan.heatmap.uncond[2]).not.toBeNull();
  });
});

describe('the adaLN projections at a split step', () => {
  // Steps 2 and 3: the unconditional output comes from the stored bands, so only the cond half runs.
  const cfgCache = schedule('cfg_cache', 4, (k) => (k < 2 ? {} : { out: { cond: C, uncond: { kind: 'cfg_cache', low: 1.1, high: 1.1, boundary: 0.5 } } }));
  const { plan } = compile(graph(4), cfgCache, { steps: 4, cfgScale: 3, batch: 2 });
  const projections = (b: PlanBody) => b.dispatches.filter((d) => plan.kernels[d.kernel]!.family === 'matmul' && /projections of one input/.test(d.note ?? ''));

  it('are one matmul in the running half, as at an unsplit step', () => {
    expect(projections(bodyAt(plan, 0)).map((d) => d.branch ?? 'both')).toEqual(['both']);
    const split = projections(bodyAt(plan, 2));
    expect(split.map((d) => d.branch)).toEqual(['cond']);
    expect(split[0]!.note).toMatch(/\(cond half\)$/);
    // Each block's own adaLN matmul is gone from the split body: depth + 1 members in one dispatch.
    const ada = bodyAt(plan, 2).dispatches.filter((d) => d.covers.some((c) => /adaLN|\.ada$/.test(graph(4).nodes[c]!.path ?? '')));
    expect(ada).toHaveLength(1);
  });

  it('leave the unfused weights unbound: only the concatenated copy is resident', () => {
    const adaWeights = plan.buffers.filter((b) => b.kind === 'weight' && /adaLN_modulation/.test(b.name));
    expect(adaWeights).toEqual([]);
    expect(plan.buffers.some((b) => b.kind === 'fused_weight' && /adaLN_modulation/.test(b.name))).toBe(true);
  });
});

describe('pipeline plumbing', () => {
  it('dumps the IR after any pass', () => {
    for (const name of PASS_NAMES) {
      const r = runPasses(graph(1), fora(depth, 3, 2), { steps: 3, batch: 1, dumpAfter: name });
      expect(r.dump).toContain(`after pass '${name}'`);
    }
    const r = runPasses(graph(1), fora(depth, 3, 2), { steps: 3, batch: 1, dumpAfter: 'fuse' });
    expect(r.dump).toMatch(/ln_modulate/);
    expect(r.dump).toMatch(/cfg_combine|eps_scale\+ddpm_update/);
  });

  it('rejects an unknown pass, a reuse before any compute, and a step-count mismatch', () => {
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e as DittoError;
      }
      throw new Error('expected an error');
    };
    expect(err(() => runPasses(graph(1), undefined, { steps: 2, batch: 1, dumpAfter: 'nope' })).code).toBe('E_USAGE');
    const early = schedule('early', 3, (k) => (k === 0 ? { 'blocks[0].attn': both(R) } : {}));
    const e = err(() => compile(graph(1), early, { steps: 3, batch: 1 }));
    expect(e.code).toBe('E_CHECK');
    expect(e.message).toMatch(/`blocks\[0\]\.attn` is reused at step 0 \(cond\) before it was ever computed/);
    expect(err(() => compile(graph(1), fora(depth, 5, 2), { steps: 4, batch: 1 })).code).toBe('E_CHECK');
    const typo = schedule('typo', 2, () => ({ 'blocks[0].atn': both(R) }));
    expect(err(() => compile(graph(1), typo, { steps: 2, batch: 1 })).message).toMatch(/did you mean `blocks\[0\]\.attn`/);
  });
});
