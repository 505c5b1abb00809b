/**
 * Whether a Schedule IR fits a graph: the one validity check of a schedule, with one wording. The
 * schedule resolver reports its problems as diagnostics at the source span of the offending cell
 * (compiler/schedule/resolve.ts); the compiler (passes/specialise.ts) and the reference executor
 * (runtime/reference/sample.ts), which may receive a Schedule IR built without source, throw the
 * first one as E_CHECK.
 */
import { DittoError } from '../../core/errors.ts';
import { shapeString } from '../../core/tensor.ts';
import { didYouMean } from '../../grammar/diagnostics.ts';
import { nodeByPath, type Graph, type NodeId } from './graph.ts';
import { COMPUTE, type Action, type DynamicRule, type ScheduleIR } from './schedule.ts';
import { tokenOrderProblem } from './rules.ts';
import { tokenCone } from './tokenCone.ts';

export type Branch = 'cond' | 'uncond';

export interface ScheduleProblem {
  severity: 'error' | 'warning';
  message: string;
  /** Where: the cell (step, target, branch) or the dynamic rule the problem is about. */
  step?: number;
  target?: string;
  branch?: Branch;
  rule?: number;
  notes?: string[];
}

/** A target of the schedule resolved against the graph. */
export interface CheckedTarget {
  path: string;
  kind: 'node' | 'block';
  /** The value the target provides (a block: its output). */
  node: NodeId;
  /** A block's input. */
  blockInput?: NodeId;
  /** Highest Taylor order any step forecasts it with (0: never forecast). */
  maxOrder: number;
}

/** The table as the checks read it: a resolver's cells before the IR exists, or a Schedule IR. */
export interface ScheduleCells {
  readonly steps: number;
  readonly targets: Iterable<string>;
  action(k: number, path: string, branch: Branch): Action;
  readonly dynamic: readonly DynamicRule[];
}

export function cellsOf(s: ScheduleIR): ScheduleCells {
  const targets = new Set<string>();
  for (const row of s.table) for (const p of Object.keys(row)) targets.add(p);
  return { steps: s.steps, targets, dynamic: s.dynamic, action: (k, p, b) => s.table[k]?.[p]?.[b] ?? COMPUTE };
}

/** What the action a target takes does to it (a dynamic action: its `then`). */
function effectiveKind(a: Action, dynamic: readonly DynamicRule[]): Action['kind'] {
  return a.kind === 'dynamic' ? (dynamic[a.rule]?.then ?? 'dynamic') : a.kind;
}

/** Whether an action fits the kind of target; the message when it does not. */
export function targetKindProblem(kind: 'node' | 'block', path: string, action: Action['kind']): string | undefined {
  if (action === 'reuse_residual' && kind !== 'block') {
    return `\`reuse residual\` applies to blocks (such as \`blocks[0]\`), but \`${path}\` is a node; use \`reuse\` for a node`;
  }
  if (action === 'tokens' && kind === 'block') {
    return `\`${path}\` is a block; a partial compute \`compute tokens(…)\` applies to a token-wise node such as \`${path}.mlp\``;
  }
  if ((action === 'reuse' || action === 'forecast') && kind === 'block') {
    return `\`${path}\` is a block; reuse its residual with \`reuse residual\`, or name a node such as \`${path}.attn\``;
  }
  return undefined;
}

/** The targets of a schedule, resolved against the graph, and what does not fit. */
export function resolveTargets(graph: Graph, cells: ScheduleCells): { targets: Map<string, CheckedTarget>; problems: ScheduleProblem[] } {
  const problems: ScheduleProblem[] = [];
  const targets = new Map<string, CheckedTarget>();
  const byNode = new Map<NodeId, string>();
  const known = () => [...graph.nodes.flatMap((n) => (n.path === undefined ? [] : [n.path])), ...graph.blocks.map((b) => b.path)];
  for (const path of cells.targets) {
    const block = graph.blocks.find((b) => b.path === path);
    const node = block ? block.output : nodeByPath(graph, path)?.id;
    if (node === undefined) {
      const hint = didYouMean(path, known());
      problems.push({ severity: 'error', target: path, message: `\`${path}\` is neither a node nor a block of model ${graph.model}${hint ? ` (${hint})` : ''}` });
      continue;
    }
    const shape = graph.nodes[node]!.shape;
    if (shape[0] !== graph.batch) {
      problems.push({ severity: 'error', target: path, message: `\`${path}\` ${shapeString(shape)} has no batch axis, so it cannot be cached per sample` });
      continue;
    }
    const other = byNode.get(node);
    if (other !== undefined) {
      problems.push({ severity: 'error', target: path, message: `\`${path}\` names the same value as \`${other}\`` });
      continue;
    }
    byNode.set(node, path);
    targets.set(path, { path, kind: block ? 'block' : 'node', node, blockInput: block?.input, maxOrder: 0 });
  }
  return { targets, problems };
}

/** Per cell: Taylor orders, dynamic rules that exist, actions that fit the target. One problem per target and kind. */
export function actionProblems(graph: Graph, cells: ScheduleCells, targets: ReadonlyMap<string, CheckedTarget>, branches: readonly Branch[]): ScheduleProblem[] {
  const problems: ScheduleProblem[] = [];
  for (const t of targets.values()) {
    const reported = new Set<string>();
    const report = (p: ScheduleProblem, key: string) => {
      if (reported.has(key)) return;
      reported.add(key);
      problems.push(p);
    };
    for (let k = 0; k < cells.steps; k++) {
      for (const branch of branches) {
        const a = cells.action(k, t.path, branch);
        const at = { step: k, target: t.path, branch };
        if (a.kind === 'forecast') {
          if (!Number.isInteger(a.order) || a.order < 0) report({ severity: 'error', ...at, message: `\`${t.path}\` at step ${k}: a Taylor order must be a whole number ≥ 0, got ${a.order}` }, 'order');
          else t.maxOrder = Math.max(t.maxOrder, a.order);
        }
        if (a.kind === 'dynamic' && !cells.dynamic[a.rule]) {
          report({ severity: 'error', ...at, message: `\`${t.path}\` at step ${k} follows dynamic rule ${a.rule}, which does not exist` }, 'rule');
          continue;
        }
        const kind = targetKindProblem(t.kind, t.path, effectiveKind(a, cells.dynamic));
        if (kind) report({ severity: 'error', ...at, message: kind }, 'kind');
      }
    }
  }
  problems.push(...cfgCacheProblems(graph, cells, targets));
  return problems;
}

/** The model output a `cfg_cache` step sets: the graph's output `out`, else its only output. */
export function cfgCacheOutput(graph: Graph): NodeId | undefined {
  return (graph.outputs.find((o) => o.name === 'out') ?? (graph.outputs.length === 1 ? graph.outputs[0] : undefined))?.node;
}

/**
 * `cfg_cache` (FasterCache's CFG-Cache) sets the unconditional half of the model output from the
 * conditional half and the bands stored where both computed: only on the model output, only in
 * the `uncond` branch, with finite positive growths and a boundary in [0, 1], and that target's
 * other unconditional steps compute (they are where the bands are stored).
 */
export function cfgCacheProblems(graph: Graph, cells: ScheduleCells, targets: ReadonlyMap<string, CheckedTarget>): ScheduleProblem[] {
  const problems: ScheduleProblem[] = [];
  const out = cfgCacheOutput(graph);
  for (const t of targets.values()) {
    let first: number | undefined;
    for (let k = 0; k < cells.steps; k++) {
      const c = cells.action(k, t.path, 'cond');
      if (c.kind === 'cfg_cache') return [{ severity: 'error', step: k, target: t.path, branch: 'cond', message: `\`${t.path}\` at step ${k}: \`cfg_cache\` sets the unconditional half from the conditional one, so it applies to the \`uncond\` branch only` }];
      const a = cells.action(k, t.path, 'uncond');
      if (a.kind !== 'cfg_cache') continue;
      first ??= k;
      const at = { step: k, target: t.path, branch: 'uncond' as const };
      if (t.node !== out || t.kind !== 'node') {
        return [{ severity: 'error', ...at, message: `\`cfg_cache\` applies to the model output${out !== undefined && graph.nodes[out]!.path ? ` \`${graph.nodes[out]!.path}\`` : ''}, not to \`${t.path}\`` }];
      }
      if (![a.low, a.high].every((g) => Number.isFinite(g) && g > 0)) return [{ severity: 'error', ...at, message: `the growths of \`cfg_cache\` must be finite numbers > 0, got low ${a.low}, high ${a.high}` }];
      if (!(a.boundary >= 0 && a.boundary <= 1)) return [{ severity: 'error', ...at, message: `the boundary of \`cfg_cache\` is a trajectory fraction t in [0, 1], got ${a.boundary}` }];
    }
    if (first === undefined) continue;
    for (let k = 0; k < cells.steps; k++) {
      const a = cells.action(k, t.path, 'uncond');
      if (a.kind !== 'compute' && a.kind !== 'cfg_cache') {
        return [{ severity: 'error', step: k, target: t.path, branch: 'uncond', message: `\`${t.path}\` (uncond) takes \`cfg_cache\` at step ${first} and \`${a.kind.replace('_', ' ')}\` at step ${k}; where it is not taken from the conditional half it must compute (that is where the frequency bands are stored)` }];
      }
    }
  }
  return problems;
}

/** A `cfg_cache` step needs classifier-free guidance: the unconditional half it sets exists only then. */
export function cfgCacheWithoutGuidance(cells: ScheduleCells): ScheduleProblem | undefined {
  for (const path of cells.targets) {
    for (let k = 0; k < cells.steps; k++) {
      if (cells.action(k, path, 'uncond').kind === 'cfg_cache') {
        return { severity: 'error', step: k, target: path, branch: 'uncond', message: `it takes the unconditional output from the conditional one (\`cfg_cache\`, step ${k}), but this run has no classifier-free guidance; give a CFG scale (\`--cfg\`)` };
      }
    }
  }
  return undefined;
}

/**
 * Reads before writes: nothing is reused or forecast before the target's first compute (a dynamic
 * step counts as a compute before its rule's warm-up, where it cannot reuse). A Taylor order needs
 * order + 1 computes in all: the language rejects a schedule that never reaches its order
 * (`shortTaylor: 'error'`); a Schedule IR built otherwise keeps the defined fallback to the order the
 * history allows, as where a forecast has fewer computes so far (a warning).
 */
export function historyProblems(cells: ScheduleCells, targets: Iterable<string>, branches: readonly Branch[], shortTaylor: 'error' | 'warning' = 'error'): ScheduleProblem[] {
  const problems: ScheduleProblem[] = [];
  for (const path of targets) {
    for (const branch of branches) {
      let computed = 0;
      let reported = false;
      const total = Array.from({ length: cells.steps }, (_, k) => cells.action(k, path, branch)).filter((a) => a.kind === 'compute').length;
      for (let k = 0; k < cells.steps; k++) {
        const a = cells.action(k, path, branch);
        const at = { step: k, target: path, branch };
        if (a.kind === 'compute') {
          computed++;
          continue;
        }
        if (a.kind === 'dynamic') {
          const rule = cells.dynamic[a.rule];
          if (!rule) continue;
          if (k < Math.max(1, rule.warmup)) computed++;
          else if (computed === 0 && !reported) {
            problems.push({ severity: 'error', ...at, message: `the dynamic rule may reuse \`${path}\` at step ${k} (${branch}) before it was ever computed; raise \`warmup\` or compute it earlier` });
            reported = true;
          }
          continue;
        }
        if (computed === 0 && !reported) {
          problems.push({
            severity: 'error', ...at,
            message: `\`${path}\` is ${a.kind === 'forecast' ? 'forecast' : a.kind === 'tokens' ? 'computed on some tokens (the others reused)' : a.kind === 'cfg_cache' ? 'taken from the conditional half (`cfg_cache`)' : 'reused'} at step ${k} (${branch}) before it was ever computed`,
            notes: ['nothing is cached before the first compute; make the first steps compute (e.g. `at steps 1..`)'],
          });
          reported = true;
        }
        if (a.kind === 'forecast' && !reported) {
          if (total < a.order + 1) {
            problems.push({ severity: shortTaylor, ...at, message: `Taylor order ${a.order} needs ${a.order + 1} computed steps, but \`${path}\` is computed only ${total} time${total === 1 ? '' : 's'} (${branch})` });
            reported = true;
          } else if (computed < a.order + 1) {
            problems.push({ severity: 'warning', ...at, message: `at step ${k} only ${computed} computed value${computed === 1 ? '' : 's'} of \`${path}\` exist, so Taylor order ${a.order} falls back to order ${computed - 1} there` });
          }
        }
      }
    }
  }
  return problems;
}

/**
 * Partial computes (`compute tokens(f, by = …)`): the fraction is in (0, 1], the order fits the
 * token grid, the target is token-wise (compiler/ir/tokenCone.ts), and the target is not also
 * forecast or decided by a dynamic rule (its cache holds one value per token, last computed at
 * different steps, which neither a Taylor history nor a whole-value decision describes).
 */
export function tokenProblems(graph: Graph, cells: ScheduleCells, targets: ReadonlyMap<string, CheckedTarget>, branches: readonly Branch[]): ScheduleProblem[] {
  const problems: ScheduleProblem[] = [];
  for (const t of targets.values()) {
    let first: { k: number; branch: Branch; a: Extract<Action, { kind: 'tokens' }> } | undefined;
    let other: { k: number; branch: Branch; kind: string } | undefined;
    for (let k = 0; k < cells.steps; k++) {
      for (const branch of branches) {
        const a = cells.action(k, t.path, branch);
        if (a.kind === 'tokens') {
          first ??= { k, branch, a };
          if (!(a.fraction > 0 && a.fraction <= 1)) {
            problems.push({ severity: 'error', step: k, target: t.path, branch, message: `the fraction of tokens computed must be > 0 and ≤ 1, got ${a.fraction}` });
            return problems;
          }
        } else if (a.kind === 'forecast' || a.kind === 'dynamic') other ??= { k, branch, kind: a.kind === 'forecast' ? 'forecast' : 'decided by a dynamic rule' };
      }
    }
    if (!first || t.kind !== 'node') continue;
    const at = { step: first.k, target: t.path, branch: first.branch };
    const cone = tokenCone(graph, t.node);
    if (typeof cone === 'string') {
      problems.push({ severity: 'error', ...at, message: `\`${t.path}\` cannot be computed on some tokens: ${cone}; partial computes apply to token-wise nodes such as an MLP` });
      continue;
    }
    const order = tokenOrderProblem(first.a.by, cone.tokens);
    if (order) problems.push({ severity: 'error', ...at, message: `\`${t.path}\`: ${order}` });
    if (other) problems.push({ severity: 'error', step: other.k, target: t.path, branch: other.branch, message: `\`${t.path}\` is computed on some tokens at step ${first.k} and ${other.kind} at step ${other.k}; a target takes one or the other` });
  }
  return problems;
}

/** The blocks a residual signal spans: `<block>.residual` (one block) or `<group>[a..b].residual`
 *  (blocks a … b−1 of the group, in order); undefined when the signal names no such span. */
export function signalBlocks(graph: Graph, signal: string): Graph['blocks'] | undefined {
  if (!signal.endsWith('.residual')) return undefined;
  const one = graph.blocks.find((b) => `${b.path}.residual` === signal);
  if (one) return [one];
  const m = /^(.+)\[(\d+)\.\.(\d+)\]\.residual$/.exec(signal);
  if (!m) return undefined;
  const [from, to] = [Number(m[2]), Number(m[3])];
  const span = graph.blocks.filter((b) => b.group === m[1] && b.index >= from && b.index < to).sort((a, b) => a.index - b.index);
  return span.length === to - from && span.length > 0 ? span : undefined;
}

/** The node(s) a dynamic rule's signal reads: a named node, or a residual (the span's last output
 *  and first input). */
export function signalNodes(graph: Graph, signal: string): NodeId[] | undefined {
  const node = nodeByPath(graph, signal);
  if (node) return [node.id];
  const span = signalBlocks(graph, signal);
  return span ? [span[span.length - 1]!.output, span[0]!.input] : undefined;
}

/** The nodes a rule reads before it decides: its signal's, or for `transform_rate` (EasyCache) the
 *  span's input only — the span's output is read after the span has run, at a compute. */
export function decisionNodes(graph: Graph, rule: Pick<DynamicRule, 'signal' | 'metric'>): NodeId[] | undefined {
  const nodes = signalNodes(graph, rule.signal);
  if (!nodes || rule.metric !== 'transform_rate') return nodes;
  return nodes.length === 2 ? [nodes[1]!] : undefined;
}

/** The nodes a signal reads, and every node they depend on. */
export function signalUpstream(graph: Graph, nodes: readonly NodeId[]): Set<NodeId> {
  const seen = new Set<NodeId>();
  const stack = [...nodes];
  while (stack.length) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...graph.nodes[id]!.inputs);
  }
  return seen;
}

/** Every dynamic rule's signal exists and is computed at every step (it is measured at every step). */
export function signalProblems(graph: Graph, cells: ScheduleCells, branches: readonly Branch[]): ScheduleProblem[] {
  const problems: ScheduleProblem[] = [];
  cells.dynamic.forEach((r, rule) => {
    const nodes = decisionNodes(graph, r);
    if (!nodes) {
      problems.push({ severity: 'error', rule, message: `the signal \`${r.signal}\` of dynamic rule ${rule} is neither a named node nor the residual of a block or block range of model ${graph.model}` });
      return;
    }
    // A target the signal depends on (itself, or upstream of it) would make the signal depend on the
    // rule's own decision. A block whose input feeds the signal (TeaCache's block 0) is fine.
    const upstream = signalUpstream(graph, nodes);
    const owners = [...cells.targets].filter((p) => p === r.signal || upstream.has(graph.blocks.find((b) => b.path === p)?.output ?? nodeByPath(graph, p)?.id ?? -1));
    for (let k = 0; k < cells.steps; k++) {
      for (const b of branches) {
        const owner = owners.find((p) => cells.action(k, p, b).kind !== 'compute');
        if (owner !== undefined) {
          const what = owner === r.signal || nodes.includes(graph.blocks.find((x) => x.path === owner)?.output ?? -1) ? 'is' : `depends on \`${owner}\`, which is`;
          problems.push({ severity: 'error', rule, step: k, branch: b, message: `the signal \`${r.signal}\` of dynamic rule ${rule} ${what} not computed at step ${k} (${b}); a signal must be computed at every step` });
          return;
        }
      }
    }
  });
  return problems;
}

/** Every problem of a Schedule IR against a graph, in the order they are checked. */
export function scheduleProblems(graph: Graph, cells: ScheduleCells, branches: readonly Branch[]): { targets: Map<string, CheckedTarget>; problems: ScheduleProblem[] } {
  const { targets, problems } = resolveTargets(graph, cells);
  problems.push(...actionProblems(graph, cells, targets, branches));
  if (problems.length === 0) problems.push(...tokenProblems(graph, cells, targets, branches));
  if (problems.length === 0) problems.push(...historyProblems(cells, targets.keys(), branches, 'warning'), ...signalProblems(graph, cells, branches));
  return { targets, problems };
}

/**
 * The check the compiler and the reference executor run on a Schedule IR: its length is `steps`
 * (when given) and it fits the graph; the first error is E_CHECK naming the schedule. Without CFG
 * only the `cond` actions apply, so only they are checked.
 */
export function checkSchedule(graph: Graph, schedule: ScheduleIR, opts: { steps?: number; cfg: boolean }): Map<string, CheckedTarget> {
  const fail = (msg: string) => new DittoError('E_CHECK', `schedule '${schedule.name}': ${msg}`);
  if (opts.steps !== undefined && schedule.steps !== opts.steps) throw fail(`it is resolved for ${schedule.steps} steps, but ${opts.steps} were asked for`);
  if (schedule.table.length !== schedule.steps || schedule.epsScale.length !== schedule.steps) {
    throw fail(`it has ${schedule.steps} steps but ${schedule.table.length} table entries and ${schedule.epsScale.length} eps scales; each needs one per step`);
  }
  const cells = cellsOf(schedule);
  if (!opts.cfg) {
    const p = cfgCacheWithoutGuidance(cells);
    if (p) throw fail(p.message);
  }
  const { targets, problems } = scheduleProblems(graph, cells, opts.cfg ? ['cond', 'uncond'] : ['cond']);
  const first = problems.find((p) => p.severity === 'error');
  if (first) throw fail(first.message);
  return targets;
}
