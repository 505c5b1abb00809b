/**
 * The operators a model may call, with their signatures: tensor inputs (positional), attributes
 * (named, or positional after the tensors, Python style), whether they read weights, and how the
 * attributes become a Graph IR op. One language operator = one IR op (graph.ts); the binary
 * arithmetic operators (+ - * /) and unary minus are written as operators, not calls.
 */
import type { Node, Op } from '../ir/graph.ts';

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

const int = (name: string, doc: string, extra: Partial<AttrSpec> = {}): AttrSpec => ({ name, type: 'int', min: 1, doc, ...extra });

export const OPS: ReadonlyMap<string, OpSpec> = new Map<string, OpSpec>(
  (
    [
      {
        name: 'patch_embed',
        tensors: ['x'],
        attrs: [int('patch', 'patch size (kernel = stride)'), int('dim', 'embedding width')],
        weights: 'required',
        doc: 'Conv2d patch embedding [B,C,H,W] → [B,T,dim]',
        build: (a) => ({ kind: 'patch_embed', patch: a.patch!, dim: a.dim! }),
      },
      {
        name: 'pos_embed_2d',
        tensors: [],
        attrs: [int('grid', 'tokens per side'), int('dim', 'embedding width')],
        weights: 'optional',
        doc: 'fixed 2-D sin-cos position embedding [1, grid², dim]',
        build: (a) => ({ kind: 'pos_embed_2d', grid: a.grid!, dim: a.dim! }),
      },
      {
        name: 'timestep_embed',
        tensors: ['t'],
        attrs: [int('dim', 'frequency embedding width'), { name: 'max_period', type: 'number', default: 10000, doc: 'largest period' }],
        weights: 'none',
        doc: 'sinusoidal timestep embedding [B] → [B, dim]',
        build: (a) => ({ kind: 'timestep_embed', dim: a.dim!, maxPeriod: a.max_period! }),
      },
      {
        name: 'embedding',
        tensors: ['ids'],
        attrs: [int('rows', 'table rows'), int('dim', 'embedding width')],
        weights: 'required',
        doc: 'table lookup of i32 ids [B] → [B, dim]',
        build: (a) => ({ kind: 'embedding', rows: a.rows!, dim: a.dim! }),
      },
      {
        name: 'linear',
        tensors: ['x'],
        attrs: [int('out', 'output features'), { name: 'bias', type: 'flag', default: 1, doc: '1 = with bias' }],
        weights: 'required',
        doc: 'x·Wᵀ + b over the last axis',
        build: (a, ins) => ({ kind: 'linear', inFeatures: ins[0]!.shape[ins[0]!.shape.length - 1] ?? 1, outFeatures: a.out!, bias: a.bias === 1 }),
      },
      {
        name: 'layernorm',
        tensors: ['x'],
        attrs: [{ name: 'eps', type: 'number', default: 1e-6, doc: 'variance epsilon' }],
        weights: 'none',
        doc: 'LayerNorm over the last axis, no affine',
        build: (a) => ({ kind: 'layernorm', eps: a.eps! }),
      },
      { name: 'modulate', tensors: ['x', 'shift', 'scale'], attrs: [], weights: 'none', doc: 'x·(1 + scale) + shift', build: () => ({ kind: 'modulate' }) },
      {
        name: 'attention',
        tensors: ['qkv'],
        attrs: [int('heads', 'number of heads')],
        weights: 'none',
        doc: 'multi-head self-attention core on a fused qkv',
        build: (a) => ({ kind: 'attention', heads: a.heads! }),
      },
      { name: 'silu', tensors: ['x'], attrs: [], weights: 'none', doc: 'x·sigmoid(x)', build: () => ({ kind: 'unary', fn: 'silu' }) },
      { name: 'gelu_tanh', tensors: ['x'], attrs: [], weights: 'none', doc: 'GELU, tanh approximation', build: () => ({ kind: 'unary', fn: 'gelu_tanh' }) },
      {
        name: 'chunk',
        tensors: ['x'],
        attrs: [int('parts', 'number of equal slices of the last axis'), { name: 'index', type: 'int', min: 0, inferred: true, doc: 'which slice; leave out to get all of them' }],
        weights: 'none',
        doc: 'equal slices of the last axis (all of them, to unpack with `a, b = chunk(x, 2)`)',
        // `index` left out is handled by the lowering (it builds one node per part).
        build: (a) => ({ kind: 'chunk', parts: a.parts!, index: a.index ?? 0 }),
      },
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
      // ---- image ops (the VAE decoder, docs/vae.md) ----
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
      {
        name: 'upsample_nearest',
        tensors: ['x'],
        attrs: [{ name: 'factor', type: 'int', min: 1, default: 2, doc: 'scale factor of both sides' }],
        weights: 'none',
        doc: 'nearest-neighbour upsampling [B,C,H,W] → [B,C,fH,fW]',
        build: (a) => ({ kind: 'upsample_nearest', factor: a.factor! }),
      },
      { name: 'to_tokens', tensors: ['x'], attrs: [], weights: 'none', doc: 'image [B,C,H,W] → tokens [B,H·W,C]', build: () => ({ kind: 'to_tokens' }) },
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
      {
        name: 'concat',
        tensors: ['a', 'b'],
        attrs: [],
        weights: 'none',
        doc: 'concatenation along the last axis (nest it for more: concat(concat(q, k), v))',
        build: () => ({ kind: 'concat' }),
      },
    ] satisfies OpSpec[]
  ).map((o) => [o.name, o]),
);
