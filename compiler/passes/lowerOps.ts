/**
 * One graph node → its instruction (matmul, attention, layernorm, embeddings, elementwise, …) for
 * a batch range, reading its inputs through BodyBuilder's views.
 */
import { invariant } from '../../core/errors.ts';
import { numel } from '../../core/tensor.ts';
import type { Node, NodeId } from '../ir/graph.ts';
import type { Expr } from '../kernels/elementwise.ts';
import type { Branch, InstrRole, Operand } from './ir.ts';
import { type BodyBuilder, bin, C, declare, IN, outView, type Range } from './lowerBody.ts';
import { emitImageNode } from './lowerImage.ts';
import { broadcastView, contiguous } from './views.ts';

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
