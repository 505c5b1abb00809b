/**
 * `eps_scale …` statements: a per-step factor on the guided noise prediction — a constant or
 * expression per step, or EB-Cache's piecewise b(t).
 */
import type { ScheduleStmt } from '../../grammar/ast.ts';
import { evalNumber } from '../check/constEval.ts';
import { type Ctx, namedArgs, stepEnv, stepsWhere, warnNoChange } from './resolveContext.ts';

/**
 * EB-Cache's b(t) (arXiv 2503.07120 v3, Eq. 3, as reported): with t ∈ [0, 1] (1 = first step),
 * b(t) = b_h + (1 − b_h)·exp(−5(1 − t)/(1 − t_thre)) while t > t_thre, and
 * b(t) = b_l + (b_h − b_l)·exp(5(t − t_thre)/(1 − t_thre)) after: b(1) = 1, b(t_thre) = b_h,
 * b(0) ≈ b_l. The strict `t > t_thre` matches the code's stage test `i > 0.4·S`.
 */
export function paperB(t: number, high: number, low: number, thr: number): number {
  return t > thr
    ? high + (1 - high) * Math.exp((-5 * (1 - t)) / (1 - thr))
    : low + (high - low) * Math.exp((5 * (t - thr)) / (1 - thr));
}

export function applyEps(ctx: Ctx, s: Extract<ScheduleStmt, { kind: 'eps_scale' | 'eps_piecewise' }>): void {
  let value: (k: number) => number | undefined;
  let when: boolean[] | undefined = Array.from({ length: ctx.S }, () => true);
  if (s.kind === 'eps_scale') {
    when = stepsWhere(ctx, s.at);
    value = (k) => evalNumber(s.value, stepEnv(ctx, k, 'an eps scale'), ctx.diags, 'the eps scale');
  } else {
    const args = namedArgs(ctx, s.args, ['high', 'low', 'threshold', 'direction', 'shape'], '`piecewise`');
    if (!args) return;
    const num = (name: string, dflt: number) => {
      const a = args.get(name);
      return a ? evalNumber(a.value, stepEnv(ctx, undefined, `\`${name}\``), ctx.diags, `\`${name}\``) : dflt;
    };
    const high = num('high', 0.98);
    const low = num('low', 0.96);
    const thr = num('threshold', 0.4);
    const dirArg = args.get('direction');
    let dir = 'multiply';
    if (dirArg) {
      if (dirArg.value.kind !== 'name' || !['multiply', 'divide'].includes(dirArg.value.name)) {
        ctx.diags.error('`direction` is `multiply` (eps·b(t), as the paper describes) or `divide` (eps / b(t), as the code applies its delta)', dirArg.value.span);
        return;
      }
      dir = dirArg.value.name;
    }
    const shapeArg = args.get('shape');
    let shape = 'exp';
    if (shapeArg) {
      if (shapeArg.value.kind !== 'name' || !['exp', 'step'].includes(shapeArg.value.name)) {
        ctx.diags.error('`shape` is `exp` (the paper\'s b(t), easing from 1 at the first step to `high` at the threshold, then towards `low`) or `step` (`high` while t > threshold, `low` after)', shapeArg.value.span);
        return;
      }
      shape = shapeArg.value.name;
    }
    if (high === undefined || low === undefined || thr === undefined) return;
    if (thr < 0 || thr >= 1) {
      ctx.diags.error(`the threshold is a trajectory fraction in [0, 1), got ${thr}`, args.get('threshold')!.value.span);
      return;
    }
    value = (k) => {
      const t = (ctx.S - 1 - k) / ctx.S;
      const b = shape === 'step' ? (t > thr ? high : low) : paperB(t, high, low, thr);
      return dir === 'multiply' ? b : 1 / b;
    };
  }
  if (!when) return;
  let changed = false;
  for (let k = 0; k < ctx.S; k++) {
    if (!when[k]) continue;
    const v = value(k);
    if (v === undefined) return;
    if (!(v > 0)) {
      ctx.diags.error(`the eps scale must be > 0, got ${v} at step ${k}`, s.span);
      return;
    }
    if (ctx.st.epsScale[k] !== v) changed = true;
    ctx.st.epsScale[k] = v;
  }
  warnNoChange(ctx, changed, s.span);
}

