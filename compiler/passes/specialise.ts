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
import type { Graph, NodeId } from '../ir/graph.ts';
import { actionAt, type Action, type ScheduleIR } from '../ir/schedule.ts';
import type { CompileOptions } from './options.ts';
import { BRANCHES, type Branch, type DynamicSignal, type StepSpec, type TargetInfo, type TargetStep } from './ir.ts';
import { dynamicSignals, dynamicStepRules } from './dynamicRules.ts';

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
  /** For `dynamic`: the rule and what it does when it does not compute. */
  rule?: number;
  then?: 'reuse' | 'reuse_residual';
}

export function specialise(graph: Graph, schedule: ScheduleIR, opts: CompileOptions): Specialised {
  const S = opts.steps;
  if (schedule.steps !== S) {
    throw new DittoError('E_CHECK', `schedule '${schedule.name}' is resolved for ${schedule.steps} steps but the compile asks for ${S}`);
  }
  if (schedule.table.length !== S) {
    throw new DittoError('E_CHECK', `schedule '${schedule.name}': its table has ${schedule.table.length} entries, expected one per step (${S})`);
  }
  if (schedule.epsScale.length !== S) {
    throw new DittoError('E_CHECK', `schedule '${schedule.name}': epsScale has ${schedule.epsScale.length} entries, expected ${S}`);
  }
  const byPath = new Map<string, NodeId>();
  for (const n of graph.nodes) if (n.path !== undefined) byPath.set(n.path, n.id);
  const blocks = new Map(graph.blocks.map((b) => [b.path, b]));

  const names = new Set<string>();
  for (const row of schedule.table) for (const t of Object.keys(row)) names.add(t);

  const targets = new Map<string, TargetInfo>();
  for (const path of names) {
    const block = blocks.get(path);
    const node = byPath.get(path);
    if (block) targets.set(path, { path, kind: 'block', node: block.output, blockInput: block.input, taylorOrder: 0, cached: false });
    else if (node !== undefined) targets.set(path, { path, kind: 'node', node, taylorOrder: 0, cached: false });
    else throw new DittoError('E_CHECK', `schedule '${schedule.name}' names '${path}', which is neither a node nor a block of model ${graph.model}${suggest(path, [...byPath.keys(), ...blocks.keys()])}`);
  }

  const dynamic = dynamicSignals(graph, schedule, targets, opts);
  const stepRule = dynamicStepRules(schedule, opts);
  const steps: StepSpec[] = Array.from({ length: S }, (_, k) => ({ k, targets: { cond: [], uncond: [] } }));
  // The reuse world of each dynamic step: the same step as if its rule decided to reuse.
  const reuse: (StepSpec | undefined)[] = stepRule.map((r, k) => (r === undefined ? undefined : { k, targets: { cond: [], uncond: [] } }));
  const cfg = opts.cfgScale !== undefined;
  for (const info of targets.values()) {
    for (const branch of BRANCHES) {
      const read: Branch = cfg ? branch : 'cond';
      const acts = Array.from({ length: S }, (_, k) => planKind(info, actionAt(schedule, k, info.path, read), k, schedule));
      planTarget(info, acts, branch, steps, reuse, schedule.name);
    }
  }
  steps.forEach((st, k) => {
    if (reuse[k]) st.dynamic = { rule: stepRule[k]!, reuse: reuse[k]! };
  });
  return { targets, steps, dynamic };
}

function planKind(info: TargetInfo, a: Action, k: number, schedule: ScheduleIR): PlanAct {
  if (a.kind !== 'dynamic') return staticKind(info, a, k, schedule.name);
  const rule = schedule.dynamic[a.rule];
  if (!rule) throw new DittoError('E_CHECK', `schedule '${schedule.name}': ${info.path} at step ${k} refers to dynamic rule ${a.rule}, which does not exist`);
  if (rule.then === 'reuse_residual' && info.kind !== 'block') {
    throw new DittoError('E_CHECK', `schedule '${schedule.name}': ${info.path} at step ${k}: 'reuse residual' applies to a block (like blocks[3]), not to a node`);
  }
  if (rule.then === 'reuse' && info.kind === 'block') {
    throw new DittoError('E_CHECK', `schedule '${schedule.name}': ${info.path} is a block: its dynamic rule must reuse the residual`);
  }
  return { kind: 'dynamic', order: 0, rule: a.rule, then: rule.then };
}

/** The plan action of a static schedule action; exhaustive over the Schedule IR's actions (ts-pattern),
 *  so a new action kind cannot be forgotten here. */
function staticKind(info: TargetInfo, a: Action, k: number, schedule: string): PlanAct {
  return match(a)
    .with({ kind: 'compute' }, (): PlanAct => ({ kind: 'compute', order: 0 }))
    .with({ kind: 'reuse' }, (): PlanAct => ({ kind: 'reuse', order: 0 }))
    .with({ kind: 'forecast' }, (f): PlanAct => {
      if (!Number.isInteger(f.order) || f.order < 0) {
        throw new DittoError('E_CHECK', `schedule '${schedule}': ${info.path} at step ${k}: Taylor order must be a non-negative integer, got ${f.order}`);
      }
      return { kind: 'forecast', order: f.order };
    })
    .with({ kind: 'reuse_residual' }, (): PlanAct => {
      if (info.kind !== 'block') {
        throw new DittoError('E_CHECK', `schedule '${schedule}': ${info.path} at step ${k}: 'reuse residual' applies to a block (like blocks[3]), not to a node`);
      }
      return { kind: 'reuse_residual', order: 0 };
    })
    .with({ kind: 'dynamic' }, (): PlanAct => {
      throw new DittoError('E_INTERNAL', 'dynamic actions are rejected before planning');
    })
    .exhaustive();
}

/**
 * One target in one branch over all steps. A dynamic step is, for storage, a step that may read the
 * stored value (its reuse world) or compute and store it again (its compute world): a compute stores
 * when any later step before the next static compute may reuse — dynamic steps included.
 */
function planTarget(info: TargetInfo, acts: PlanAct[], branch: Branch, steps: StepSpec[], reuse: (StepSpec | undefined)[], schedule: string): void {
  const S = acts.length;
  let lastForecast = -1;
  for (let k = 0; k < S; k++) if (acts[k]!.kind === 'forecast') lastForecast = k;
  const branchOrder = maxOrder(acts);
  info.taylorOrder = Math.max(info.taylorOrder, branchOrder);
  if (branchOrder > 0 && acts.some((a) => a.kind === 'dynamic')) {
    throw new DittoError('E_CHECK', `schedule '${schedule}': ${info.path} is both forecast and decided by a dynamic rule; the compiler supports one or the other per target`);
  }
  const computes: number[] = [];
  /** Pushes an entry into the compute world of step k, and into its reuse world when it has one. */
  const push = (k: number, entry: TargetStep, world: 'both' | 'compute' | 'reuse' = 'both') => {
    if (world !== 'reuse') steps[k]!.targets[branch].push(entry);
    if (world !== 'compute') reuse[k]?.targets[branch].push(entry);
  };
  const storesFor = (k: number) => {
    let storeValue = false;
    let storeResidual = false;
    for (let j = k + 1; j < S && acts[j]!.kind !== 'compute'; j++) {
      const kind = acts[j]!.kind === 'dynamic' ? acts[j]!.then! : acts[j]!.kind;
      if (kind === 'reuse_residual') storeResidual = true;
      else storeValue = true;
    }
    return { storeValue, storeResidual };
  };
  for (let k = 0; k < S; k++) {
    const { kind, order } = acts[k]!;
    if (kind === 'compute') {
      // What reads this value before the next compute decides what is stored.
      const { storeValue, storeResidual } = storesFor(k);
      const taylor = k < lastForecast;
      const write = taylor || storeValue || storeResidual;
      const entry: TargetStep = { target: info.path, action: 'compute', storeValue: storeValue || taylor, storeResidual };
      if (taylor) {
        const prev = computes[computes.length - 1];
        entry.taylor = { orders: Math.min(branchOrder, computes.length), invDelta: prev === undefined ? 0 : 1 / (k - prev) };
      }
      if (write) {
        info.cached = true;
        push(k, entry);
      }
      computes.push(k);
      continue;
    }
    if (kind === 'dynamic') {
      const r = acts[k]!;
      invariant(reuse[k] !== undefined, 'a dynamic step has a reuse world');
      // Compute world: compute, storing for any later step that may reuse.
      const { storeValue, storeResidual } = storesFor(k);
      if (storeValue || storeResidual) {
        info.cached = true;
        push(k, { target: info.path, action: 'compute', storeValue, storeResidual }, 'compute');
      }
      // Reuse world: the rule's `then`. At k = 0 the rule always computes (no previous signal).
      if (k > 0 && computes.length === 0) {
        throw new DittoError('E_CHECK', `schedule '${schedule}': the dynamic rule may reuse ${info.path} at step ${k} (${branch} branch) before any step computed it; compute it at an earlier step`);
      }
      if (k > 0) {
        info.cached = true;
        push(k, { target: info.path, action: r.then!, storeValue: false, storeResidual: false }, 'reuse');
      } else if (storeValue || storeResidual) {
        push(k, { target: info.path, action: 'compute', storeValue, storeResidual }, 'reuse');
      }
      computes.push(k);
      continue;
    }
    const last = computes[computes.length - 1];
    if (last === undefined) {
      const what = kind === 'reuse_residual' ? 'reuses the residual of' : kind === 'forecast' ? 'forecasts' : 'reuses';
      throw new DittoError('E_CHECK', `schedule '${schedule}' ${what} ${info.path} at step ${k} (${branch} branch), before any step computed it`);
    }
    const entry: TargetStep = { target: info.path, action: kind, storeValue: false, storeResidual: false };
    if (kind === 'forecast') {
      entry.forecast = { m: k - last, order: Math.min(order, computes.length - 1) };
    }
    push(k, entry);
  }
}

function maxOrder(acts: PlanAct[]): number {
  let m = 0;
  for (const a of acts) if (a.kind === 'forecast') m = Math.max(m, a.order);
  return m;
}

/** ", did you mean X?" for the closest known name (edit distance ≤ 3). */
function suggest(name: string, known: string[]): string {
  let best: string | undefined;
  let bestD = 4;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best ? ` (did you mean ${best}?)` : '';
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}
