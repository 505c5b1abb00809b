/**
 * Dynamic rules as the compiler plans them (part of pass `specialise`): each rule's signal resolved
 * to graph nodes, and per step the rule the step's targets follow. The restrictions below are what
 * the GPU lowering supports (docs/compiler.md "Dynamic rules"); each is an E_CHECK naming the rule.
 */
import { DittoError } from '../../core/errors.ts';
import type { Graph } from '../ir/graph.ts';
import { decisionNodes, signalNodes } from '../ir/scheduleCheck.ts';
import { decideParams } from '../ir/rules.ts';
import { uncondRecord } from '../kernels/dynamic.ts';
import { actionAt, type ScheduleIR } from '../ir/schedule.ts';
import type { DynamicSignal, TargetInfo } from './ir.ts';
import type { CompileOptions } from './options.ts';

function fail(schedule: ScheduleIR, msg: string): never {
  throw new DittoError('E_CHECK', `schedule '${schedule.name}': ${msg}`);
}

/** The signal nodes of every rule, checked: the signal exists and is computed at every step. */
export function dynamicSignals(graph: Graph, schedule: ScheduleIR, targets: Map<string, TargetInfo>, opts: CompileOptions): DynamicSignal[] {
  return schedule.dynamic.map((r, rule) => {
    if (r.metric !== 'rel_l1' && r.metric !== 'transform_rate') fail(schedule, `dynamic rule ${rule}: metric '${String(r.metric)}' is not supported (rel_l1 and transform_rate are)`);
    const rate = r.metric === 'transform_rate';
    if (rate && (r.against === 'compute' || r.rescale?.length || r.cap !== undefined || r.maxReused !== undefined)) fail(schedule, `dynamic rule ${rule}: transform_rate takes no 'against', rescale, cap or total`);
    if (rate && r.then !== 'reuse_residual') fail(schedule, `dynamic rule ${rule}: transform_rate reuses the span's transformation ('reuse_residual'), got '${r.then}'`);
    if (!Number.isInteger(r.warmup) || r.warmup < 0) fail(schedule, `dynamic rule ${rule}: warmup must be a non-negative integer, got ${r.warmup}`);
    if (!(r.maxConsecutive >= 0) || !(Number.isFinite(r.threshold))) fail(schedule, `dynamic rule ${rule}: threshold ${r.threshold} / max ${r.maxConsecutive} are not usable numbers`);
    if (r.against !== undefined && r.against !== 'step' && r.against !== 'compute') fail(schedule, `dynamic rule ${rule}: 'against' must be step or compute, got '${String(r.against)}'`);
    if (r.rescale !== undefined && (!Array.isArray(r.rescale) || !r.rescale.every(Number.isFinite))) fail(schedule, `dynamic rule ${rule}: rescale must be a list of finite numbers`);
    if (r.cap !== undefined && !(r.cap > 0)) fail(schedule, `dynamic rule ${rule}: cap must be > 0, got ${r.cap}`);
    if (r.maxReused !== undefined && !(r.maxReused >= 0)) fail(schedule, `dynamic rule ${rule}: total must be >= 0, got ${r.maxReused}`);
    if (r.perBranch && opts.cfgScale === undefined) fail(schedule, `dynamic rule ${rule} (rel_l1(${r.signal}) … per_branch) keeps one decision per CFG branch, so it needs CFG; compile with a guidance scale (--cfg) or drop \`per_branch\``);
    if (r.perBranch && (rate || r.then !== 'reuse_residual')) fail(schedule, `dynamic rule ${rule}: \`per_branch\` applies to rel_l1 rules that reuse a residual`);
    const all = signalNodes(graph, r.signal);
    const nodes = decisionNodes(graph, r);
    if (!all || !nodes) fail(schedule, `dynamic rule ${rule}: signal '${r.signal}' is neither a named node nor the residual of a block or block range of model ${graph.model}${rate ? ' (transform_rate needs a block range)' : ''}`);
    // The signal is measured at every step, so it must be computed at every step.
    for (const info of targets.values()) {
      if (!nodes.includes(info.node)) continue;
      for (let k = 0; k < schedule.steps; k++) {
        for (const b of opts.cfgScale !== undefined ? (['cond', 'uncond'] as const) : (['cond'] as const)) {
          const a = actionAt(schedule, k, info.path, b);
          if (a.kind !== 'compute') fail(schedule, `the signal '${r.signal}' of dynamic rule ${rule} is ${a.kind === 'dynamic' ? 'decided by a dynamic rule' : a.kind} at step ${k} (${b}); a signal must be computed at every step`);
        }
      }
    }
    return { rule, signal: r.signal, nodes, ...(rate ? { output: all[0]! } : {}), params: decideParams(r), then: r.then, ...(r.perBranch ? { perBranch: { uncondRecord: uncondRecord(rule, schedule.dynamic.length) } } : {}) };
  });
}

/**
 * Per step, the dynamic rule its targets follow (undefined: none). A rule counts as used at a step
 * when any target's action in either branch refers to it, as in the reference executor. One rule
 * per step, and under CFG both branches of a target follow the same rule (the decision is taken
 * once for the whole batch, or, `per_branch`, once per half by the same rule).
 */
export function dynamicStepRules(schedule: ScheduleIR, opts: CompileOptions): (number | undefined)[] {
  const cfg = opts.cfgScale !== undefined;
  return schedule.table.map((row, k) => {
    let rule: number | undefined;
    for (const [path, acts] of Object.entries(row)) {
      for (const a of [acts.cond, acts.uncond]) {
        if (a.kind !== 'dynamic') continue;
        if (rule !== undefined && rule !== a.rule) fail(schedule, `step ${k} follows dynamic rules ${rule} and ${a.rule}; the compiler supports one dynamic rule per step`);
        rule = a.rule;
      }
      const [c, u] = [acts.cond, acts.uncond];
      if (cfg && (c.kind === 'dynamic' || u.kind === 'dynamic') && (c.kind !== u.kind || (c.kind === 'dynamic' && u.kind === 'dynamic' && c.rule !== u.rule))) {
        fail(schedule, `${path} at step ${k}: under CFG both branches must follow the same dynamic rule (the decision is taken once per step for the whole batch)`);
      }
    }
    return rule;
  });
}
