/**
 * The search's candidates as language: every candidate the search can produce (seeds, the seeds
 * fitted to a budget, and their mutations, any seed) is written as .ditto text that checks, resolves to exactly the actions the
 * candidate holds, and compiles; the Pareto front is non-dominated and covers every point; the
 * budget parser takes speed-ups and times and refuses anything else.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { loadProgram, lowerModel, resolveSchedule } from '../../compiler/frontend.ts';
import { actionAt } from '../../compiler/ir/schedule.ts';
import { compile } from '../../compiler/pipeline.ts';
import { HARDWARE_CAPS } from '../../compiler/plan/caps.ts';
import { uniformStream } from '../../core/random.ts';
import { isDittoError } from '../../core/errors.ts';
import { scheduleSource, stepsPredicate } from '../../evaluation/search/emit.ts';
import { dominates, mutate, paretoFront, seedGenomes, type Scored } from '../../evaluation/search/evolve.ts';
import { genomeKey, repair, type Genome } from '../../evaluation/search/genome.ts';
import { budgetMsPerImage, parseBudget } from '../../evaluation/search/budget.ts';
import { fastestGenome } from '../../evaluation/search/index.ts';
import { budgetSeeds } from '../../evaluation/search/budgetSeeds.ts';
import { toyModelFile } from './toyModel.ts';

const MODEL = toyModelFile();
const program = loadProgram(MODEL);
const graph = lowerModel(program, { model: 'Toy', batch: 2 });
const BLOCKS = 4;
const STEPS = 7;
const FILE = path.join(path.dirname(MODEL), 'cand.ditto');

function emitted(g: Genome) {
  const text = scheduleSource(g, { name: 'cand', model: graph.model, group: 'blocks', steps: STEPS, use: './toy.ditto', epsScales: ['1', '1 / 0.965'] });
  const prog = loadProgram(FILE, { inline: new Map([[FILE, text]]) });
  return { text, ir: resolveSchedule(prog, 'cand', graph, { steps: STEPS }) };
}

/** A candidate after `moves` mutations from a seed, all drawn from `seed`. */
function candidate(seed: number, moves: number): Genome {
  const rng = uniformStream(seed);
  const seeds = [...seedGenomes(BLOCKS, STEPS), ...budgetSeeds(BLOCKS, STEPS, 2 + Math.floor(rng() * (STEPS - 2)))];
  let g = seeds[Math.floor(rng() * seeds.length)]!;
  for (let m = 0; m < moves; m++) g = mutate(rng, g, seeds[Math.floor(rng() * seeds.length)], BLOCKS, STEPS);
  return { ...g, eps: Math.floor(rng() * 2) };
}

describe('search candidates as ditto source', () => {
  it('every candidate checks, resolves to its own actions, and compiles', () => {
    fc.assert(
      fc.property(fc.nat(1_000_000), fc.integer({ min: 0, max: 6 }), (seed, moves) => {
        const g = candidate(seed, moves);
        expect(repair(g)).toEqual(g); // mutate keeps candidates repaired
        const { ir } = emitted(g);
        for (let b = 0; b < BLOCKS; b++) {
          for (let k = 0; k < STEPS; k++) {
            const block = actionAt(ir, k, `blocks[${b}]`, 'cond').kind;
            if (g.res[b]![k]) {
              expect(block).toBe('reuse_residual');
              continue;
            }
            expect(block).not.toBe('reuse_residual');
            for (const comp of ['attn', 'mlp'] as const) {
              const want = { c: 'compute', r: 'reuse', f: 'forecast' }[g[comp][b]![k]!];
              expect(actionAt(ir, k, `blocks[${b}].${comp}`, 'cond').kind).toBe(want);
            }
          }
        }
        expect(ir.epsScale.every((e) => e === (g.eps === 1 ? 1 / 0.965 : 1))).toBe(true);
        const { plan } = compile(graph, ir, { steps: STEPS, batch: 1, sampler: 'ddim', cfgScale: 2, caps: HARDWARE_CAPS, guide: 'first3', f16: false });
        expect(plan.stepBody).toHaveLength(STEPS);
      }),
      { numRuns: 40 },
    );
  });

  it('the fastest candidate skips every block after step 0 and compiles', () => {
    const g = fastestGenome(BLOCKS, STEPS);
    expect(g.res.every((row) => row.every((s, k) => s === k > 0))).toBe(true);
    const { text } = emitted(g);
    expect(text).toContain('blocks[*] reuse residual at steps 1..7');
  });

  it('writes step sets as unions of half-open ranges', () => {
    expect(stepsPredicate([false, true, true, false, true])).toBe('steps 1..3 or steps 4..5');
    expect(stepsPredicate([false, false])).toBeUndefined();
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 30 }), (pick) => {
        const p = stepsPredicate(pick);
        const back = pick.map(() => false);
        for (const m of (p ?? '').matchAll(/steps (\d+)\.\.(\d+)/g)) for (let k = Number(m[1]); k < Number(m[2]); k++) back[k] = true;
        expect(back).toEqual(pick);
      }),
    );
  });

  it('keys tell candidates apart', () => {
    const a = candidate(1, 3);
    const b = { ...a, attnOrder: a.attnOrder === 1 ? (2 as const) : (1 as const) };
    expect(genomeKey(a)).not.toBe(genomeKey(b));
    expect(genomeKey(a)).toBe(genomeKey(JSON.parse(JSON.stringify(a)) as Genome));
  });
});

describe('Pareto front', () => {
  const point = fc.record({ ms: fc.double({ min: 0.1, max: 10, noNaN: true }), loss: fc.double({ min: 0, max: 1, noNaN: true }) });
  it('is non-dominated, and every point is dominated by or equal to a front point', () => {
    fc.assert(
      fc.property(fc.array(point, { minLength: 1, maxLength: 40 }), (pts) => {
        const xs: Scored[] = pts.map((p, i) => ({ ...p, key: String(i), genome: fastestGenome(1, 2) }));
        const front = paretoFront(xs);
        for (const a of front) for (const b of front) if (a !== b) expect(b.ms <= a.ms && b.loss <= a.loss && (b.ms < a.ms || b.loss < a.loss)).toBe(false);
        for (const x of xs) expect(front.some((f) => f.ms <= x.ms && f.loss <= x.loss)).toBe(true);
        for (let i = 1; i < front.length; i++) expect(front[i]!.ms).toBeGreaterThanOrEqual(front[i - 1]!.ms);
      }),
    );
  });

  it('budget domination: within the budget the loss decides; over it, a lower loss can keep a candidate', () => {
    const s = (ms: number, loss: number): Scored => ({ ms, loss, key: `${ms}/${loss}`, genome: fastestGenome(1, 2) });
    expect(dominates(s(1, 0.1), s(1.9, 0.2), 2)).toBe(true);
    expect(dominates(s(1.9, 0.1), s(1, 0.2), 2)).toBe(true); // both within: speed beyond the budget is not sought
    expect(dominates(s(1, 0.2), s(1.9, 0.2), 2)).toBe(false);
    expect(dominates(s(1, 0.9), s(3, 0.9), 2)).toBe(true);
    expect(dominates(s(1, 0.9), s(3, 0), 2)).toBe(false); // over the budget but lossless: a parent worth keeping
    expect(dominates(s(2.5, 0), s(3, 0), 2)).toBe(true);
  });
});

describe('--budget', () => {
  it('reads speed-ups and times per image', () => {
    expect(parseBudget('2.5x')).toEqual({ kind: 'speedup', speedup: 2.5 });
    expect(parseBudget(' 3× ')).toEqual({ kind: 'speedup', speedup: 3 });
    expect(parseBudget('40ms')).toEqual({ kind: 'time', msPerImage: 40 });
    expect(parseBudget('0.04s')).toEqual({ kind: 'time', msPerImage: 40 });
    expect(budgetMsPerImage(parseBudget('2x'), 10)).toBe(5);
    expect(budgetMsPerImage(parseBudget('4ms'), 10)).toBe(4);
  });
  it.each(['', 'fast', '2.5', '-2x', '0x', '0.5x', '40 fps', 'x2', 'NaNms'])('refuses %j with a DittoError', (b) => {
    let err: unknown;
    try {
      parseBudget(b);
    } catch (e) {
      err = e;
    }
    expect(isDittoError(err) && err.code === 'E_USAGE' && /--budget/.test(err.message)).toBe(true);
  });
});
