/**
 * Rule statements: `TARGETS ACTION [at PRED] [when …]` — a static action on the selected cells, a
 * dynamic rule (signal, threshold, warm-up, maximum run of reuses …) the plan decides on the GPU, or
 * a magnitude rule (MagCache), whose calibrated curve decides when the schedule is resolved.
 */
import type { ActionAst, ScheduleStmt } from '../../grammar/ast.ts';
import type { Graph } from '../ir/graph.ts';
import type { Action, DynamicRule } from '../ir/schedule.ts';
import { evalInt, evalNumber } from '../check/constEval.ts';
import { applyCells, type Branch, checkTargetKinds, type Ctx, stepEnv, stepsWhere, warnNoChange } from './resolveContext.ts';
import { type Target, resolveSelector, resolveSelectors } from './targets.ts';
import { nodeSignal, residualSignal, type WhenAst } from './ruleSignal.ts';
import { applyMagnitudeRule } from './magnitudeRule.ts';
import { transformRateRule } from './transformRateRule.ts';
import { signalNodes, signalUpstream } from '../ir/scheduleCheck.ts';

export function applyRule(ctx: Ctx, s: Extract<ScheduleStmt, { kind: 'rule' }>, branches: readonly Branch[]): void {
  const targets = resolveSelectors(s.targets, stepEnv(ctx, undefined, 'a selector'), ctx.u, ctx.diags);
  const when = stepsWhere(ctx, s.at);
  let action: Action | undefined;
  // An action whose argument depends on the step (`forecast linear(1 - t)`): its value at step k.
  let perStep: ((k: number) => Action | undefined) | undefined;
  switch (s.action.kind) {
    case 'compute':
    case 'reuse':
    case 'reuse_residual':
      action = { kind: s.action.kind };
      break;
    case 'forecast':
      if (s.action.form === 'linear') {
        perStep = linearForecastAction(ctx, s.action);
        // The first selected step stands for the rule in the checks below (every step has the same kind).
        const first = when?.indexOf(true) ?? -1;
        action = perStep && first >= 0 ? perStep(first) : perStep ? { kind: 'forecast', order: 1, basis: { form: 'linear', weight: 0 } } : undefined;
      } else action = forecastAction(ctx, s.action);
      break;
    case 'tokens':
      action = tokensAction(ctx, s.action);
      break;
  }
  if (!targets || !when || !action) return;
  if (!checkTargetKinds(ctx, targets, action, s.action.span)) return;
  if (s.when) {
    if (action.kind !== 'reuse' && action.kind !== 'reuse_residual') {
      ctx.diags.error('a dynamic rule decides between compute and reuse; its action must be `reuse` or `reuse residual`', s.action.span);
      return;
    }
    if (s.when.kind === 'magnitude') {
      applyMagnitudeRule(ctx, s.when, targets, when, action.kind, branches, s.span);
      return;
    }
    const rule = s.when.kind === 'transform_rate' ? transformRateRule(ctx, s.when, action.kind, targets) : dynamicRule(ctx, s.when, action.kind, targets);
    if (!rule) return;
    const idx = ctx.st.dynamic.length;
    ctx.st.dynamic.push(rule);
    ctx.st.dynamicSpans.push(s.span);
    warnNoChange(ctx, applyCells(ctx, targets, when, () => ({ kind: 'dynamic', rule: idx }), branches, s.span), s.span);
    return;
  }
  warnNoChange(ctx, applyCells(ctx, targets, when, perStep ?? (() => action), branches, s.span), s.span);
}

function dynamicRule(ctx: Ctx, w: Extract<WhenAst, { kind: 'rel_l1' }>, then: 'reuse' | 'reuse_residual', targets: readonly Target[]): DynamicRule | undefined {
  const env = stepEnv(ctx, undefined, 'a dynamic rule');
  const sig = resolveSelector(w.signal, env, ctx.u, ctx.diags);
  const threshold = evalNumber(w.threshold, env, ctx.diags, 'the threshold');
  const warmup = w.warmup ? evalInt(w.warmup, env, ctx.diags, '`warmup`', 1, ctx.S) : 1;
  const max = w.max ? evalInt(w.max, env, ctx.diags, '`max`', 1) : ctx.S;
  const cap = w.cap ? evalNumber(w.cap, env, ctx.diags, '`cap`') : undefined;
  const total = w.total ? evalInt(w.total, env, ctx.diags, '`total`', 0) : undefined;
  const rescale = w.rescale?.map((c) => evalNumber(c, env, ctx.diags, 'a rescale coefficient'));
  if (!sig || threshold === undefined || warmup === undefined || max === undefined) return undefined;
  if ((w.cap && cap === undefined) || (w.total && total === undefined) || rescale?.some((c) => c === undefined)) return undefined;
  if (threshold <= 0) {
    ctx.diags.error(`the threshold must be > 0 (a relative L1 change is never below ${threshold}), got ${threshold}`, w.threshold.span);
    return undefined;
  }
  if (cap !== undefined && !(cap > 0)) {
    ctx.diags.error(`\`cap\` bounds an accumulated change, so it must be > 0, got ${cap}`, w.cap!.span);
    return undefined;
  }
  if (cap !== undefined && !w.sinceCompute) {
    ctx.diags.error('`cap` bounds the sum of changes measured `since compute`; without it the sum itself is compared with the threshold', w.cap!.span);
    return undefined;
  }
  if (w.perBranch && then !== 'reuse_residual') {
    ctx.diags.error('`per_branch` lets one CFG branch reuse its residual while the other computes; it needs `reuse residual` (with `reuse` the branches share one decision)', w.perBranch.span);
    return undefined;
  }
  const signal = w.residual ? residualSignal(ctx, w, sig) : nodeSignal(ctx, w, sig);
  if (!signal) return undefined;
  const { path, node, blocks } = signal;
  if (!dependsOnStepInputs(ctx.u.graph, node)) {
    ctx.diags.error(`the signal \`${path}\` is the same at every step (it depends on no per-step input such as the latent or the timestep), so this rule would always reuse`, w.signal.span);
    return undefined;
  }
  const upstream = signalUpstream(ctx.u.graph, signalNodes(ctx.u.graph, path) ?? [node]);
  const g = ctx.u.graph;
  const owned = targets.some((x) => x.path === path || upstream.has(x.kind === 'block' ? (g.blocks.find((b) => b.path === x.path)?.output ?? -1) : (g.nodes.find((n) => n.path === x.path)?.id ?? -1)));
  if (owned || targets.some((x) => blocks.includes(x.path))) {
    ctx.diags.error(`the signal \`${path}\` is itself reused by this rule; it must be computed at every step`, w.signal.span);
    return undefined;
  }
  return {
    signal: path, metric: 'rel_l1', threshold, warmup, maxConsecutive: max, then,
    ...(w.sinceCompute ? { against: 'compute' as const } : {}),
    ...(rescale ? { rescale: rescale as number[] } : {}),
    ...(cap !== undefined ? { cap } : {}),
    ...(total !== undefined ? { maxReused: total } : {}),
    ...(w.perBranch ? { perBranch: true } : {}),
  };
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


/** The order FoCa's and the exponential forecast work at: both read the last three computes. */
const TWO_DIFFERENCES = 2;
const FORECAST_FORMS: readonly string[] = ['taylor', 'hermite', 'foca', 'exp', 'linear'];

/** `forecast linear(w)`: FasterCache's feature reuse with weight w, which may depend on the step
 *  (k, i, t), evaluated at each step the rule selects. An error is reported once, at the first step
 *  that has it, and the rule then applies nowhere. */
function linearForecastAction(ctx: Ctx, a: Extract<ActionAst, { kind: 'forecast' }>): ((k: number) => Action | undefined) | undefined {
  if (!a.order) {
    ctx.diags.error('`linear` needs its weight in parentheses: the last compute plus w times the change between the last two', a.span, { expected: 'forecast linear(0.5)' });
    return undefined;
  }
  if (a.scale) {
    ctx.diags.error('`linear(w)` takes one argument, the weight', a.scale.span, { expected: 'forecast linear(0.5)' });
    return undefined;
  }
  const weightExpr = a.order;
  let failed = false;
  return (k) => {
    if (failed) return undefined;
    const weight = evalNumber(weightExpr, stepEnv(ctx, k, 'the linear forecast\'s weight'), ctx.diags, 'the linear forecast\'s weight');
    if (weight !== undefined && !(Number.isFinite(weight) && weight >= 0)) {
      ctx.diags.error(`the linear forecast's weight must be a finite number ≥ 0 (0 is reuse), got ${+weight.toPrecision(6)} at step ${k}`, weightExpr.span, { expected: 'forecast linear(0.5)' });
    }
    if (weight === undefined || !(Number.isFinite(weight) && weight >= 0)) {
      failed = true;
      return undefined;
    }
    return { kind: 'forecast', order: 1, basis: { form: 'linear', weight } };
  };
}

/** `forecast taylor(k)`, `forecast hermite(k, σ)`, `forecast foca`, `forecast exp`: the order, and
 *  the basis with its scale. */
function forecastAction(ctx: Ctx, a: Extract<ActionAst, { kind: 'forecast' }>): Action | undefined {
  if (!FORECAST_FORMS.includes(a.form)) {
    ctx.diags.error(`unknown forecast form \`${a.form}\`; the forms are taylor(k), hermite(k, σ), foca, exp and linear(w)`, a.span, { expected: 'forecast taylor(2)' });
    return undefined;
  }
  if (a.form === 'foca' || a.form === 'exp') {
    if (a.order) {
      const why = a.form === 'foca' ? 'BDF2 with a Heun calibration over the last three computes' : 'an exponential fit of the last three computes';
      ctx.diags.error(`\`${a.form}\` takes no arguments: it is ${why}`, a.order.span, { expected: `forecast ${a.form}` });
      return undefined;
    }
    return { kind: 'forecast', order: TWO_DIFFERENCES, basis: { form: a.form } };
  }
  if (!a.order) {
    const expected = a.form === 'taylor' ? 'forecast taylor(2)' : 'forecast hermite(2, 0.5)';
    ctx.diags.error(`\`${a.form}\` needs its order in parentheses`, a.span, { expected });
    return undefined;
  }
  const what = a.form === 'taylor' ? 'a Taylor order' : 'a Hermite order';
  const order = evalInt(a.order, stepEnv(ctx, undefined, what), ctx.diags, what, 1, 8);
  if (a.form === 'taylor') {
    if (a.scale) {
      ctx.diags.error('`taylor(k)` takes only the order; a scale belongs to `hermite(k, σ)`', a.scale.span);
      return undefined;
    }
    return order === undefined ? undefined : { kind: 'forecast', order };
  }
  if (!a.scale) {
    ctx.diags.error('`hermite(k, σ)` needs its scale σ (σ → 0 is `taylor(k)`)', a.span, { expected: 'forecast hermite(2, 0.5)' });
    return undefined;
  }
  const sigma = evalNumber(a.scale, stepEnv(ctx, undefined, 'the Hermite scale'), ctx.diags, 'the Hermite scale');
  if (sigma === undefined || order === undefined) return undefined;
  if (!(sigma > 0) || !Number.isFinite(sigma)) {
    ctx.diags.error(`the Hermite scale σ must be a finite number > 0 (σ = 0 is \`taylor(${order})\`), got ${sigma}`, a.scale.span);
    return undefined;
  }
  return { kind: 'forecast', order, basis: { form: 'hermite', sigma } };
}

/** `compute tokens(f)` or `compute tokens(f, by = staleness | cluster(s))`: the fraction (a schedule
 *  parameter may give it) in (0, 1] and the order that breaks ties among equally stale tokens. */
function tokensAction(ctx: Ctx, a: Extract<ActionAst, { kind: 'tokens' }>): Action | undefined {
  const fraction = evalNumber(a.fraction, stepEnv(ctx, undefined, 'the fraction of tokens'), ctx.diags, 'the fraction of tokens');
  if (fraction === undefined) return undefined;
  if (!(fraction > 0 && fraction <= 1)) {
    ctx.diags.error(`the fraction of tokens computed must be > 0 and ≤ 1 (1 computes every token), got ${fraction}`, a.fraction.span, { expected: 'compute tokens(0.25)' });
    return undefined;
  }
  if (a.by && a.by.name !== 'by') {
    ctx.diags.error(`expected \`by = staleness\` or \`by = cluster(s)\`, found \`${a.by.name} =\``, a.by.span);
    return undefined;
  }
  const name = a.order?.name ?? 'staleness';
  if (name === 'staleness') {
    if (a.size) {
      ctx.diags.error('`by = staleness` takes no size; a size belongs to `by = cluster(s)`', a.size.span);
      return undefined;
    }
    return { kind: 'tokens', fraction, by: { form: 'staleness' } };
  }
  if (name !== 'cluster') {
    ctx.diags.error(`unknown token order \`${name}\`; the orders are \`staleness\` (the default) and \`cluster(s)\``, a.order!.span);
    return undefined;
  }
  if (!a.size) {
    ctx.diags.error('`by = cluster(s)` needs the side s of its square patches of tokens', a.order!.span, { expected: 'compute tokens(0.25, by = cluster(2))' });
    return undefined;
  }
  const size = evalInt(a.size, stepEnv(ctx, undefined, 'the cluster size'), ctx.diags, 'the cluster size', 1, 4096);
  return size === undefined ? undefined : { kind: 'tokens', fraction, by: { form: 'cluster', size } };
}
