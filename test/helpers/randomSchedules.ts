/**
 * Random small DiTs and random schedules for the executor-equivalence properties (fast-check):
 * per step and block a choice of compute, reuse, Taylor forecast of order 1 or 2, or residual reuse,
 * per CFG branch; optionally a dynamic (first-block style) rule on the deeper blocks, and computes
 * spaced unevenly so Taylor refreshes see different intervals.
 */
import fc from 'fast-check';
import { computeEverything, type Action, type BranchActions, type DynamicRule, type ForecastBasis, type ScheduleIR, type TokenOrder } from '../../compiler/ir/schedule.ts';
import type { Scenario, TinyConfig } from '../runtime/harness.ts';

export const configArb: fc.Arbitrary<TinyConfig> = fc.record({
  // Few distinct widths: every new shape is a new pipeline, and lavapipe JIT-compiles each one.
  depth: fc.integer({ min: 1, max: 3 }),
  hidden: fc.constant(32),
  heads: fc.constant(2),
  latent: fc.constant(8),
  channels: fc.constantFrom(1, 4),
  classes: fc.integer({ min: 2, max: 10 }),
  learn_sigma: fc.constantFrom(0, 1),
});

export type Choice = 'compute' | 'reuse' | 'forecast1' | 'forecast2' | 'residual';
export const choiceArb = fc.constantFrom<Choice>('compute', 'reuse', 'forecast1', 'forecast2', 'residual');

const actionOf = (c: Choice): Action | undefined =>
  c === 'reuse' ? { kind: 'reuse' } : c === 'forecast1' ? { kind: 'forecast', order: 1 } : c === 'forecast2' ? { kind: 'forecast', order: 2 } : undefined;

/** A schedule from per-step, per-block choices; step 0 computes everything (nothing is stored yet). */
export function scheduleFrom(depth: number, steps: number, choices: { c: Choice; u: Choice }[][], eps: number): ScheduleIR {
  const base = computeEverything('DiT', steps);
  const table = base.table.map((_, k) => {
    const row: Record<string, BranchActions> = {};
    if (k === 0) return row;
    for (let b = 0; b < depth; b++) {
      const pick = choices[k % choices.length]![b % choices[0]!.length]!;
      // Residual reuse needs the same action in both branches to be meaningful; keep it simple.
      if (pick.c === 'residual') {
        row[`blocks[${b}]`] = { cond: { kind: 'reuse_residual' }, uncond: { kind: 'reuse_residual' } };
        continue;
      }
      const cond = actionOf(pick.c);
      const uncond = actionOf(pick.u === 'residual' ? 'compute' : pick.u);
      for (const t of ['attn', 'mlp']) {
        if (cond || uncond) row[`blocks[${b}].${t}`] = { cond: cond ?? { kind: 'compute' }, uncond: uncond ?? { kind: 'compute' } };
      }
    }
    return row;
  });
  return { ...base, name: 'random', table, epsScale: base.epsScale.map(() => eps) };
}

/** Taylor forecasts of every block's attention and MLP between computes at the given steps (uneven gaps). */
export function taylorAt(depth: number, steps: number, computes: readonly number[], order: number, basis?: ForecastBasis | ((k: number) => ForecastBasis)): ScheduleIR {
  const base = computeEverything('DiT', steps);
  const table = base.table.map((_, k) => {
    const row: Record<string, BranchActions> = {};
    if (computes.includes(k)) return row;
    const b = typeof basis === 'function' ? basis(k) : basis;
    const f = { kind: 'forecast' as const, order, ...(b ? { basis: b } : {}) };
    for (let b = 0; b < depth; b++) for (const t of ['attn', 'mlp']) row[`blocks[${b}].${t}`] = { cond: f, uncond: f };
    return row;
  });
  return { ...base, name: 'taylor-uneven', table };
}

/** First-block caching: blocks[1..] reuse their residual while blocks[0]'s residual changes little. */
export function firstBlock(depth: number, steps: number, threshold: number, warmup: number, maxConsecutive: number): ScheduleIR {
  const base = computeEverything('DiT', steps);
  const rule: DynamicRule = { signal: 'blocks[0].residual', metric: 'rel_l1', threshold, warmup, maxConsecutive, then: 'reuse_residual' };
  const table = base.table.map(() => {
    const row: Record<string, BranchActions> = {};
    for (let b = 1; b < depth; b++) row[`blocks[${b}]`] = { cond: { kind: 'dynamic', rule: 0 }, uncond: { kind: 'dynamic', rule: 0 } };
    return row;
  });
  return { ...base, name: 'first-block', table, dynamic: [rule] };
}

export const runArb = fc.record({
  batch: fc.constant(1),
  steps: fc.integer({ min: 1, max: 6 }),
  cfg: fc.boolean(),
  sampler: fc.constantFrom<'ddpm' | 'ddim'>('ddpm', 'ddim'),
  seed: fc.integer({ min: 0, max: 1000 }),
  weightSeed: fc.integer({ min: 0, max: 1000 }),
  eps: fc.constantFrom(1, 1 / 0.965),
});

export const choicesArb = fc.array(fc.array(fc.record({ c: choiceArb, u: choiceArb }), { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 4 });

export function scenarioOf(cfg: TinyConfig, r: { batch: number; steps: number; cfg: boolean; sampler: 'ddpm' | 'ddim'; seed: number; weightSeed: number }): Scenario {
  return { cfg, batch: r.batch, steps: r.steps, sampler: r.sampler, seed: r.seed, weightSeed: r.weightSeed, ...(r.cfg ? { cfgScale: 3 } : {}) };
}

/** What every forecast-form case draws besides its form's own arguments. */
export interface ForecastCase {
  cfg: boolean;
  sampler: 'ddpm' | 'ddim';
  seed: number;
}

/** A forecast case's scenario: the tiny DiT `cfg`, batch 1, HERMITE_STEPS steps, CFG 2.5 when the case has it. */
export function forecastScenario(cfg: TinyConfig, r: ForecastCase): Scenario {
  return { cfg, batch: 1, steps: HERMITE_STEPS, sampler: r.sampler, seed: r.seed, weightSeed: r.seed + 1, ...(r.cfg ? { cfgScale: 2.5 } : {}) };
}

/** A Hermite-forecast case: order, scale, even or uneven computes over 12 steps, CFG, sampler, seed. */
export const hermiteCaseArb = fc.record({
  order: fc.integer({ min: 1, max: 3 }),
  sigma: fc.double({ min: 0.1, max: 3, noNaN: true }),
  uneven: fc.boolean(),
  cfg: fc.boolean(),
  sampler: fc.constantFrom<'ddpm' | 'ddim'>('ddpm', 'ddim'),
  seed: fc.integer({ min: 0, max: 1000 }),
});
export const HERMITE_STEPS = 12;

/** Every block's attn and mlp forecast in the Hermite basis between the case's computes. */
export function hermiteSchedule(depth: number, r: { order: number; sigma: number; uneven: boolean }): ScheduleIR {
  return taylorAt(depth, HERMITE_STEPS, r.uneven ? [0, 1, 2, 4, 8] : [0, 3, 6, 9], r.order, { form: 'hermite', sigma: r.sigma });
}

/** A FoCa or exponential forecast case: the form, even or uneven computes over 12 steps, CFG, sampler, seed. */
export const twoDifferenceCaseArb = fc.record({
  form: fc.constantFrom<'foca' | 'exp'>('foca', 'exp'),
  uneven: fc.boolean(),
  cfg: fc.boolean(),
  sampler: fc.constantFrom<'ddpm' | 'ddim'>('ddpm', 'ddim'),
  seed: fc.integer({ min: 0, max: 1000 }),
});

/** Every block's attn and mlp forecast with `foca` or `exp` between the case's computes. */
export function twoDifferenceSchedule(depth: number, r: { form: 'foca' | 'exp'; uneven: boolean }): ScheduleIR {
  return taylorAt(depth, HERMITE_STEPS, r.uneven ? [0, 1, 2, 4, 8] : [0, 3, 6, 9], 2, { form: r.form });
}

/** A `linear` (FasterCache) forecast case: the weight at step 0 and its growth per step (a ramp, as
 *  the paper raises it over the trajectory), even or uneven computes over 12 steps, CFG, sampler, seed. */
export const linearCaseArb = fc.record({
  weight: fc.double({ min: 0, max: 1.5, noNaN: true }),
  slope: fc.double({ min: 0, max: 0.1, noNaN: true }),
  uneven: fc.boolean(),
  cfg: fc.boolean(),
  sampler: fc.constantFrom<'ddpm' | 'ddim'>('ddpm', 'ddim'),
  seed: fc.integer({ min: 0, max: 1000 }),
});

/** Every block's attn and mlp forecast with `linear(weight + slope·k)` between the case's computes. */
export function linearSchedule(depth: number, r: { weight: number; slope: number; uneven: boolean }): ScheduleIR {
  return taylorAt(depth, HERMITE_STEPS, r.uneven ? [0, 1, 2, 4, 8] : [0, 3, 6, 9], 1, (k) => ({ form: 'linear', weight: r.weight + r.slope * k }));
}

/** A token-level caching case: the fraction and order of the MLP's partial computes, the steps that
 *  compute in full, what attention does between them, what the uncond branch does. */
export const tokensCaseArb = fc.record({
  fraction: fc.constantFrom(0.05, 0.25, 0.3, 0.5, 0.75, 1),
  order: fc.constantFrom<TokenOrder>({ form: 'staleness' }, { form: 'cluster', size: 2 }, { form: 'cluster', size: 3 }, { form: 'cluster', size: 4 }),
  computes: fc.subarray([2, 3, 4, 5, 6, 7, 8, 9], { minLength: 0, maxLength: 3 }),
  attn: fc.constantFrom<'compute' | 'reuse' | 'tokens'>('compute', 'reuse', 'tokens'),
  uncond: fc.constantFrom<'same' | 'compute' | 'half'>('same', 'compute', 'half'),
  cfg: fc.boolean(),
  sampler: fc.constantFrom<'ddpm' | 'ddim'>('ddpm', 'ddim'),
  seed: fc.integer({ min: 0, max: 1000 }),
});
export const TOKENS_STEPS = 10;

/** Every block's MLP computed on some tokens between the full computes (step 0 and the case's). */
export function tokensSchedule(depth: number, r: { fraction: number; order: TokenOrder; computes: readonly number[]; attn: 'compute' | 'reuse' | 'tokens'; uncond: 'same' | 'compute' | 'half' }): ScheduleIR {
  const base = computeEverything('DiT', TOKENS_STEPS);
  const partial: Action = { kind: 'tokens', fraction: r.fraction, by: r.order };
  const other: Action = r.uncond === 'same' ? partial : r.uncond === 'compute' ? { kind: 'compute' } : { kind: 'tokens', fraction: 0.5, by: { form: 'staleness' } };
  const table = base.table.map((_, k) => {
    const row: Record<string, BranchActions> = {};
    if (k === 0 || r.computes.includes(k)) return row;
    for (let b = 0; b < depth; b++) {
      row[`blocks[${b}].mlp`] = { cond: partial, uncond: other };
      if (r.attn === 'reuse') row[`blocks[${b}].attn`] = { cond: { kind: 'reuse' }, uncond: { kind: 'reuse' } };
      if (r.attn === 'tokens') row[`blocks[${b}].attn`] = { cond: { kind: 'tokens', fraction: 0.5, by: { form: 'cluster', size: 2 } }, uncond: other };
    }
    return row;
  });
  return { ...base, name: 'tokens', table };
}

/** A CFG-Cache case (FasterCache): the steps whose unconditional output comes from the conditional
 *  one and the stored bands, the growths and boundary, and whether the blocks' attention is also
 *  reused between computes (in both halves), so the bands meet other cache rules. */
export const cfgCacheCaseArb = fc.record({
  skipped: fc.subarray([1, 2, 3, 4, 5, 6, 7, 8, 9], { minLength: 1, maxLength: 6 }),
  low: fc.constantFrom(1, 1.1, 1.3),
  high: fc.constantFrom(1, 1.1, 0.8),
  boundary: fc.constantFrom(0, 0.5, 1),
  attnReuse: fc.boolean(),
  sampler: fc.constantFrom<'ddpm' | 'ddim'>('ddpm', 'ddim'),
  seed: fc.integer({ min: 0, max: 1000 }),
});
export const CFG_CACHE_STEPS = 10;

/** The model output `out` taken from the conditional half at the case's steps (uncond branch). */
export function cfgCacheSchedule(depth: number, r: { skipped: readonly number[]; low: number; high: number; boundary: number; attnReuse: boolean }): ScheduleIR {
  const base = computeEverything('DiT', CFG_CACHE_STEPS);
  const table = base.table.map((_, k) => {
    const row: Record<string, BranchActions> = {};
    if (r.skipped.includes(k)) row['out'] = { cond: { kind: 'compute' }, uncond: { kind: 'cfg_cache', low: r.low, high: r.high, boundary: r.boundary } };
    if (r.attnReuse && k % 3 === 2) for (let b = 0; b < depth; b++) row[`blocks[${b}].attn`] = { cond: { kind: 'reuse' }, uncond: { kind: 'reuse' } };
    return row;
  });
  return { ...base, name: 'cfg_cache', table };
}

/** Which CFG half computes a target at a step; the other reuses its cached value. */
export type Half = 'both' | 'cond' | 'uncond' | 'neither';
const halfArb = fc.constantFrom<Half>('both', 'cond', 'uncond', 'neither');

/** A tiny DiT whose CFG halves of the latent (4·6·6 floats) and of unpatchify's tokens start off
 *  the 256-byte storage alignment, while the blocks' activations (9 tokens × 64) stay on it. */
export const ODD_LATENT: TinyConfig = { depth: 2, hidden: 64, heads: 4, latent: 6, channels: 4, classes: 10, learn_sigma: 1 };

/** Per step (cycling from step 1), which half computes the model output and which the blocks'
 *  attention and MLP: every mix of the halves, on a latent whose halves are aligned or not. */
export const cfgHalvesArb = fc.record({
  out: fc.array(halfArb, { minLength: 1, maxLength: 4 }),
  blocks: fc.array(halfArb, { minLength: 1, maxLength: 3 }),
  odd: fc.boolean(),
  batch: fc.integer({ min: 1, max: 2 }),
  sampler: fc.constantFrom<'ddpm' | 'ddim'>('ddpm', 'ddim'),
  seed: fc.integer({ min: 0, max: 1000 }),
});
export const CFG_HALVES_STEPS = 8;

/** Step 0 computes everything (nothing is stored yet); step k ≥ 1 takes out[k mod n] and blocks[k mod m].
 *  The blocks follow their own halves even where the output is reused: a block left at `compute`
 *  under a reused output is dead there, and is neither computed nor stored (the reference executor
 *  never evaluates it), so a later reuse reads the value of an earlier step. */
export function cfgHalvesSchedule(depth: number, r: { out: readonly Half[]; blocks: readonly Half[] }): ScheduleIR {
  const base = computeEverything('DiT', CFG_HALVES_STEPS);
  const computes = (h: Half, br: 'cond' | 'uncond') => h === 'both' || h === br;
  const table = base.table.map((_, k) => {
    const row: Record<string, BranchActions> = {};
    if (k === 0) return row;
    const out = r.out[k % r.out.length]!;
    const blocks = r.blocks[k % r.blocks.length]!;
    const act = (c: boolean) => (c ? { kind: 'compute' as const } : { kind: 'reuse' as const });
    if (out !== 'both') row['out'] = { cond: act(computes(out, 'cond')), uncond: act(computes(out, 'uncond')) };
    const blk = { cond: act(computes(blocks, 'cond')), uncond: act(computes(blocks, 'uncond')) };
    if (blk.cond.kind === 'reuse' || blk.uncond.kind === 'reuse') for (let b = 0; b < depth; b++) for (const t of ['attn', 'mlp']) row[`blocks[${b}].${t}`] = blk;
    return row;
  });
  return { ...base, name: 'cfg_halves', table };
}

/** Per step and CFG branch, whether the model output `out` is reused (`true`) or computed. */
export const outReuseArb = fc.array(fc.record({ c: fc.boolean(), u: fc.boolean() }), { minLength: 1, maxLength: 4 });

/** A random schedule (scheduleFrom) with the model output `out` also reused at random steps from
 *  step 1 on: under a reused output every block is dead, whatever its own action says. */
export function withOutReuse(s: ScheduleIR, out: readonly { c: boolean; u: boolean }[]): ScheduleIR {
  const act = (reuse: boolean): Action => (reuse ? { kind: 'reuse' } : { kind: 'compute' });
  const table = s.table.map((row, k) => {
    const o = out[k % out.length]!;
    if (k === 0 || (!o.c && !o.u)) return row;
    return { ...row, out: { cond: act(o.c), uncond: act(o.u) } };
  });
  return { ...s, name: `${s.name}-out-reuse`, table };
}
