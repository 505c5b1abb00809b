/**
 * `TARGETS reuse residual [at PRED] when transform_rate(blocks[a..b]) < τ [warmup w] [max m]`:
 * EasyCache's runtime-adaptive rule (compiler/ir/rules.ts defines what it computes). The signal is
 * a span of consecutive blocks; the decision reads only the span's input, so the rule may govern
 * the span itself — which is what EasyCache does: it reuses the transformation it measures.
 */
import type { DynamicRule } from '../ir/schedule.ts';
import { evalInt, evalNumber } from '../check/constEval.ts';
import { signalNodes, signalUpstream } from '../ir/scheduleCheck.ts';
import { type Ctx, stepEnv } from './resolveContext.ts';
import { resolveSelector, type Target } from './targets.ts';
import { residualSignal, type WhenAst } from './ruleSignal.ts';

export function transformRateRule(ctx: Ctx, w: Extract<WhenAst, { kind: 'transform_rate' }>, then: 'reuse' | 'reuse_residual', targets: readonly Target[]): DynamicRule | undefined {
  for (const [word, e] of [['cap', w.cap], ['total', w.total], ['retain', w.retain]] as const) {
    if (e) {
      ctx.diags.error(`\`${word}\` does not apply to \`transform_rate\` (it takes \`warmup\` and \`max\`)`, e.span);
      return undefined;
    }
  }
  if (w.perBranch) {
    ctx.diags.error('`per_branch` does not apply to `transform_rate`: EasyCache takes one decision per step for the CFG batch (its released code decides on the conditional branch), so its rate is not kept per branch', w.perBranch.span);
    return undefined;
  }
  if (then !== 'reuse_residual') {
    ctx.diags.error('`transform_rate` measures a span of blocks and reuses its transformation (output − input); the action must be `reuse residual`', w.span);
    return undefined;
  }
  const env = stepEnv(ctx, undefined, 'a dynamic rule');
  const sig = resolveSelector(w.signal, env, ctx.u, ctx.diags);
  const threshold = evalNumber(w.threshold, env, ctx.diags, 'the threshold');
  const warmup = w.warmup ? evalInt(w.warmup, env, ctx.diags, '`warmup`', 1, ctx.S) : 1;
  const max = w.max ? evalInt(w.max, env, ctx.diags, '`max`', 1) : ctx.S;
  if (!sig || threshold === undefined || warmup === undefined || max === undefined) return undefined;
  if (!(threshold > 0)) {
    ctx.diags.error(`the threshold bounds an accumulated estimated change, so it must be > 0, got ${threshold}`, w.threshold.span);
    return undefined;
  }
  const signal = residualSignal(ctx, w, sig);
  if (!signal) return undefined;
  // The decision reads the span's input before anything the rule governs runs.
  const g = ctx.u.graph;
  const input = signalNodes(g, signal.path)![1]!;
  const upstream = signalUpstream(g, [input]);
  const early = targets.find((x) => upstream.has(x.kind === 'block' ? (g.blocks.find((b) => b.path === x.path)?.output ?? -1) : (g.nodes.find((n) => n.path === x.path)?.id ?? -1)));
  if (early) {
    ctx.diags.error(`\`${early.path}\` comes before the input of the measured span, so the rule cannot govern it (it decides from that input)`, w.signal.span);
    return undefined;
  }
  return { signal: signal.path, metric: 'transform_rate', threshold, warmup, maxConsecutive: max, then };
}
