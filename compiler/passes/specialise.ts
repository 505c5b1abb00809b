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
import { DittoError } from '../../core/errors.ts';
import type { Graph, NodeId } from '../ir/graph.ts';
import { actionAt, type Action, type ScheduleIR } from '../ir/schedule.ts';
import type { CompileOptions } from './options.ts';
import { BRANCHES, type Branch, type StepSpec, type TargetInfo, type TargetStep } from './ir.ts';

export interface Specialised {
  targets: Map<string, TargetInfo>;
  steps: StepSpec[];
}

type StaticKind = TargetStep['action'];

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
  if (schedule.dynamic.length > 0) {
    throw new DittoError(
      'E_CHECK',
      `schedule '${schedule.name}' has ${schedule.dynamic.length} dynamic rule(s) (signal ${schedule.dynamic[0]!.signal}); ` +
        'plan format v1 compiles static schedules only — run dynamic schedules with the reference executor',
    );
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

  const steps: StepSpec[] = Array.from({ length: S }, (_, k) => ({ k, targets: { cond: [], uncond: [] } }));
  const cfg = opts.cfgScale !== undefined;
  for (const info of targets.values()) {
    for (const branch of BRANCHES) {
      const read: Branch = cfg ? branch : 'cond';
      const acts = Array.from({ length: S }, (_, k) => staticKind(info, actionAt(schedule, k, info.path, read), k, schedule.name));
      planTarget(info, acts, branch, steps, schedule.name);
    }
  }
  return { targets, steps };
}

function staticKind(info: TargetInfo, a: Action, k: number, schedule: string): { kind: StaticKind; order: number } {
  switch (a.kind) {
    case 'compute':
      return { kind: 'compute', order: 0 };
    case 'reuse':
      return { kind: 'reuse', order: 0 };
    case 'forecast':
      if (!Number.isInteger(a.order) || a.order < 0) {
        throw new DittoError('E_CHECK', `schedule '${schedule}': ${info.path} at step ${k}: Taylor order must be a non-negative integer, got ${a.order}`);
      }
      return { kind: 'forecast', order: a.order };
    case 'reuse_residual':
      if (info.kind !== 'block') {
        throw new DittoError('E_CHECK', `schedule '${schedule}': ${info.path} at step ${k}: 'reuse residual' applies to a block (like blocks[3]), not to a node`);
      }
      return { kind: 'reuse_residual', order: 0 };
    case 'dynamic':
      throw new DittoError('E_INTERNAL', 'dynamic actions are rejected before planning');
  }
}

function planTarget(info: TargetInfo, acts: { kind: StaticKind; order: number }[], branch: Branch, steps: StepSpec[], schedule: string): void {
  const S = acts.length;
  let lastForecast = -1;
  for (let k = 0; k < S; k++) if (acts[k]!.kind === 'forecast') lastForecast = k;
  const branchOrder = maxOrder(acts);
  info.taylorOrder = Math.max(info.taylorOrder, branchOrder);
  const computes: number[] = [];
  for (let k = 0; k < S; k++) {
    const { kind, order } = acts[k]!;
    if (kind === 'compute') {
      // What reads this value before the next compute decides what is stored.
      let storeValue = false;
      let storeResidual = false;
      for (let j = k + 1; j < S && acts[j]!.kind !== 'compute'; j++) {
        if (acts[j]!.kind === 'reuse_residual') storeResidual = true;
        else storeValue = true;
      }
      const taylor = k < lastForecast;
      const write = taylor || storeValue || storeResidual;
      const entry: TargetStep = { target: info.path, action: 'compute', storeValue: storeValue || taylor, storeResidual };
      if (taylor) {
        const prev = computes[computes.length - 1];
        entry.taylor = { orders: Math.min(branchOrder, computes.length), invDelta: prev === undefined ? 0 : 1 / (k - prev) };
      }
      if (write) {
        info.cached = true;
        steps[k]!.targets[branch].push(entry);
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
    steps[k]!.targets[branch].push(entry);
  }
}

function maxOrder(acts: { kind: StaticKind; order: number }[]): number {
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
