/**
 * `cfg_cache [(low: g, high: g, boundary: b)] [at PRED]` — FasterCache's CFG-Cache: at the selected
 * steps the unconditional half of the model output is the conditional half plus the frequency bands
 * of (uncond − cond) stored at the last step both halves computed (compiler/ir/rules.ts). The
 * statement sets the `uncond` cell of the model output; it needs no target, so it is written at the
 * top of a schedule, not in a branch block.
 */
import type { ScheduleStmt } from '../../grammar/ast.ts';
import type { CfgCacheAction } from '../ir/schedule.ts';
import { cfgCacheOutput } from '../ir/scheduleCheck.ts';
import { evalNumber } from '../check/constEval.ts';
import { applyCells, type Ctx, namedArgs, stepEnv, stepsWhere, warnNoChange } from './resolveContext.ts';

/** FasterCache's compounding growth of each band per skipped step, and our boundary (docs/decisions.md). */
export const CFG_CACHE_DEFAULTS = Object.freeze({ low: 1.1, high: 1.1, boundary: 0.5 });

export function applyCfgCache(ctx: Ctx, s: Extract<ScheduleStmt, { kind: 'cfg_cache' }>): void {
  const args = namedArgs(ctx, s.args, ['low', 'high', 'boundary'], '`cfg_cache`');
  if (!args) return;
  const num = (name: 'low' | 'high' | 'boundary') => {
    const a = args.get(name);
    return a ? evalNumber(a.value, stepEnv(ctx, undefined, `\`${name}\``), ctx.diags, `\`${name}\``) : CFG_CACHE_DEFAULTS[name];
  };
  const low = num('low');
  const high = num('high');
  const boundary = num('boundary');
  if (low === undefined || high === undefined || boundary === undefined) return;
  for (const [name, g] of [['low', low], ['high', high]] as const) {
    if (!(Number.isFinite(g) && g > 0)) {
      ctx.diags.error(`\`${name}\` is the factor the ${name} band's weight grows by at each \`cfg_cache\` step; it must be a finite number > 0, got ${g}`, args.get(name)!.value.span, { expected: `${name}: ${CFG_CACHE_DEFAULTS[name]}` });
      return;
    }
  }
  if (!(boundary >= 0 && boundary <= 1)) {
    ctx.diags.error(`\`boundary\` is a trajectory fraction t in [0, 1] (1 at the first step): the low band's weight grows while t > boundary, the high band's after; got ${boundary}`, args.get('boundary')!.value.span);
    return;
  }
  const out = cfgCacheOutput(ctx.u.graph);
  const path = out === undefined ? undefined : ctx.u.graph.nodes[out]!.path;
  if (path === undefined) {
    ctx.diags.error(`\`cfg_cache\` sets the model output, but model ${ctx.u.graph.model} has no single named output`, s.span);
    return;
  }
  const when = stepsWhere(ctx, s.at);
  if (!when) return;
  const action: CfgCacheAction = { kind: 'cfg_cache', low, high, boundary };
  warnNoChange(ctx, applyCells(ctx, [{ path, kind: 'node' }], when, () => action, ['uncond'], s.span), s.span);
}
