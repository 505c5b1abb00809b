/**
 * Pass `lower`: every distinct step (by its node states and cache work) becomes a Body — one
 * instruction per graph node that runs, plus the cache traffic and the sampler:
 *
 *   stage x (latent → model input, duplicated into both CFG halves) and t (from the step's params);
 *   graph work in topological order (reused nodes cost nothing when their value can be bound
 *   directly: the cache slot *is* the value; a half-batch reuse copies the half in);
 *   cache stores (value → slot, Taylor difference refresh, block residual out − in);
 *   CFG combine → eps scale → sampler update (three instructions the fusion pass merges).
 *
 * The pieces live beside this file: lowerBody.ts (context, BodyBuilder), lowerOps.ts (graph ops),
 * lowerCache.ts (cache traffic), lowerDynamic.ts (dynamic rules), lowerSampler.ts (inputs and
 * sampler update). This file decides, per step and node, which of them runs.
 */
import { DittoError, invariant } from '../../core/errors.ts';
import type { Graph, Node, NodeId } from '../ir/graph.ts';
import type { Hoisted } from './hoist.ts';
import type { Body, Branch, DynamicSignal, NodeState, StepSpec, TargetInfo, TargetStep, ValueInfo } from './ir.ts';
import { dynamicStateRecords } from '../kernels/dynamic.ts';
import type { CompileOptions } from './options.ts';
import { bindInputs, BodyBuilder, consumerCounts, type Ctx, declare, declareFixedValues, declarePosEmbed, full, modelIO, type ModelIO, type Range, slotName } from './lowerBody.ts';
import { copyHalf, forecast, fromBands, residual, storeBands, storeResidual, storeValue } from './lowerCache.ts';
import { dynamicState, dynamicStateLength, emitDecide, emitRateUpdate } from './lowerDynamic.ts';
import { emitNode } from './lowerOps.ts';
import { partialCompute } from './lowerTokens.ts';
import { sampler, stageInput } from './lowerSampler.ts';
import { assignStepConstants, bodyShape } from './stepConstants.ts';
import { contiguous } from './views.ts';

export interface Lowered {
  values: Map<string, ValueInfo>;
  prologue: Body;
  bodies: Body[];
  stepBody: number[];
  io: ModelIO;
  /** Per step, the values of its cache work's params columns (passes/stepConstants.ts). */
  stepConstants: number[][];
}

export function lowerSteps(graph: Graph, targets: Map<string, TargetInfo>, hoisted: Hoisted, opts: CompileOptions, dynamic: DynamicSignal[] = []): Lowered {
  const io = modelIO(graph, opts);
  const values = new Map<string, ValueInfo>();
  const nodeTarget = new Map<NodeId, TargetInfo>();
  for (const t of targets.values()) nodeTarget.set(t.node, t);
  const ctx: Ctx = { graph, opts, io, values, nodeTarget, consumers: consumerCounts(graph), dynamic };
  const constants = assignStepConstants(hoisted.steps);
  declareFixedValues(ctx, constants.columns);

  const prologue = lowerPrologue(ctx, hoisted.prologue);
  const bodies: Body[] = [];
  const stepBody: number[] = [];
  const memo = new Map<string, number>();
  for (const step of constants.steps) {
    const key = opts.dedup === false ? `step${step.k}` : stepSignature(step);
    let index = memo.get(key);
    if (index === undefined) {
      index = bodies.length;
      bodies.push(lowerStep(ctx, step));
      memo.set(key, index);
    }
    stepBody.push(index);
  }
  return { values, prologue, bodies, stepBody, io, stepConstants: constants.values };
}

/** Two steps with equal signatures lower to the same body: the numbers their cache work reads from
 *  the params row may differ. */
function stepSignature(s: StepSpec): string {
  const code = (st: NodeState[]) => st.map((x) => x[0]).join('');
  const work = (w: StepSpec) => JSON.stringify({ cond: w.targets.cond.map(bodyShape), uncond: w.targets.uncond.map(bodyShape) });
  const one = (w: StepSpec) => `${code(w.states!.cond)}|${code(w.states!.uncond)}|${work(w)}`;
  return s.dynamic ? `${one(s)}|rule ${s.dynamic.rule}|${one(s.dynamic.reuse)}` : one(s);
}

// ---------------------------------------------------------------------------------------------

function lowerPrologue(ctx: Ctx, nodes: NodeId[]): Body {
  const b = new BodyBuilder(ctx);
  bindInputs(b);
  if (ctx.dynamic.length > 0) {
    // Every run starts the dynamic rules afresh: no previous signal, nothing accumulated.
    b.emit({ op: { kind: 'dynamic_reset', rules: dynamicStateRecords(ctx.dynamic) }, ins: [], outs: [{ value: dynamicState(ctx), view: contiguous([dynamicStateLength(ctx)]) }], covers: [], role: 'sampler', note: 'reset the dynamic rules' });
  }
  const R = full(ctx);
  for (const id of nodes) {
    const n = ctx.graph.nodes[id]!;
    if (n.op.kind === 'chunk') continue;
    if (n.op.kind === 'pos_embed_2d') {
      b.valueOf.set(id, declarePosEmbed(ctx, n));
      continue;
    }
    const value = declare(ctx, { name: `hoist:${id}`, shape: [...n.shape], dtype: 'f32', storage: 'hoisted' });
    b.valueOf.set(id, value);
    emitNode(b, n, R, value, 'hoisted');
  }
  return { instrs: b.instrs };
}

/** One world of a step (the step itself, or the reuse world of a dynamic step). */
interface World {
  states: Record<Branch, NodeState[]>;
  step: StepSpec;
}

/** What a node does in one world: per branch its state and its cache work. Equal → same instructions. */
function nodeWork(ctx: Ctx, w: World, id: NodeId): string {
  const info = ctx.nodeTarget.get(id);
  const cfg = ctx.opts.cfgScale !== undefined;
  const brs: Branch[] = cfg ? ['cond', 'uncond'] : ['cond'];
  // The same work with the same numbers, wherever either world keeps them in the params row.
  const withoutColumns = (key: string, v: unknown) => (key === 'constants' ? undefined : v);
  return JSON.stringify(brs.map((br) => [w.states[br][id], info ? (w.step.targets[br].find((t) => t.target === info.path) ?? null) : null]), withoutColumns);
}

function lowerStep(ctx: Ctx, step: StepSpec): Body {
  const b = new BodyBuilder(ctx);
  const { graph } = ctx;
  const cfg = ctx.opts.cfgScale !== undefined;
  const worlds: World[] = [{ states: step.states!, step }];
  if (step.dynamic) worlds.push({ states: step.dynamic.reuse.states!, step: step.dynamic.reuse });
  const live = (w: World, id: number) => w.states.cond[id] !== 'dead' || (cfg && w.states.uncond[id] !== 'dead');
  // Each rule's signal is measured (and the step decided) right after its last signal node.
  const decideAfter = ctx.dynamic.map((d) => Math.max(...d.nodes));
  const decided = ctx.dynamic.map(() => false);
  const decideUpTo = (id: number) => {
    ctx.dynamic.forEach((d, r) => {
      if (decided[r] || decideAfter[r]! >= id) return;
      decided[r] = true;
      emitDecide(b, d, step.dynamic?.rule === r);
    });
  };

  // A transform_rate rule measures its span's output right after it, at a compute.
  const measureAfter = (id: number) => {
    ctx.dynamic.forEach((d, r) => {
      if (d.output !== id) return;
      if (step.dynamic?.rule === r) b.guard = { rule: r, when: 'compute' };
      emitRateUpdate(b, d);
      b.guard = undefined;
    });
  };

  bindInputs(b);
  for (const n of graph.nodes) {
    const id = n.id;
    decideUpTo(id);
    measureAfter(id - 1);
    if (worlds.some((w) => w.states.cond[id] === 'hoisted' || w.states.uncond[id] === 'hoisted')) {
      b.valueOf.set(id, n.op.kind === 'pos_embed_2d' ? declarePosEmbed(ctx, n) : `hoist:${id}`);
      continue;
    }
    const liveIn = worlds.filter((w) => live(w, id));
    if (liveIn.length === 0) continue;
    if (n.op.kind === 'const' || n.op.kind === 'chunk') continue;
    if (n.op.kind === 'input') {
      stageInput(b, n);
      continue;
    }
    const info = ctx.nodeTarget.get(id);
    const slot = info ? slotName(ctx, info, n) : undefined;
    const directs = liveIn.map((w) => isDirect(ctx, w, id, info));
    const direct = directs.every((d) => d);
    const value = direct ? slot! : declare(ctx, { name: `v${id}`, shape: [...n.shape], dtype: 'f32', storage: 'transient' });
    b.valueOf.set(id, value);
    if (worlds.length === 1 || (liveIn.length === 2 && nodeWork(ctx, worlds[0]!, id) === nodeWork(ctx, worlds[1]!, id))) {
      lowerNode(b, liveIn[0]!, n, value, direct);
      continue;
    }
    // The two paths of a dynamic step differ at this node.
    const rule = step.dynamic!.rule;
    if (!decided[rule]) {
      // Before the decision: only plain work needed on one path can run on both (a superset).
      const only = liveIn.length === 1 ? liveIn[0]! : undefined;
      const plain = only !== undefined && !info && (cfg ? (['cond', 'uncond'] as Branch[]) : (['cond'] as Branch[])).every((br) => only.states[br][id] === 'compute' || only.states[br][id] === 'dead');
      if (!plain) {
        const d = ctx.dynamic[rule]!;
        throw new DittoError('E_CHECK', `dynamic rule ${rule}: ${n.path ?? `node %${id} (${n.op.kind})`} depends on the rule's decision but comes before its signal ${d.signal} in the model; a dynamic rule can only govern work after its signal`);
      }
      lowerNode(b, only, n, value, direct);
      continue;
    }
    // A per_branch rule's target: on the compute path each half stores its residual or, when its
    // branch reuses while the other computes, takes its stored residual (compiler/ir/rules.ts guardRuns).
    const branchwise = ctx.dynamic[rule]!.perBranch !== undefined && info?.blockInput !== undefined && cfg && worlds[1]!.states.cond[id] === 'residual' && worlds[1]!.states.uncond[id] === 'residual';
    worlds.forEach((w, wi) => {
      if (!live(w, id)) return;
      b.guard = { rule, when: wi === 0 ? 'compute' : 'reuse' };
      lowerNode(b, w, n, value, direct, wi === 0 && branchwise ? rule : undefined);
      b.guard = undefined;
    });
  }
  decideUpTo(Number.POSITIVE_INFINITY);
  measureAfter(graph.nodes.length - 1);
  sampler(b);
  return { instrs: b.instrs };
}

/** The cache slot can be the value itself when every branch either reads it unchanged or computes
 *  a plain value into it (a branch that computes without storing may overwrite it: nothing reads
 *  that branch's stored value again before its next store). */
function isDirect(ctx: Ctx, w: World, id: NodeId, info: TargetInfo | undefined): boolean {
  if (info === undefined || info.taylorOrder !== 0) return false;
  const brs: Branch[] = ctx.opts.cfgScale !== undefined ? ['cond', 'uncond'] : ['cond'];
  const per = brs.map((br) => ({ st: w.states[br][id]!, ts: w.step.targets[br].find((t) => t.target === info.path) }));
  // A partial compute scatters its rows into the slot, which then holds the whole value.
  return per.every((a) => a.st === 'reuse' || a.st === 'compute' || a.st === 'dead' || a.st === 'partial') && per.some((a) => a.st === 'reuse' || a.st === 'partial' || a.ts?.storeValue === true);
}

/** The instructions of node `n` in world `w`, writing `value`. `branchwise`: the per_branch rule
 *  whose compute path this is, for a target it governs (its cache work is per half, guarded). */
function lowerNode(b: BodyBuilder, w: World, n: Node, value: string, direct: boolean, branchwise?: number): void {
  const ctx = b.ctx;
  const { io, opts } = ctx;
  const id = n.id;
  const states = w.states;
  const cfg = opts.cfgScale !== undefined;
  const halfOf = (br: Branch): Range => (br === 'cond' ? { start: 0, count: io.batch } : { start: io.batch, count: io.batch });
  const info = ctx.nodeTarget.get(id);
  const entry = (branch: Branch, target: string): TargetStep | undefined => w.step.targets[branch].find((t) => t.target === target);
  // Per CFG branch (both without a split too: their stores and forecast distances may differ).
  const perBranch = (cfg ? (['cond', 'uncond'] as Branch[]) : (['cond'] as Branch[])).map((br) => ({
    br, R: cfg ? halfOf(br) : full(ctx), st: states[br][id]!, ts: info ? entry(br, info.path) : undefined,
  }));
  const slot = info ? slotName(ctx, info, n) : undefined;
  // Work units: one per half when the branches' states or cache work differ, else one.
  const sameWork = perBranch.length === 1 || JSON.stringify(perBranch[0]!.ts ?? null) === JSON.stringify(perBranch[1]!.ts ?? null);
  const differ = perBranch.length === 2 && perBranch[0]!.st !== perBranch[1]!.st;
  const units = differ || !sameWork ? perBranch : [{ ...perBranch[0]!, R: full(ctx) }];
  const computeUnits = differ ? perBranch : [{ ...perBranch[0]!, R: full(ctx) }];
  for (const u of computeUnits) if (u.st === 'compute') emitNode(b, n, u.R, value, 'model', differ ? { branch: u.br } : {});
  for (const { br, R, st, ts } of units) {
    const tag = differ || !sameWork ? { branch: br } : {};
    switch (st) {
      case 'dead':
      case 'hoisted':
        break;
      case 'compute':
        if (info && ts?.storeValue && !direct) storeValue(b, info, n, R, value, ts, tag);
        if (branchwise !== undefined && info) {
          invariant(info.blockInput !== undefined && !differ && sameWork, 'a per_branch target computes both halves alike on the compute path');
          for (const half of ['cond', 'uncond'] as Branch[]) {
            b.guard = { rule: branchwise, when: 'compute', branch: half };
            if (ts?.storeResidual) storeResidual(b, info, n, halfOf(half), { branch: half });
            b.guard = { rule: branchwise, when: 'reuse', branch: half };
            residual(b, info, n, halfOf(half), value, { branch: half });
          }
          b.guard = { rule: branchwise, when: 'compute' };
        } else if (info && ts?.storeResidual) storeResidual(b, info, n, R, tag);
        if (info && ts?.storeBands) storeBands(b, info, n, value);
        break;
      case 'bands':
        fromBands(b, info!, n, value, ts!);
        break;
      case 'reuse':
        if (!direct) copyHalf(b, slot!, value, n, R, 'reuse', tag);
        break;
      case 'forecast':
        forecast(b, info!, n, R, value, ts!, tag);
        break;
      case 'residual':
        residual(b, info!, n, R, value, tag);
        break;
      case 'partial':
        partialCompute(b, info!, n, R, value, ts!, tag, direct);
        break;
    }
  }
}
