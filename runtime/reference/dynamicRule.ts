/**
 * The run-time state of one dynamic rule (compiler/ir/schedule.ts `DynamicRule`): the accumulated
 * rel-L1 signal since the targets last computed and the count of consecutive reuses.
 *
 * Every step (whether or not a target refers to the rule that step) the signal is measured:
 *   s_k = mean|v_k − v_{k−1}| / mean|v_{k−1}|,   acc += s_k.
 * Where a target refers to the rule, the decision is
 *   reuse  iff  k ≥ warmup  and  acc < threshold  and  consecutive < maxConsecutive,
 * and at k = 0 (no previous signal) always compute. A compute decision, and every step at which
 * no target refers to the rule, resets acc and the consecutive count.
 */
import type { DynamicRule } from '../../compiler/ir/schedule.ts';
import { relL1 } from './cacheStore.ts';

export type Decision = 'compute' | 'reuse';

export interface DecisionTrace {
  step: number;
  /** s_k (undefined at the first step). */
  signal?: number;
  /** acc after adding s_k, before a compute resets it. */
  accumulated: number;
  decision: Decision;
  /** Whether a target referred to the rule at this step. */
  used: boolean;
}

export class DynamicRuleState {
  private prev?: Float32Array;
  private acc = 0;
  private consecutive = 0;
  readonly trace: DecisionTrace[] = [];

  constructor(readonly rule: DynamicRule) {}

  /** Feeds the signal value of step k and returns the decision for that step. */
  step(k: number, value: Float32Array, used: boolean): Decision {
    const s = this.prev ? relL1(this.prev, value) : undefined;
    this.prev = value;
    if (s !== undefined) this.acc += s;
    const accumulated = this.acc;
    const r = this.rule;
    const reuse = used && s !== undefined && k >= r.warmup && this.acc < r.threshold && this.consecutive < r.maxConsecutive;
    if (reuse) {
      this.consecutive++;
    } else {
      this.acc = 0;
      this.consecutive = 0;
    }
    const decision: Decision = reuse ? 'reuse' : 'compute';
    this.trace.push({ step: k, signal: s, accumulated, decision, used });
    return decision;
  }

  get reused(): number {
    return this.trace.filter((t) => t.used && t.decision === 'reuse').length;
  }

  get computed(): number {
    return this.trace.filter((t) => t.used && t.decision === 'compute').length;
  }
}
