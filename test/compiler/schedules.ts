/** Hand-built Schedule IRs for the compiler tests (the language front end is tested elsewhere). */
import type { Action, BranchActions, ScheduleIR } from '../../compiler/ir/schedule.ts';

export const C: Action = { kind: 'compute' };
export const R: Action = { kind: 'reuse' };
export const RES: Action = { kind: 'reuse_residual' };
export const F = (order: number): Action => ({ kind: 'forecast', order });
export const both = (a: Action): BranchActions => ({ cond: a, uncond: a });

export function schedule(name: string, steps: number, row: (k: number) => Partial<Record<string, BranchActions>>, epsScale = 1): ScheduleIR {
  return {
    name, model: 'DiT', steps,
    table: Array.from({ length: steps }, (_, k) => Object.fromEntries(Object.entries(row(k)).filter((e): e is [string, BranchActions] => e[1] !== undefined))),
    epsScale: Array.from({ length: steps }, () => epsScale),
    dynamic: [],
  };
}

/** FORA: every block's attention and MLP reused on all but every n-th step. */
export function fora(depth: number, steps: number, n: number): ScheduleIR {
  return schedule(`fora${n}`, steps, (k) => {
    if (k % n === 0) return {};
    const row: Record<string, BranchActions> = {};
    for (let i = 0; i < depth; i++) {
      row[`blocks[${i}].attn`] = both(R);
      row[`blocks[${i}].mlp`] = both(R);
    }
    return row;
  });
}

/** EB-Cache's released table (docs/ebcache.md "The released table") in sampling order; code 2 = reuse attn+mlp of every block. */
export const EBCACHE_TABLE_SAMPLING_ORDER: number[] = [
  ...Array.from({ length: 22 }, () => 0),
  ...Array.from({ length: 9 }, () => [2, 0]).flat(),
  2, 2, 2, 0, 2, 2, 0, 2, 2, 0,
];

export function ebcache(depth: number): ScheduleIR {
  return schedule('EBCacheReleased', 50, (k) => {
    if (EBCACHE_TABLE_SAMPLING_ORDER[k] !== 2) return {};
    const row: Record<string, BranchActions> = {};
    for (let i = 0; i < depth; i++) {
      row[`blocks[${i}].attn`] = both(R);
      row[`blocks[${i}].mlp`] = both(R);
    }
    return row;
  }, 1 / 0.965);
}
