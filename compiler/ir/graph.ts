/**
 * Graph IR: the model as a flat, topologically ordered list of typed nodes with concrete shapes.
 * Produced by lowering a checked `model` declaration (repetitions unrolled, bindings kept as
 * paths such as `blocks[3].attn`); consumed by the reference executor, the schedule resolver and
 * the GPU compiler. Immutable: passes build new graphs.
 *
 * Shapes are concrete: the lowering is given the batch size (the input dimension named `B`).
 * Broadcasting in binary ops follows one of two rules, both decided at lowering time and stored in
 * the node: numpy rules (right-aligned), or "per-sample": a rank-2 operand [B, D] combined with a
 * rank-3 operand [B, T, D] is broadcast over the middle (token) axis.
 */
import type { DType } from '../../core/tensor.ts';
import type { SourceSpan } from '../../core/errors.ts';

export type NodeId = number;

/** A weight tensor a node reads, by its full state-dict name, with the shape the model expects. */
export interface WeightRef {
  name: string;
  shape: number[];
  /** Derived weights (the fixed 2-D sin-cos `pos_embed`) may be absent from a file: they are computed. */
  optional?: boolean;
}

/** Every operator of the IR with its attributes. Inputs are listed in `Node.inputs` in this order. */
export type Op =
  /** A model input (`input x: f32[B, 4, 32, 32]`). No inputs. */
  | { kind: 'input'; name: string }
  /** A scalar constant (broadcasts in binary ops). */
  | { kind: 'const'; value: number }
  /** Patch embedding: Conv2d with kernel = stride = patch, flattened to tokens in row-major patch
   *  order. Input [B, C, H, W] → [B, (H/p)(W/p), dim]. Weights: `.weight` [dim, C, p, p], `.bias` [dim]. */
  | { kind: 'patch_embed'; patch: number; dim: number }
  /** Fixed 2-D sin-cos position embedding, [1, grid², dim]: first half of dims encodes the column,
   *  second half the row; each half is [sin, cos]. Weight (optional, derived): the prefix itself. */
  | { kind: 'pos_embed_2d'; grid: number; dim: number }
  /** Sinusoidal timestep embedding [B] → [B, dim]: cos first, then sin; f_j = exp(-ln(maxPeriod)·j/(dim/2)). */
  | { kind: 'timestep_embed'; dim: number; maxPeriod: number }
  /** Table lookup of integer ids [B] → [B, dim]. Weight `.weight` [rows, dim]. */
  | { kind: 'embedding'; rows: number; dim: number }
  /** y = x·Wᵀ + b over the last axis. Weights `.weight` [out, in], `.bias` [out] when bias. */
  | { kind: 'linear'; inFeatures: number; outFeatures: number; bias: boolean }
  /** LayerNorm over the last axis, biased variance, no affine. */
  | { kind: 'layernorm'; eps: number }
  /** x·(1 + scale) + shift; x [B, T, D], shift and scale [B, D] (broadcast over tokens). */
  | { kind: 'modulate' }
  /** Multi-head self-attention core on a fused qkv [B, T, 3D] (timm layout: (T, 3, H, hd)) → [B, T, D].
   *  softmax(q·kᵀ / sqrt(hd))·v; no mask. */
  | { kind: 'attention'; heads: number }
  /** Elementwise unary functions. */
  | { kind: 'unary'; fn: 'silu' | 'gelu_tanh' | 'neg' }
  /** Elementwise binary arithmetic with broadcasting (see module comment). */
  | { kind: 'binary'; fn: 'add' | 'sub' | 'mul' | 'div'; broadcast: 'numpy' | 'per_sample' }
  /** The `index`-th of `parts` equal slices along the last axis. */
  | { kind: 'chunk'; parts: number; index: number }
  /** [B, T, p·p·C] → [B, C, g·p, g·p]; token (gi, gj) element (u·p + v)·C + c → pixel (gi·p+u, gj·p+v). */
  | { kind: 'unpatchify'; patch: number; channels: number; grid: number }
  // ---- image ops (the VAE decoder, docs/vae.md) ----
  /** 2-D convolution, stride 1, `padding` zeros on every side: [B, Cin, H, W] → [B, Cout, H + 2p − k + 1, W + 2p − k + 1].
   *  out[b,o,y,x] = bias[o] + Σ_{c,u,v} w[o,c,u,v] · in[b, c, y + u − p, x + v − p].
   *  Weights `.weight` [Cout, Cin, k, k], `.bias` [Cout] when bias. */
  | { kind: 'conv2d'; inChannels: number; outChannels: number; kernel: number; padding: number; bias: boolean }
  /** GroupNorm: per sample, channels split into `groups` consecutive groups; each group is normalised over
   *  its channels × all spatial positions (biased variance), then y = n·weight[c] + bias[c].
   *  [B, C, …] → same shape. Weights `.weight` [C], `.bias` [C]. */
  | { kind: 'group_norm'; groups: number; eps: number }
  /** Nearest-neighbour upsampling: [B, C, H, W] → [B, C, f·H, f·W], out[y, x] = in[⌊y/f⌋, ⌊x/f⌋]. */
  | { kind: 'upsample_nearest'; factor: number }
  /** Image to tokens: [B, C, H, W] → [B, H·W, C], token y·W + x holds the C values of pixel (y, x). */
  | { kind: 'to_tokens' }
  /** Tokens to image (inverse of to_tokens): [B, height·width, C] → [B, C, height, width]. */
  | { kind: 'to_image'; height: number; width: number }
  /** Concatenation of all inputs along the last axis (equal leading dims): q, k, v → a fused qkv. */
  | { kind: 'concat' };

export type OpKind = Op['kind'];

export interface Node {
  readonly id: NodeId;
  readonly op: Op;
  readonly inputs: readonly NodeId[];
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** Weights this node reads (empty for most ops). */
  readonly weights: readonly WeightRef[];
  /**
   * The addressable name of the value, when the source bound it: `h0`, `blocks[3].attn`.
   * A rebound name inside a repetition (`h = h + …` twice) keeps the last binding's path; earlier
   * ones get a `#n` suffix (`blocks[3].h#1`). Intermediate expression nodes have no path.
   */
  readonly path?: string;
  /** Where in the source the node was written. */
  readonly span?: SourceSpan;
}

/**
 * One instance of a repetition (`for i in 0..depth as blocks[i]`). Its `carried` values are the
 * loop-carried bindings: the value entering the instance and the value leaving it. Residual
 * reuse of a block replaces `output` by `input + (stored output − stored input)`.
 */
export interface BlockInstance {
  /** `blocks[3]` */
  readonly path: string;
  /** `blocks` */
  readonly group: string;
  readonly index: number;
  /** The carried value entering the block (defined outside or by the previous block). */
  readonly input: NodeId;
  /** The carried value leaving the block. */
  readonly output: NodeId;
  /** All nodes created inside this instance, in order. */
  readonly nodes: readonly NodeId[];
}

export interface Graph {
  readonly model: string;
  /** The evaluated parameters of the model (defaults overridden by `--set`). */
  readonly params: Readonly<Record<string, number>>;
  readonly batch: number;
  /** Topologically ordered: every node's inputs come before it. Node ids equal their index. */
  readonly nodes: readonly Node[];
  readonly inputs: readonly { name: string; node: NodeId }[];
  readonly outputs: readonly { name: string; node: NodeId }[];
  readonly blocks: readonly BlockInstance[];
}

/** All weights a graph reads, deduplicated by name, in first-use order. */
export function graphWeights(g: Graph): WeightRef[] {
  const seen = new Map<string, WeightRef>();
  for (const n of g.nodes) for (const w of n.weights) if (!seen.has(w.name)) seen.set(w.name, w);
  return [...seen.values()];
}

export function nodeByPath(g: Graph, path: string): Node | undefined {
  return g.nodes.find((n) => n.path === path);
}
