/**
 * The one read of a dynamic plan's rule state, after the last step: per rule, the steps that
 * reused and that computed (the counters the dynamic_decide kernel keeps on the GPU), per CFG
 * branch for a `per_branch` rule.
 */
import type { Plan } from '../../compiler/plan/types.ts';
import { readBack } from '../gpu/buffers.ts';

export interface DynamicRunStats {
  rule: number;
  signal: string;
  /** Present for EasyCache's `transform_rate` (absent: `rel_l1`). */
  metric?: 'transform_rate';
  threshold: number;
  /** Steps whose targets followed the rule and reused / computed. */
  reusedSteps: number;
  computedSteps: number;
  /** `per_branch`: the uncond branch's counts (the two above are then the cond branch's). */
  uncond?: { reusedSteps: number; computedSteps: number };
}

export async function readDynamicStats(device: GPUDevice, plan: Plan, buffers: readonly GPUBuffer[]): Promise<DynamicRunStats[]> {
  const dyn = plan.dynamic!;
  const bytes = plan.buffers[dyn.state]!.bytes;
  const state = new Float32Array(await readBack(device, buffers[dyn.state]!, Math.ceil(bytes / 4) * 4));
  const computedField = dyn.stateFields.indexOf('computed');
  return dyn.rules.map((r) => ({
    rule: r.rule,
    signal: r.signal,
    ...(r.metric ? { metric: r.metric } : {}),
    threshold: r.threshold,
    reusedSteps: Math.round(state[r.reusedSteps / 4]!),
    computedSteps: Math.round(state[r.stateOffset / 4 + computedField]!),
    ...(r.perBranch ? { uncond: { reusedSteps: Math.round(state[r.perBranch.reusedSteps / 4]!), computedSteps: Math.round(state[r.perBranch.stateOffset / 4 + computedField]!) } } : {}),
  }));
}
