/**
 * Schedule resolution: a checked `schedule` declaration + a lowered graph → ScheduleIR, the
 * per-step action table. Rules are applied in source order and a later rule overrides an earlier
 * one on the cells (step, target, branch) it touches. Checks run on the resolved table, where
 * every schedule bug is visible: reuse before the first compute, tables of the wrong length or
 * not starting with compute, Taylor orders the history cannot support, dynamic rules on constant
 * or reused signals, and rules that change nothing (a warning).
 *
 * The statements are applied by one module each: ruleStatement.ts, codeTable.ts, jsonTable.ts,
 * epsScale.ts, on the table of resolveContext.ts.
 */
import type { SourceSpan } from '../../core/errors.ts';
import type { Expr, ScheduleDecl, ScheduleStmt } from '../../grammar/ast.ts';
import { type DiagnosticBag, didYouMean } from '../../grammar/diagnostics.ts';
import { printExpr } from '../../grammar/printer.ts';
import type { Graph } from '../ir/graph.ts';
import type { BranchActions, ScheduleIR } from '../ir/schedule.ts';
import { cfgCacheProblems, historyProblems, resolveTargets, signalProblems, tokenProblems, type ScheduleCells } from '../ir/scheduleCheck.ts';
import { evalConst, evalInt } from '../check/constEval.ts';
import type { Located } from '../check/program.ts';
import { applyCfgCache } from './cfgCache.ts';
import { applyCodeTable } from './codeTable.ts';
import { applyEps } from './epsScale.ts';
import { applyJson } from './jsonTable.ts';
import { BRANCHES, type Branch, type Ctx, State, stepEnv } from './resolveContext.ts';
import { applyRule } from './ruleStatement.ts';
import { checkSampler } from './sampler.ts';
import type { SamplerKind } from '../passes/options.ts';
import { targetUniverse } from './targets.ts';

export interface ResolveScheduleOptions {
  readonly steps?: number;
  readonly set?: Readonly<Record<string, number>>;
  /** The sampler the schedule is used with; a schedule declaring another is refused. Absent
   *  (`ditto check`): any. */
  readonly sampler?: SamplerKind;
}

export const DEFAULT_STEPS = 50;

function walk(ctx: Ctx, body: readonly ScheduleStmt[], branches: readonly Branch[], nested: boolean): void {
  for (const s of body) {
    switch (s.kind) {
      case 'steps':
        if (nested) ctx.diags.error('`steps` belongs at the top of the schedule, not inside a branch', s.span);
        break;
      case 'sampler':
        // Checked before any rule (checkSampler); both branches are sampled by the one sampler.
        if (nested) ctx.diags.error('`sampler` belongs at the top of the schedule, not inside a branch', s.span);
        break;
      case 'require':
        // Checked before any rule (checkRequirements); inside a branch it would suggest a per-branch meaning.
        if (nested) ctx.diags.error('`require` belongs at the top of the schedule, not inside a branch', s.span);
        break;
      case 'rule':
        applyRule(ctx, s, branches);
        break;
      case 'table':
        applyCodeTable(ctx, s, branches);
        break;
      case 'json':
        applyJson(ctx, s, branches);
        break;
      case 'eps_scale':
      case 'eps_piecewise':
        if (nested) {
          ctx.diags.error('the eps scale applies to the guided noise of both branches; write it outside `cond { … }` / `uncond { … }`', s.span);
          break;
        }
        applyEps(ctx, s);
        break;
      case 'cfg_cache':
        if (nested) {
          ctx.diags.error('`cfg_cache` sets the unconditional half of the model output from the conditional one; write it outside `cond { … }` / `uncond { … }`', s.span);
          break;
        }
        applyCfgCache(ctx, s);
        break;
      case 'branch':
        if (nested) {
          ctx.diags.error('branch blocks cannot be nested', s.span);
          break;
        }
        walk(ctx, s.body, [s.branch], true);
        break;
    }
  }
}

/** Names an expression reads, for showing their values next to a failed requirement. */
function namesIn(e: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(e)) for (const x of e) namesIn(x, out);
  else if (e && typeof e === 'object') {
    if ((e as Expr).kind === 'name') out.add((e as Extract<Expr, { kind: 'name' }>).name);
    for (const [k, v] of Object.entries(e)) if (k !== 'span') namesIn(v, out);
  }
  return out;
}

/**
 * `require COND "why"` at the top of a schedule: every condition must hold for the parameters and
 * step count it is resolved with (`fora(N=-3)` is refused, not run with a meaningless interval).
 */
function checkRequirements(ctx: Ctx): void {
  for (const s of ctx.decl.body) {
    if (s.kind !== 'require') continue;
    const env = stepEnv(ctx, undefined, 'a requirement');
    const before = ctx.diags.errorCount;
    const v = evalConst(s.cond, env, ctx.diags);
    if (ctx.diags.errorCount > before || v === undefined) continue;
    if (typeof v !== 'boolean') {
      ctx.diags.error('a requirement must be a condition, found a number', s.cond.span, { expected: 'a comparison such as `N >= 1`' });
      continue;
    }
    if (v) continue;
    const values = [...namesIn(s.cond)].filter((n) => env.values.has(n)).map((n) => `${n} = ${env.values.get(n)}`);
    const why = s.message ? `: ${s.message.value}` : '';
    ctx.diags.error(`schedule \`${ctx.decl.name.name}\` requires ${printExpr(s.cond)}${values.length ? `, but ${values.join(', ')}` : ''}${why}`, s.cond.span, { code: 'E_USAGE' });
  }
}

/** Checks on the resolved table (compiler/ir/scheduleCheck.ts: reads before writes, Taylor history,
 *  dynamic signals), reported at the span of the cell or rule they are about. */
function checkHistory(ctx: Ctx): void {
  const targets = new Set<string>();
  for (const row of ctx.st.cells) for (const p of row.keys()) targets.add(p);
  const cells: ScheduleCells = { steps: ctx.S, targets, dynamic: ctx.st.dynamic, action: (k, p, b) => ctx.st.get(k, p, b).action };
  const warned = new Set<SourceSpan>();
  const resolved = resolveTargets(ctx.u.graph, cells).targets;
  const tokens = tokenProblems(ctx.u.graph, cells, resolved, BRANCHES);
  for (const p of [...tokens, ...cfgCacheProblems(ctx.u.graph, cells, resolved), ...historyProblems(cells, targets, BRANCHES), ...signalProblems(ctx.u.graph, cells, BRANCHES)]) {
    const span = p.rule !== undefined ? ctx.st.dynamicSpans[p.rule] : ctx.st.get(p.step!, p.target!, p.branch!).span;
    if (p.severity === 'warning') {
      if (!span || warned.has(span)) continue;
      warned.add(span);
      ctx.diags.warning(p.message, span);
    } else ctx.diags.error(p.message, span, p.notes ? { notes: p.notes } : {});
  }
}

function scheduleParams(ctx: { decl: ScheduleDecl; diags: DiagnosticBag }, set: Readonly<Record<string, number>>): Map<string, number> | undefined {
  const values = new Map<string, number>();
  const names = ctx.decl.params.map((p) => p.name.name);
  let ok = true;
  for (const k of Object.keys(set)) {
    if (!names.includes(k)) {
      const s = didYouMean(k, names);
      ctx.diags.error(`schedule \`${ctx.decl.name.name}\` has no parameter \`${k}\`; valid: ${names.join(', ') || '(none)'}${s ? ` (${s})` : ''}`, undefined, { code: 'E_USAGE' });
      ok = false;
    }
  }
  for (const p of ctx.decl.params) {
    if (values.has(p.name.name)) {
      ctx.diags.error(`parameter \`${p.name.name}\` is declared twice`, p.name.span);
      ok = false;
      continue;
    }
    if (['k', 'i', 't', 'S'].includes(p.name.name)) {
      ctx.diags.error(`\`${p.name.name}\` is reserved in schedules (k, i, t: the step; S: the step count)`, p.name.span);
      ok = false;
      continue;
    }
    const o = set[p.name.name];
    if (o !== undefined) {
      values.set(p.name.name, o);
      continue;
    }
    const v = evalConst(p.value, { values, what: `the default of \`${p.name.name}\``, predicates: false }, ctx.diags);
    if (typeof v !== 'number') {
      if (v !== undefined) ctx.diags.error('a parameter default must be a number', p.value.span);
      ok = false;
      continue;
    }
    values.set(p.name.name, v);
  }
  return ok ? values : undefined;
}

/** Resolves a schedule against a graph; diagnostics go to `diags`, undefined when any error. */
export function resolveScheduleDecl(loc: Located<ScheduleDecl>, graph: Graph, opts: ResolveScheduleOptions, diags: DiagnosticBag): ScheduleIR | undefined {
  const before = diags.errorCount;
  const decl = loc.decl;
  checkSampler(decl, opts.sampler, diags);
  if (diags.errorCount > before) return undefined;
  const params = scheduleParams({ decl, diags }, opts.set ?? {});
  if (!params) return undefined;
  const stepsStmts = decl.body.filter((s): s is Extract<ScheduleStmt, { kind: 'steps' }> => s.kind === 'steps');
  for (const extra of stepsStmts.slice(1)) diags.error('the step count is given twice', extra.span);
  let S = DEFAULT_STEPS;
  if (opts.steps !== undefined) S = opts.steps;
  else if (stepsStmts[0]) {
    const v = evalInt(stepsStmts[0].value, { values: params, what: 'the step count', predicates: false }, diags, 'the step count', 1, 100000);
    if (v === undefined) return undefined;
    S = v;
  }
  if (!Number.isInteger(S) || S < 1) {
    diags.error(`the step count must be a whole number ≥ 1, got ${S}`, undefined, { code: 'E_USAGE' });
    return undefined;
  }
  // Rules may use the model's parameters (`blocks[depth / 2..]`); the schedule's own shadow them.
  const env = new Map<string, number>([...Object.entries(graph.params), ...params]);
  const ctx: Ctx = { decl, file: loc.file, u: targetUniverse(graph), params: env, S, diags, st: new State(S) };
  checkRequirements(ctx);
  if (diags.errorCount > before) return undefined;
  walk(ctx, decl.body, BRANCHES, false);
  if (diags.errorCount > before) return undefined;
  checkHistory(ctx);
  if (diags.errorCount > before) return undefined;
  const table = ctx.st.cells.map((row) => {
    const out: Record<string, BranchActions> = {};
    for (const [p, e] of row) {
      if (e.cond.action.kind === 'compute' && e.uncond.action.kind === 'compute') continue;
      out[p] = { cond: e.cond.action, uncond: e.uncond.action };
    }
    return out;
  });
  return { name: decl.name.name, model: graph.model, steps: S, table, epsScale: [...ctx.st.epsScale], dynamic: [...ctx.st.dynamic] };
}
