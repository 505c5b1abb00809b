/**
 * FLOPs of each cache state, read from the compiler's own cost model: the probe schedule (states
 * 0, 1, 2, 3 at steps 0..3, scheduleText.ts) is compiled once and each step's FLOPs are divided by
 * the all-compute step's. A table's ratio is then the mean over its steps, which is exactly how
 * plan.cost.flopsRatio is formed (Σ step FLOPs / (S · all-compute FLOPs)); the command checks the
 * two agree on the table it emits.
 */
import { invariant } from '../../core/errors.ts';
import type { Plan } from '../../compiler/plan/types.ts';
import type { CacheState } from './states.ts';

/** Per state: the step's FLOPs as a fraction of an all-compute step's. */
export type StateCosts = Readonly<Record<CacheState, number>>;

export function stateCostsFromProbe(plan: Plan): StateCosts {
  const per = plan.cost.perStep;
  invariant(per.length === 4 && plan.cost.allCompute.flops > 0, `cost probe plan has ${per.length} steps, expected 4`);
  const f = (k: number) => per[k]!.flops / plan.cost.allCompute.flops;
  return { 0: f(0), 1: f(1), 2: f(2), 3: f(3) };
}

/** FLOPs ratio of a table (any order) against computing every step. */
export function tableRatio(costs: StateCosts, table: readonly CacheState[]): number {
  let sum = 0;
  for (const s of table) sum += costs[s];
  return sum / table.length;
}

/** The smallest ratio any valid table reaches: the first step computes, every other reuses both. */
export function minimumRatio(costs: StateCosts, steps: number): number {
  return tableRatio(costs, Array.from({ length: steps }, (_, k) => (k === 0 ? 0 : 2)));
}
