/**
 * Lowering for forward mode (`compileForward`): the graph once, no sampler, no schedule. Every node
 * that an output needs becomes its instructions (the same `emitNode` as sampling plans); model
 * inputs are `in:<name>` values the runtime writes; each graph output is an `out:<name>` value with
 * its own buffer, read back after the body. Nodes no output needs are dropped.
 */
import { DittoError, invariant } from '../../core/errors.ts';
import type { Graph, NodeId } from '../ir/graph.ts';
import type { Body, ValueInfo } from './ir.ts';
import { BodyBuilder, declare, declarePosEmbed, type Ctx, type ModelIO } from './lowerBody.ts';
import { emitNode } from './lowerOps.ts';
import type { CompileOptions } from './options.ts';
import { contiguous } from './views.ts';

export interface LoweredForward {
  values: Map<string, ValueInfo>;
  body: Body;
  /** Model input name → value (in:<name>), output name → value (out:<name>). */
  inputs: { name: string; value: string }[];
  outputs: { name: string; value: string }[];
}

/** Nodes some output depends on. */
function neededNodes(g: Graph): Uint8Array {
  const need = new Uint8Array(g.nodes.length);
  for (const o of g.outputs) need[o.node] = 1;
  for (let id = g.nodes.length - 1; id >= 0; id--) if (need[id]) for (const i of g.nodes[id]!.inputs) need[i] = 1;
  return need;
}

export function lowerForward(graph: Graph, opts: CompileOptions): LoweredForward {
  if (graph.outputs.length === 0) throw new DittoError('E_CHECK', `model ${graph.model} declares no output, so a forward pass computes nothing`);
  const values = new Map<string, ValueInfo>();
  // The whole graph batch is one range; there is no latent or sampler (ModelIO's sampling fields are unused).
  const io: ModelIO = { modelBatch: graph.batch, batch: graph.batch, latent: [], outChannels: 0, learnSigma: false, output: graph.outputs[0]!.node };
  const consumers = new Uint32Array(graph.nodes.length);
  for (const n of graph.nodes) for (const i of n.inputs) consumers[i]++;
  const ctx: Ctx = { graph, opts, io, values, nodeTarget: new Map(), consumers, dynamic: [] };
  const b = new BodyBuilder(ctx);
  const inputs = graph.inputs.map((inp) => {
    const n = graph.nodes[inp.node]!;
    const value = declare(ctx, { name: `in:${inp.name}`, shape: [...n.shape], dtype: n.dtype, storage: 'input' });
    b.valueOf.set(inp.node, value);
    return { name: inp.name, value };
  });
  // The first output naming a node is computed straight into its output buffer.
  const outputOf = new Map<NodeId, string>();
  for (const o of graph.outputs) {
    const n = graph.nodes[o.node]!;
    declare(ctx, { name: `out:${o.name}`, shape: [...n.shape], dtype: n.dtype === 'i32' ? 'i32' : 'f32', storage: 'output' });
    if (!outputOf.has(o.node) && n.op.kind !== 'input' && n.op.kind !== 'const' && n.op.kind !== 'chunk' && n.op.kind !== 'pos_embed_2d') outputOf.set(o.node, `out:${o.name}`);
  }
  const need = neededNodes(graph);
  const full = { start: 0, count: graph.batch };
  for (const n of graph.nodes) {
    if (!need[n.id] || n.op.kind === 'input' || n.op.kind === 'const' || n.op.kind === 'chunk') continue;
    if (n.op.kind === 'pos_embed_2d') {
      b.valueOf.set(n.id, declarePosEmbed(ctx, n));
      continue;
    }
    const value = outputOf.get(n.id) ?? declare(ctx, { name: `v${n.id}`, shape: [...n.shape], dtype: 'f32', storage: 'transient' });
    b.valueOf.set(n.id, value);
    emitNode(b, n, full, value, 'model');
  }
  // Outputs not computed into their buffer (an input, a chunk view, a second name for a node): copy.
  for (const o of graph.outputs) {
    const value = `out:${o.name}`;
    if (outputOf.get(o.node) === value) continue;
    const n = graph.nodes[o.node]!;
    invariant(n.op.kind !== 'const', 'a constant output');
    const src = b.operand(o.node);
    b.emit({
      op: { kind: 'elementwise', shape: src.view.shape, exprs: [{ op: 'input', index: 0 }], label: 'copy' },
      ins: [src], outs: [{ value, view: contiguous(n.shape) }], covers: [o.node], role: 'model', note: `output ${o.name}`,
    });
  }
  return { values, body: { instrs: b.instrs }, inputs, outputs: graph.outputs.map((o) => ({ name: o.name, value: `out:${o.name}` })) };
}
