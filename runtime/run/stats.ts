/** What a run computed and reused, counted from the plan's per-step node states. */
import type { Plan } from '../../compiler/plan/types.ts';

export interface NodeWorkStats {
  /** Node-steps (cond branch rows of the heatmap, summed over steps) per state. */
  computed: number;
  /** Computed on some token rows, the rest reused (`compute tokens(…)`). */
  partial: number;
  reused: number;
  forecast: number;
  residual: number;
  dead: number;
  hoisted: number;
  /** Steps whose unconditional half of the model output came from the conditional half and the
   *  stored bands (`cfg_cache`): the network ran on the conditional half only. */
  cfgCached: number;
  /** Dispatches the whole run encodes (prologue included). */
  dispatches: number;
}

export function planWorkStats(plan: Plan): NodeWorkStats {
  const s: NodeWorkStats = { computed: 0, partial: 0, reused: 0, forecast: 0, residual: 0, dead: 0, hoisted: 0, cfgCached: 0, dispatches: plan.prologue.dispatches.length };
  for (const row of plan.heatmap.cond) {
    for (const c of row) {
      if (c === 'c') s.computed++;
      else if (c === 'p') s.partial++;
      else if (c === 'r') s.reused++;
      else if (c === 'f') s.forecast++;
      else if (c === 's') s.residual++;
      else if (c === 'd') s.dead++;
      else if (c === 'h') s.hoisted++;
    }
  }
  for (const row of plan.heatmap.uncond) if (row?.includes('b')) s.cfgCached++;
  for (const b of plan.stepBody) s.dispatches += plan.bodies[b]!.dispatches.length;
  return s;
}
