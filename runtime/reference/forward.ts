/**
 * The reference forward pass: evaluates a Graph IR on host tensors with the ops of ops.ts.
 *
 * Evaluation is demand-driven: only nodes that a demanded node needs are computed. That is what
 * makes cache semantics fall out naturally: when the sampling loop intercepts a node and supplies
 * a stored value instead of computing it, everything that only fed that node is never evaluated
 * ("dead at this step", DESIGN §4).
 */
import { DittoError } from '../../core/errors.ts';
import { sameShape, shapeString, tensor, type Tensor } from '../../core/tensor.ts';
import type { Graph, Node, NodeId, WeightRef } from '../../compiler/ir/graph.ts';
import * as ops from './ops.ts';
import * as img from './imageOps.ts';

export type Weights = ReadonlyMap<string, Tensor>;

/**
 * Called instead of computing a node the interceptor claims. `compute()` evaluates the node the
 * normal way (demanding its inputs); `value(id)` demands any other node. Return the node's value.
 */
export type Intercept = (node: Node, compute: () => Tensor, value: (id: NodeId) => Tensor) => Tensor;

export interface EvaluateOptions {
  /** Nodes to evaluate (default: the graph outputs). */
  demand?: readonly NodeId[];
  /** Node ids whose evaluation goes through `intercept`. */
  intercepted?: ReadonlySet<NodeId>;
  intercept?: Intercept;
}

/**
 * An evaluation of one graph on one set of inputs, with memoised node values. `value(id)` computes
 * a node (and what it needs) on first demand; the sampling loop uses it to evaluate a dynamic
 * rule's signal before it decides the cached nodes of the same step.
 */
export class Evaluation {
  readonly values = new Map<NodeId, Tensor>();
  private readonly active = new Set<NodeId>();

  constructor(
    readonly graph: Graph,
    private readonly weights: Weights,
    private readonly inputs: Readonly<Record<string, Tensor>>,
    private readonly intercepted: ReadonlySet<NodeId> = new Set(),
    private readonly intercept?: Intercept,
  ) {
    for (const { name, node } of graph.inputs) checkInput(graph.nodes[node]!, name, inputs[name]);
    for (const name of Object.keys(inputs)) {
      if (!graph.inputs.some((i) => i.name === name)) {
        throw new DittoError('E_INPUT', `unexpected input '${name}': model ${graph.model} takes ${graph.inputs.map((i) => i.name).join(', ')}`);
      }
    }
  }

  value = (id: NodeId): Tensor => {
    const known = this.values.get(id);
    if (known) return known;
    if (this.active.has(id)) throw new DittoError('E_INTERNAL', `node ${id} depends on itself`);
    this.active.add(id);
    const node = this.graph.nodes[id]!;
    const compute = () => this.computeNode(node);
    const v = this.intercept && this.intercepted.has(id) ? this.intercept(node, compute, this.value) : compute();
    if (!sameShape(v.shape, node.shape)) {
      throw new DittoError('E_INTERNAL', `node ${describe(node)} produced ${shapeString(v.shape)}, graph says ${shapeString(node.shape)}`);
    }
    this.active.delete(id);
    this.values.set(id, v);
    return v;
  };

  private weight(node: Node, ref: WeightRef): Tensor {
    const w = this.weights.get(ref.name);
    if (!w) {
      if (ref.optional && node.op.kind === 'pos_embed_2d') return ops.posEmbed2d(node.op.grid, node.op.dim);
      throw new DittoError('E_WEIGHTS', `weight '${ref.name}' (${shapeString(ref.shape)}) needed by ${describe(node)} is missing`);
    }
    if (!sameShape(w.shape, ref.shape)) {
      throw new DittoError('E_WEIGHTS', `weight '${ref.name}' has shape ${shapeString(w.shape)}, the model expects ${shapeString(ref.shape)}`);
    }
    return w;
  }

  private computeNode(node: Node): Tensor {
    const inp = (k: number) => this.value(node.inputs[k]!);
    const wt = (k: number) => this.weight(node, node.weights[k]!);
    const op = node.op;
    switch (op.kind) {
      case 'input':
        return this.inputs[op.name]!;
      case 'const':
        return tensor([], [op.value]);
      case 'patch_embed':
        return ops.patchEmbed(inp(0), wt(0), wt(1), op.patch);
      case 'pos_embed_2d':
        return node.weights.length > 0 ? wt(0) : ops.posEmbed2d(op.grid, op.dim);
      case 'timestep_embed':
        return ops.timestepEmbed(inp(0), op.dim, op.maxPeriod);
      case 'embedding':
        return ops.embedding(inp(0), wt(0));
      case 'linear':
        return ops.linear(inp(0), wt(0), op.bias ? wt(1) : undefined);
      case 'layernorm':
        return ops.layernorm(inp(0), op.eps);
      case 'modulate':
        return ops.modulate(inp(0), inp(1), inp(2));
      case 'attention':
        return ops.attention(inp(0), op.heads);
      case 'unary':
        return ops.unary(inp(0), op.fn);
      case 'binary':
        return ops.binary(inp(0), inp(1), op.fn, op.broadcast);
      case 'chunk':
        return ops.chunk(inp(0), op.parts, op.index);
      case 'unpatchify':
        return ops.unpatchify(inp(0), op.patch, op.channels, op.grid);
      case 'conv2d':
        return img.conv2d(inp(0), wt(0), op.bias ? wt(1) : undefined, op.padding);
      case 'group_norm':
        return img.groupNorm(inp(0), wt(0), wt(1), op.groups, op.eps);
      case 'upsample_nearest':
        return img.upsampleNearest(inp(0), op.factor);
      case 'to_tokens':
        return img.toTokens(inp(0));
      case 'to_image':
        return img.toImage(inp(0), op.height, op.width);
      case 'concat':
        return img.concat(node.inputs.map((_, k) => inp(k)));
    }
  }
}

function describe(n: Node): string {
  return n.path ? `node ${n.id} '${n.path}' (${n.op.kind})` : `node ${n.id} (${n.op.kind})`;
}

function checkInput(node: Node, name: string, t: Tensor | undefined): void {
  if (!t) throw new DittoError('E_INPUT', `missing input '${name}' ${node.dtype}${shapeString(node.shape)}`);
  if (t.dtype !== node.dtype || !sameShape(t.shape, node.shape)) {
    throw new DittoError(
      'E_INPUT',
      `input '${name}' is ${t.dtype}${shapeString(t.shape)}, the model expects ${node.dtype}${shapeString(node.shape)}`,
    );
  }
}

/** Evaluates the demanded nodes (default: outputs) and returns the evaluation with every value it computed. */
export function evaluate(
  graph: Graph,
  weights: Weights,
  inputs: Readonly<Record<string, Tensor>>,
  opts: EvaluateOptions = {},
): Evaluation {
  const ev = new Evaluation(graph, weights, inputs, opts.intercepted, opts.intercept);
  for (const id of opts.demand ?? graph.outputs.map((o) => o.node)) ev.value(id);
  return ev;
}

/** One forward pass: the graph outputs by name. */
export function forward(graph: Graph, weights: Weights, inputs: Readonly<Record<string, Tensor>>): Record<string, Tensor> {
  const ev = evaluate(graph, weights, inputs);
  return Object.fromEntries(graph.outputs.map((o) => [o.name, ev.values.get(o.node)!]));
}

/** Every node's value (index = node id), for tests and debugging. */
export function forwardAll(graph: Graph, weights: Weights, inputs: Readonly<Record<string, Tensor>>): Tensor[] {
  const ev = evaluate(graph, weights, inputs, { demand: graph.nodes.map((n) => n.id) });
  return graph.nodes.map((n) => ev.values.get(n.id)!);
}
