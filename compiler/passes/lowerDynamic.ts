/**
 * Dynamic rules in a body: reset their state in the prologue, and measure a rule's signal, update
 * its accumulator and (where the step depends on it) write the indirect-dispatch arguments that
 * pick the compute or the reuse path, all on the GPU.
 */
import { numel } from '../../core/tensor.ts';
import type { NodeId } from '../ir/graph.ts';
import { DYNAMIC_STATE_STRIDE } from '../kernels/dynamic.ts';
import type { DynamicSignal, Operand } from './ir.ts';
import { type BodyBuilder, type Ctx, declare, IN } from './lowerBody.ts';
import { contiguous, isContiguous } from './views.ts';


export function dynamicState(ctx: Ctx): string {
  return declare(ctx, { name: 'dyn:state', shape: [ctx.dynamic.length * DYNAMIC_STATE_STRIDE], dtype: 'f32', storage: 'dynamic' });
}

/** Measures rule `d`'s signal, updates its state and, when `used`, decides this step's guarded work. */
export function emitDecide(b: BodyBuilder, d: DynamicSignal, used: boolean): void {
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
