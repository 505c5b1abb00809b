/**
 * Lowering of the image ops (the VAE decoder's): conv2d, group_norm, upsample_nearest become their
 * kernel families' instructions; to_tokens, to_image and concat are strided elementwise copies that
 * the fusion pass removes where it can (group_norm writes tokens; `h + to_image(o)` is one
 * elementwise; q/k/v projections write their column slice of the concatenation). docs/vae.md lists
 * the decisions.
 *
 * The families take no binding offsets, so every tensor they read or write is a whole value
 * starting at element 0 (a view that is not is copied first). That holds in forward plans, which
 * run the whole model batch at once; a sampling plan with a CFG split would address halves, which
 * these families cannot, so they are refused there.
 */
import { DittoError, invariant } from '../../core/errors.ts';
import type { Node, NodeId } from '../ir/graph.ts';
import type { InstrRole, Operand, View } from './ir.ts';
import { declare, type BodyBuilder } from './lowerBody.ts';
import { contiguous, isContiguous } from './views.ts';

interface Common {
  covers: NodeId[];
  role: InstrRole;
  branch?: 'cond' | 'uncond';
}

const IN0 = { op: 'input', index: 0 } as const;

/** The operand of node `id` as a whole contiguous tensor at element 0 (copied when it is not). */
function whole(b: BodyBuilder, id: NodeId): Operand {
  const o = b.operand(id);
  if (o.view.offset === 0 && isContiguous(o.view)) return o;
  const shape = o.view.shape;
  const t = b.temp(shape);
  b.emit({ op: { kind: 'elementwise', shape, exprs: [IN0], label: 'copy' }, ins: [o], outs: [{ value: t, view: contiguous(shape) }], covers: [], role: 'model', note: 'make contiguous' });
  return { value: t, view: contiguous(shape) };
}

function wholeOut(n: Node, out: Operand): Operand {
  if (out.view.offset !== 0 || !isContiguous(out.view) || out.view.shape.join() !== n.shape.join()) {
    throw new DittoError('E_CHECK', `${n.path ?? `node %${n.id}`} (${n.op.kind}): image ops run on the whole batch; this plan splits it (CFG branches that differ) — compile the model in forward mode`);
  }
  return out;
}

/** An f32 weight of node `n` (conv bias and GroupNorm affine stay f32 under --f16: the families read them as f32). */
function f32Weight(b: BodyBuilder, n: Node, i: number): Operand {
  const ref = n.weights[i]!;
  const name = declare(b.ctx, { name: `w:${ref.name}`, shape: [...ref.shape], dtype: 'f32', storage: 'weight' });
  return { value: name, view: contiguous(ref.shape) };
}

export function emitImageNode(b: BodyBuilder, n: Node, out: Operand, common: Common, w: (i: number) => Operand): void {
  const op = n.op;
  switch (op.kind) {
    case 'conv2d': {
      const x = whole(b, n.inputs[0]!);
      const [B, Cin, H, W] = x.view.shape as [number, number, number, number];
      b.emit({
        op: { kind: 'conv2d', B, Cin, H, W, Cout: op.outChannels, kernel: op.kernel, padding: op.padding, bias: op.bias, upsample: 1, residual: 'none' },
        ins: op.bias ? [x, w(0), f32Weight(b, n, 1)] : [x, w(0)], outs: [wholeOut(n, out)], ...common,
      });
      return;
    }
    case 'group_norm': {
      const x = whole(b, n.inputs[0]!);
      const [B, C] = x.view.shape as [number, number];
      const S = x.view.shape.slice(2).reduce((a, d) => a * d, 1);
      b.emit({
        op: { kind: 'group_norm', B, C, S, groups: op.groups, eps: op.eps, silu: false, out: 'nchw' },
        ins: [x, f32Weight(b, n, 0), f32Weight(b, n, 1)], outs: [wholeOut(n, out)], ...common,
      });
      return;
    }
    case 'upsample_nearest': {
      const x = whole(b, n.inputs[0]!);
      const [B, C, H, W] = x.view.shape as [number, number, number, number];
      b.emit({ op: { kind: 'upsample_nearest', planes: B * C, H, W, factor: op.factor }, ins: [x], outs: [wholeOut(n, out)], ...common });
      return;
    }
    case 'to_tokens': {
      // out[b, t, c] = x[b, c, t]: x read through a transposing view.
      const x = whole(b, n.inputs[0]!);
      const [B, C, H, W] = x.view.shape as [number, number, number, number];
      const T = H * W;
      const view: View = { offset: 0, shape: [B, T, C], strides: [C * T, 1, T] };
      b.emit({ op: { kind: 'elementwise', shape: [B, T, C], exprs: [IN0], label: 'to_tokens' }, ins: [{ value: x.value, view }], outs: [out], ...common });
      return;
    }
    case 'to_image': {
      // out[b, c, y, x] = tokens[b, y·W + x, c].
      const x = whole(b, n.inputs[0]!);
      const [B, T, C] = x.view.shape as [number, number, number];
      const view: View = { offset: 0, shape: [B, C, op.height, op.width], strides: [T * C, 1, op.width * C, C] };
      b.emit({ op: { kind: 'elementwise', shape: [B, C, op.height, op.width], exprs: [IN0], label: 'to_image' }, ins: [{ value: x.value, view }], outs: [out], ...common });
      return;
    }
    case 'concat': {
      // One copy per part into its slice of the last axis; fusion retargets the parts' writers.
      const strides = out.view.strides;
      let col = 0;
      for (const id of n.inputs) {
        const part = b.operand(id);
        const shape = part.view.shape;
        invariant(shape.length === out.view.shape.length, 'concat rank');
        b.emit({
          op: { kind: 'elementwise', shape, exprs: [IN0], label: 'concat' },
          ins: [part], outs: [{ value: out.value, view: { offset: out.view.offset + col * strides[strides.length - 1]!, shape, strides } }], ...common,
        });
        col += shape[shape.length - 1]!;
      }
      return;
    }
    default:
      invariant(false, `${op.kind} is not an image op`);
  }
}
