/**
 * The middle end's own IR, between the Graph IR + Schedule IR and the plan.
 *
 *  - StepSpec: per sampling step and CFG branch, what each cache target does (compute and maybe
 *    store, reuse, reuse residual, forecast) and, after dead-code elimination, the state of every
 *    graph node (compute / reuse / forecast / residual / dead / hoisted).
 *  - Body: a straight-line list of instructions over named values (one per future dispatch).
 *    Values are whole buffers; instructions address them through strided views, which is how
 *    `chunk`, broadcasting, concatenated outputs and CFG batch halves are expressed without copies.
 *
 * Everything here is plain data, so every pass's result can be printed (`--dump-after`).
 */
import type { NodeId } from '../ir/graph.ts';
import type { DecideParams } from '../ir/rules.ts';
import type { ForecastBasis } from '../ir/schedule.ts';
import type { TokenCone } from '../ir/tokenCone.ts';

export type Branch = 'cond' | 'uncond';
export const BRANCHES: readonly Branch[] = ['cond', 'uncond'];

/** The state of a graph node at one step for one CFG branch. */
export type NodeState = 'compute' | 'reuse' | 'forecast' | 'residual' | 'dead' | 'hoisted'
  /** Computed on some token rows (its token-wise cone runs on those rows only), the rest from its cache slot. */
  | 'partial'
  /** The model output's unconditional half from the conditional half and the stored bands (`cfg_cache`). */
  | 'bands';

/** Taylor bookkeeping: the cache keeps d0 (last value) … d_order (finite differences per step). */
export interface TaylorUpdate {
  /** Highest difference refreshed at this compute (limited by the computes seen so far). */
  orders: number;
  /** 1 / (steps since the previous compute of this target). */
  invDelta: number;
}

export interface TargetStep {
  target: string;
  action: 'compute' | 'reuse' | 'reuse_residual' | 'forecast' | 'tokens' | 'cfg_cache';
  /** At a compute: store the value because a later step reuses or forecasts it. */
  storeValue: boolean;
  /** At a compute of a block target: store its residual (out − in) because a later step reuses it. */
  storeResidual: boolean;
  /** At a compute of a forecast target: refresh the stored differences. */
  taylor?: TaylorUpdate;
  /** At a forecast: steps since the last compute, the order the history allows, and (`exp`, which
   *  reads the slope before the last one) the steps between the last two computes. */
  forecast?: { m: number; order: number; basis?: ForecastBasis; interval?: number };
  /** At a partial compute: the token rows computed, ascending (compiler/ir/rules.ts TokenHistory). */
  tokens?: number[];
  /** At a compute of the model output's unconditional half: store the bands of uncond − cond,
   *  because a later `cfg_cache` step reads them. */
  storeBands?: boolean;
  /** At a `cfg_cache` step: the band weights (compiler/ir/rules.ts `cfgCacheWeights`). */
  cfg?: { low: number; high: number };
  /** Where the numbers above that change from step to step are read from: the first of their
   *  columns in the step's params row, after the sampler's fields (passes/stepConstants.ts). */
  constants?: number;
}

/** What a cache target is: a bound node (reuse/forecast its value) or a block (reuse its residual). */
export interface TargetInfo {
  path: string;
  kind: 'node' | 'block';
  /** The node whose value the target provides (for a block: its output). */
  node: NodeId;
  /** For a block: its input node. */
  blockInput?: NodeId;
  /** Highest Taylor order any step forecasts with (0 when never forecast). */
  taylorOrder: number;
  /** Stored at some step (a value, residual or Taylor slot exists). */
  cached: boolean;
  /** For a target computed on some tokens: what runs on the chosen rows (compiler/ir/tokenCone.ts). */
  cone?: TokenCone;
  /** The model output under `cfg_cache`: band slots exist. */
  bands?: boolean;
}

export interface StepSpec {
  k: number;
  /** Per branch, the targets with a non-trivial entry at this step (compute without write omitted). */
  targets: Record<Branch, TargetStep[]>;
  /** Filled by dead-code elimination: one state per graph node, per branch. */
  states?: Record<Branch, NodeState[]>;
  /** True when the two branches have different node states (the step runs the halves separately). */
  split?: boolean;
  /**
   * At a step where targets follow a dynamic rule: the rule and the *reuse world* — the same step
   * as if the rule decided to reuse (its own targets, states, split). The step itself (targets,
   * states above) is the *compute world*. Lowering emits both and guards what differs.
   */
  dynamic?: { rule: number; reuse: StepSpec };
}

/** A dynamic rule as the compiler plans it: its signal nodes (the value, or a block's output and
 *  input when the signal is `<block>.residual`) and the rule itself. */
export interface DynamicSignal {
  rule: number;
  signal: string;
  /** What the decision reads: [node] or [last block's output, first block's input] (signal =
   *  output − input); for `transform_rate`, [first block's input]. */
  nodes: NodeId[];
  /** `transform_rate`: the span's last output, measured after the span at every compute. */
  output?: NodeId;
  /** The decision's parameters (compiler/ir/rules.ts). */
  params: DecideParams;
  then: 'reuse' | 'reuse_residual';
  /** `per_branch`: each CFG half decides on its own (its uncond state is record `uncondRecord`). */
  perBranch?: { uncondRecord: number };
}

/** Which path of a dynamic step an instruction belongs to (absent: it always runs). */
export interface Guard {
  rule: number;
  when: 'compute' | 'reuse';
  /** A `per_branch` rule's half-batch work on the compute path (compiler/ir/rules.ts guardRuns). */
  branch?: Branch;
}

// ---------------------------------------------------------------------------------------------
// Bodies

/** A strided window into a value's buffer, in elements. A stride 0 broadcasts. */
export interface View {
  offset: number;
  shape: number[];
  strides: number[];
}

export interface Operand {
  value: string;
  view: View;
}

export type StorageKind =
  | 'transient' // lives inside one step body; the memory plan assigns it a pooled buffer
  | 'weight'
  | 'fused_weight' // concatenation of several weights (rows), built at load time
  | 'cache' // persistent between steps: reuse / residual / Taylor slots
  | 'hoisted' // computed once per sampling run (prologue)
  | 'input' // model inputs x, t (written every step), y (written once by the runtime)
  | 'latent' // sampler state x_t [B, C, H, W]
  | 'noise' // per-step Gaussian noise rows, bound at a per-step offset
  | 'params' // per-step scalars (timestep, sampler coefficients), bound at a per-step offset
  | 'dynamic' // dynamic-rule state and previous signal values: persistent, written only by the GPU
  | 'indirect' // indirect-dispatch argument triples written by the dynamic_decide kernel
  | 'output'; // a forward plan's model output: its own buffer, read back by the runtime

export type ValueDType = 'f32' | 'f16' | 'i32';

export interface WeightSource {
  name: string;
  shape: number[];
  /** Element offset of this source inside the fused buffer. */
  offset: number;
}

export interface ValueInfo {
  name: string;
  shape: number[];
  dtype: ValueDType;
  storage: StorageKind;
  /** For fused weights: the sources, concatenated along the first axis. */
  sources?: WeightSource[];
  /** A weight the runtime computes when the file lacks it (DiT's fixed sin-cos position table). */
  derived?:
    | { kind: 'pos_embed_2d'; grid: number; dim: number }
    /** A piece of weight `of` (plan name): [start, end) along its leading axes (tile-image's conv / norm pieces). */
    | { kind: 'slice'; of: string; ranges: [number, number][] };
}

/** Elementwise expressions are the kernel family's own trees (inputs by index, `output` leaves read
 *  an output in place, `uniform` j reads field j of the step's params row). */
export type { Expr } from '../kernels/elementwise.ts';
import type { Expr } from '../kernels/elementwise.ts';

export type InstrOp =
  /** out = (a or silu(a))·Wᵀ + bias, then GELU, then `residual + gate ⊙ out` (gate per sample,
   *  rows of `gate.tokens`). ins: a [m,k], w [n,k], bias? [n], gate? [samples,n], residual? [m,n]; outs: c [m,n]. */
  | { kind: 'matmul'; m: number; k: number; n: number; bias: boolean; gelu: boolean; siluInput: boolean; gate: { tokens: number } | null }
  | { kind: 'layernorm'; rows: number; dim: number; eps: number; tokens: number }
  /** LN(x)·(1 + scale) + shift; ins: x, shift, scale (chunks of one modulation tensor). */
  | { kind: 'ln_modulate'; rows: number; dim: number; eps: number; tokens: number }
  /** `queries`: only these query rows (a partial compute), out [batch, queries.length, D]; keys are all `tokens`. */
  | { kind: 'attention'; batch: number; tokens: number; heads: number; headDim: number; queries?: number[] }
  | { kind: 'patch_embed'; batch: number; channels: number; height: number; width: number; patch: number; dim: number }
  | { kind: 'timestep_embed'; batch: number; dim: number; maxPeriod: number }
  | { kind: 'embedding'; batch: number; rows: number; dim: number }
  | { kind: 'unpatchify'; batch: number; patch: number; channels: number; grid: number }
  /** One output per expression, iterating `shape`; `label` names the chain in the WGSL header. */
  | { kind: 'elementwise'; shape: number[]; exprs: Expr[]; label: string }
  /** Measures a dynamic rule's rel-L1 signal, updates its state, and (when `used`) writes the
   *  indirect arguments of the step's guarded dispatches. ins: signal [, block input]; outs: prev, state, args. */
  | { kind: 'dynamic_decide'; rule: number; elements: number; used: boolean; params: DecideParams; uncondRecord?: number }
  /** `transform_rate` (EasyCache), after the span at a compute: the transformation rate from the
   *  span's output and input against the last compute's, which they then replace.
   *  ins: output, input; outs: last compute's output, last compute's input, state. */
  | { kind: 'dynamic_rate'; rule: number; elements: number }
  /** Zeroes the state of every dynamic rule (prologue). outs: state. */
  | { kind: 'dynamic_reset'; rules: number }
  /** Stride-1 NCHW convolution (implicit GEMM), input optionally nearest-upsampled ×`upsample` in the
   *  indexing (H, W are the stored input's), + bias, + residual. ins: x, w, bias?, residual? (when
   *  `residual` is 'buffer'); outs: y. 'inPlace' adds y's current value (tile-image's input-channel pieces). */
  | { kind: 'conv2d'; B: number; Cin: number; H: number; W: number; Cout: number; kernel: number; padding: number; bias: boolean; upsample: number; residual: 'none' | 'buffer' | 'inPlace' }
  /** GroupNorm over [B, C, S] with affine, optional SiLU, output NCHW or tokens [B, S, C]. ins: x, weight, bias; outs: y. */
  | { kind: 'group_norm'; B: number; C: number; S: number; groups: number; eps: number; silu: boolean; out: 'nchw' | 'tokens' }
  /** A partial compute's rows: `gather` packs the chosen token rows of ins[0] [samples, tokens, dim]
   *  into outs[0] [samples, indices.length, dim]; `scatter` writes them back. */
  | { kind: 'token_rows'; mode: 'gather' | 'scatter'; samples: number; tokens: number; dim: number; indices: number[] }
  /** FasterCache's low band of every H×W plane (compiler/ir/rules.ts): ins: x [planes, H, W]; outs: low. */
  | { kind: 'lowpass'; planes: number; H: number; W: number; radius: number }
  /** Nearest ×factor of planes [P, H, W]. ins: x; outs: y. */
  | { kind: 'upsample_nearest'; planes: number; H: number; W: number; factor: number };

export type InstrKind = InstrOp['kind'];

/** What an instruction is for, beyond its op: shown by explain and kept in the plan. */
export type InstrRole =
  | 'model' // graph work
  | 'reuse' // brings a cached value into place (half-batch copies, reuse-and-gate)
  | 'residual' // block out = in + stored residual
  | 'forecast'
  | 'cache_write' // stores a residual / refreshes Taylor differences
  | 'sampler' // input staging, CFG combine + eps scale + sampler update
  | 'hoisted';

export interface Instr {
  op: InstrOp;
  ins: Operand[];
  outs: Operand[];
  /** Graph nodes this instruction computes (or provides). */
  covers: NodeId[];
  role: InstrRole;
  /** Cache slots read / written (value names of storage 'cache'). */
  cacheReads: string[];
  cacheWrites: string[];
  /** Reads the per-step params row. */
  usesParams?: boolean;
  /** Which CFG half it runs on, when the step is split. */
  branch?: Branch;
  /** Runs only on one path of a dynamic step (dispatched indirectly). */
  guard?: Guard;
  note?: string;
}

export interface Body {
  instrs: Instr[];
  /** Filled by the memory plan: transient value → pooled activation buffer index. */
  buffers?: Record<string, number>;
}
