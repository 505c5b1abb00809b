/**
 * Rule statements: `TARGETS ACTION [at PRED] [when …]` — a static action on the selected cells, or
 * a dynamic rule (signal, threshold, warm-up, maximum run of reuses) the plan decides on the GPU.
 */
import type { ScheduleStmt } from '../../grammar/ast.ts';
import { printSelector } from '../../grammar/printer.ts';
import type { Graph } from '../ir/graph.ts';
import type { Action, DynamicRule } from '../ir/schedule.ts';
import { evalInt, evalNumber } from '../check/constEval.ts';
import { applyCells, type Branch, checkTargetKinds, type Ctx, stepEnv, stepsWhere, warnNoChange } from './resolveContext.ts';
import { type Target, blockOutputPath, resolveSelector, resolveSelectors } from './targets.ts';

export function applyRule(ctx: Ctx, s: Extract<ScheduleStmt, { kind: 'rule' }>, branches: readonly Branch[]): void {
  const targets = resolveSelectors(s.targets, stepEnv(ctx, undefined, 'a selector'), ctx.u, ctx.diags);
  const when = stepsWhere(ctx, s.at);
  let action: Action | undefined;
  switch (s.action.kind) {
    case 'compute':
    case 'reuse':
    case 'reuse_residual':
      action = { kind: s.action.kind };
      break;
    case 'forecast': {
      const order = evalInt(s.action.order, stepEnv(ctx, undefined, 'a Taylor order'), ctx.diags, 'a Taylor order', 1, 8);
      if (order !== undefined) action = { kind: 'forecast', order };
      break;
    }
  }
  if (!targets || !when || !action) return;
  if (!checkTargetKinds(ctx, targets, action, s.action.span)) return;
  if (s.when) {
    if (action.kind !== 'reuse' && action.kind !== 'reuse_residual') {
      ctx.diags.error('a dynamic rule decides between compute and reuse; its action must be `reuse` or `reuse residual`', s.action.span);
      return;
    }
    const rule = dynamicRule(ctx, s.when, action.kind, targets);
    if (!rule) return;
    const idx = ctx.st.dynamic.length;
    ctx.st.dynamic.push(rule);
    ctx.st.dynamicSpans.push(s.span);
    warnNoChange(ctx, applyCells(ctx, targets, when, () => ({ kind: 'dynamic', rule: idx }), branches, s.span), s.span);
    return;
  }
  warnNoChange(ctx, applyCells(ctx, targets, when, () => action, branches, s.span), s.span);
}

function dynamicRule(ctx: Ctx, w: NonNullable<Extract<ScheduleStmt, { kind: 'rule' }>['when']>, then: 'reuse' | 'reuse_residual', targets: readonly Target[]): DynamicRule | undefined {
  const env = stepEnv(ctx, undefined, 'a dynamic rule');
  const sig = resolveSelector(w.signal, env, ctx.u, ctx.diags);
  const threshold = evalNumber(w.threshold, env, ctx.diags, 'the threshold');
  const warmup = w.warmup ? evalInt(w.warmup, env, ctx.diags, '`warmup`', 1, ctx.S) : 1;
  const max = w.max ? evalInt(w.max, env, ctx.diags, '`max`', 1) : ctx.S;
  if (!sig || threshold === undefined || warmup === undefined || max === undefined) return undefined;
  if (threshold <= 0) {
    ctx.diags.error(`the threshold must be > 0 (a relative L1 change is never below ${threshold}), got ${threshold}`, w.threshold.span);
    return undefined;
  }
  if (sig.length !== 1) {
    ctx.diags.error(`the signal must be one node, but \`${printSelector(w.signal)}\` selects ${sig.length}`, w.signal.span);
    return undefined;
  }
  const t = sig[0]!;
  const path = t.kind === 'block' ? blockOutputPath(ctx.u, t.path) : t.path;
  const node = ctx.u.graph.nodes.find((n) => n.path === path);
  if (!path || !node) {
    ctx.diags.error(`the signal \`${printSelector(w.signal)}\` has no node`, w.signal.span);
    return undefined;
  }
  if (!dependsOnStepInputs(ctx.u.graph, node.id)) {
    ctx.diags.error(`the signal \`${path}\` is the same at every step (it depends on no per-step input such as the latent or the timestep), so this rule would always reuse`, w.signal.span);
    return undefined;
  }
  const owner = (p: string) => targets.some((x) => x.path === p || (x.kind === 'block' && p.startsWith(`${x.path}.`)));
  if (owner(path)) {
    ctx.diags.error(`the signal \`${path}\` is itself reused by this rule; it must be computed at every step`, w.signal.span);
    return undefined;
  }
  return { signal: path, metric: 'rel_l1', threshold, warmup, maxConsecutive: max, then };
}

/** Whether a node depends on an f32 input (the latent, the timestep): i32 inputs (labels) and
 *  weights are the same at every step. */
function dependsOnStepInputs(g: Graph, id: number): boolean {
  const seen = new Set<number>();
  const stack = [id];
  while (stack.length) {
    const n = g.nodes[stack.pop()!]!;
    if (seen.has(n.id)) continue;
    seen.add(n.id);
    if (n.op.kind === 'input' && n.dtype === 'f32') return true;
    stack.push(...n.inputs);
  }
  return false;
}

