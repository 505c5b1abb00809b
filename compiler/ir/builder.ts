/**
 * GraphBuilder: the one place where IR nodes are created and their shapes inferred. The language
 * lowering drives it; tests may drive it directly. Shape errors are thrown as ShapeError with both
 * shapes so the checker can attach a source span.
 */
import type { DType } from '../../core/tensor.ts';
import { shapeString } from '../../core/tensor.ts';
import type { SourceSpan } from '../../core/errors.ts';
import type { BlockInstance, Graph, Node, NodeId, Op, WeightRef } from './graph.ts';

/** A shape or dtype mismatch found while building; the lowering turns it into a diagnostic. */
export class ShapeError extends Error {
  override readonly name = 'ShapeError';
}

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
    const { shape, dtype, weights } = infer(op, ins, opts.weights);
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

function expectRank(n: Node, ranks: number[], what: string): void {
  if (!ranks.includes(n.shape.length)) {
    throw new ShapeError(`${what} expects a tensor of rank ${ranks.join(' or ')}, got ${shapeString(n.shape)}`);
  }
}

function expectF32(n: Node, what: string): void {
  if (n.dtype !== 'f32') throw new ShapeError(`${what} expects f32, got ${n.dtype} ${shapeString(n.shape)}`);
}

function last(shape: readonly number[]): number {
  return shape[shape.length - 1] ?? 1;
}

function w(prefix: string | undefined, suffix: string, shape: number[], what: string, optional = false): WeightRef {
  if (prefix === undefined) throw new ShapeError(`${what} reads weights: give it a weight name with @"…"`);
  return { name: suffix ? `${prefix}.${suffix}` : prefix, shape, ...(optional ? { optional } : {}) };
}

/** Broadcast of two shapes under numpy rules; throws with both shapes when they do not broadcast. */
export function broadcastNumpy(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`shapes ${shapeString(a)} and ${shapeString(b)} do not broadcast`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Which broadcast rule a binary op between these shapes uses (see graph.ts). */
export function broadcastRule(a: readonly number[], b: readonly number[]): 'numpy' | 'per_sample' {
  const perSample = (x: readonly number[], y: readonly number[]) =>
    x.length === 2 && y.length === 3 && x[0] === y[0] && x[1] === y[2] && y[1] !== 1;
  return perSample(a, b) || perSample(b, a) ? 'per_sample' : 'numpy';
}

export function binaryShape(a: readonly number[], b: readonly number[], rule: 'numpy' | 'per_sample'): number[] {
  if (rule === 'per_sample') return [...(a.length === 3 ? a : b)];
  return broadcastNumpy(a, b);
}

function infer(op: Op, ins: Node[], prefix: string | undefined): { shape: number[]; dtype: DType; weights: WeightRef[] } {
  const x = ins[0];
  const need = (k: number) => {
    if (ins.length !== k) throw new ShapeError(`${op.kind} takes ${k} input${k === 1 ? '' : 's'}, got ${ins.length}`);
  };
  switch (op.kind) {
    case 'input':
    case 'const':
      throw new ShapeError(`${op.kind} nodes are created with input()/constant()`);
    case 'patch_embed': {
      need(1);
      expectRank(x!, [4], 'patch_embed');
      expectF32(x!, 'patch_embed');
      const [b, c, h, wd] = x!.shape as [number, number, number, number];
      if (h % op.patch !== 0 || wd % op.patch !== 0) {
        throw new ShapeError(`patch_embed: image ${h}×${wd} is not divisible by patch ${op.patch}`);
      }
      const t = (h / op.patch) * (wd / op.patch);
      return {
        shape: [b, t, op.dim],
        dtype: 'f32',
        weights: [w(prefix, 'weight', [op.dim, c, op.patch, op.patch], 'patch_embed'), w(prefix, 'bias', [op.dim], 'patch_embed')],
      };
    }
    case 'pos_embed_2d': {
      need(0);
      if (op.dim % 4 !== 0) throw new ShapeError(`pos_embed_2d needs dim divisible by 4, got ${op.dim}`);
      const shape = [1, op.grid * op.grid, op.dim];
      return { shape, dtype: 'f32', weights: prefix === undefined ? [] : [w(prefix, '', shape, 'pos_embed_2d', true)] };
    }
    case 'timestep_embed': {
      need(1);
      expectRank(x!, [1], 'timestep_embed');
      if (op.dim % 2 !== 0) throw new ShapeError(`timestep_embed needs an even dim, got ${op.dim}`);
      return { shape: [x!.shape[0]!, op.dim], dtype: 'f32', weights: [] };
    }
    case 'embedding': {
      need(1);
      expectRank(x!, [1], 'embedding');
      if (x!.dtype !== 'i32') throw new ShapeError(`embedding expects i32 ids, got ${x!.dtype}`);
      return { shape: [x!.shape[0]!, op.dim], dtype: 'f32', weights: [w(prefix, 'weight', [op.rows, op.dim], 'embedding')] };
    }
    case 'linear': {
      need(1);
      expectF32(x!, 'linear');
      if (last(x!.shape) !== op.inFeatures) {
        throw new ShapeError(`linear expects ${op.inFeatures} input features, got ${shapeString(x!.shape)}`);
      }
      const weights = [w(prefix, 'weight', [op.outFeatures, op.inFeatures], 'linear')];
      if (op.bias) weights.push(w(prefix, 'bias', [op.outFeatures], 'linear'));
      return { shape: [...x!.shape.slice(0, -1), op.outFeatures], dtype: 'f32', weights };
    }
    case 'layernorm':
    case 'unary':
      need(1);
      expectF32(x!, op.kind === 'unary' ? op.fn : op.kind);
      return { shape: [...x!.shape], dtype: 'f32', weights: [] };
    case 'modulate': {
      need(3);
      const [xs, shift, scale] = ins as [Node, Node, Node];
      expectRank(xs, [3], 'modulate');
      for (const [m, name] of [[shift, 'shift'], [scale, 'scale']] as const) {
        if (m.shape.length !== 2 || m.shape[0] !== xs.shape[0] || m.shape[1] !== xs.shape[2]) {
          throw new ShapeError(
            `modulate: ${name} must be ${shapeString([xs.shape[0]!, xs.shape[2]!])} for x ${shapeString(xs.shape)}, got ${shapeString(m.shape)}`,
          );
        }
      }
      return { shape: [...xs.shape], dtype: 'f32', weights: [] };
    }
    case 'attention': {
      need(1);
      expectRank(x!, [3], 'attention');
      const d3 = last(x!.shape);
      if (d3 % 3 !== 0 || (d3 / 3) % op.heads !== 0) {
        throw new ShapeError(`attention: qkv width ${d3} is not 3 × heads (${op.heads}) × head_dim`);
      }
      return { shape: [x!.shape[0]!, x!.shape[1]!, d3 / 3], dtype: 'f32', weights: [] };
    }
    case 'binary': {
      need(2);
      const [a, b] = ins as [Node, Node];
      expectF32(a, op.fn);
      expectF32(b, op.fn);
      return { shape: binaryShape(a.shape, b.shape, op.broadcast), dtype: 'f32', weights: [] };
    }
    case 'chunk': {
      need(1);
      const d = last(x!.shape);
      if (d % op.parts !== 0) throw new ShapeError(`chunk: last axis ${d} of ${shapeString(x!.shape)} is not divisible by ${op.parts}`);
      if (op.index < 0 || op.index >= op.parts) throw new ShapeError(`chunk: index ${op.index} out of 0..${op.parts - 1}`);
      return { shape: [...x!.shape.slice(0, -1), d / op.parts], dtype: x!.dtype, weights: [] };
    }
    case 'unpatchify': {
      need(1);
      expectRank(x!, [3], 'unpatchify');
      const [b, t, d] = x!.shape as [number, number, number];
      if (t !== op.grid * op.grid) throw new ShapeError(`unpatchify: ${t} tokens is not a ${op.grid}×${op.grid} grid`);
      if (d !== op.patch * op.patch * op.channels) {
        throw new ShapeError(`unpatchify: token width ${d} is not patch² × channels = ${op.patch * op.patch * op.channels}`);
      }
      return { shape: [b, op.channels, op.grid * op.patch, op.grid * op.patch], dtype: 'f32', weights: [] };
    }
    case 'conv2d': {
      need(1);
      expectRank(x!, [4], 'conv2d');
      expectF32(x!, 'conv2d');
      const [b, c, h, wd] = x!.shape as [number, number, number, number];
      if (c !== op.inChannels) throw new ShapeError(`conv2d expects ${op.inChannels} input channels, got ${shapeString(x!.shape)}`);
      if (op.kernel < 1 || op.padding < 0) throw new ShapeError(`conv2d: kernel ${op.kernel} / padding ${op.padding} out of range`);
      const oh = h + 2 * op.padding - op.kernel + 1;
      const ow = wd + 2 * op.padding - op.kernel + 1;
      if (oh < 1 || ow < 1) throw new ShapeError(`conv2d: a ${op.kernel}×${op.kernel} kernel with padding ${op.padding} does not fit the image ${shapeString(x!.shape)}`);
      const weights = [w(prefix, 'weight', [op.outChannels, op.inChannels, op.kernel, op.kernel], 'conv2d')];
      if (op.bias) weights.push(w(prefix, 'bias', [op.outChannels], 'conv2d'));
      return { shape: [b, op.outChannels, oh, ow], dtype: 'f32', weights };
    }
    case 'group_norm': {
      need(1);
      expectRank(x!, [3, 4], 'group_norm');
      expectF32(x!, 'group_norm');
      const c = x!.shape[1]!;
      if (op.groups < 1 || c % op.groups !== 0) throw new ShapeError(`group_norm: ${c} channels of ${shapeString(x!.shape)} are not divisible into ${op.groups} groups`);
      if (!(op.eps > 0)) throw new ShapeError(`group_norm: eps must be positive, got ${op.eps}`);
      return { shape: [...x!.shape], dtype: 'f32', weights: [w(prefix, 'weight', [c], 'group_norm'), w(prefix, 'bias', [c], 'group_norm')] };
    }
    case 'upsample_nearest': {
      need(1);
      expectRank(x!, [4], 'upsample_nearest');
      expectF32(x!, 'upsample_nearest');
      const [b, c, h, wd] = x!.shape as [number, number, number, number];
      if (!Number.isInteger(op.factor) || op.factor < 1) throw new ShapeError(`upsample_nearest: factor must be a whole number ≥ 1, got ${op.factor}`);
      return { shape: [b, c, h * op.factor, wd * op.factor], dtype: 'f32', weights: [] };
    }
    case 'to_tokens': {
      need(1);
      expectRank(x!, [4], 'to_tokens');
      const [b, c, h, wd] = x!.shape as [number, number, number, number];
      return { shape: [b, h * wd, c], dtype: x!.dtype, weights: [] };
    }
    case 'to_image': {
      need(1);
      expectRank(x!, [3], 'to_image');
      const [b, t, c] = x!.shape as [number, number, number];
      if (t !== op.height * op.width) throw new ShapeError(`to_image: ${t} tokens is not a ${op.height}×${op.width} image`);
      return { shape: [b, c, op.height, op.width], dtype: x!.dtype, weights: [] };
    }
    case 'concat': {
      if (ins.length < 2) throw new ShapeError(`concat takes at least 2 inputs, got ${ins.length}`);
      const lead = x!.shape.slice(0, -1);
      for (const n of ins) {
        if (n.dtype !== x!.dtype || n.shape.length !== x!.shape.length || n.shape.slice(0, -1).some((d, i) => d !== lead[i])) {
          throw new ShapeError(`concat: ${n.dtype}${shapeString(n.shape)} does not match ${x!.dtype}${shapeString(x!.shape)} except in the last axis`);
        }
      }
      return { shape: [...lead, ins.reduce((s, n) => s + last(n.shape), 0)], dtype: x!.dtype, weights: [] };
    }
  }
}
