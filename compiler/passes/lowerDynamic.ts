/**
 * Dynamic rules in a body: reset their state in the prologue, and measure a rule's signal, update
 * its accumulator and (where the step depends on it) write the indirect-dispatch arguments that
 * pick the compute or the reuse path, all on the GPU.
 */
import { numel } from '../../core/tensor.ts';
import type { NodeId } from '../ir/graph.ts';
import { DYNAMIC_STATE_STRIDE, dynamicStateRecords } from '../kernels/dynamic.ts';
import type { DynamicSignal, Operand } from './ir.ts';
import { type BodyBuilder, type Ctx, declare, IN } from './lowerBody.ts';
import { contiguous, isContiguous } from './views.ts';


/** f32 values of the rules' state buffer (kernels/dynamic.ts dynamicStateRecords). */
export function dynamicStateLength(ctx: Ctx): number {
  return dynamicStateRecords(ctx.dynamic) * DYNAMIC_STATE_STRIDE;
}

export function dynamicState(ctx: Ctx): string {
  return declare(ctx, { name: 'dyn:state', shape: [dynamicStateLength(ctx)], dtype: 'f32', storage: 'dynamic' });
}

/** Node `id`'s whole value as one contiguous operand (copied when it is a view). */
function whole(b: BodyBuilder, id: NodeId): Operand {
  const o = b.operand(id);
  if (isContiguous(o.view) && o.view.offset === 0) return o;
  const shape = [...b.ctx.graph.nodes[id]!.shape];
  const t = b.temp(shape);
  b.emit({ op: { kind: 'elementwise', shape, exprs: [IN(0)], label: 'copy' }, ins: [o], outs: [{ value: t, view: contiguous(shape) }], covers: [], role: 'sampler', note: 'signal made contiguous' });
  return { value: t, view: contiguous(shape) };
}

/** Measures rule `d`'s signal, updates its state and, when `used`, decides this step's guarded work. */
export function emitDecide(b: BodyBuilder, d: DynamicSignal, used: boolean): void {
  const ctx = b.ctx;
  const ins = d.nodes.map((id) => whole(b, id));
  const shape = [...ctx.graph.nodes[d.nodes[0]!]!.shape];
  const elements = numel(shape);
  const prev = declare(ctx, { name: `dyn:prev${d.rule}`, shape, dtype: 'f32', storage: 'dynamic' });
  const state = dynamicState(ctx);
  const outs: Operand[] = [{ value: prev, view: contiguous(shape) }, { value: state, view: contiguous([dynamicStateLength(ctx)]) }];
  if (used) outs.push({ value: declare(ctx, { name: 'dyn:args', shape: [3], dtype: 'i32', storage: 'indirect' }), view: contiguous([3]) });
  b.emit({
    op: { kind: 'dynamic_decide', rule: d.rule, elements, used, params: d.params, ...(d.perBranch ? { uncondRecord: d.perBranch.uncondRecord } : {}) },
    ins, outs, covers: [...d.nodes], role: 'sampler',
    note: used ? `dynamic rule ${d.rule}: ${metricText(d)} decides compute or ${d.then}${d.perBranch ? ' per CFG branch' : ''}` : `dynamic rule ${d.rule}: measure ${metricText(d)} (not used at this step)`,
  });
}

function metricText(d: DynamicSignal): string {
  return d.params.metric === 'transform_rate' ? `transform_rate(${d.signal.replace(/\.residual$/, '')})` : `rel_l1(${d.signal})`;
}

/**
 * `transform_rate` after its span's output: the rate against the last compute, and this compute's
 * output and input kept (dyn:out<r>, dyn:in<r>). The input is the decide kernel's `prev`, which
 * holds this step's input once the step is decided. Emitted with the compute path's guard at a
 * step the rule decides; elsewhere the step computes and it always runs.
 */
export function emitRateUpdate(b: BodyBuilder, d: DynamicSignal): void {
  const ctx = b.ctx;
  const shape = [...ctx.graph.nodes[d.output!]!.shape];
  const view = contiguous(shape);
  const output = whole(b, d.output!);
  const input = { value: declare(ctx, { name: `dyn:prev${d.rule}`, shape, dtype: 'f32', storage: 'dynamic' }), view };
  const lastOut = { value: declare(ctx, { name: `dyn:out${d.rule}`, shape, dtype: 'f32', storage: 'dynamic' }), view };
  const lastIn = { value: declare(ctx, { name: `dyn:in${d.rule}`, shape, dtype: 'f32', storage: 'dynamic' }), view };
  const state = { value: dynamicState(ctx), view: contiguous([dynamicStateLength(ctx)]) };
  b.emit({
    op: { kind: 'dynamic_rate', rule: d.rule, elements: numel(shape) },
    ins: [output, input], outs: [lastOut, lastIn, state], covers: [], role: 'sampler',
    note: `dynamic rule ${d.rule}: the transformation rate of ${d.signal.replace(/\.residual$/, '')} at a compute`,
  });
}
