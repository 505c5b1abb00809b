/**
 * The op table: every Graph IR operator once, with what each layer of the compiler needs to know
 * about it — the language calls that build it (tensor inputs, attributes, weights, docs), its shape
 * and weight rule, and the kernel families its lowering emits. The `Op` union (graph.ts) is the
 * op's attributes; `OP_TABLE` is typed over every kind, so a new op does not compile until it has
 * an entry here. What cannot live here because it belongs to another layer is a table keyed by
 * the same kinds, which the type checker also forces to be complete: the lowering to instructions
 * (compiler/passes/lowerOps.ts), the reference implementation (runtime/reference/forward.ts) and,
 * per kernel family, the FLOPs (compiler/plan/cost.ts), the WGSL (compiler/kernels/) and the CPU
 * definition (runtime/cpu/families/). docs/decisions.md "One op table".
 */
import { shapeString, type DType } from '../../core/tensor.ts';
import type { InstrKind } from '../passes/ir.ts';
import type { Node, Op, WeightRef } from './graph.ts';
import { binaryShape, expectF32, expectRank, last, ShapeError, w } from './shapes.ts';

export interface AttrSpec {
  readonly name: string;
  /** int: a whole number ≥ min; number: any finite number; flag: 0 or 1. */
  readonly type: 'int' | 'number' | 'flag';
  readonly min?: number;
  readonly default?: number;
  /** Attribute that may be left out and is then inferred from the input shapes. */
  readonly inferred?: boolean;
  readonly doc: string;
}

export type OpBuildResult = Exclude<Op, { kind: 'input' } | { kind: 'const' }>;

export interface OpSpec {
  readonly name: string;
  readonly tensors: readonly string[];
  readonly attrs: readonly AttrSpec[];
  /** required: must carry `@ "name"`; optional: may; none: must not. */
  readonly weights: 'required' | 'optional' | 'none';
  readonly doc: string;
  /** Builds the IR op; `attrs` holds every non-inferred attribute (defaults applied). Returns a
   *  string to report when an inferred attribute cannot be inferred. */
  build(attrs: Record<string, number | undefined>, inputs: readonly Node[]): OpBuildResult | string;
}


type BuiltKind = OpBuildResult['kind'];

export interface ShapeResult {
  shape: number[];
  dtype: DType;
  weights: WeightRef[];
}

export interface OpDef<K extends BuiltKind> {
  /** The language calls that build this op (none: written as an operator, `a + b`). */
  readonly calls: readonly OpSpec[];
  /** The kernel families the lowering emits for it (none: a view, or a derived weight). */
  readonly kernels: readonly InstrKind[];
  /**
   * How a partial compute (`compute tokens(…)`, compiler/ir/tokenCone.ts) runs it on chosen token
   * rows: `rows` — each output row depends only on the same row of its inputs, so it runs on the
   * rows gathered by the `token_rows` kernels; `queries` — an output row is its query against
   * every token (attention), so it runs for the chosen queries on its input read in full.
   * Absent: it cannot run on some rows (it is computed in full, outside the cone).
   */
  readonly partial?: 'rows' | 'queries';
  /** Output shape, dtype and the weights it reads (`prefix`: the `@ "name"` weight prefix); a
   *  mismatch throws ShapeError with both shapes. */
  shape(op: Extract<Op, { kind: K }>, inputs: readonly Node[], prefix: string | undefined): ShapeResult;
}

const int = (name: string, doc: string, extra: Partial<AttrSpec> = {}): AttrSpec => ({ name, type: 'int', min: 1, doc, ...extra });

function need(ins: readonly Node[], k: number, kind: string): void {
  if (ins.length !== k) throw new ShapeError(`${kind} takes ${k} input${k === 1 ? '' : 's'}, got ${ins.length}`);
}

export const OP_TABLE: { readonly [K in BuiltKind]: OpDef<K> } = {
  patch_embed: {
    calls: [
      {
        name: 'patch_embed',
        tensors: ['x'],
        attrs: [int('patch', 'patch size (kernel = stride)'), int('dim', 'embedding width')],
        weights: 'required',
        doc: 'Conv2d patch embedding [B,C,H,W] → [B,T,dim]',
        build: (a) => ({ kind: 'patch_embed', patch: a.patch!, dim: a.dim! }),
      },
    ],
    kernels: ['patch_embed'],
    shape(op, ins, prefix) {
      const x = ins[0];
      need(ins, 1, op.kind);
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
    },
  },
  pos_embed_2d: {
    calls: [
      {
        name: 'pos_embed_2d',
        tensors: [],
        attrs: [int('grid', 'tokens per side'), int('dim', 'embedding width')],
        weights: 'optional',
        doc: 'fixed 2-D sin-cos position embedding [1, grid², dim]',
        build: (a) => ({ kind: 'pos_embed_2d', grid: a.grid!, dim: a.dim! }),
      },
    ],
    kernels: [],
    shape(op, ins, prefix) {
      need(ins, 0, op.kind);
      if (op.dim % 4 !== 0) throw new ShapeError(`pos_embed_2d needs dim divisible by 4, got ${op.dim}`);
      const shape = [1, op.grid * op.grid, op.dim];
      return { shape, dtype: 'f32', weights: prefix === undefined ? [] : [w(prefix, '', shape, 'pos_embed_2d', true)] };
    },
  },
  timestep_embed: {
    calls: [
      {
        name: 'timestep_embed',
        tensors: ['t'],
        attrs: [int('dim', 'frequency embedding width'), { name: 'max_period', type: 'number', default: 10000, doc: 'largest period' }],
        weights: 'none',
        doc: 'sinusoidal timestep embedding [B] → [B, dim]',
        build: (a) => ({ kind: 'timestep_embed', dim: a.dim!, maxPeriod: a.max_period! }),
      },
    ],
    kernels: ['timestep_embed'],
    shape(op, ins, _prefix) {
      const x = ins[0];
      need(ins, 1, op.kind);
      expectRank(x!, [1], 'timestep_embed');
      if (op.dim % 2 !== 0) throw new ShapeError(`timestep_embed needs an even dim, got ${op.dim}`);
      return { shape: [x!.shape[0]!, op.dim], dtype: 'f32', weights: [] };
    },
  },
  embedding: {
    calls: [
      {
        name: 'embedding',
        tensors: ['ids'],
        attrs: [int('rows', 'table rows'), int('dim', 'embedding width')],
        weights: 'required',
        doc: 'table lookup of i32 ids [B] → [B, dim]',
        build: (a) => ({ kind: 'embedding', rows: a.rows!, dim: a.dim! }),
      },
    ],
    kernels: ['embedding'],
    shape(op, ins, prefix) {
      const x = ins[0];
      need(ins, 1, op.kind);
      expectRank(x!, [1], 'embedding');
      if (x!.dtype !== 'i32') throw new ShapeError(`embedding expects i32 ids, got ${x!.dtype}`);
      return { shape: [x!.shape[0]!, op.dim], dtype: 'f32', weights: [w(prefix, 'weight', [op.rows, op.dim], 'embedding')] };
    },
  },
  linear: {
    calls: [
      {
        name: 'linear',
        tensors: ['x'],
        attrs: [int('out', 'output features'), { name: 'bias', type: 'flag', default: 1, doc: '1 = with bias' }],
        weights: 'required',
        doc: 'x·Wᵀ + b over the last axis',
        build: (a, ins) => ({ kind: 'linear', inFeatures: ins[0]!.shape[ins[0]!.shape.length - 1] ?? 1, outFeatures: a.out!, bias: a.bias === 1 }),
      },
    ],
    kernels: ['matmul'],
    partial: 'rows',
    shape(op, ins, prefix) {
      const x = ins[0];
      need(ins, 1, op.kind);
      expectF32(x!, 'linear');
      if (last(x!.shape) !== op.inFeatures) {
        throw new ShapeError(`linear expects ${op.inFeatures} input features, got ${shapeString(x!.shape)}`);
      }
      const weights = [w(prefix, 'weight', [op.outFeatures, op.inFeatures], 'linear')];
      if (op.bias) weights.push(w(prefix, 'bias', [op.outFeatures], 'linear'));
      return { shape: [...x!.shape.slice(0, -1), op.outFeatures], dtype: 'f32', weights };
    },
  },
  layernorm: {
    calls: [
      {
        name: 'layernorm',
        tensors: ['x'],
        attrs: [{ name: 'eps', type: 'number', default: 1e-6, doc: 'variance epsilon' }],
        weights: 'none',
        doc: 'LayerNorm over the last axis, no affine',
        build: (a) => ({ kind: 'layernorm', eps: a.eps! }),
      },
    ],
    kernels: ['layernorm', 'ln_modulate'],
    partial: 'rows',
    shape(op, ins, _prefix) {
      const x = ins[0];
      need(ins, 1, op.kind);
      expectF32(x!, 'layernorm');
      return { shape: [...x!.shape], dtype: 'f32', weights: [] };
    },
  },
  modulate: {
    calls: [
      { name: 'modulate', tensors: ['x', 'shift', 'scale'], attrs: [], weights: 'none', doc: 'x·(1 + scale) + shift', build: () => ({ kind: 'modulate' }) },
    ],
    kernels: ['elementwise', 'ln_modulate'],
    partial: 'rows',
    shape(op, ins, _prefix) {
      need(ins, 3, op.kind);
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
    },
  },
  attention: {
    calls: [
      {
        name: 'attention',
        tensors: ['qkv'],
        attrs: [int('heads', 'number of heads')],
        weights: 'none',
        doc: 'multi-head self-attention core on a fused qkv',
        build: (a) => ({ kind: 'attention', heads: a.heads! }),
      },
    ],
    kernels: ['attention'],
    partial: 'queries',
    shape(op, ins, _prefix) {
      const x = ins[0];
      need(ins, 1, op.kind);
      expectRank(x!, [3], 'attention');
      const d3 = last(x!.shape);
      if (d3 % 3 !== 0 || (d3 / 3) % op.heads !== 0) {
        throw new ShapeError(`attention: qkv width ${d3} is not 3 × heads (${op.heads}) × head_dim`);
      }
      return { shape: [x!.shape[0]!, x!.shape[1]!, d3 / 3], dtype: 'f32', weights: [] };
    },
  },
  unary: {
    calls: [
      { name: 'silu', tensors: ['x'], attrs: [], weights: 'none', doc: 'x·sigmoid(x)', build: () => ({ kind: 'unary', fn: 'silu' }) },
      { name: 'gelu_tanh', tensors: ['x'], attrs: [], weights: 'none', doc: 'GELU, tanh approximation', build: () => ({ kind: 'unary', fn: 'gelu_tanh' }) },
    ],
    kernels: ['elementwise'],
    partial: 'rows',
    shape(op, ins, _prefix) {
      const x = ins[0];
      need(ins, 1, op.kind);
      expectF32(x!, op.fn);
      return { shape: [...x!.shape], dtype: 'f32', weights: [] };
    },
  },
  binary: {
    calls: [],
    kernels: ['elementwise'],
    partial: 'rows',
    shape(op, ins, _prefix) {
      need(ins, 2, op.kind);
      const [a, b] = ins as [Node, Node];
      expectF32(a, op.fn);
      expectF32(b, op.fn);
      return { shape: binaryShape(a.shape, b.shape, op.broadcast), dtype: 'f32', weights: [] };
    },
  },
  chunk: {
    calls: [
      {
        name: 'chunk',
        tensors: ['x'],
        attrs: [int('parts', 'number of equal slices of the last axis'), { name: 'index', type: 'int', min: 0, inferred: true, doc: 'which slice; leave out to get all of them' }],
        weights: 'none',
        doc: 'equal slices of the last axis (all of them, to unpack with `a, b = chunk(x, 2)`)',
        // `index` left out is handled by the lowering (it builds one node per part).
        build: (a) => ({ kind: 'chunk', parts: a.parts!, index: a.index ?? 0 }),
      },
    ],
    kernels: [],
    shape(op, ins, _prefix) {
      const x = ins[0];
      need(ins, 1, op.kind);
      const d = last(x!.shape);
      if (d % op.parts !== 0) throw new ShapeError(`chunk: last axis ${d} of ${shapeString(x!.shape)} is not divisible by ${op.parts}`);
      if (op.index < 0 || op.index >= op.parts) throw new ShapeError(`chunk: index ${op.index} out of 0..${op.parts - 1}`);
      return { shape: [...x!.shape.slice(0, -1), d / op.parts], dtype: x!.dtype, weights: [] };
    },
  },
  unpatchify: {
    calls: [
      {
        name: 'unpatchify',
        tensors: ['x'],
        attrs: [int('patch', 'patch size'), int('channels', 'output channels'), int('grid', 'tokens per side', { inferred: true })],
        weights: 'none',
        doc: 'tokens [B, T, p·p·C] → image [B, C, H, W]',
        build: (a, ins) => {
          if (a.grid !== undefined) return { kind: 'unpatchify', patch: a.patch!, channels: a.channels!, grid: a.grid };
          const t = ins[0]!.shape[1] ?? 0;
          const g = Math.round(Math.sqrt(t));
          if (ins[0]!.shape.length !== 3 || g * g !== t) return `unpatchify cannot infer \`grid\`: ${t} tokens is not a square grid; pass grid: explicitly`;
          return { kind: 'unpatchify', patch: a.patch!, channels: a.channels!, grid: g };
        },
      },
    ],
    kernels: ['unpatchify'],
    shape(op, ins, _prefix) {
      const x = ins[0];
      need(ins, 1, op.kind);
      expectRank(x!, [3], 'unpatchify');
      const [b, t, d] = x!.shape as [number, number, number];
      if (t !== op.grid * op.grid) throw new ShapeError(`unpatchify: ${t} tokens is not a ${op.grid}×${op.grid} grid`);
      if (d !== op.patch * op.patch * op.channels) {
        throw new ShapeError(`unpatchify: token width ${d} is not patch² × channels = ${op.patch * op.patch * op.channels}`);
      }
      return { shape: [b, op.channels, op.grid * op.patch, op.grid * op.patch], dtype: 'f32', weights: [] };
    },
  },
  // ---- image ops (the VAE decoder, docs/vae.md) ----
  conv2d: {
    calls: [
      {
        name: 'conv2d',
        tensors: ['x'],
        attrs: [
          int('out', 'output channels'),
          { name: 'kernel', type: 'int', min: 1, default: 3, doc: 'kernel size (k×k)' },
          { name: 'padding', type: 'int', min: 0, inferred: true, doc: 'zeros on each side; leave out for (kernel − 1)/2 ("same")' },
          { name: 'bias', type: 'flag', default: 1, doc: '1 = with bias' },
        ],
        weights: 'required',
        doc: 'Conv2d, stride 1: [B,Cin,H,W] → [B,out,H′,W′] (input channels from x)',
        build: (a, ins) => {
          const k = a.kernel!;
          if (a.padding === undefined && k % 2 === 0) return `conv2d with an even kernel (${k}) has no "same" padding; pass padding: explicitly`;
          return { kind: 'conv2d', inChannels: ins[0]!.shape[1] ?? 0, outChannels: a.out!, kernel: k, padding: a.padding ?? (k - 1) / 2, bias: a.bias === 1 };
        },
      },
    ],
    kernels: ['conv2d'],
    shape(op, ins, prefix) {
      const x = ins[0];
      need(ins, 1, op.kind);
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
    },
  },
  group_norm: {
    calls: [
      {
        name: 'group_norm',
        tensors: ['x'],
        attrs: [
          { name: 'groups', type: 'int', min: 1, default: 32, doc: 'channel groups' },
          { name: 'eps', type: 'number', default: 1e-6, doc: 'variance epsilon' },
        ],
        weights: 'required',
        doc: 'GroupNorm over channel groups × pixels, affine per channel (.weight, .bias)',
        build: (a) => ({ kind: 'group_norm', groups: a.groups!, eps: a.eps! }),
      },
    ],
    kernels: ['group_norm'],
    shape(op, ins, prefix) {
      const x = ins[0];
      need(ins, 1, op.kind);
      expectRank(x!, [3, 4], 'group_norm');
      expectF32(x!, 'group_norm');
      const c = x!.shape[1]!;
      if (op.groups < 1 || c % op.groups !== 0) throw new ShapeError(`group_norm: ${c} channels of ${shapeString(x!.shape)} are not divisible into ${op.groups} groups`);
      if (!(op.eps > 0)) throw new ShapeError(`group_norm: eps must be positive, got ${op.eps}`);
      return { shape: [...x!.shape], dtype: 'f32', weights: [w(prefix, 'weight', [c], 'group_norm'), w(prefix, 'bias', [c], 'group_norm')] };
    },
  },
  upsample_nearest: {
    calls: [
      {
        name: 'upsample_nearest',
        tensors: ['x'],
        attrs: [{ name: 'factor', type: 'int', min: 1, default: 2, doc: 'scale factor of both sides' }],
        weights: 'none',
        doc: 'nearest-neighbour upsampling [B,C,H,W] → [B,C,fH,fW]',
        build: (a) => ({ kind: 'upsample_nearest', factor: a.factor! }),
      },
    ],
    kernels: ['upsample_nearest', 'conv2d'],
    shape(op, ins, _prefix) {
      const x = ins[0];
      need(ins, 1, op.kind);
      expectRank(x!, [4], 'upsample_nearest');
      expectF32(x!, 'upsample_nearest');
      const [b, c, h, wd] = x!.shape as [number, number, number, number];
      if (!Number.isInteger(op.factor) || op.factor < 1) throw new ShapeError(`upsample_nearest: factor must be a whole number ≥ 1, got ${op.factor}`);
      return { shape: [b, c, h * op.factor, wd * op.factor], dtype: 'f32', weights: [] };
    },
  },
  to_tokens: {
    calls: [
      { name: 'to_tokens', tensors: ['x'], attrs: [], weights: 'none', doc: 'image [B,C,H,W] → tokens [B,H·W,C]', build: () => ({ kind: 'to_tokens' }) },
    ],
    kernels: ['elementwise'],
    shape(op, ins, _prefix) {
      const x = ins[0];
      need(ins, 1, op.kind);
      expectRank(x!, [4], 'to_tokens');
      const [b, c, h, wd] = x!.shape as [number, number, number, number];
      return { shape: [b, h * wd, c], dtype: x!.dtype, weights: [] };
    },
  },
  to_image: {
    calls: [
      {
        name: 'to_image',
        tensors: ['x'],
        attrs: [int('height', 'image rows'), int('width', 'image columns', { inferred: true })],
        weights: 'none',
        doc: 'tokens [B,H·W,C] → image [B,C,H,W]',
        build: (a, ins) => {
          const t = ins[0]!.shape[1] ?? 0;
          const width = a.width ?? t / a.height!;
          if (!Number.isInteger(width)) return `to_image cannot infer \`width\`: ${t} tokens is not a multiple of height ${a.height}`;
          return { kind: 'to_image', height: a.height!, width };
        },
      },
    ],
    kernels: ['elementwise'],
    shape(op, ins, _prefix) {
      const x = ins[0];
      need(ins, 1, op.kind);
      expectRank(x!, [3], 'to_image');
      const [b, t, c] = x!.shape as [number, number, number];
      if (t !== op.height * op.width) throw new ShapeError(`to_image: ${t} tokens is not a ${op.height}×${op.width} image`);
      return { shape: [b, c, op.height, op.width], dtype: x!.dtype, weights: [] };
    },
  },
  concat: {
    calls: [
      {
        name: 'concat',
        tensors: ['a', 'b'],
        attrs: [],
        weights: 'none',
        doc: 'concatenation along the last axis (nest it for more: concat(concat(q, k), v))',
        build: () => ({ kind: 'concat' }),
      },
    ],
    kernels: ['elementwise'],
    shape(op, ins, _prefix) {
      const x = ins[0];
      if (ins.length < 2) throw new ShapeError(`concat takes at least 2 inputs, got ${ins.length}`);
      const lead = x!.shape.slice(0, -1);
      for (const n of ins) {
        if (n.dtype !== x!.dtype || n.shape.length !== x!.shape.length || n.shape.slice(0, -1).some((d, i) => d !== lead[i])) {
          throw new ShapeError(`concat: ${n.dtype}${shapeString(n.shape)} does not match ${x!.dtype}${shapeString(x!.shape)} except in the last axis`);
        }
      }
      return { shape: [...lead, ins.reduce((s, n) => s + last(n.shape), 0)], dtype: x!.dtype, weights: [] };
    },
  },
};

/** Shape, dtype and weights of an op node (GraphBuilder's rule). */
export function shapeOf(op: Op, ins: readonly Node[], prefix: string | undefined): ShapeResult {
  if (op.kind === 'input' || op.kind === 'const') throw new ShapeError(`${op.kind} nodes are created with input()/constant()`);
  return (OP_TABLE[op.kind] as OpDef<BuiltKind>).shape(op as never, ins, prefix);
}

/** The language's operators by name (one IR op each; `+ - * /` and unary minus are operators, not calls). */
export const OPS: ReadonlyMap<string, OpSpec> = new Map(
  (Object.values(OP_TABLE) as readonly { calls: readonly OpSpec[] }[]).flatMap((d) => d.calls.map((c) => [c.name, c] as const)),
);
