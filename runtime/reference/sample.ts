/**
 * The cached sampling loop of the reference executor: the definition of what a schedule does
 * (DESIGN §4, compiler/ir/schedule.ts, docs/ebcache.md "One sampling step", docs/reference-executor.md).
 *
 * Per sampling step k (countdown i = S−1−k): build the model batch ([cond; uncond] under CFG),
 * evaluate the graph with every schedule target intercepted, guide, scale eps, take one DDPM or
 * DDIM step on the B conditional latents.
 *
 * A target is a node path (its ungated output is cached) or a block instance path (its residual
 * output − input is cached). Per branch and step its action is compute (evaluate, store), reuse /
 * reuse_residual (the value stored at the last compute), forecast (Taylor from the stored
 * history) or dynamic (a rule decides compute or its `then`). Evaluation is demand-driven, so what
 * only feeds non-computing targets never runs and stores nothing.
 */
import { DittoError, invariant } from '../../core/errors.ts';
import { intTensor, numel, sameShape, shapeString, tensor, type Tensor } from '../../core/tensor.ts';
import type { Graph, NodeId } from '../../compiler/ir/graph.ts';
import type { Action, DynamicRule, ForecastBasis, ScheduleIR, TokenOrder } from '../../compiler/ir/schedule.ts';
import { Evaluation, type Intercept, type Weights } from './forward.ts';
import { checkSchedule, decisionNodes, signalNodes } from '../../compiler/ir/scheduleCheck.ts';
import { cfgBands, cfgCacheWeights, epsScaleAt, mergeTokens, uncondFromBands, residualOf, reuseValue, TaylorState, TokenHistory, withResidual } from '../../compiler/ir/rules.ts';
import { DynamicRuleState, type Decision, type DecisionTrace } from './dynamicRule.ts';
import { makeDiffusion } from '../../core/diffusion.ts';
import { ddimStep, ddpmStep, type VarianceKind } from '../sampler/steps.ts';
import { epsFromModelOutput, type GuideChannels } from '../sampler/guidance.ts';
import { noiseForRun, type RunNoise } from '../sampler/noise.ts';

export type Branch = 'cond' | 'uncond';

export interface SampleOptions {
  sampler: 'ddpm' | 'ddim';
  /** Classifier-free guidance scale. Given → the graph batch is 2·classes ([cond; uncond]); absent → no CFG. */
  cfgScale?: number;
  guide?: GuideChannels;
  /** Class id of each of the B samples. */
  classes: readonly number[];
  seed: number;
  /** Initial latent and per-step noise; default noiseForRun(seed, B, [C, H, W], steps). */
  noise?: RunNoise;
  /** DDPM variance; default learned_range when the model outputs variance channels, else fixed_large. */
  variance?: VarianceKind;
  /** Called at each step with every node value the forward evaluated and the guided, scaled eps
   *  [B, C, H, W] the sampler update used (tests, debugging). */
  observe?: (step: { k: number; values: ReadonlyMap<NodeId, Tensor>; eps: Float32Array }) => void;
}

export interface ActionCounts {
  compute: number;
  reuse: number;
  forecast: number;
}

export interface SampleStats {
  /** Per target and branch: how many steps it computed, reused (reuse / reuse_residual) or forecast.
   *  A target that was not needed at a step (dead under a reused block) counts nothing there. */
  targets: Record<string, Record<Branch, ActionCounts>>;
  /** Per dynamic rule: decisions at the steps that used it, and the per-step trace — of the cond
   *  branch, with the uncond branch's in `uncond` when the rule is `per_branch`. */
  dynamic: { rule: number; signal: string; reused: number; computed: number; trace: DecisionTrace[]; uncond?: { reused: number; computed: number; trace: DecisionTrace[] } }[];
  /** Graph nodes evaluated at each step (smaller when reuse makes work dead). */
  nodesEvaluated: number[];
}

export interface SampleResult {
  /** Final latents [B, C, H, W] (the conditional half). */
  latents: Tensor;
  stats: SampleStats;
}

interface Target {
  path: string;
  node: NodeId;
  /** A block target's input (it caches the residual output − input). */
  blockInput?: NodeId;
  /** d0 = the value (or residual) at the last compute; d1… Taylor differences for forecast targets. */
  history: Record<Branch, TaylorState>;
  /** Per token, its last compute (targets computed on some tokens: rows [N, T, D]). */
  tokens: Record<Branch, TokenHistory> | undefined;
  /** The model output under `cfg_cache`: the bands of uncond − cond stored at the last step the
   *  unconditional half computed, and the band weights of every step. */
  cfg?: { bands?: { low: Float32Array; high: Float32Array }; weights: ({ low: number; high: number } | undefined)[] };
}

type Resolved = { kind: 'compute' } | { kind: 'reuse' } | { kind: 'forecast'; order: number; basis?: ForecastBasis } | { kind: 'tokens'; fraction: number; by: TokenOrder } | { kind: 'cfg_cache' };

function checkErr(schedule: ScheduleIR, msg: string): DittoError {
  return new DittoError('E_CHECK', `schedule '${schedule.name}': ${msg}`);
}

/** The value a dynamic rule decides from: a named node, `<block>.residual` (output − input), or for
 *  `transform_rate` the span's input. */
function signalOf(graph: Graph, rule: DynamicRule): (ev: Evaluation) => Float32Array {
  const [node, input] = decisionNodes(graph, rule)!;
  if (input === undefined) return (ev) => ev.value(node!).data as Float32Array;
  return (ev) => residualOf(ev.value(node!).data as Float32Array, ev.value(input).data as Float32Array);
}

export function sampleReference(graph: Graph, weights: Weights, schedule: ScheduleIR, opts: SampleOptions): SampleResult {
  const S = schedule.steps;
  const cfg = opts.cfgScale !== undefined;
  const B = opts.classes.length;
  const N = cfg ? 2 * B : B;
  if (B === 0) throw new DittoError('E_INPUT', 'sampling needs at least one class id');
  if (graph.batch !== N) {
    throw new DittoError('E_INPUT', `the graph was built for batch ${graph.batch}, but ${B} samples${cfg ? ' with CFG' : ''} need ${N}`);
  }
  const xIn = graph.inputs.find((i) => i.name === 'x');
  if (!xIn) throw new DittoError('E_INPUT', `model ${graph.model} has no input 'x' to sample`);
  const [, C, H, W] = graph.nodes[xIn.node]!.shape as [number, number, number, number];
  const outRef = graph.outputs.find((o) => o.name === 'out') ?? graph.outputs[0];
  if (!outRef) throw new DittoError('E_INPUT', `model ${graph.model} has no output`);
  const outCh = graph.nodes[outRef.node]!.shape[1]!;
  const variance: VarianceKind = opts.variance ?? (outCh === 2 * C ? 'learned_range' : 'fixed_large');

  const numClasses = graph.params.classes ?? graph.nodes.find((n) => n.op.kind === 'embedding')!.shape[1]! - 1;
  for (const [b, c] of opts.classes.entries()) {
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) {
      throw new DittoError('E_INPUT', `class id ${c} of sample ${b} is outside 0..${numClasses - 1}`);
    }
  }
  const y = intTensor([N], cfg ? [...opts.classes, ...opts.classes.map(() => numClasses)] : [...opts.classes]);

  const noise = opts.noise ?? noiseForRun(opts.seed, B, [C, H, W], S);
  const latentShape = [B, C, H, W];
  if (!sameShape(noise.initial.shape, latentShape) || noise.steps.length < S || noise.steps.some((z, k) => k < S && !sameShape(z.shape, latentShape))) {
    throw new DittoError('E_INPUT', `supplied noise must be an initial latent and ${S} step tensors of shape ${shapeString(latentShape)}`);
  }

  const diffusion = makeDiffusion(S);
  const targets = new Map<string, Target>(
    [...checkSchedule(graph, schedule, { cfg }).values()].map((t) => [
      t.path,
      {
        path: t.path, node: t.node, blockInput: t.blockInput, history: { cond: new TaylorState(t.maxOrder), uncond: new TaylorState(t.maxOrder) },
        tokens: t.kind === 'node' && graph.nodes[t.node]!.shape.length === 3 ? { cond: new TokenHistory(graph.nodes[t.node]!.shape[1]!), uncond: new TokenHistory(graph.nodes[t.node]!.shape[1]!) } : undefined,
      },
    ]),
  );
  const byNode = new Map([...targets.values()].map((t) => [t.node, t]));
  if (cfg) {
    for (const t of targets.values()) {
      const acts = Array.from({ length: S }, (_, k) => schedule.table[k]![t.path]?.uncond ?? { kind: 'compute' as const });
      if (acts.some((a) => a.kind === 'cfg_cache')) t.cfg = { weights: cfgCacheWeights(acts) };
    }
  }
  const rules = schedule.dynamic.map((r) => new DynamicRuleState(r));
  // A `per_branch` rule: the uncond branch's own state (the cond branch's is `rules`).
  const uncondRules = schedule.dynamic.map((r, ri) => {
    if (!r.perBranch) return undefined;
    if (!cfg) throw checkErr(schedule, `dynamic rule ${ri} (rel_l1(${r.signal}) … per_branch) keeps one decision per CFG branch, so it needs CFG; sample with a guidance scale or drop \`per_branch\``);
    return new DynamicRuleState(r);
  });
  const signals = schedule.dynamic.map((r) => signalOf(graph, r));
  const branches: Branch[] = cfg ? ['cond', 'uncond'] : ['cond'];
  const stats: SampleStats = {
    targets: Object.fromEntries(
      [...targets.keys()].map((p) => [p, { cond: { compute: 0, reuse: 0, forecast: 0 }, uncond: { compute: 0, reuse: 0, forecast: 0 } }]),
    ),
    dynamic: [],
    nodesEvaluated: [],
  };

  let x: Float32Array = new Float32Array(noise.initial.data);
  for (let k = 0; k < S; k++) {
    const i = S - 1 - k;
    const decisions = new Map<number, Record<Branch, Decision>>();
    const resolve = (t: Target, branch: Branch): Resolved => {
      const a: Action = schedule.table[k]![t.path]?.[branch] ?? { kind: 'compute' };
      if (a.kind === 'dynamic') {
        const d = decisions.get(a.rule)?.[branch];
        if (d === undefined) {
          throw checkErr(schedule, `the signal of dynamic rule ${a.rule} depends on ${t.path}, which the rule itself decides`);
        }
        return d === 'compute' ? { kind: 'compute' } : { kind: 'reuse' };
      }
      if (a.kind === 'reuse_residual') return { kind: 'reuse' };
      return a;
    };

    const intercept: Intercept = (node, compute, value) => {
      const t = byNode.get(node.id)!;
      const acts = branches.map((b) => resolve(t, b));
      // A partial compute is every token computed and the chosen ones kept (the target is token-wise,
      // so each kept row is what computing that row alone gives).
      const full = acts.some((a) => a.kind === 'compute' || a.kind === 'tokens') ? (compute().data as Float32Array) : undefined;
      const input = t.blockInput !== undefined ? (value(t.blockInput).data as Float32Array) : undefined;
      const out = new Float32Array(numel(node.shape));
      const per = out.length / branches.length;
      branches.forEach((branch, bi) => {
        const lo = bi * per;
        const a = acts[bi]!;
        const h = t.history[branch];
        const count = stats.targets[t.path]![branch];
        const inputRows = input?.subarray(lo, lo + per);
        if (a.kind === 'compute') {
          const rows = full!.subarray(lo, lo + per);
          out.set(rows, lo);
          // FasterCache: where both halves of the model output exist, store the bands of uncond − cond.
          if (branch === 'uncond' && t.cfg) t.cfg.bands = cfgBands(rows, out.subarray(0, per), node.shape[2]!, node.shape[3]!);
          h.refresh(k, inputRows ? residualOf(rows, inputRows) : rows);
          t.tokens?.[branch].computeAll(k);
          count.compute++;
          return;
        }
        if (a.kind === 'cfg_cache') {
          // The conditional half (branch 0) is already in `out`.
          const bands = t.cfg?.bands;
          const w = t.cfg?.weights[k];
          invariant(bands !== undefined && w !== undefined, 'checkSchedule: cfg_cache follows a compute of both halves');
          for (let e = 0; e < per; e++) out[lo + e] = uncondFromBands(out[e]!, bands.low[e]!, bands.high[e]!, w);
          count.reuse++;
          return;
        }
        invariant(h.computes.length > 0, 'checkSchedule: nothing is read before its first compute');
        if (a.kind === 'tokens') {
          const [, T, D] = node.shape as [number, number, number];
          const chosen = t.tokens![branch].select(k, a.fraction, a.by);
          const rows = mergeTokens(full!.subarray(lo, lo + per), h.d[0]!, chosen, T, D);
          out.set(rows, lo);
          h.refresh(k, rows);
          count.compute++;
          return;
        }
        const stored = a.kind === 'forecast' ? h.forecast(k, a.order, a.basis) : reuseValue(h.d[0]!);
        out.set(inputRows ? withResidual(inputRows, stored) : stored, lo);
        if (a.kind === 'forecast') count.forecast++;
        else count.reuse++;
      });
      return tensor(node.shape, out);
    };

    const t = new Float32Array(N).fill(diffusion.timesteps[i]!);
    const xin = new Float32Array(N * C * H * W);
    xin.set(x);
    if (cfg) xin.set(x, x.length);
    const ev = new Evaluation(graph, weights, { x: tensor([N, C, H, W], xin), t: tensor([N], t), y }, new Set(byNode.keys()), intercept);

    // Dynamic rules decide from their signal at this step, before the nodes they govern are evaluated.
    const used = new Set<number>();
    for (const acts of Object.values(schedule.table[k]!)) {
      for (const a of [acts.cond, acts.uncond]) if (a.kind === 'dynamic') used.add(a.rule);
    }
    rules.forEach((r, ri) => {
      const value = signals[ri]!(ev);
      const u = uncondRules[ri];
      if (!u) {
        const d = r.step(k, value, used.has(ri));
        decisions.set(ri, { cond: d, uncond: d });
        return;
      }
      // per_branch: each branch decides from its own half of the signal ([cond; uncond] rows).
      const half = value.length / 2;
      decisions.set(ri, { cond: r.step(k, value.slice(0, half), used.has(ri)), uncond: u.step(k, value.slice(half), used.has(ri)) });
    });

    const out = ev.value(outRef.node);
    // transform_rate rules measure their span's transformation at a step that computed.
    rules.forEach((r, ri) => {
      if (r.rule.metric !== 'transform_rate' || decisions.get(ri)?.cond !== 'compute') return;
      const [output, input] = signalNodes(graph, r.rule.signal)!;
      r.measureCompute(ev.value(output!).data as Float32Array, ev.value(input!).data as Float32Array);
    });
    stats.nodesEvaluated.push(ev.values.size);
    const { eps, v } = epsFromModelOutput(out, { channels: C, cfgScale: opts.cfgScale, guide: opts.guide, epsScale: epsScaleAt(schedule.epsScale, k) });
    opts.observe?.({ k, values: ev.values, eps });
    x =
      opts.sampler === 'ddim'
        ? ddimStep(diffusion, i, x, eps)
        : ddpmStep(diffusion, i, x, eps, v, noise.steps[k]!.data as Float32Array, variance);
  }

  stats.dynamic = rules.map((r, ri) => {
    const u = uncondRules[ri];
    return { rule: ri, signal: r.rule.signal, reused: r.reused, computed: r.computed, trace: r.trace, ...(u ? { uncond: { reused: u.reused, computed: u.computed, trace: u.trace } } : {}) };
  });
  return { latents: tensor([B, C, H, W], x), stats };
}
