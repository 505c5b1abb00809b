/**
 * Properties of the middle end over random small DiT configs and random schedules (fast-check):
 * the all-compute schedule compiles to exactly the plan of no schedule; no step reads a cache slot
 * before a step wrote it; no two live values share an activation buffer; deduplicated step bodies
 * expand to the same per-step dispatch lists as the undeduplicated plan.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Action, BranchActions, ScheduleIR } from '../../compiler/ir/schedule.ts';
import { compile, runPasses } from '../../compiler/pipeline.ts';
import { instrReads } from '../../compiler/passes/verify.ts';
import type { Plan } from '../../compiler/plan/types.ts';
import { buildDiTGraph, type DiTConfig } from '../helpers/ditGraph.ts';

const configArb: fc.Arbitrary<DiTConfig> = fc.record({
  depth: fc.integer({ min: 1, max: 3 }),
  heads: fc.constantFrom(2, 4),
  width: fc.constantFrom(1, 2),
  latent: fc.constantFrom(4, 8),
  learn_sigma: fc.constantFrom(0, 1),
}).map(({ depth, heads, width, latent, learn_sigma }) => ({
  depth, hidden: heads * 16 * width, heads, patch: 2, latent, channels: 4, classes: 5, mlp_ratio: 2, learn_sigma, freq: 32,
}));

type Choice = 'c' | 'r' | 'f0' | 'f1' | 'f2' | 's';

interface Case {
  cfg: DiTConfig;
  steps: number;
  cfgScale?: number;
  sampler: 'ddpm' | 'ddim';
  /** [step][target][branch] choices. */
  choices: Choice[][][];
}

const caseArb: fc.Arbitrary<Case> = configArb.chain((cfg) =>
  fc.record({
    cfg: fc.constant(cfg),
    steps: fc.integer({ min: 2, max: 7 }),
    cfgScale: fc.option(fc.constantFrom(1.5, 4), { nil: undefined }),
    sampler: fc.constantFrom<'ddpm' | 'ddim'>('ddpm', 'ddim'),
    seed: fc.array(fc.array(fc.array(fc.constantFrom<Choice>('c', 'c', 'r', 'f0', 'f1', 'f2', 's'), { minLength: 2, maxLength: 2 }), { minLength: 3 * cfg.depth, maxLength: 3 * cfg.depth }), { minLength: 7, maxLength: 7 }),
  }).map(({ seed, ...rest }) => ({ ...rest, choices: seed.slice(0, rest.steps) })),
);

function targetsOf(depth: number): { path: string; block: boolean }[] {
  return Array.from({ length: depth }, (_, i) => [
    { path: `blocks[${i}].attn`, block: false }, { path: `blocks[${i}].mlp`, block: false }, { path: `blocks[${i}]`, block: true },
  ]).flat();
}

function action(c: Choice, block: boolean): Action {
  if (c === 'c') return { kind: 'compute' };
  // A block caches its residual: reuse and forecast are node actions (compiler/ir/scheduleCheck.ts).
  if (c === 's' || c === 'r') return block ? { kind: 'reuse_residual' } : { kind: 'reuse' };
  return block ? { kind: 'reuse_residual' } : { kind: 'forecast', order: Number(c[1]) };
}

/** A valid schedule: every target computes (per branch) before it is reused or forecast. */
function scheduleOf(c: Case): ScheduleIR {
  const targets = targetsOf(c.cfg.depth);
  const seen = new Set<string>();
  const table = c.choices.map((row) => {
    const entry: Record<string, BranchActions> = {};
    targets.forEach((t, ti) => {
      const acts = (['cond', 'uncond'] as const).map((br, bi) => {
        const key = `${t.path}/${br}`;
        const ch = row[ti]![bi]!;
        if (ch === 'c' || !seen.has(key)) {
          seen.add(key);
          return { kind: 'compute' } as Action;
        }
        return action(ch, t.block);
      });
      if (acts.some((a) => a.kind !== 'compute')) entry[t.path] = { cond: acts[0]!, uncond: acts[1]! };
    });
    return entry;
  });
  return { name: 'random', model: 'DiT', steps: c.steps, table, epsScale: table.map(() => 1), dynamic: [] };
}

function allCompute(c: Case): ScheduleIR {
  const targets = targetsOf(c.cfg.depth);
  const row = Object.fromEntries(targets.map((t) => [t.path, { cond: { kind: 'compute' }, uncond: { kind: 'compute' } } as BranchActions]));
  return { name: 'none', model: 'DiT', steps: c.steps, table: Array.from({ length: c.steps }, () => row), epsScale: Array.from({ length: c.steps }, () => 1), dynamic: [] };
}

function optsOf(c: Case, extra: object = {}) {
  return { steps: c.steps, batch: 1, sampler: c.sampler, ...(c.cfgScale !== undefined ? { cfgScale: c.cfgScale } : {}), ...extra };
}

function graphOf(c: Case) {
  return buildDiTGraph(c.cfg, c.cfgScale !== undefined ? 2 : 1);
}

/** Replays the plan's steps: every cache slot read must have been written by an earlier dispatch. */
function firstReadBeforeWrite(p: Plan): string | undefined {
  const written = new Set<string>();
  for (let k = 0; k < p.stepBody.length; k++) {
    for (const d of p.bodies[p.stepBody[k]!]!.dispatches) {
      for (const r of d.cacheReads) if (!written.has(r)) return `step ${k} reads ${r}`;
      for (const w of d.cacheWrites) written.add(w);
    }
  }
  return undefined;
}

const RUNS = { numRuns: 40, seed: 20251125 };

describe('compiler properties over random DiTs and schedules', () => {
  it('an all-compute schedule gives the same plan body for body as no schedule', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const none = compile(graphOf(c), undefined, optsOf(c)).plan;
        const every = compile(graphOf(c), allCompute(c), optsOf(c)).plan;
        expect(every.bodies).toEqual(none.bodies);
        expect(every.prologue).toEqual(none.prologue);
        expect(every.kernels).toEqual(none.kernels);
        expect(every.buffers).toEqual(none.buffers);
        expect(every.stepBody).toEqual(none.stepBody);
      }),
      RUNS,
    );
  });

  it('never reads a cache slot before a step wrote it, and reused steps cost less', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const s = scheduleOf(c);
        const plan = compile(graphOf(c), s, optsOf(c)).plan;
        expect(firstReadBeforeWrite(plan)).toBeUndefined();
        const full = plan.cost.allCompute.flops;
        for (const step of plan.cost.perStep) expect(step.flops).toBeLessThanOrEqual(full * 1.05 + 1e6);
      }),
      RUNS,
    );
  });

  it('never lets two live values share an activation buffer', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { state } = runPasses(graphOf(c), scheduleOf(c), optsOf(c));
        const values = state.lowered!.values;
        for (const body of [state.prologue!, ...state.bodies!]) {
          const life = new Map<string, [number, number]>();
          body.instrs.forEach((ins, i) => {
            for (const v of [...instrReads(ins), ...ins.outs.map((o) => o.value)]) {
              if (values.get(v)!.storage !== 'transient') continue;
              const l = life.get(v);
              if (l) l[1] = i;
              else life.set(v, [i, i]);
            }
          });
          const vs = [...life.keys()];
          for (const v of vs) expect(body.buffers![v]).toBeTypeOf('number');
          for (let a = 0; a < vs.length; a++) {
            for (let b = a + 1; b < vs.length; b++) {
              if (body.buffers![vs[a]!] !== body.buffers![vs[b]!]) continue;
              const [a0, a1] = life.get(vs[a]!)!;
              const [b0, b1] = life.get(vs[b]!)!;
              expect(a0 > b1 || b0 > a1, `${vs[a]} and ${vs[b]} overlap`).toBe(true);
            }
          }
        }
      }),
      RUNS,
    );
  });

  it('deduplicated bodies expand to the per-step dispatch lists of the plan without dedup', () => {
    const expand = (p: Plan) =>
      p.stepBody.map((b) => p.bodies[b]!.dispatches.map((d) => ({ ...d, kernel: p.kernels[d.kernel]!.key, bindings: d.bindings.map((x) => ({ ...x, buffer: p.buffers[x.buffer]!.name })) })));
    fc.assert(
      fc.property(caseArb, (c) => {
        const s = scheduleOf(c);
        const a = compile(graphOf(c), s, optsOf(c)).plan;
        const b = compile(graphOf(c), s, optsOf(c, { dedup: false })).plan;
        expect(b.bodies).toHaveLength(c.steps);
        expect(a.bodies.length).toBeLessThanOrEqual(c.steps);
        expect(new Set(a.bodies.map((x) => JSON.stringify(x))).size).toBe(a.bodies.length);
        expect(expand(a)).toEqual(expand(b));
      }),
      RUNS,
    );
  });
});
