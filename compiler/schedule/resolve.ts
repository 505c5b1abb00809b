/**
 * Schedule resolution: a checked `schedule` declaration + a lowered graph → ScheduleIR, the
 * per-step action table. Rules are applied in source order and a later rule overrides an earlier
 * one on the cells (step, target, branch) it touches. Checks run on the resolved table, where
 * every schedule bug is visible: reuse before the first compute, tables of the wrong length or
 * not starting with compute, Taylor orders the history cannot support, dynamic rules on constant
 * or reused signals, and rules that change nothing (a warning).
 */
import { readFileSync, existsSync } from 'node:fs';
import type { SourceSpan } from '../../core/errors.ts';
import { DittoError } from '../../core/errors.ts';
import type { Arg, Expr, MapEntry, ScheduleDecl, ScheduleStmt } from '../../grammar/ast.ts';
import { type DiagnosticBag, didYouMean } from '../../grammar/diagnostics.ts';
import { printExpr, printSelector } from '../../grammar/printer.ts';
import type { Graph } from '../ir/graph.ts';
import type { Action, BranchActions, DynamicRule, ScheduleIR } from '../ir/schedule.ts';
import { historyProblems, signalProblems, targetKindProblem, type ScheduleCells } from '../ir/scheduleCheck.ts';
import { type ConstEnv, evalConst, evalInt, evalNumber } from '../check/constEval.ts';
import { type Located, resolveFrom } from '../check/program.ts';
import { GENERATORS } from './generators.ts';
import { readNpyInts } from './npy.ts';
import { type Target, type TargetUniverse, blockOutputPath, resolveSelector, resolveSelectors, targetUniverse } from './targets.ts';

export interface ResolveScheduleOptions {
  readonly steps?: number;
  readonly set?: Readonly<Record<string, number>>;
}

export const DEFAULT_STEPS = 50;

type Branch = 'cond' | 'uncond';
const BRANCHES: readonly Branch[] = ['cond', 'uncond'];

interface Cell {
  action: Action;
  span?: SourceSpan;
}

const COMPUTE: Action = { kind: 'compute' };

function sameAction(a: Action, b: Action): boolean {
  // Most comparisons are of different kinds, or of the shared COMPUTE object: skip serialising those.
  if (a === b) return true;
  if (a.kind !== b.kind) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

class State {
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

interface Ctx {
  readonly decl: ScheduleDecl;
  readonly file: string;
  readonly u: TargetUniverse;
  readonly params: ReadonlyMap<string, number>;
  readonly S: number;
  readonly diags: DiagnosticBag;
  readonly st: State;
}

function stepEnv(ctx: Ctx, k: number | undefined, what: string): ConstEnv {
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
function stepsWhere(ctx: Ctx, pred: Expr | undefined): boolean[] | undefined {
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
function checkFractions(ctx: Ctx, e: Expr): void {
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

function checkTargetKinds(ctx: Ctx, targets: readonly Target[], action: Action, span: SourceSpan): boolean {
  for (const t of targets) {
    const problem = targetKindProblem(t.kind, t.path, action.kind);
    if (problem) {
      ctx.diags.error(problem, span);
      return false;
    }
  }
  return true;
}

function applyCells(ctx: Ctx, targets: readonly Target[], when: readonly boolean[], action: (k: number) => Action | undefined, branches: readonly Branch[], span: SourceSpan): boolean {
  let changed = false;
  for (let k = 0; k < ctx.S; k++) {
    if (!when[k]) continue;
    const a = action(k);
    if (!a) continue;
    for (const t of targets) for (const b of branches) changed = ctx.st.set(k, t.path, b, a, span) || changed;
  }
  return changed;
}

function warnNoChange(ctx: Ctx, changed: boolean, span: SourceSpan): void {
  if (!changed) ctx.diags.warning('this rule changes nothing: every step it selects already has this action (or it selects no step)', span);
}

function namedArgs(ctx: Ctx, args: readonly Arg[], allowed: readonly string[], what: string): Map<string, Arg> | undefined {
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

/** The attention and MLP targets a code table drives: from `map(attn = …, mlp = …)` or the
 *  repetition whose blocks have both `attn` and `mlp` nodes. */
function tableTargets(ctx: Ctx, map: readonly MapEntry[] | undefined, span: SourceSpan): { attn: Target[]; mlp: Target[] } | undefined {
  const env = stepEnv(ctx, undefined, 'a selector');
  if (map) {
    const out: { attn: Target[]; mlp: Target[] } = { attn: [], mlp: [] };
    for (const e of map) {
      if (e.key.value !== 'attn' && e.key.value !== 'mlp') {
        const s = didYouMean(e.key.value, ['attn', 'mlp']);
        ctx.diags.error(`a code table maps \`attn\` and \`mlp\`, not \`${e.key.value}\``, e.key.span, { expected: 'attn or mlp', ...(s ? { suggestion: s } : {}) });
        return undefined;
      }
      const ts = resolveSelector(e.target, env, ctx.u, ctx.diags);
      if (!ts) return undefined;
      out[e.key.value] = ts;
    }
    return out;
  }
  for (const [g, fields] of ctx.u.fields) {
    if (fields.includes('attn') && fields.includes('mlp')) {
      const inst = ctx.u.groups.get(g)!;
      return { attn: inst.map((b) => ({ path: `${b.path}.attn`, kind: 'node' as const })), mlp: inst.map((b) => ({ path: `${b.path}.mlp`, kind: 'node' as const })) };
    }
  }
  ctx.diags.error('no repetition of this model has `attn` and `mlp` nodes; say which nodes the table drives with map(attn = …, mlp = …)', span);
  return undefined;
}

const CODE_ACTIONS: Record<number, { attn: Action; mlp: Action }> = {
  0: { attn: COMPUTE, mlp: COMPUTE },
  1: { attn: { kind: 'reuse' }, mlp: COMPUTE },
  2: { attn: { kind: 'reuse' }, mlp: { kind: 'reuse' } },
  3: { attn: COMPUTE, mlp: { kind: 'reuse' } },
};

function loadCodes(ctx: Ctx, s: Extract<ScheduleStmt, { kind: 'table' }>): number[] | undefined {
  if (s.source.kind === 'file') {
    const file = resolveFrom(ctx.file, s.source.path.value);
    try {
      return readNpyInts(file);
    } catch (e) {
      if (e instanceof DittoError) {
        ctx.diags.error(e.message, s.source.path.span, { code: e.code === 'E_IO' ? 'E_IO' : 'E_TABLE' });
        return undefined;
      }
      throw e;
    }
  }
  const gen = GENERATORS.get(s.source.name.name);
  if (!gen) {
    const s2 = didYouMean(s.source.name.name, GENERATORS.keys());
    ctx.diags.error(`unknown table generator \`${s.source.name.name}\``, s.source.name.span, { expected: [...GENERATORS.keys()].join(', '), ...(s2 ? { suggestion: s2 } : {}) });
    return undefined;
  }
  const args = namedArgs(ctx, s.source.args, gen.params.map((p) => p.name), `\`${s.source.name.name}\``);
  if (!args) return undefined;
  const values: Record<string, number> = {};
  for (const p of gen.params) {
    const a = args.get(p.name);
    if (!a) {
      if (p.default === undefined) {
        ctx.diags.error(`\`${s.source.name.name}\` needs the argument \`${p.name}\``, s.source.name.span);
        return undefined;
      }
      values[p.name] = p.default;
      continue;
    }
    const v = evalInt(a.value, stepEnv(ctx, undefined, `argument \`${p.name}\``), ctx.diags, `\`${p.name}\` of \`${s.source.name.name}\``, p.min);
    if (v === undefined) return undefined;
    values[p.name] = v;
  }
  return gen.generate(ctx.S, values);
}

function applyCodeTable(ctx: Ctx, s: Extract<ScheduleStmt, { kind: 'table' }>, branches: readonly Branch[]): void {
  const codes = loadCodes(ctx, s);
  if (!codes) return;
  const what = s.source.kind === 'file' ? `table '${resolveFrom(ctx.file, s.source.path.value)}'` : `table \`${s.source.name.name}\``;
  const span = s.source.kind === 'file' ? s.source.path.span : s.source.name.span;
  if (codes.length !== ctx.S) {
    ctx.diags.error(`${what} has ${codes.length} entries but the schedule has ${ctx.S} steps`, span, { code: 'E_TABLE', notes: ['a table holds one code per sampling step; generate one for this step count instead of resampling'] });
    return;
  }
  const bad = codes.findIndex((c) => !(c in CODE_ACTIONS));
  if (bad >= 0) {
    ctx.diags.error(`${what} has unknown code ${codes[bad]} at index ${bad}`, span, { code: 'E_TABLE', expected: 'codes 0 (compute both), 1 (reuse attention), 2 (reuse both), 3 (reuse MLP)' });
    return;
  }
  const atStep = (k: number) => codes[s.order === 'countdown' ? ctx.S - 1 - k : k]!;
  if (atStep(0) !== 0) {
    const idx = s.order === 'countdown' ? ctx.S - 1 : 0;
    ctx.diags.error(`${what}: the first sampling step (index ${idx} in ${s.order} order) must be 0 (compute), found ${atStep(0)}`, span, {
      code: 'E_TABLE',
      notes: s.order === 'countdown' ? ['in countdown order the first step is the last entry; did you mean `order sampling`?'] : ['in sampling order the first step is the first entry; did you mean `order countdown`?'],
    });
    return;
  }
  const targets = tableTargets(ctx, s.map, s.span);
  if (!targets) return;
  const all = Array.from({ length: ctx.S }, () => true);
  let changed = applyCells(ctx, targets.attn, all, (k) => CODE_ACTIONS[atStep(k)]!.attn, branches, s.span);
  changed = applyCells(ctx, targets.mlp, all, (k) => CODE_ACTIONS[atStep(k)]!.mlp, branches, s.span) || changed;
  warnNoChange(ctx, changed, s.span);
}

function applyJson(ctx: Ctx, s: Extract<ScheduleStmt, { kind: 'json' }>, branches: readonly Branch[]): void {
  const file = resolveFrom(ctx.file, s.path.value);
  const fail = (why: string) => ctx.diags.error(`'${file}' is not a usable JSON schedule: ${why}`, s.path.span, { code: 'E_TABLE' });
  if (!existsSync(file)) {
    ctx.diags.error(`cannot read JSON schedule '${file}': no such file`, s.path.span, { code: 'E_IO' });
    return;
  }
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    fail((e as Error).message);
    return;
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    fail('expected an object mapping each component to a list of 0/1 (1 = compute)');
    return;
  }
  const lists = data as Record<string, unknown>;
  const env = stepEnv(ctx, undefined, 'a selector');
  const mapping = new Map<string, { targets: Target[]; span: SourceSpan }>();
  if (s.map) {
    for (const e of s.map) {
      if (!(e.key.value in lists)) {
        const sg = didYouMean(e.key.value, Object.keys(lists));
        ctx.diags.error(`'${file}' has no list \`${e.key.value}\``, e.key.span, { code: 'E_TABLE', expected: Object.keys(lists).join(', '), ...(sg ? { suggestion: sg } : {}) });
        return;
      }
      const ts = resolveSelector(e.target, env, ctx.u, ctx.diags);
      if (!ts) return;
      mapping.set(e.key.value, { targets: ts, span: e.span });
    }
  } else {
    // Without a map, keys name block nodes directly (`attn` → every block's `attn`).
    for (const key of Object.keys(lists)) {
      const group = [...ctx.u.fields].find(([, f]) => f.includes(key));
      if (!group) {
        ctx.diags.error(`'${file}': list \`${key}\` names no node of every block; add map("${key}" = blocks[*].…)`, s.path.span, { code: 'E_TABLE' });
        return;
      }
      mapping.set(key, { targets: ctx.u.groups.get(group[0])!.map((b) => ({ path: `${b.path}.${key}`, kind: 'node' as const })), span: s.span });
    }
  }
  let changed = false;
  for (const [key, { targets }] of mapping) {
    const list = lists[key];
    if (!Array.isArray(list) || list.some((v) => v !== 0 && v !== 1)) {
      fail(`list \`${key}\` must hold only 0 (reuse) and 1 (compute)`);
      return;
    }
    if (list.length !== ctx.S) {
      ctx.diags.error(`'${file}': list \`${key}\` has ${list.length} entries but the schedule has ${ctx.S} steps`, s.path.span, { code: 'E_TABLE' });
      return;
    }
    if (list[0] !== 1) {
      ctx.diags.error(`'${file}': list \`${key}\` must start with 1 (compute): nothing is cached before the first step`, s.path.span, { code: 'E_TABLE' });
      return;
    }
    changed = applyCells(ctx, targets, list.map(() => true), (k) => (list[k] === 1 ? COMPUTE : { kind: 'reuse' }), branches, s.span) || changed;
  }
  warnNoChange(ctx, changed, s.span);
}

function applyRule(ctx: Ctx, s: Extract<ScheduleStmt, { kind: 'rule' }>, branches: readonly Branch[]): void {
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

function applyEps(ctx: Ctx, s: Extract<ScheduleStmt, { kind: 'eps_scale' | 'eps_piecewise' }>): void {
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

function walk(ctx: Ctx, body: readonly ScheduleStmt[], branches: readonly Branch[], nested: boolean): void {
  for (const s of body) {
    switch (s.kind) {
      case 'steps':
        if (nested) ctx.diags.error('`steps` belongs at the top of the schedule, not inside a branch', s.span);
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
  for (const p of [...historyProblems(cells, targets, BRANCHES), ...signalProblems(ctx.u.graph, cells, BRANCHES)]) {
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
