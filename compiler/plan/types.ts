/**
 * The plan: what `ditto compile` writes and `ditto run` executes. Plain, versioned JSON; the runtime
 * interprets it without re-deriving anything. See docs/plan.md for every field.
 */
export const PLAN_FORMAT = 'ditto-plan';
export const PLAN_VERSION = 1;

export type BufferKind = 'weight' | 'fused_weight' | 'input' | 'latent' | 'noise' | 'params' | 'hoisted' | 'cache' | 'activation' | 'dynamic' | 'indirect' | 'output';

/** What a plan runs: a sampling loop (the default; such plans carry no `mode` field) or one forward pass. */
export type PlanMode = 'sample' | 'forward';

export interface PlanBuffer {
  id: number;
  name: string;
  kind: BufferKind;
  bytes: number;
  dtype: 'f32' | 'f16' | 'i32';
  /** Logical shape (weights, inputs, latent, hoisted); per-step row shape for noise and params. */
  shape?: number[];
  /** fused_weight: rows of these tensors, in order; `offset` in elements of the fused buffer. */
  sources?: { name: string; shape: number[]; offset: number }[];
  /** weight: computed by the runtime when the weight file lacks it. */
  derived?:
    | { kind: 'pos_embed_2d'; grid: number; dim: number }
    /** A piece of weight `of` (plan name): [start, end) along its leading axes (tile-image's conv / norm pieces). */
    | { kind: 'slice'; of: string; ranges: [number, number][] };
  /** noise, params: one row per sampling step, `rowStride` bytes apart (bound at k·rowStride). */
  rows?: number;
  rowStride?: number;
  /** cache: the slots stored in it, and the steps [first, last] it is live. */
  slots?: string[];
  lifetime?: [number, number];
}

export interface PlanKernel {
  id: number;
  family: string;
  key: string;
  config: unknown;
  wgsl: string;
  entryPoint: string;
  workgroupSize: [number, number, number];
  bindings: { name: string; access: 'read' | 'read_write' | 'uniform'; elemType: 'f32' | 'f16' | 'i32' }[];
}

export interface PlanBinding {
  /** Binding index in group 0 (the kernel's binding order). */
  binding: number;
  buffer: number;
  /** Byte offset into the buffer (a multiple of the storage offset alignment). */
  offset: number;
  /** Bytes bound; absent = to the end of the buffer. */
  size?: number;
  /** When present, the runtime adds k·perStep to `offset` at step k (dynamic offset). */
  perStep?: number;
}

export interface PlanDispatch {
  kernel: number;
  bindings: PlanBinding[];
  workgroups: [number, number, number];
  /** Graph node ids this dispatch computes or provides. */
  covers: number[];
  role: 'model' | 'reuse' | 'residual' | 'forecast' | 'cache_write' | 'sampler' | 'hoisted';
  cacheReads: string[];
  cacheWrites: string[];
  branch?: 'cond' | 'uncond';
  /** Dispatched indirectly: the x, y, z workgroup counts are three u32 at `offset` bytes of
   *  `buffer` (kind `indirect`), written on the GPU by the step's dynamic_decide dispatch —
   *  `workgroups` when the dispatch's path was chosen, zeros (skip) otherwise. */
  indirect?: { buffer: number; offset: number };
  /** The path of a dynamic step this dispatch belongs to (with `indirect`). */
  guard?: { rule: number; when: 'compute' | 'reuse'; branch?: 'cond' | 'uncond' };
  note?: string;
  flops: number;
  bytes: number;
}

export interface PlanBody {
  dispatches: PlanDispatch[];
  cacheReads: string[];
  cacheWrites: string[];
}

export interface StepCost {
  flops: number;
  bytes: number;
  dispatches: number;
  /** Roofline estimate of the step on the caps profile, seconds. */
  seconds: number;
}

/**
 * What `ditto tune` chose: the matmul kernels whose variant it re-chose on one adapter, with the
 * times it measured. Absent in untuned plans.
 */
export interface PlanTuning {
  /** The adapter it was timed on (name, vendor, architecture, backend). */
  adapter: string;
  kernels: {
    kernel: number;
    /** The variant now in the kernel, and the compiler's. */
    variant: unknown;
    previous: unknown;
    /** Milliseconds per dispatch of the chosen and of the compiler's variant; null when taken from a cache without timing. */
    ms: number | null;
    previousMs: number | null;
    candidates: number;
    /** 'timed' here, or 'cache' (the per-adapter tuning cache). */
    source: 'timed' | 'cache';
  }[];
  /** Matmul kernels left as compiled (dispatched indirectly by a dynamic rule). */
  skipped: number[];
}

export interface Plan {
  format: typeof PLAN_FORMAT;
  version: typeof PLAN_VERSION;
  /** Absent in sampling plans (they predate forward plans; absent = 'sample'). */
  mode?: 'sample';
  /** sha256 of the plan without this field. */
  hash: string;
  compiler: { ditto: string };
  model: { name: string; params: Record<string, number>; modelBatch: number; graphHash: string };
  schedule: { name: string; steps: number; hash: string };
  options: {
    steps: number; sampler: 'ddpm' | 'ddim'; cfgScale: number | null; batch: number; f16: boolean; guide: 'first3' | 'all'; caps: string;
  };
  /** Graph nodes, so covers and the heatmap can be named. */
  nodes: { id: number; op: string; path?: string }[];
  io: {
    /** Latent [batch, C, H, W], the sampler state; the runtime fills it with x_T before step 0 and reads it after the last step. */
    latent: number;
    /** Model inputs the runtime writes once (class labels y: [labels…, null class × batch] under CFG). */
    labels?: { buffer: number; nullClass: number | null };
    outChannels: number;
    learnSigma: boolean;
  };
  sampler: {
    kind: 'ddpm' | 'ddim';
    /** Names of the per-step params row, in order (kernels read field j as uniform j). */
    fields: string[];
    /** One row per sampling step k (sampling order). */
    rows: number[][];
    params: number;
  };
  cfg: null | { scale: number; condSamples: [number, number]; uncondSamples: [number, number]; guidedChannels: number[]; nullClass: number | null };
  noise: null | {
    buffer: number;
    /** x_T first (into the latent buffer), then one row per step k = 0..S−1 in sampling order; each [batch, C, H, W] row-major. Row S−1 is never used (no noise at the last step). */
    order: 'initial-then-steps';
    rowShape: number[];
  };
  /** Dynamic rules decided on the GPU (null: a static schedule). Each rule's state is
   *  `stateFields.length` f32 at `stateOffset` bytes of buffer `state`; `reusedSteps` is the byte
   *  offset of the count of steps that reused, read once after the run. */
  dynamic: null | {
    state: number;
    stateFields: string[];
    rules: {
      rule: number; signal: string; threshold: number; warmup: number; maxConsecutive: number | null; then: 'reuse' | 'reuse_residual';
      /** Present when not the defaults (against the previous step, no rescaling, no cap, no total);
       *  descriptive — the rule's decide kernels carry the same values. */
      against?: 'compute'; rescale?: number[]; cap?: number; maxReused?: number;
      /** `transform_rate` (EasyCache) when the rule estimates the change from the transformation rate. */
      metric?: 'transform_rate';
      stateOffset: number; reusedSteps: number;
      /** `per_branch`: the uncond branch's record (the fields above are the cond branch's). */
      perBranch?: { stateOffset: number; reusedSteps: number };
      /** Steps whose targets follow the rule (the most that can reuse is this less the first). */
      usedSteps: number;
    }[];
  };
  buffers: PlanBuffer[];
  kernels: PlanKernel[];
  tuning?: PlanTuning;
  prologue: PlanBody;
  bodies: PlanBody[];
  /** steps entries: the body each sampling step k runs. */
  stepBody: number[];
  /** Per step, per heatmap row: c compute · p partial (some tokens computed) · r reuse · f forecast · s residual · b the unconditional output from the conditional one and the stored bands (`cfg_cache`) · d dead · h hoisted · y decided on the GPU (a dynamic rule's compute or reuse); uncond only where it differs. */
  heatmap: { rows: { label: string; node: number }[]; cond: string[]; uncond: (string | null)[] };
  cost: {
    perStep: StepCost[];
    prologue: StepCost;
    allCompute: StepCost;
    flopsRatio: number;
    predictedSpeedup: number;
    peakMemoryBytes: number;
    memory: Record<BufferKind, number>;
  };
}

/** A model input or output of a forward plan: the buffer the runtime writes (inputs) or reads back (outputs). */
export interface ForwardTensor {
  name: string;
  buffer: number;
  dtype: 'f32' | 'i32';
  shape: number[];
}

/**
 * A forward plan (`mode: 'forward'`, from `compileForward`): one pass of the model over inputs the
 * runtime writes, no sampler, no schedule. The runtime writes every `io.inputs` buffer, runs `body`
 * once and reads every `io.outputs` buffer back. Buffers, kernels and dispatches mean what they mean
 * in a sampling plan (no `perStep` bindings, no cache, params, noise or dynamic buffers).
 */
export interface ForwardPlan {
  format: typeof PLAN_FORMAT;
  version: typeof PLAN_VERSION;
  mode: 'forward';
  hash: string;
  compiler: { ditto: string };
  /** `batch`: the leading dimension the graph was lowered for (every input's). */
  model: { name: string; params: Record<string, number>; batch: number; graphHash: string };
  options: { f16: boolean; caps: string };
  nodes: { id: number; op: string; path?: string }[];
  io: { inputs: ForwardTensor[]; outputs: ForwardTensor[] };
  buffers: PlanBuffer[];
  kernels: PlanKernel[];
  tuning?: PlanTuning;
  body: PlanBody;
  cost: { body: StepCost; peakMemoryBytes: number; memory: Partial<Record<BufferKind, number>> };
}

export type AnyPlan = Plan | ForwardPlan;
