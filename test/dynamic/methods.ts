/**
 * Shared pieces of the cache-method suites (DBCache, TeaCache, EasyCache, MagCache from models/schedules/):
 * random small DiTs, the shipped schedule resolved against them, and a threshold chosen from the
 * signal the model actually produces so that some steps reuse and some compute, with no deciding
 * value within 3% of the threshold (f32 GPU sums against the reference's f64 ones cannot then
 * flip a decision).
 */
import { fileURLToPath } from 'node:url';
import { loadProgram, resolveSchedule } from '../../compiler/frontend.ts';
import type { Graph } from '../../compiler/ir/graph.ts';
import type { BranchActions, ScheduleIR } from '../../compiler/ir/schedule.ts';
import { tensor, type Tensor } from '../../core/tensor.ts';
import type { DecisionTrace } from '../../runtime/reference/dynamicRule.ts';
import { sampleReference, type SampleResult } from '../../runtime/reference/sample.ts';
import { classesFor, tinyGraph, weightsFor, type Scenario } from '../runtime/harness.ts';

const root = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const programs = {
  dbcache: loadProgram(root('models/schedules/dbcache.ditto')),
  teacache: loadProgram(root('models/schedules/teacache.ditto')),
  magcache: loadProgram(root('models/schedules/magcache.ditto')),
  easycache: loadProgram(root('models/schedules/easycache.ditto')),
  teacache_branches: loadProgram(root('models/schedules/teacache-branches.ditto')),
};

export type Method = 'dbcache' | 'teacache' | 'easycache' | 'teacache_branches';

/** The parameters each method is resolved with in the tests (the threshold is chosen per run). */
export const METHOD_PARAMS: Record<Method, Record<string, number>> = {
  dbcache: { Fn: 1, Bn: 1, warm: 2, most: 2, cached: 4, period: 4, limit: 1e6 },
  teacache: { c4: 0, c3: 0, c2: 1.5, c1: 0.8, c0: 0.01 },
  teacache_branches: { c4: 0, c3: 0, c2: 1.5, c1: 0.8, c0: 0.01 },
  easycache: { R: 2 },
};

export function methodSchedule(method: Method | 'magcache', graph: Graph, steps: number, set: Record<string, number>): ScheduleIR {
  return resolveSchedule(programs[method], method, graph, { steps, set });
}

export interface MethodRun {
  graph: Graph;
  weights: Map<string, Tensor>;
  schedule: ScheduleIR;
  ref: SampleResult;
  classes: number[];
  threshold: number;
}

function reference(graph: Graph, weights: Map<string, Tensor>, schedule: ScheduleIR, s: Scenario): SampleResult {
  return sampleReference(graph, weights, schedule, { sampler: s.sampler, classes: classesFor(s), seed: s.seed, ...(s.cfgScale !== undefined ? { cfgScale: s.cfgScale } : {}) });
}

/** The rule's decision traces: one, or the cond and uncond branch's of a `per_branch` rule. */
export function tracesOf(ref: SampleResult): DecisionTrace[][] {
  const d = ref.stats.dynamic[0]!;
  return d.uncond ? [d.trace, d.uncond.trace] : [d.trace];
}

/** Whether every value the rule compared is at least 3% away from the threshold. */
function clear(ref: SampleResult, threshold: number): boolean {
  return tracesOf(ref).flat().every((t) => t.compared === undefined || !t.used || Math.abs(t.compared - threshold) > 0.03 * threshold);
}

/**
 * The class-label embedding table scaled by `factor`: with random weights the label barely moves
 * the activations, so the CFG branches' signals agree within 1%; scaled, they differ by up to a
 * quarter, and a `per_branch` rule's branches then decide differently at some steps.
 */
export function strengthenLabels(graph: Graph, weights: Map<string, Tensor>, factor: number): void {
  for (const n of graph.nodes) {
    if (n.op.kind !== 'embedding') continue;
    const name = n.weights[0]!.name;
    const t = weights.get(name)!;
    weights.set(name, tensor([...t.shape], (t.data as Float32Array).map((v) => v * factor)));
  }
}

/**
 * The method on scenario `s`, with a threshold at quantile `q` of the values the rule compares
 * when nothing is reused (moved up by 7% steps until no decision is borderline); `labelScale`:
 * strengthenLabels.
 */
export function methodRun(method: Method, s: Scenario, q: number, labelScale = 1): MethodRun {
  const graph = tinyGraph(s.cfg, s.cfgScale !== undefined ? 2 * s.batch : s.batch);
  const weights = weightsFor(graph, s.weightSeed);
  if (labelScale !== 1) strengthenLabels(graph, weights, labelScale);
  const set = METHOD_PARAMS[method];
  const probe = reference(graph, weights, methodSchedule(method, graph, s.steps, { ...set, threshold: 1e-30 }), s);
  const seen = tracesOf(probe).flat().flatMap((t) => (t.compared === undefined ? [] : [Math.abs(t.compared)])).sort((a, b) => a - b);
  let threshold = Math.max(seen[Math.min(seen.length - 1, Math.floor(q * seen.length))]!, 1e-6) * 1.01;
  for (let attempt = 0; ; attempt++) {
    const schedule = methodSchedule(method, graph, s.steps, { ...set, threshold });
    const ref = reference(graph, weights, schedule, s);
    if (clear(ref, threshold) || attempt === 20) return { graph, weights, schedule, ref, classes: classesFor(s), threshold };
    threshold *= 1.07;
  }
}

/** A readable trace of the reference's decisions (for assertion messages). */
export function traceOf(ref: SampleResult): string {
  return tracesOf(ref).map((trace) => trace.map((t) => `k${t.step}:${t.compared === undefined ? '-' : t.compared.toPrecision(3)}${t.decision === 'reuse' ? 'R' : 'c'}`).join(' ')).join(' | ');
}

/**
 * A DBCache-like `per_branch` rule (against the last compute, with a cap and a run total) on
 * blocks[1..], its signal blocks[0]'s residual, over `steps`; with the run's weights (labels
 * strengthened) and the reference's decisions.
 */
export function sinceComputeRun(s: Scenario, threshold: number): MethodRun {
  const graph = tinyGraph(s.cfg, 2 * s.batch);
  const weights = weightsFor(graph, s.weightSeed);
  strengthenLabels(graph, weights, 30);
  const table = Array.from({ length: s.steps }, (_, k) => {
    const row: Record<string, BranchActions> = {};
    if (k === 0) return row;
    for (let b = 1; b < s.cfg.depth; b++) row[`blocks[${b}]`] = { cond: { kind: 'dynamic', rule: 0 }, uncond: { kind: 'dynamic', rule: 0 } };
    return row;
  });
  const schedule: ScheduleIR = {
    name: 'since-compute-per-branch', model: 'DiT', steps: s.steps, table, epsScale: table.map(() => 1),
    dynamic: [{ signal: 'blocks[0].residual', metric: 'rel_l1', threshold, warmup: 1, maxConsecutive: 3, then: 'reuse_residual', against: 'compute', cap: 4 * threshold, maxReused: s.steps - 3, perBranch: true }],
  };
  return { graph, weights, schedule, ref: reference(graph, weights, schedule, s), classes: classesFor(s), threshold };
}
