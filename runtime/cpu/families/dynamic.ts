/** CPU definition of the `dynamic_decide` family (compiler/kernels/dynamic.ts): the rule's decision
 *  is `dynamicDecision` (compiler/ir/rules.ts) over the state buffer's fields; at a step that uses
 *  the rule it writes each guarded dispatch's workgroup counts on the chosen path and zeros on the
 *  other. `dynamic_reset` (config `{rules}`) zeroes the state. */
import { DYNAMIC_STATE_FIELDS, DYNAMIC_STATE_STRIDE, decideParamsOf, type DynamicDecideConfig, type DynamicRateConfig, type DynamicResetConfig } from '../../../compiler/kernels/dynamic.ts';
import { dynamicDecision, dynamicKeepsSignal, guardRuns, transformRate, transformRateChange } from '../../../compiler/ir/rules.ts';
import type { Elements } from './types.ts';

const F = (name: (typeof DYNAMIC_STATE_FIELDS)[number]) => DYNAMIC_STATE_FIELDS.indexOf(name);

export function dynamicDecide(c: DynamicDecideConfig | DynamicRateConfig | DynamicResetConfig, bindings: Elements[]): void {
  if ('rules' in c) {
    bindings[0]!.fill(0, 0, c.rules * DYNAMIC_STATE_STRIDE);
    return;
  }
  if ('rateUpdate' in c) {
    rateUpdate(c, bindings);
    return;
  }
  let i = 0;
  const signal = bindings[i++]!;
  const input = c.residual ? bindings[i++]! : undefined;
  const prev = bindings[i++]!;
  const state = bindings[i++]!;
  const args = c.used ? bindings[i]! : undefined;
  const cur = (e: number) => Math.fround(input ? signal[e]! - input[e]! : signal[e]!);
  const params = decideParamsOf(c);
  const k = state[c.rule * DYNAMIC_STATE_STRIDE + F('step')]!;
  // One record's decision from the change over elements [lo, hi) of the signal.
  const decide = (record: number, lo: number, hi: number): boolean => {
    let num = 0;
    let den = 0;
    for (let e = lo; e < hi; e++) {
      num += Math.abs(cur(e) - prev[e]!);
      den += Math.abs(prev[e]!);
    }
    const base = record * DYNAMIC_STATE_STRIDE;
    const s = (name: (typeof DYNAMIC_STATE_FIELDS)[number]) => base + F(name);
    const hasPrev = state[s('has_prev')]! > 0.5;
    const rate = c.metric === 'transform_rate';
    const raw = !hasPrev
      ? undefined
      : rate
        ? transformRateChange(state[s('has_rate')]! > 0.5 ? state[s('rate')]! : undefined, num, state[s('out_norm')]!)
        : den > 0 ? num / den : num === 0 ? 0 : 3.0e38;
    const { reuse, next, measured } = dynamicDecision(params, { hasPrev, acc: state[s('acc')]!, consecutive: state[s('consecutive')]!, reused: state[s('reused')]! }, k, raw, c.used);
    if (reuse) state[s('reused')]! += 1;
    else if (c.used) state[s('computed')]! += 1;
    state[s('step')] = k + 1;
    state[s('has_prev')] = 1;
    state[s('acc')] = next.acc;
    state[s('consecutive')] = next.consecutive;
    state[s('decision')] = reuse ? 1 : 0;
    state[s('signal')] = measured ?? 0;
    return reuse;
  };
  // per_branch: the cond half [0, N/2) and the uncond half [N/2, N) decide on their own.
  const half = c.uncondRecord === undefined ? c.elements : c.elements / 2;
  const reuseC = decide(c.rule, 0, half);
  const reuseU = c.uncondRecord === undefined ? reuseC : decide(c.uncondRecord, half, c.elements);
  const reuse = { cond: reuseC, uncond: reuseU };
  if (args) for (const g of c.guarded) for (let a = 0; a < 3; a++) args[3 * g.slot + a] = guardRuns(g.when, c.uncondRecord === undefined ? undefined : g.branch, reuse) ? g.workgroups[a]! : 0;
  for (let e = 0; e < c.elements; e++) if (dynamicKeepsSignal(params, e < half ? reuseC : reuseU)) prev[e] = cur(e);
}

/** `dynamic_rate` (EasyCache, after the span at a compute): the rate against the last compute
 *  (`transformRate`), Σ|o|, and o, x kept as the last compute's. */
function rateUpdate(c: DynamicRateConfig, bindings: Elements[]): void {
  const [output, input, lastOut, lastIn, state] = bindings as [Elements, Elements, Elements, Elements, Elements];
  const s = (name: (typeof DYNAMIC_STATE_FIELDS)[number]) => c.rule * DYNAMIC_STATE_STRIDE + F(name);
  let dOut = 0;
  let dIn = 0;
  let norm = 0;
  for (let e = 0; e < c.elements; e++) {
    dOut += Math.abs(output[e]! - lastOut[e]!);
    dIn += Math.abs(input[e]! - lastIn[e]!);
    norm += Math.abs(output[e]!);
  }
  if (state[s('has_out')]! > 0.5) {
    const r = transformRate(dOut, dIn);
    state[s('has_rate')] = r === undefined ? 0 : 1;
    state[s('rate')] = r ?? 0;
  }
  state[s('has_out')] = 1;
  state[s('out_norm')] = norm;
  lastOut.set(output.subarray(0, c.elements));
  lastIn.set(input.subarray(0, c.elements));
}
