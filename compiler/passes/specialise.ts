/**
 * Pass `specialise`: the Schedule IR, checked against the graph, turned into per-step, per-branch
 * cache work. For every target it decides at which compute steps the value (or the block residual,
 * or the Taylor differences) must be stored because a later step reads it, and at forecast steps
 * the step distance and the order the history allows. A schedule that reads what was never
 * computed is the user's error (E_CHECK), named by target and step.
 *
 * Without CFG the model batch holds only conditional samples: the `cond` actions apply and the
 * `uncond` ones are ignored (both branches below carry the cond decisions).
 */
import { match } from 'ts-pattern';
import { DittoError, invariant } from '../../core/errors.ts';
import type { Graph } from '../ir/graph.ts';
import { actionAt, type Action, type ForecastBasis, type ScheduleIR, type TokenOrder } from '../ir/schedule.ts';
import { tokenCone } from '../ir/tokenCone.ts';
import type { CompileOptions } from './options.ts';
import { BRANCHES, type Branch, type DynamicSignal, type StepSpec, type TargetInfo, type TargetStep } from './ir.ts';
import { dynamicSignals, dynamicStepRules } from './dynamicRules.ts';
import { checkSchedule } from '../ir/scheduleCheck.ts';
import { liveNodes, type StepAction } from './liveTargets.ts';
import { cfgCacheWeights, taylorRefreshFactor, taylorRefreshOrders, taylorUsableOrder, TokenHistory } from '../ir/rules.ts';

export interface Specialised {
  targets: Map<string, TargetInfo>;
  steps: StepSpec[];
  /** The dynamic rules, each with its signal nodes (empty for static schedules). */
  dynamic: DynamicSignal[];
}

type StaticKind = TargetStep['action'];
/** Per target and step: a static action, or `dynamic` (the rule decides compute or `then`). */
type PlanKind = StaticKind | 'dynamic';
interface PlanAct {
  kind: PlanKind;
  order: number;
  /** For `forecast`: the basis (absent: Taylor). */
  basis?: ForecastBasis;
  /** For `dynamic`: the rule and what it does when it does not compute. */
  rule?: number;
  then?: 'reuse' | 'reuse_residual';
  /** For `tokens`: the fraction and the order. */
  tokens?: { fraction: number; by: TokenOrder };
  /** For `cfg_cache`: the band weights at this step. */
  cfg?: { low: number; high: number };
}

export function specialise(graph: Graph, schedule: ScheduleIR, opts: CompileOptions): Specialised {
  const S = opts.steps;
  const checked = checkSchedule(graph, schedule, { steps: S, cfg: opts.cfgScale !== undefined });
  const targets = new Map<string, TargetInfo>();
  for (const t of checked.values()) {
    targets.set(t.path, t.kind === 'block'
      ? { path: t.path, kind: 'block', node: t.node, blockInput: t.blockInput, taylorOrder: 0, cached: false }
      : { path: t.path, kind: 'node', node: t.node, taylorOrder: 0, cached: false });
  }

  const dynamic = dynamicSignals(graph, schedule, targets, opts);
  const stepRule = dynamicStepRules(schedule, opts);
  const steps: StepSpec[] = Array.from({ length: S }, (_, k) => ({ k, targets: { cond: [], uncond: [] } }));
  // The reuse world of each dynamic step: the same step as if its rule decided to reuse.
  const reuse: (StepSpec | undefined)[] = stepRule.map((r, k) => (r === undefined ? undefined : { k, targets: { cond: [], uncond: [] } }));
  const cfg = opts.cfgScale !== undefined;
  const plans = new Map<TargetInfo, Record<Branch, PlanAct[]>>();
  for (const info of targets.values()) {
    const byBranch = {} as Record<Branch, PlanAct[]>;
    for (const branch of BRANCHES) {
      const read: Branch = cfg ? branch : 'cond';
      const raw = Array.from({ length: S }, (_, k) => actionAt(schedule, k, info.path, read));
      const acts = raw.map((a) => planKind(a, schedule));
      if (acts.some((a) => a.kind === 'cfg_cache')) {
        const weights = cfgCacheWeights(raw);
        acts.forEach((a, k) => {
          if (a.kind === 'cfg_cache') a.cfg = weights[k]!;
        });
      }
      if (acts.some((a) => a.kind === 'tokens') && !info.cone) {
        const cone = tokenCone(graph, info.node);
        invariant(typeof cone !== 'string', 'checkSchedule: a target computed on some tokens is token-wise');
        info.cone = cone;
      }
      byBranch[branch] = acts;
    }
    plans.set(info, byBranch);
  }
  const live = stepLiveness(graph, plans, dynamic, reuse);
  for (const [info, byBranch] of plans) {
    const liveness: Liveness = {
      compute: live.map((l) => l.compute[info.node] === 1),
      reuse: live.map((l) => (l.reuse ?? l.compute)[info.node] === 1),
    };
    for (const branch of BRANCHES) planTarget(info, byBranch[branch], branch, steps, reuse, schedule.name, liveness);
  }
  steps.forEach((st, k) => {
    if (reuse[k]) st.dynamic = { rule: stepRule[k]!, reuse: reuse[k]! };
  });
  return { targets, steps, dynamic };
}

/** Per step, whether each target is evaluated at all (compiler/passes/liveTargets.ts): in the compute
 *  world, and in the reuse world of a dynamic step (its rule's targets take their `then`). */
interface Liveness {
  compute: boolean[];
  reuse: boolean[];
}

function stepLiveness(graph: Graph, plans: Map<TargetInfo, Record<Branch, PlanAct[]>>, dynamic: DynamicSignal[], reuse: (StepSpec | undefined)[]): { compute: Uint8Array; reuse?: Uint8Array }[] {
  // Dynamic-rule signals are measured at every step (as dead-code keeps them).
  const keep = dynamic.flatMap((d) => [...d.nodes, ...(d.output !== undefined ? [d.output] : [])]);
  const world = (k: number, asReuse: boolean) => {
    const resolve = (a: PlanAct): StepAction => (a.kind === 'dynamic' ? (asReuse ? a.then! : 'compute') : a.kind);
    const actions = new Map([...plans].map(([info, b]) => [info.node, { info, cond: resolve(b.cond[k]!), uncond: resolve(b.uncond[k]!) }]));
    return liveNodes(graph, actions, keep);
  };
  return reuse.map((r, k) => ({ compute: world(k, false), ...(r ? { reuse: world(k, true) } : {}) }));
}

/** The plan action of a schedule action (checked by checkSchedule); exhaustive over the Schedule IR's
 *  actions (ts-pattern), so a new action kind cannot be forgotten here. */
function planKind(a: Action, schedule: ScheduleIR): PlanAct {
  return match(a)
    .with({ kind: 'compute' }, (): PlanAct => ({ kind: 'compute', order: 0 }))
    .with({ kind: 'reuse' }, (): PlanAct => ({ kind: 'reuse', order: 0 }))
    .with({ kind: 'forecast' }, (f): PlanAct => ({ kind: 'forecast', order: f.order, ...(f.basis ? { basis: f.basis } : {}) }))
    .with({ kind: 'reuse_residual' }, (): PlanAct => ({ kind: 'reuse_residual', order: 0 }))
    .with({ kind: 'dynamic' }, (d): PlanAct => ({ kind: 'dynamic', order: 0, rule: d.rule, then: schedule.dynamic[d.rule]!.then }))
    .with({ kind: 'tokens' }, (t): PlanAct => ({ kind: 'tokens', order: 0, tokens: { fraction: t.fraction, by: t.by } }))
    .with({ kind: 'cfg_cache' }, (): PlanAct => ({ kind: 'cfg_cache', order: 0 }))
    .exhaustive();
}

/**
 * One target in one branch over all steps. A dynamic step is, for storage, a step that may read the
 * stored value (its reuse world) or compute and store it again (its compute world): a compute stores
 * when any later step before the next static compute may reuse — dynamic steps included.
 */
function planTarget(info: TargetInfo, acts: PlanAct[], branch: Branch, steps: StepSpec[], reuse: (StepSpec | undefined)[], schedule: string, live: Liveness): void {
  const S = acts.length;
  const branchOrder = maxOrder(acts);
  info.taylorOrder = Math.max(info.taylorOrder, branchOrder);
  if (branchOrder > 0 && acts.some((a) => a.kind === 'dynamic')) {
    throw new DittoError('E_CHECK', `schedule '${schedule}': ${info.path} is both forecast and decided by a dynamic rule; the compiler supports one or the other per target`);
  }
  const computes: number[] = [];
  // The same per-token bookkeeping as the reference executor's: which rows each partial compute takes.
  const tokens = info.cone ? new TokenHistory(info.cone.tokens) : undefined;
  /** Pushes an entry into the compute world of step k, and into its reuse world when it has one. */
  const push = (k: number, entry: TargetStep, world: 'both' | 'compute' | 'reuse' = 'both') => {
    if (world !== 'reuse') steps[k]!.targets[branch].push(entry);
    if (world !== 'compute') reuse[k]?.targets[branch].push(entry);
  };
  /** Where the target runs at step k: in both worlds, one, or none (dead: nothing reads it there,
   *  so the reference executor neither computes it nor refreshes its history). */
  const runs = (k: number): 'both' | 'compute' | 'reuse' | undefined =>
    live.compute[k] ? (live.reuse[k] ? 'both' : 'compute') : live.reuse[k] ? 'reuse' : undefined;
  const refreshOrders = forecastNeeds(acts, runs);
  const storesFor = (k: number) => {
    let storeValue = false;
    let storeResidual = false;
    let storeBands = false;
    // A compute in only one world, or in none, does not replace the stored value in every world.
    for (let j = k + 1; j < S && !(acts[j]!.kind === 'compute' && runs(j) === 'both'); j++) {
      const kind = acts[j]!.kind === 'dynamic' ? acts[j]!.then! : acts[j]!.kind;
      if (kind === 'compute' || (kind === 'tokens' && runs(j) === undefined)) continue;
      if (kind === 'reuse_residual') storeResidual = true;
      else if (kind === 'cfg_cache') storeBands = true;
      // a partial compute reads the other tokens from the slot
      else storeValue = true;
    }
    return { storeValue, storeResidual, storeBands };
  };
  for (let k = 0; k < S; k++) {
    const { kind, order, basis } = acts[k]!;
    if (kind === 'compute') {
      const where = runs(k);
      if (where === undefined) continue;
      // What reads this value before the next compute decides what is stored.
      const { storeValue, storeResidual, storeBands } = storesFor(k);
      const needed = refreshOrders[k];
      const taylor = needed !== undefined;
      const write = taylor || storeValue || storeResidual || storeBands;
      const entry: TargetStep = { target: info.path, action: 'compute', storeValue: storeValue || taylor, storeResidual, ...(storeBands ? { storeBands } : {}) };
      if (storeBands) info.bands = true;
      if (taylor) {
        const prev = computes[computes.length - 1];
        entry.taylor = { orders: Math.min(taylorRefreshOrders(branchOrder, computes.length), needed), invDelta: taylorRefreshFactor(prev, k) };
      }
      tokens?.computeAll(k);
      if (write) {
        info.cached = true;
        push(k, entry, where);
      }
      computes.push(k);
      continue;
    }
    if (kind === 'dynamic') {
      const r = acts[k]!;
      invariant(reuse[k] !== undefined, 'a dynamic step has a reuse world');
      // Compute world: compute, storing for any later step that may reuse.
      const { storeValue, storeResidual } = storesFor(k);
      if ((storeValue || storeResidual) && live.compute[k]) {
        info.cached = true;
        push(k, { target: info.path, action: 'compute', storeValue, storeResidual }, 'compute');
      }
      // Reuse world: the rule's `then`. At k = 0 the rule always computes (no previous signal), and
      // checkSchedule allows no history only before the rule's warm-up, where it computes too.
      if (k > 0 && computes.length > 0) {
        info.cached = true;
        push(k, { target: info.path, action: r.then!, storeValue: false, storeResidual: false }, 'reuse');
      } else if ((storeValue || storeResidual) && live.reuse[k]) {
        push(k, { target: info.path, action: 'compute', storeValue, storeResidual }, 'reuse');
      }
      if (live.compute[k]) computes.push(k);
      continue;
    }
    const last = computes[computes.length - 1];
    invariant(last !== undefined, 'checkSchedule: nothing is read before its first compute');
    if (kind === 'tokens') {
      const where = runs(k);
      if (where === undefined) continue;
      // The chosen rows are computed into the slot, which is the value: it is always written.
      const t = acts[k]!.tokens!;
      info.cached = true;
      push(k, { target: info.path, action: 'tokens', storeValue: true, storeResidual: false, tokens: tokens!.select(k, t.fraction, t.by) }, where);
      continue;
    }
    const entry: TargetStep = { target: info.path, action: kind, storeValue: false, storeResidual: false, ...(kind === 'cfg_cache' ? { cfg: acts[k]!.cfg! } : {}) };
    if (kind === 'forecast') {
      const usable = taylorUsableOrder(order, computes.length);
      // exp (order 2) and linear (order 1) read the steps between the last two computes.
      const interval = (basis?.form === 'exp' && usable >= 2) || (basis?.form === 'linear' && usable >= 1) ? { interval: last - computes[computes.length - 2]! } : {};
      entry.forecast = { m: k - last, order: usable, ...(basis ? { basis } : {}), ...interval };
    }
    push(k, entry);
  }
}

/**
 * Per compute step, the highest stored difference a later forecast reads through it (undefined: none,
 * so the compute refreshes nothing). A forecast of usable order o after computes … c₋₂, c₋₁, c₀
 * reads d₀ … d_o at c₀; d_o at c₀ is made from d_{o−1} at c₋₁, and so on back to d₀ at c₋ₒ. So
 * c₋ᵢ needs orders up to o − i, and a compute no forecast reaches through (a warm-up before the
 * first, one that more recent computes replace) skips its refresh. What a skipped refresh leaves
 * stale is only ever read into orders that nothing needs either: the chain shortens by one per
 * compute. Only steps where the target runs count, as in the reference executor.
 */
function forecastNeeds(acts: PlanAct[], runs: (k: number) => 'both' | 'compute' | 'reuse' | undefined): (number | undefined)[] {
  const needed: (number | undefined)[] = new Array(acts.length).fill(undefined);
  const computes: number[] = [];
  for (let k = 0; k < acts.length; k++) {
    const a = acts[k]!;
    if (a.kind === 'compute' && runs(k) !== undefined) computes.push(k);
    if (a.kind !== 'forecast' || runs(k) === undefined) continue;
    const o = taylorUsableOrder(a.order, computes.length);
    for (let i = 0; i <= o; i++) {
      const c = computes[computes.length - 1 - i]!;
      needed[c] = Math.max(needed[c] ?? 0, o - i);
    }
  }
  return needed;
}

function maxOrder(acts: PlanAct[]): number {
  let m = 0;
  for (const a of acts) if (a.kind === 'forecast') m = Math.max(m, a.order);
  return m;
}
