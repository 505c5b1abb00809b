/**
 * The state of one schedule resolution: the cell table (step × target × CFG branch → action, with
 * the span that set it), the constants a statement's expressions see (the schedule's and model's
 * parameters; k, i, t and S), and the helpers every kind of statement uses to select steps and
 * write cells. Later writes override earlier ones (docs/language.md).
 */
import type { SourceSpan } from '../../core/errors.ts';
import type { Arg, Expr, ScheduleDecl } from '../../grammar/ast.ts';
import { type DiagnosticBag, didYouMean } from '../../grammar/diagnostics.ts';
import type { Action, DynamicRule } from '../ir/schedule.ts';
import { targetKindProblem } from '../ir/scheduleCheck.ts';
import { type ConstEnv, evalConst } from '../check/constEval.ts';
import type { Target, TargetUniverse } from './targets.ts';

export type Branch = 'cond' | 'uncond';
export const BRANCHES: readonly Branch[] = ['cond', 'uncond'];

export interface Cell {
  action: Action;
  span?: SourceSpan;
}

export const COMPUTE: Action = { kind: 'compute' };

export function sameAction(a: Action, b: Action): boolean {
  // Most comparisons are of different kinds, or of the shared COMPUTE object: skip serialising those.
  if (a === b) return true;
  if (a.kind !== b.kind) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

export class State {
  /** step → target → branch → cell */
  readonly cells: Map<string, Record<Branch, Cell>>[];
  readonly epsScale: number[];
  readonly dynamic: DynamicRule[] = [];
  readonly dynamicSpans: SourceSpan[] = [];
  constructor(readonly steps: number) {
    this.cells = Array.from({ length: steps }, () => new Map());
    this.epsScale = Array.from({ length: steps }, () => 1);
  }

  get(k: number, path: string, b: Branch): Cell {
    return this.cells[k]!.get(path)?.[b] ?? { action: COMPUTE };
  }

  /** Sets a cell; returns whether the action changed. */
  set(k: number, path: string, b: Branch, action: Action, span: SourceSpan): boolean {
    const row = this.cells[k]!;
    let entry = row.get(path);
    if (!entry) {
      entry = { cond: { action: COMPUTE }, uncond: { action: COMPUTE } };
      row.set(path, entry);
    }
    const changed = !sameAction(entry[b].action, action);
    entry[b] = { action, span };
    return changed;
  }
}

export interface Ctx {
  readonly decl: ScheduleDecl;
  readonly file: string;
  readonly u: TargetUniverse;
  readonly params: ReadonlyMap<string, number>;
  readonly S: number;
  readonly diags: DiagnosticBag;
  readonly st: State;
}

export function stepEnv(ctx: Ctx, k: number | undefined, what: string): ConstEnv {
  const values = new Map(ctx.params);
  values.set('S', ctx.S);
  if (k !== undefined) {
    const i = ctx.S - 1 - k;
    values.set('k', k);
    values.set('i', i);
    values.set('t', i / ctx.S);
  }
  return { values, what, predicates: k !== undefined };
}

/** The steps where a predicate holds (all steps when absent). */
export function stepsWhere(ctx: Ctx, pred: Expr | undefined): boolean[] | undefined {
  if (!pred) return Array.from({ length: ctx.S }, () => true);
  const out: boolean[] = [];
  for (let k = 0; k < ctx.S; k++) {
    const before = ctx.diags.errorCount;
    const v = evalConst(pred, stepEnv(ctx, k, 'a step predicate'), ctx.diags);
    if (ctx.diags.errorCount > before || v === undefined) return undefined;
    if (typeof v !== 'boolean') {
      ctx.diags.error('a step predicate must be a condition, found a number', pred.span, { expected: 'a comparison such as `t > 0.4`, `steps 0..10` or `every 2`' });
      return undefined;
    }
    out.push(v);
  }
  checkFractions(ctx, pred);
  return out;
}

/** `t > 1.5` can never hold: t is the trajectory fraction in [0, 1]. */
export function checkFractions(ctx: Ctx, e: Expr): void {
  if (e.kind === 'binary') {
    if (['<', '<=', '>', '>='].includes(e.op)) {
      const side = e.left.kind === 'name' && e.left.name === 't' ? e.right : e.right.kind === 'name' && e.right.name === 't' ? e.left : undefined;
      if (side) {
        const v = evalConst(side, stepEnv(ctx, 0, 'a step predicate'), ctx.diags);
        if (typeof v === 'number' && (v < 0 || v > 1)) {
          ctx.diags.error(`trajectory fraction ${v} is outside [0, 1] (t = 1 at the first, noisiest step, 0 at the end)`, side.span);
        }
      }
    }
    checkFractions(ctx, e.left);
    checkFractions(ctx, e.right);
  } else if (e.kind === 'unary') checkFractions(ctx, e.operand);
}

export function checkTargetKinds(ctx: Ctx, targets: readonly Target[], action: Action, span: SourceSpan): boolean {
  for (const t of targets) {
    const problem = targetKindProblem(t.kind, t.path, action.kind);
    if (problem) {
      ctx.diags.error(problem, span);
      return false;
    }
  }
  return true;
}

export function applyCells(ctx: Ctx, targets: readonly Target[], when: readonly boolean[], action: (k: number) => Action | undefined, branches: readonly Branch[], span: SourceSpan): boolean {
  let changed = false;
  for (let k = 0; k < ctx.S; k++) {
    if (!when[k]) continue;
    const a = action(k);
    if (!a) continue;
    for (const t of targets) for (const b of branches) changed = ctx.st.set(k, t.path, b, a, span) || changed;
  }
  return changed;
}

export function warnNoChange(ctx: Ctx, changed: boolean, span: SourceSpan): void {
  if (!changed) ctx.diags.warning('this rule changes nothing: every step it selects already has this action (or it selects no step)', span);
}

export function namedArgs(ctx: Ctx, args: readonly Arg[], allowed: readonly string[], what: string): Map<string, Arg> | undefined {
  const out = new Map<string, Arg>();
  let ok = true;
  args.forEach((a, idx) => {
    const name = a.name?.name ?? allowed[idx];
    if (name === undefined || !allowed.includes(name)) {
      const s = a.name ? didYouMean(a.name.name, allowed) : undefined;
      ctx.diags.error(a.name ? `${what} has no argument \`${a.name.name}\`` : `${what} takes ${allowed.length} argument(s)`, a.name?.span ?? a.span, {
        expected: allowed.join(', '),
        ...(s ? { suggestion: s } : {}),
      });
      ok = false;
      return;
    }
    if (out.has(name)) {
      ctx.diags.error(`argument \`${name}\` of ${what} is given twice`, a.span);
      ok = false;
      return;
    }
    out.set(name, a);
  });
  return ok ? out : undefined;
}

