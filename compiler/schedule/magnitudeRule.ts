/**
 * Magnitude rules (MagCache): `TARGETS reuse residual [at PRED] when magnitude "curve.json" < θ
 * [max K] [retain r]`. The curve file is what `ditto calibrate --magnitude` writes — per CFG branch,
 * the magnitude ratio of the cached span's residual at each step, for the step count it was
 * measured at — mapped to the schedule's step count by nearest index. The decision
 * (`magnitudeSkips`, compiler/ir/rules.ts) depends only on the curve, so it is taken here: each
 * branch follows its own curve and becomes a static table of compute and reuse.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { ScheduleStmt } from '../../grammar/ast.ts';
import { resolveFrom } from '../check/program.ts';
import { evalInt, evalNumber } from '../check/constEval.ts';
import { interpolateCurve, magnitudeSkips } from '../ir/rules.ts';
import type { Action } from '../ir/schedule.ts';
import { applyCells, type Branch, COMPUTE, type Ctx, stepEnv, warnNoChange } from './resolveContext.ts';
import type { Target } from './targets.ts';
import type { SourceSpan } from '../../core/errors.ts';

type MagnitudeAst = Extract<NonNullable<Extract<ScheduleStmt, { kind: 'rule' }>['when']>, { kind: 'magnitude' }>;

/** A magnitude curve file: `{ "steps": n, "cond": [γ…], "uncond": [γ…] }` (uncond optional). */
export interface MagnitudeCurve {
  steps: number;
  cond: number[];
  uncond?: number[];
}

/** Parses a curve file's text; the reason when it is not one. */
export function parseMagnitudeCurve(text: string): MagnitudeCurve | string {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    return (e as Error).message;
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return 'expected an object with a `cond` list of magnitude ratios (and optionally `uncond`)';
  const o = data as Record<string, unknown>;
  const list = (key: string): number[] | string | undefined => {
    const v = o[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length < 2 || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0)) return `\`${key}\` must be a list of at least 2 positive numbers`;
    return v as number[];
  };
  const cond = list('cond');
  const uncond = list('uncond');
  if (cond === undefined) return 'it has no `cond` list';
  if (typeof cond === 'string') return cond;
  if (typeof uncond === 'string') return uncond;
  if (uncond && uncond.length !== cond.length) return `\`cond\` has ${cond.length} entries but \`uncond\` ${uncond.length}`;
  return { steps: cond.length, cond, ...(uncond ? { uncond } : {}) };
}

export function applyMagnitudeRule(ctx: Ctx, w: MagnitudeAst, targets: readonly Target[], when: readonly boolean[], then: Action['kind'], branches: readonly Branch[], span: SourceSpan): void {
  if (then !== 'reuse_residual') {
    ctx.diags.error('a magnitude rule reuses the residual of the blocks it selects (MagCache); write `reuse residual`', span);
    return;
  }
  // MagCache has no warm-up count (`retain` keeps the first steps), no cap and no run total: the
  // error estimate and `max` bound the skips. Refused rather than ignored.
  for (const [word, e, instead] of [['warmup', w.warmup, '`retain r` keeps the first ⌊r·S⌋ steps computing'], ['cap', w.cap, 'the threshold bounds the accumulated error estimate'], ['total', w.total, '`max K` bounds the skips in a row']] as const) {
    if (e) {
      ctx.diags.error(`\`${word}\` does not apply to \`magnitude\` (it takes \`max\` and \`retain\`; ${instead})`, e.span);
      return;
    }
  }
  if (w.perBranch) {
    ctx.diags.error('`per_branch` does not apply to `magnitude`: each CFG branch already follows its own curve (the decisions are static, per branch)', w.perBranch.span);
    return;
  }
  const env = stepEnv(ctx, undefined, 'a magnitude rule');
  const threshold = evalNumber(w.threshold, env, ctx.diags, 'the threshold');
  const maxSkips = w.max ? evalInt(w.max, env, ctx.diags, '`max`', 1) : ctx.S;
  const retention = w.retain ? evalNumber(w.retain, env, ctx.diags, '`retain`') : 0;
  if (threshold === undefined || maxSkips === undefined || retention === undefined) return;
  if (!(threshold > 0)) {
    ctx.diags.error(`the threshold must be > 0 (an accumulated error is never below 0), got ${threshold}`, w.threshold.span);
    return;
  }
  if (!(retention >= 0 && retention < 1)) {
    ctx.diags.error(`\`retain\` is the fraction of steps that always compute, in [0, 1), got ${retention}`, w.retain!.span);
    return;
  }
  const file = resolveFrom(ctx.file, w.curve.value);
  if (!existsSync(file)) {
    ctx.diags.error(`cannot read magnitude curve '${file}': no such file`, w.curve.span, { code: 'E_IO' });
    return;
  }
  const curve = parseMagnitudeCurve(readFileSync(file, 'utf8'));
  if (typeof curve === 'string') {
    ctx.diags.error(`'${file}' is not a usable magnitude curve: ${curve}`, w.curve.span, { code: 'E_TABLE' });
    return;
  }
  const params = { threshold, maxSkips, retention };
  let changed = false;
  for (const b of branches) {
    const ratios = interpolateCurve(b === 'uncond' && curve.uncond ? curve.uncond : curve.cond, ctx.S);
    const skips = magnitudeSkips(ratios, params, when);
    changed = applyCells(ctx, targets, when, (k) => (skips[k] ? { kind: 'reuse_residual' } : COMPUTE), [b], span) || changed;
  }
  warnNoChange(ctx, changed, span);
}
