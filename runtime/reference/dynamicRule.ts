/**
 * The run-time state of one dynamic rule in the reference executor: the rule's decision is
 * `dynamicDecision` (compiler/ir/rules.ts); this keeps the previous signal, the state between steps
 * and a per-step trace for tests and `ditto run`'s report.
 */
import type { DynamicRule } from '../../compiler/ir/schedule.ts';
import { DYNAMIC_START, dynamicDecision, relL1, type DynamicState } from '../../compiler/ir/rules.ts';

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
  private state: DynamicState = DYNAMIC_START;
  readonly trace: DecisionTrace[] = [];

  constructor(readonly rule: DynamicRule) {}

  /** Feeds the signal value of step k and returns the decision for that step. */
  step(k: number, value: Float32Array, used: boolean): Decision {
    const s = this.prev ? relL1(this.prev, value) : undefined;
    this.prev = value;
    const { reuse, accumulated, next } = dynamicDecision(this.rule, this.state, k, s, used);
    this.state = next;
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
