/**
 * What every lowering step builds on: the model's sampling I/O (modelIO), the lowering context
 * (the values declared so far, which node is a cache target), and BodyBuilder, which emits
 * instructions into one body and resolves a node to the operand (value + view) holding it.
 * Values are named:
 *   in:x in:t in:y · v<id> (transient) · hoist:<id> · w:<weight> · cache:<target>[:d<j>|:res] ·
 *   latent · noise · params.
 */
import { DittoError, invariant } from '../../core/errors.ts';
import type { Graph, Node, NodeId } from '../ir/graph.ts';
import type { Expr } from '../kernels/elementwise.ts';
import { paramIndex, PARAM_FIELDS, type ParamField } from '../plan/sampler.ts';
import type { DynamicSignal, Guard, Instr, Operand, TargetInfo, ValueInfo, View } from './ir.ts';
import type { CompileOptions } from './options.ts';
import { contiguous, restrict } from './views.ts';

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

export interface Range {
  start: number;
  count: number;
}

export const P = (name: ParamField): Expr => ({ op: 'uniform', index: paramIndex(name) });
export const IN = (index: number): Expr => ({ op: 'input', index });
export const C = (value: number): Expr => ({ op: 'const', value });
export const bin = (op: 'add' | 'sub' | 'mul' | 'div', a: Expr, b: Expr): Expr => ({ op, a, b });

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

export interface Ctx {
  graph: Graph;
  opts: CompileOptions;
  io: ModelIO;
  values: Map<string, ValueInfo>;
  nodeTarget: Map<NodeId, TargetInfo>;
  consumers: Uint32Array;
  dynamic: DynamicSignal[];
}

export function consumerCounts(g: Graph): Uint32Array {
  const c = new Uint32Array(g.nodes.length);
  for (const n of g.nodes) for (const i of n.inputs) c[i]++;
  return c;
}

export function declare(ctx: Ctx, v: ValueInfo): string {
  if (!ctx.values.has(v.name)) ctx.values.set(v.name, v);
  return v.name;
}

/** `constantColumns`: the params row's columns after the sampler's fields (passes/stepConstants.ts). */
export function declareFixedValues(ctx: Ctx, constantColumns = 0): void {
  const { io, opts } = ctx;
  for (const inp of ctx.graph.inputs) {
    const n = ctx.graph.nodes[inp.node]!;
    declare(ctx, { name: `in:${inp.name}`, shape: [...n.shape], dtype: n.dtype, storage: 'input' });
  }
  declare(ctx, { name: 'latent', shape: [io.batch, ...io.latent], dtype: 'f32', storage: 'latent' });
  if (opts.sampler === 'ddpm') declare(ctx, { name: 'noise', shape: [io.batch, ...io.latent], dtype: 'f32', storage: 'noise' });
  declare(ctx, { name: 'params', shape: [PARAM_FIELDS.length + constantColumns], dtype: 'f32', storage: 'params' });
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

export function full(ctx: Ctx): Range {
  return { start: 0, count: ctx.io.modelBatch };
}

/** The fixed 2-D sin-cos table is a derived weight: the runtime computes it when a file lacks it. */
export function declarePosEmbed(ctx: Ctx, n: Node): string {
  invariant(n.op.kind === 'pos_embed_2d', 'pos embed');
  const name = n.weights[0]?.name ?? `pos_embed_2d.${n.op.grid}x${n.op.dim}`;
  return declare(ctx, { name: `w:${name}`, shape: [...n.shape], dtype: 'f32', storage: 'weight', derived: { kind: 'pos_embed_2d', grid: n.op.grid, dim: n.op.dim } });
}

export function bindInputs(b: BodyBuilder): void {
  for (const inp of b.ctx.graph.inputs) b.valueOf.set(inp.node, `in:${inp.name}`);
}

export function slotName(ctx: Ctx, info: TargetInfo, n: Node, suffix = ''): string {
  return declare(ctx, { name: `cache:${info.path}${suffix}`, shape: [...n.shape], dtype: 'f32', storage: 'cache' });
}

export function outView(b: BodyBuilder, value: string, R: Range): Operand {
  return { value, view: restrict(contiguous(b.ctx.values.get(value)!.shape), R, b.ctx.io.modelBatch) };
}
