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
 * The prologue body computes the hoisted nodes once per run. Values are named:
 *   in:x in:t in:y · v<id> (transient) · hoist:<id> · w:<weight> · cache:<target>[:d<j>|:res] ·
 *   latent · noise · params.
 */
import { DittoError, invariant } from '../../core/errors.ts';
import { numel } from '../../core/tensor.ts';
import type { Graph, Node, NodeId } from '../ir/graph.ts';
import type { Expr } from '../kernels/elementwise.ts';
import { taylorForecastCoefficients } from '../ir/rules.ts';
import { paramIndex, PARAM_FIELDS, type ParamField } from '../plan/sampler.ts';
import type { Hoisted } from './hoist.ts';
import type { Body, Branch, DynamicSignal, Guard, Instr, InstrRole, NodeState, Operand, StepSpec, TargetInfo, TargetStep, ValueInfo, View } from './ir.ts';
import { DYNAMIC_STATE_STRIDE } from '../kernels/dynamic.ts';
import type { CompileOptions } from './options.ts';
import { broadcastView, contiguous, isContiguous, restrict } from './views.ts';
import { emitImageNode } from './lowerImage.ts';

export interface ModelIO {
  /** Model batch N (2·batch under CFG) and user batch B. */
  modelBatch: number;
  batch: number;
  /** Latent shape per sample [C, H, W] and model output channels. */
  latent: number[];
  outChannels: number;
  learnSigma: boolean;
  /** The graph output node (the model's prediction). */
  output: NodeId;
}

export interface Lowered {
  values: Map<string, ValueInfo>;
  prologue: Body;
  bodies: Body[];
  stepBody: number[];
  io: ModelIO;
}

interface Range {
  start: number;
  count: number;
}

const P = (name: ParamField): Expr => ({ op: 'uniform', index: paramIndex(name) });
const IN = (index: number): Expr => ({ op: 'input', index });
const C = (value: number): Expr => ({ op: 'const', value });
const bin = (op: 'add' | 'sub' | 'mul' | 'div', a: Expr, b: Expr): Expr => ({ op, a, b });

export function modelIO(graph: Graph, opts: CompileOptions): ModelIO {
  const N = opts.cfgScale !== undefined ? 2 * opts.batch : opts.batch;
  if (graph.batch !== N) {
    throw new DittoError('E_USAGE', `the graph was lowered for batch ${graph.batch} but batch ${opts.batch}${opts.cfgScale !== undefined ? ' with CFG' : ''} needs a model batch of ${N}`);
  }
  const x = graph.inputs.find((i) => i.name === 'x');
  const t = graph.inputs.find((i) => i.name === 't');
  if (!x || !t) throw new DittoError('E_CHECK', `model ${graph.model} must have inputs x (latent) and t (timestep) to be sampled`);
  if (graph.outputs.length !== 1) throw new DittoError('E_CHECK', `model ${graph.model} must have exactly one output (the prediction), has ${graph.outputs.length}`);
  const xs = graph.nodes[x.node]!.shape;
  const out = graph.nodes[graph.outputs[0]!.node]!;
  if (xs.length !== 4 || out.shape.length !== 4 || out.shape[0] !== N || out.shape[2] !== xs[2] || out.shape[3] !== xs[3]) {
    throw new DittoError('E_CHECK', `model ${graph.model}: the output [${out.shape.join(', ')}] must be an image batch like the latent x [${xs.join(', ')}]`);
  }
  const Cl = xs[1]!;
  const Co = out.shape[1]!;
  if (Co !== Cl && Co !== 2 * Cl) throw new DittoError('E_CHECK', `model ${graph.model}: output has ${Co} channels; expected ${Cl} (eps) or ${2 * Cl} (eps and learned variance)`);
  return { modelBatch: N, batch: opts.batch, latent: xs.slice(1), outChannels: Co, learnSigma: Co === 2 * Cl, output: out.id };
}

export function lowerSteps(graph: Graph, targets: Map<string, TargetInfo>, hoisted: Hoisted, opts: CompileOptions, dynamic: DynamicSignal[] = []): Lowered {
  const io = modelIO(graph, opts);
  const values = new Map<string, ValueInfo>();
  const nodeTarget = new Map<NodeId, TargetInfo>();
  for (const t of targets.values()) nodeTarget.set(t.node, t);
  const ctx: Ctx = { graph, opts, io, values, nodeTarget, consumers: consumerCounts(graph), dynamic };
  declareFixedValues(ctx);

  const prologue = lowerPrologue(ctx, hoisted.prologue);
  const bodies: Body[] = [];
  const stepBody: number[] = [];
  const memo = new Map<string, number>();
  for (const step of hoisted.steps) {
    const key = opts.dedup === false ? `step${step.k}` : stepSignature(step);
    let index = memo.get(key);
    if (index === undefined) {
      index = bodies.length;
      bodies.push(lowerStep(ctx, step));
      memo.set(key, index);
    }
    stepBody.push(index);
  }
  return { values, prologue, bodies, stepBody, io };
}

/** Two steps with equal signatures lower to the same body. */
function stepSignature(s: StepSpec): string {
  const code = (st: NodeState[]) => st.map((x) => x[0]).join('');
  const one = (w: StepSpec) => `${code(w.states!.cond)}|${code(w.states!.uncond)}|${JSON.stringify(w.targets)}`;
  return s.dynamic ? `${one(s)}|rule ${s.dynamic.rule}|${one(s.dynamic.reuse)}` : one(s);
}

export interface Ctx {
  graph: Graph;
  opts: CompileOptions;
  io: ModelIO;
  values: Map<string, ValueInfo>;
  nodeTarget: Map<NodeId, TargetInfo>;
  consumers: Uint32Array;
  dynamic: DynamicSignal[];
}

function consumerCounts(g: Graph): Uint32Array {
  const c = new Uint32Array(g.nodes.length);
  for (const n of g.nodes) for (const i of n.inputs) c[i]++;
  return c;
}

export function declare(ctx: Ctx, v: ValueInfo): string {
  if (!ctx.values.has(v.name)) ctx.values.set(v.name, v);
  return v.name;
}

function declareFixedValues(ctx: Ctx): void {
  const { io, opts } = ctx;
  for (const inp of ctx.graph.inputs) {
    const n = ctx.graph.nodes[inp.node]!;
    declare(ctx, { name: `in:${inp.name}`, shape: [...n.shape], dtype: n.dtype, storage: 'input' });
  }
  declare(ctx, { name: 'latent', shape: [io.batch, ...io.latent], dtype: 'f32', storage: 'latent' });
  if (opts.sampler === 'ddpm') declare(ctx, { name: 'noise', shape: [io.batch, ...io.latent], dtype: 'f32', storage: 'noise' });
  declare(ctx, { name: 'params', shape: [PARAM_FIELDS.length], dtype: 'f32', storage: 'params' });
}

// ---------------------------------------------------------------------------------------------
// Per-body builder

export class BodyBuilder {
  readonly instrs: Instr[] = [];
  /** Value holding each node's result in this body (undefined: not materialised, e.g. const). */
  readonly valueOf = new Map<NodeId, string>();
  private temps = 0;
  /** The path of a dynamic step the instructions emitted now belong to (undefined: both). */
  guard: Guard | undefined;

  constructor(readonly ctx: Ctx) {}

  emit(i: Omit<Instr, 'cacheReads' | 'cacheWrites'>): void {
    const reads = new Set<string>();
    const writes = new Set<string>();
    for (const o of i.ins) if (this.ctx.values.get(o.value)?.storage === 'cache') reads.add(o.value);
    for (const o of i.outs) if (this.ctx.values.get(o.value)?.storage === 'cache') writes.add(o.value);
    this.instrs.push({ ...i, cacheReads: [...reads], cacheWrites: [...writes], ...(this.guard ? { guard: { ...this.guard } } : {}) });
  }

  temp(shape: number[]): string {
    return declare(this.ctx, { name: `tmp${this.temps++}:${shape.join('x')}`, shape, dtype: 'f32', storage: 'transient' });
  }

  /** The operand of node `id` (full batch), composing chunk views. */
  operand(id: NodeId): Operand {
    const n = this.ctx.graph.nodes[id]!;
    if (n.op.kind === 'chunk') {
      const src = this.operand(n.inputs[0]!);
      const v = src.view;
      const r = v.shape.length - 1;
      const width = v.shape[r]! / n.op.parts;
      return {
        value: src.value,
        view: { offset: v.offset + n.op.index * width * v.strides[r]!, shape: [...v.shape.slice(0, r), width], strides: [...v.strides] },
      };
    }
    const value = this.valueOf.get(id);
    invariant(value !== undefined, `node ${id} (${n.op.kind}${n.path ? ' ' + n.path : ''}) is read before it is computed`);
    return { value, view: contiguous(this.ctx.values.get(value)!.shape) };
  }

  /** Operand of `id` for batch range R. */
  at(id: NodeId, R: Range): Operand {
    const o = this.operand(id);
    return { value: o.value, view: restrict(o.view, R, this.ctx.io.modelBatch) };
  }

  /** Operand of `id` as rows [m, k] (contiguous rows with a row stride), copying if it is not. */
  rows(id: NodeId, R: Range): Operand {
    const o = this.at(id, R);
    if (isRows(o.view)) return o;
    const t = this.temp(o.view.shape);
    this.emit({
      op: { kind: 'elementwise', shape: o.view.shape, exprs: [IN(0)], label: 'copy' },
      ins: [o], outs: [{ value: t, view: contiguous(o.view.shape) }], covers: [], role: 'model', note: 'make contiguous',
    });
    return { value: t, view: contiguous(o.view.shape) };
  }
}

/** A view whose leading axes collapse to rows with one row stride, last axis contiguous. */
export function isRows(v: View): boolean {
  const r = v.shape.length;
  if (r === 0 || (v.strides[r - 1] !== 1 && v.shape[r - 1] !== 1)) return false;
  for (let d = r - 3; d >= 0; d--) {
    if (v.shape[d] !== 1 && v.strides[d] !== v.strides[d + 1]! * v.shape[d + 1]!) return false;
  }
  return true;
}

function full(ctx: Ctx): Range {
  return { start: 0, count: ctx.io.modelBatch };
}

// ---------------------------------------------------------------------------------------------

function lowerPrologue(ctx: Ctx, nodes: NodeId[]): Body {
  const b = new BodyBuilder(ctx);
  bindInputs(b);
  if (ctx.dynamic.length > 0) {
    // Every run starts the dynamic rules afresh: no previous signal, nothing accumulated.
    b.emit({ op: { kind: 'dynamic_reset', rules: ctx.dynamic.length }, ins: [], outs: [{ value: dynamicState(ctx), view: contiguous([ctx.dynamic.length * DYNAMIC_STATE_STRIDE]) }], covers: [], role: 'sampler', note: 'reset the dynamic rules' });
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

/** The fixed 2-D sin-cos table is a derived weight: the runtime computes it when a file lacks it. */
export function declarePosEmbed(ctx: Ctx, n: Node): string {
  invariant(n.op.kind === 'pos_embed_2d', 'pos embed');
  const name = n.weights[0]?.name ?? `pos_embed_2d.${n.op.grid}x${n.op.dim}`;
  return declare(ctx, { name: `w:${name}`, shape: [...n.shape], dtype: 'f32', storage: 'weight', derived: { kind: 'pos_embed_2d', grid: n.op.grid, dim: n.op.dim } });
}

function bindInputs(b: BodyBuilder): void {
  for (const inp of b.ctx.graph.inputs) b.valueOf.set(inp.node, `in:${inp.name}`);
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
  return JSON.stringify(brs.map((br) => [w.states[br][id], info ? (w.step.targets[br].find((t) => t.target === info.path) ?? null) : null]));
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

  bindInputs(b);
  for (const n of graph.nodes) {
    const id = n.id;
    decideUpTo(id);
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
    worlds.forEach((w, wi) => {
      if (!live(w, id)) return;
      b.guard = { rule, when: wi === 0 ? 'compute' : 'reuse' };
      lowerNode(b, w, n, value, direct);
      b.guard = undefined;
    });
  }
  decideUpTo(Number.POSITIVE_INFINITY);
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
  return per.every((a) => a.st === 'reuse' || a.st === 'compute' || a.st === 'dead') && per.some((a) => a.st === 'reuse' || a.ts?.storeValue === true);
}

/** The instructions of node `n` in world `w`, writing `value`. */
function lowerNode(b: BodyBuilder, w: World, n: Node, value: string, direct: boolean): void {
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
        if (info && ts?.storeResidual) storeResidual(b, info, n, R, tag);
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
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Dynamic rules

function dynamicState(ctx: Ctx): string {
  return declare(ctx, { name: 'dyn:state', shape: [ctx.dynamic.length * DYNAMIC_STATE_STRIDE], dtype: 'f32', storage: 'dynamic' });
}

/** Measures rule `d`'s signal, updates its state and, when `used`, decides this step's guarded work. */
function emitDecide(b: BodyBuilder, d: DynamicSignal, used: boolean): void {
  const ctx = b.ctx;
  const whole = (id: NodeId): Operand => {
    const o = b.operand(id);
    if (isContiguous(o.view) && o.view.offset === 0) return o;
    const shape = [...ctx.graph.nodes[id]!.shape];
    const t = b.temp(shape);
    b.emit({ op: { kind: 'elementwise', shape, exprs: [IN(0)], label: 'copy' }, ins: [o], outs: [{ value: t, view: contiguous(shape) }], covers: [], role: 'sampler', note: 'signal made contiguous' });
    return { value: t, view: contiguous(shape) };
  };
  const ins = d.nodes.map(whole);
  const shape = [...ctx.graph.nodes[d.nodes[0]!]!.shape];
  const elements = numel(shape);
  const prev = declare(ctx, { name: `dyn:prev${d.rule}`, shape, dtype: 'f32', storage: 'dynamic' });
  const state = dynamicState(ctx);
  const outs: Operand[] = [{ value: prev, view: contiguous(shape) }, { value: state, view: contiguous([ctx.dynamic.length * DYNAMIC_STATE_STRIDE]) }];
  if (used) outs.push({ value: declare(ctx, { name: 'dyn:args', shape: [3], dtype: 'i32', storage: 'indirect' }), view: contiguous([3]) });
  b.emit({
    op: { kind: 'dynamic_decide', rule: d.rule, elements, used, params: d.params },
    ins, outs, covers: [...d.nodes], role: 'sampler',
    note: used ? `dynamic rule ${d.rule}: rel_l1(${d.signal}) decides compute or ${d.then}` : `dynamic rule ${d.rule}: measure rel_l1(${d.signal}) (not used at this step)`,
  });
}

function slotName(ctx: Ctx, info: TargetInfo, n: Node, suffix = ''): string {
  return declare(ctx, { name: `cache:${info.path}${suffix}`, shape: [...n.shape], dtype: 'f32', storage: 'cache' });
}

function outView(b: BodyBuilder, value: string, R: Range): Operand {
  return { value, view: restrict(contiguous(b.ctx.values.get(value)!.shape), R, b.ctx.io.modelBatch) };
}

function copyHalf(b: BodyBuilder, from: string, to: string, n: Node, R: Range, role: InstrRole, tag: { branch?: Branch }): void {
  const src = outView(b, from, R);
  b.emit({ op: { kind: 'elementwise', shape: src.view.shape, exprs: [IN(0)], label: role === 'reuse' ? 'reuse' : 'cache_store' }, ins: [src], outs: [outView(b, to, R)], covers: [n.id], role, ...tag });
}

function storeValue(b: BodyBuilder, info: TargetInfo, n: Node, R: Range, value: string, ts: TargetStep, tag: { branch?: Branch }): void {
  if (!ts.taylor) {
    copyHalf(b, value, slotName(b.ctx, info, n), n, R, 'cache_write', tag);
    return;
  }
  // Taylor refresh in place, as TaylorState.refresh (compiler/ir/rules.ts): d0 ← v, d_j ← (d_{j−1}new − d_{j−1}old) · invDelta.
  const { orders, invDelta } = ts.taylor;
  const slots = Array.from({ length: orders + 1 }, (_, j) => slotName(b.ctx, info, n, j === 0 ? '' : `:d${j}`));
  const src = outView(b, value, R);
  const exprs: Expr[] = [IN(0)];
  for (let j = 1; j <= orders; j++) exprs.push(bin('mul', bin('sub', exprs[j - 1]!, { op: 'output', index: j - 1 }), C(invDelta)));
  b.emit({
    op: { kind: 'elementwise', shape: src.view.shape, exprs, label: 'taylor_update' },
    ins: [src], outs: slots.map((s) => outView(b, s, R)), covers: [n.id], role: 'cache_write', ...tag,
    note: `Taylor refresh of ${info.path} (order ${orders})`,
  });
}

function storeResidual(b: BodyBuilder, info: TargetInfo, n: Node, R: Range, tag: { branch?: Branch }): void {
  const res = slotName(b.ctx, info, n, ':res');
  b.emit({
    op: { kind: 'elementwise', shape: restrict(contiguous([...n.shape]), R, b.ctx.io.modelBatch).shape, exprs: [bin('sub', IN(0), IN(1))], label: 'residual_store' },
    ins: [b.at(n.id, R), b.at(info.blockInput!, R)], outs: [outView(b, res, R)], covers: [n.id], role: 'cache_write', ...tag,
    note: `residual of ${info.path}`,
  });
}

function forecast(b: BodyBuilder, info: TargetInfo, n: Node, R: Range, value: string, ts: TargetStep, tag: { branch?: Branch }): void {
  const { m, order } = ts.forecast!;
  const ins: Operand[] = [];
  let expr: Expr | undefined;
  const coef = taylorForecastCoefficients(m, order);
  for (let j = 0; j <= order; j++) {
    ins.push(outView(b, slotName(b.ctx, info, n, j === 0 ? '' : `:d${j}`), R));
    const term = j === 0 ? IN(0) : bin('mul', IN(j), C(coef[j]!));
    expr = expr ? bin('add', expr, term) : term;
  }
  const out = outView(b, value, R);
  b.emit({ op: { kind: 'elementwise', shape: out.view.shape, exprs: [expr!], label: 'taylor_forecast' }, ins, outs: [out], covers: [n.id], role: 'forecast', ...tag, note: `forecast ${info.path}: ${m} step(s) ahead, order ${order}` });
}

function residual(b: BodyBuilder, info: TargetInfo, n: Node, R: Range, value: string, tag: { branch?: Branch }): void {
  const res = outView(b, slotName(b.ctx, info, n, ':res'), R);
  const out = outView(b, value, R);
  b.emit({ op: { kind: 'elementwise', shape: out.view.shape, exprs: [bin('add', IN(0), IN(1))], label: 'residual_reuse' }, ins: [b.at(info.blockInput!, R), res], outs: [out], covers: [n.id], role: 'residual', ...tag, note: `${info.path} = input + stored residual` });
}

/** x: the latent duplicated into each CFG half; t: the step's model timestep; y: uploaded once. */
function stageInput(b: BodyBuilder, n: Node): void {
  invariant(n.op.kind === 'input', 'input');
  const { io } = b.ctx;
  if (n.op.name === 'x') {
    const copies = io.modelBatch / io.batch;
    const per = numel(io.latent);
    const shape = [copies, io.batch, ...io.latent];
    const out: Operand = { value: 'in:x', view: contiguous(shape) };
    const src: Operand = { value: 'latent', view: { offset: 0, shape, strides: [0, ...contiguous([io.batch, ...io.latent]).strides] } };
    invariant(src.view.strides[1] === per, 'latent stride');
    b.emit({ op: { kind: 'elementwise', shape, exprs: [IN(0)], label: 'stage_x' }, ins: [src], outs: [out], covers: [n.id], role: 'sampler', note: 'latent → model input (both CFG halves)' });
  } else if (n.op.name === 't') {
    b.emit({ op: { kind: 'elementwise', shape: [...n.shape], exprs: [P('t_model')], label: 'stage_t' }, ins: [], outs: [{ value: 'in:t', view: contiguous([...n.shape]) }], covers: [n.id], role: 'sampler', usesParams: true, note: 'timestep of this step' });
  }
}

// ---------------------------------------------------------------------------------------------
// Graph ops

export function emitNode(b: BodyBuilder, n: Node, R: Range, value: string, role: InstrRole, tag: { branch?: Branch } = {}): void {
  const ctx = b.ctx;
  const N = ctx.io.modelBatch;
  const out = outView(b, value, R);
  const common = { covers: [n.id], role, ...tag };
  const cnt = (shape: readonly number[]) => (shape[0] === N ? R.count : shape[0]!);
  const w = (i: number): Operand => {
    const ref = n.weights[i]!;
    const name = declare(ctx, { name: `w:${ref.name}`, shape: [...ref.shape], dtype: ctx.opts.f16 ? 'f16' : 'f32', storage: 'weight' });
    return { value: name, view: contiguous(ref.shape) };
  };
  const op = n.op;
  switch (op.kind) {
    case 'input':
    case 'const':
    case 'chunk':
      invariant(false, `${op.kind} nodes emit no instruction`);
      break;
    case 'pos_embed_2d':
      invariant(false, 'pos_embed_2d is a derived weight');
      break;
    case 'linear': {
      const a = b.rows(n.inputs[0]!, R);
      const m = numel(a.view.shape.slice(0, -1));
      b.emit({
        op: { kind: 'matmul', m, k: op.inFeatures, n: op.outFeatures, bias: op.bias, gelu: false, siluInput: false, gate: null },
        ins: op.bias ? [a, w(0), w(1)] : [a, w(0)], outs: [out], ...common,
      });
      return;
    }
    case 'patch_embed': {
      const x = b.at(n.inputs[0]!, R);
      const [, ch, h, wd] = x.view.shape as [number, number, number, number];
      b.emit({ op: { kind: 'patch_embed', batch: cnt(n.shape), channels: ch, height: h, width: wd, patch: op.patch, dim: op.dim }, ins: [x, w(0), w(1)], outs: [out], ...common });
      return;
    }
    case 'timestep_embed':
      b.emit({ op: { kind: 'timestep_embed', batch: cnt(n.shape), dim: op.dim, maxPeriod: op.maxPeriod }, ins: [b.at(n.inputs[0]!, R)], outs: [out], ...common });
      return;
    case 'embedding':
      b.emit({ op: { kind: 'embedding', batch: cnt(n.shape), rows: op.rows, dim: op.dim }, ins: [b.at(n.inputs[0]!, R), w(0)], outs: [out], ...common });
      return;
    case 'layernorm': {
      const x = b.rows(n.inputs[0]!, R);
      const d = n.shape[n.shape.length - 1]!;
      b.emit({ op: { kind: 'layernorm', rows: numel(x.view.shape) / d, dim: d, eps: op.eps, tokens: tokensOf(n.shape) }, ins: [x], outs: [out], ...common });
      return;
    }
    case 'attention': {
      const qkv = b.rows(n.inputs[0]!, R);
      const [bb, t, d] = out.view.shape as [number, number, number];
      b.emit({ op: { kind: 'attention', batch: bb, tokens: t, heads: op.heads, headDim: d / op.heads }, ins: [qkv], outs: [out], ...common });
      return;
    }
    case 'unpatchify':
      b.emit({ op: { kind: 'unpatchify', batch: cnt(n.shape), patch: op.patch, channels: op.channels, grid: op.grid }, ins: [b.rows(n.inputs[0]!, R)], outs: [out], ...common });
      return;
    case 'modulate': {
      const shape = out.view.shape;
      const [x, shift, scale] = n.inputs.map((i) => b.at(i, R));
      const ins = [x!, bcast(shift!, shape, 'per_sample'), bcast(scale!, shape, 'per_sample')];
      b.emit({ op: { kind: 'elementwise', shape, exprs: [bin('add', bin('mul', IN(0), bin('add', C(1), IN(2))), IN(1))], label: 'modulate' }, ins, outs: [out], ...common });
      return;
    }
    case 'unary':
      b.emit({ op: { kind: 'elementwise', shape: out.view.shape, exprs: [{ op: op.fn, a: IN(0) }], label: op.fn }, ins: [bcast(b.at(n.inputs[0]!, R), out.view.shape, 'numpy')], outs: [out], ...common });
      return;
    case 'conv2d':
    case 'group_norm':
    case 'upsample_nearest':
    case 'to_tokens':
    case 'to_image':
    case 'concat':
      emitImageNode(b, n, out, common, w);
      return;
    case 'binary': {
      const ins: Operand[] = [];
      const leaf = (id: NodeId): Expr => {
        const src = ctx.graph.nodes[id]!;
        if (src.op.kind === 'const') return C(src.op.value);
        ins.push(bcast(b.at(id, R), out.view.shape, op.broadcast));
        return IN(ins.length - 1);
      };
      const expr = bin(op.fn, leaf(n.inputs[0]!), leaf(n.inputs[1]!));
      b.emit({ op: { kind: 'elementwise', shape: out.view.shape, exprs: [expr], label: op.fn }, ins, outs: [out], ...common });
      return;
    }
  }
}

function bcast(o: Operand, shape: number[], rule: 'numpy' | 'per_sample'): Operand {
  return { value: o.value, view: broadcastView(o.view, shape, rule) };
}

/** Rows per sample of a [B, T, D] activation (1 for [B, D]). */
function tokensOf(shape: readonly number[]): number {
  return shape.length === 3 ? shape[1]! : 1;
}

// ---------------------------------------------------------------------------------------------
// Sampler: CFG combine → eps scale → update, per channel group (DiT guides channels 0–2 only).

function sampler(b: BodyBuilder): void {
  const { io, opts } = b.ctx;
  const out = b.valueOf.get(io.output);
  invariant(out !== undefined, 'the model output is computed at every step');
  const [Cl, H, W] = io.latent as [number, number, number];
  const HW = H * W;
  const Co = io.outChannels;
  const B = io.batch;
  const cfg = opts.cfgScale !== undefined;
  const guided = !cfg ? 0 : opts.guide === 'all' ? Cl : Math.min(3, Cl);
  const groups: [number, number, boolean][] = [];
  if (guided > 0) groups.push([0, guided, true]);
  if (guided < Cl) groups.push([guided, Cl - guided, false]);
  const outStrides = [Co * HW, HW, W, 1];
  for (const [c0, cn, guide] of groups) {
    const shape = [B, cn, H, W];
    const view = (offset: number): View => ({ offset, shape, strides: outStrides });
    const cond: Operand = { value: out, view: view(c0 * HW) };
    const note = `channels ${c0}..${c0 + cn - 1}`;
    let eps: Operand = cond;
    if (guide) {
      const uncond: Operand = { value: out, view: view(B * Co * HW + c0 * HW) };
      const t = b.temp(shape);
      eps = { value: t, view: contiguous(shape) };
      // eps_u + s·(eps_c − eps_u)
      b.emit({ op: { kind: 'elementwise', shape, exprs: [bin('add', IN(1), bin('mul', C(opts.cfgScale!), bin('sub', IN(0), IN(1))))], label: 'cfg_combine' }, ins: [cond, uncond], outs: [eps], covers: [], role: 'sampler', note: `CFG combine, ${note}` });
    }
    const scaled = b.temp(shape);
    const epsS: Operand = { value: scaled, view: contiguous(shape) };
    b.emit({ op: { kind: 'elementwise', shape, exprs: [bin('mul', IN(0), P('eps_scale'))], label: 'eps_scale' }, ins: [eps], outs: [epsS], covers: [], role: 'sampler', usesParams: true, note: `eps scale, ${note}` });
    const latent: Operand = { value: 'latent', view: { offset: c0 * HW, shape, strides: contiguous([B, Cl, H, W]).strides } };
    const x: Expr = { op: 'output', index: 0 };
    const x0 = bin('sub', bin('mul', P('sqrt_recip_ab'), x), bin('mul', P('sqrt_recipm1_ab'), IN(0)));
    const ins: Operand[] = [epsS];
    let expr: Expr;
    if (opts.sampler === 'ddim') {
      const e2 = bin('div', bin('sub', bin('mul', P('sqrt_recip_ab'), x), x0), P('sqrt_recipm1_ab'));
      expr = bin('add', bin('mul', x0, P('sqrt_ab_prev')), bin('mul', P('sqrt_one_minus_ab_prev'), e2));
    } else {
      const mean = bin('add', bin('mul', P('coef1'), x0), bin('mul', P('coef2'), x));
      let logvar: Expr;
      if (io.learnSigma) {
        ins.push({ value: out, view: view((Cl + c0) * HW) }); // v of the cond half (never guided)
        const frac = bin('div', bin('add', IN(1), C(1)), C(2));
        logvar = bin('add', bin('mul', frac, P('log_beta')), bin('mul', bin('sub', C(1), frac), P('post_log_var')));
      } else logvar = P('fixed_log_var');
      ins.push({ value: 'noise', view: { offset: c0 * HW, shape, strides: contiguous([B, Cl, H, W]).strides } });
      const z = IN(ins.length - 1);
      expr = bin('add', mean, bin('mul', bin('mul', P('noise_flag'), { op: 'exp', a: bin('mul', C(0.5), logvar) }), z));
    }
    b.emit({ op: { kind: 'elementwise', shape, exprs: [expr], label: `${opts.sampler}_update` }, ins, outs: [latent], covers: [], role: 'sampler', usesParams: true, note: `${opts.sampler.toUpperCase()} update, ${note}` });
  }
}
