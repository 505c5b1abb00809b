/**
 * The run-time state of one dynamic rule in the reference executor: the rule's decision is
 * `dynamicDecision` (compiler/ir/rules.ts); this keeps the reference signal (the previous step's,
 * or the last compute's), the state between steps and a per-step trace for tests and `ditto run`'s report.
 */
import type { DynamicRule } from '../../compiler/ir/schedule.ts';
import { DYNAMIC_START, decideParams, dynamicDecision, dynamicKeepsSignal, l1Distance, l1Norm, relL1, transformRate, transformRateChange, type DecideParams, type DynamicState } from '../../compiler/ir/rules.ts';

export type Decision = 'compute' | 'reuse';

export interface DecisionTrace {
  step: number;
  /** s_k after rescaling (undefined at the first step). */
  signal?: number;
  /** acc after adding s_k, before a compute resets it. */
  accumulated: number;
  /** What was compared with the threshold: acc (against the previous step) or s_k (against the last compute). */
  compared?: number;
  decision: Decision;
  /** Whether a target referred to the rule at this step. */
  used: boolean;
}

export class DynamicRuleState {
  private prev?: Float32Array;
  private state: DynamicState = DYNAMIC_START;
  private readonly params: DecideParams;
  readonly trace: DecisionTrace[] = [];

  constructor(readonly rule: DynamicRule) {
    this.params = decideParams(rule);
  }

  /** `transform_rate` (EasyCache): the span's output and input at the last compute, and the rate. */
  private last?: { output: Float32Array; input: Float32Array };
  private rate?: number;

  /** Feeds the signal value of step k (for `transform_rate`, the span's input) and returns the
   *  decision for that step. */
  step(k: number, value: Float32Array, used: boolean): Decision {
    const raw = !this.prev
      ? undefined
      : this.rule.metric === 'transform_rate'
        ? transformRateChange(this.rate, l1Distance(value, this.prev), this.last ? l1Norm(this.last.output) : 0)
        : relL1(this.prev, value);
    const { reuse, accumulated, measured, next } = dynamicDecision(this.params, this.state, k, raw, used);
    if (dynamicKeepsSignal(this.params, reuse)) this.prev = value;
    this.state = next;
    const decision: Decision = reuse ? 'reuse' : 'compute';
    const compared = measured === undefined ? undefined : this.params.against === 'compute' ? measured : accumulated;
    this.trace.push({ step: k, ...(measured !== undefined ? { signal: measured } : {}), accumulated, ...(compared !== undefined ? { compared } : {}), decision, used });
    return decision;
  }
  /** `transform_rate`, after a step that computed: the span's output and input at that step. */
  measureCompute(output: Float32Array, input: Float32Array): void {
    if (this.last) this.rate = transformRate(l1Distance(output, this.last.output), l1Distance(input, this.last.input));
    this.last = { output, input };
  }

  get reused(): number {
    return this.trace.filter((t) => t.used && t.decision === 'reuse').length;
  }

  get computed(): number {
    return this.trace.filter((t) => t.used && t.decision === 'compute').length;
  }
}
