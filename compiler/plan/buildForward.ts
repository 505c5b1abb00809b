/**
 * Forward-plan assembly: the forward pipeline's final body → a `mode: 'forward'` plan. Buffers for
 * the weights (fused concatenations included), the model inputs, the outputs and the activation
 * pool; one kernel per distinct config (the same selection as sampling plans); one dispatch per
 * instruction; the cost of the body.
 */
import { DittoError } from '../../core/errors.ts';
import { canonicalJson } from '../kernels/common.ts';
import type { ForwardState } from '../forward.ts';
import { dispatchSeconds, instrBytes, instrFlops } from './cost.ts';
import { selectKernel } from './kernelSelect.ts';
import { bufferOfValue, bufferTable, DITTO_VERSION, graphHash, kernelTable, planNodes, sha256 } from './tables.ts';
import { PLAN_FORMAT, PLAN_VERSION, type BufferKind, type ForwardPlan, type ForwardTensor, type PlanDispatch } from './types.ts';

export function buildForwardPlan(s: ForwardState): ForwardPlan {
  const { graph, opts } = s;
  const values = s.values!;
  const body = s.body!;
  const lowered = s.lowered!;

  const { buffers, byValue, add, addValues } = bufferTable();
  const used = new Set<string>();
  for (const i of body.instrs) for (const o of [...i.ins, ...i.outs]) used.add(o.value);
  // Every input gets a buffer, even one no output needs: the runtime writes what the model declares.
  for (const inp of lowered.inputs) used.add(inp.value);
  const kindOf: Partial<Record<string, BufferKind>> = { weight: 'weight', fused_weight: 'fused_weight', input: 'input', output: 'output' };
  addValues(values.values(), used, kindOf, /^(w|wcat|in|out):/);
  const pool = s.pool!.map((bytes, j) => add({ name: `act${j}`, kind: 'activation', bytes, dtype: 'f32' }));

  const { kernels, kernelOf } = kernelTable();
  const bufferOf = (value: string): number => bufferOfValue(values, byValue, pool, body, value);
  const dispatches: PlanDispatch[] = body.instrs.map((ins) => {
    const sel = selectKernel(ins, values, opts.caps);
    const bindings = sel.kernel.bindings.map((kb, binding) => {
      const bo = sel.binds.get(kb.name);
      if (!bo) throw new DittoError('E_INTERNAL', `${sel.family} kernel binding '${kb.name}' has no operand`);
      const buffer = bufferOf(bo.value);
      // A binding runs to the end of its buffer unless sized; pooled buffers and tiled tensors can be
      // larger than one binding may be, so bound such a binding to what the kernel reads.
      const tail = buffers[buffer]!.bytes - bo.byteOffset;
      const need = Math.ceil(((bo.rest + kb.elements) * (kb.elemType === 'f16' ? 2 : 4)) / 4) * 4;
      const size = tail > opts.caps.maxStorageBufferBindingSize ? Math.min(tail, need) : undefined;
      return { binding, buffer, offset: bo.byteOffset, ...(size !== undefined ? { size } : {}) };
    });
    return {
      kernel: kernelOf(sel), bindings, workgroups: sel.kernel.dispatch, covers: ins.covers, role: ins.role, cacheReads: [], cacheWrites: [],
      ...(ins.note ? { note: ins.note } : {}), flops: instrFlops(ins), bytes: instrBytes(ins, values),
    };
  });

  let flops = 0, bytes = 0, seconds = 0;
  for (const d of dispatches) {
    flops += d.flops;
    bytes += d.bytes;
    seconds += dispatchSeconds(d.flops, d.bytes, opts.caps);
  }
  const memory: Partial<Record<BufferKind, number>> = {};
  for (const b of buffers) memory[b.kind] = (memory[b.kind] ?? 0) + b.bytes;
  const tensorOf = (name: string, value: string): ForwardTensor => {
    const v = values.get(value)!;
    return { name, buffer: byValue.get(value)!, dtype: v.dtype === 'i32' ? 'i32' : 'f32', shape: [...v.shape] };
  };

  const plan: Omit<ForwardPlan, 'hash'> = {
    format: PLAN_FORMAT,
    version: PLAN_VERSION,
    mode: 'forward',
    compiler: { ditto: DITTO_VERSION },
    model: { name: graph.model, params: { ...graph.params }, batch: graph.batch, graphHash: graphHash(graph) },
    options: { f16: opts.f16, caps: opts.caps.name },
    nodes: planNodes(graph),
    io: {
      inputs: lowered.inputs.map((i) => tensorOf(i.name, i.value)),
      outputs: lowered.outputs.map((o) => tensorOf(o.name, o.value)),
    },
    buffers,
    kernels,
    body: { dispatches, cacheReads: [], cacheWrites: [] },
    cost: { body: { flops, bytes, dispatches: dispatches.length, seconds }, peakMemoryBytes: buffers.reduce((a, b) => a + b.bytes, 0), memory },
  };
  return { ...plan, hash: sha256(canonicalJson(plan)) };
}
