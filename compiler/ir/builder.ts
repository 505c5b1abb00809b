/**
 * GraphBuilder: the one place where IR nodes are created; their shapes and weights follow from the
 * op table (ops.ts). The language
 * lowering drives it; tests may drive it directly. Shape errors are thrown as ShapeError with both
 * shapes so the checker can attach a source span.
 */
import type { DType } from '../../core/tensor.ts';
import type { SourceSpan } from '../../core/errors.ts';
import type { BlockInstance, Graph, Node, NodeId, Op, WeightRef } from './graph.ts';
import { shapeOf } from './ops.ts';
import { ShapeError } from './shapes.ts';

export { ShapeError, broadcastRule } from './shapes.ts';

export interface NodeOptions {
  path?: string;
  span?: SourceSpan;
  /** Weight-name prefix (`blocks.3.attn.qkv`) for ops that read weights. */
  weights?: string;
}

export class GraphBuilder {
  private readonly nodes: Node[] = [];
  private readonly inputs: { name: string; node: NodeId }[] = [];
  private readonly outputs: { name: string; node: NodeId }[] = [];
  private readonly blocks: BlockInstance[] = [];

  constructor(
    readonly model: string,
    readonly params: Readonly<Record<string, number>>,
    readonly batch: number,
  ) {}

  node(id: NodeId): Node {
    const n = this.nodes[id];
    if (!n) throw new ShapeError(`no node ${id}`);
    return n;
  }

  get size(): number {
    return this.nodes.length;
  }

  input(name: string, dtype: DType, shape: number[], opts: NodeOptions = {}): NodeId {
    const id = this.push({ kind: 'input', name }, [], shape, dtype, [], { path: name, ...opts });
    this.inputs.push({ name, node: id });
    return id;
  }

  constant(value: number, opts: NodeOptions = {}): NodeId {
    return this.push({ kind: 'const', value }, [], [], 'f32', [], opts);
  }

  /** Adds an op node, inferring its shape and the weights it reads. */
  op(op: Exclude<Op, { kind: 'input' } | { kind: 'const' }>, inputs: NodeId[], opts: NodeOptions = {}): NodeId {
    const ins = inputs.map((i) => this.node(i));
    const { shape, dtype, weights } = shapeOf(op, ins, opts.weights);
    return this.push(op, inputs, shape, dtype, weights, opts);
  }

  output(name: string, node: NodeId): void {
    this.outputs.push({ name, node });
  }

  block(b: BlockInstance): void {
    this.blocks.push(b);
  }

  /** Renames a node's path (used when a binding is rebound later in the same scope). */
  rename(id: NodeId, path: string | undefined): void {
    const n = this.node(id);
    this.nodes[id] = { ...n, path };
  }

  build(): Graph {
    return {
      model: this.model,
      params: { ...this.params },
      batch: this.batch,
      nodes: [...this.nodes],
      inputs: [...this.inputs],
      outputs: [...this.outputs],
      blocks: [...this.blocks],
    };
  }

  private push(op: Op, inputs: NodeId[], shape: number[], dtype: DType, weights: WeightRef[], opts: NodeOptions): NodeId {
    const id = this.nodes.length;
    const node: Node = { id, op, inputs, shape, dtype, weights, path: opts.path, span: opts.span };
    this.nodes.push(node);
    return id;
  }
}
