/** The contract of `ditto eval` and `ditto demo`: what a caller asks for and what comes back. */
import type { Tensor } from '../../core/tensor.ts';
import type { DeviceOptions, GpuContext } from '../../runtime/device.ts';
import type { Classifier } from '../metrics/classifier.ts';
import type { FeatureStats } from '../metrics/fid.ts';

/** gpu: the compiled plan on Dawn; reference: the CPU reference executor (slow, no adapter needed). */
export type EvalDevice = 'gpu' | 'reference';

/**
 * Which model, weights and cache schedules a comparison runs: the part `ditto eval` and
 * `ditto bench` (bench/schedules.ts) both take.
 */
export interface ScheduleComparisonInput {
  /** The .ditto file with the model (schedules are looked up there, then in the shipped library). */
  modelFile: string;
  model?: string;
  set?: Record<string, number>;
  weights: ReadonlyMap<string, Tensor>;
  /** Named in weight errors. */
  weightsFile: string;
  /** Schedule specs (`fora(N=2)`, `ebcache_table`, `file.ditto`), compared with the no-cache baseline. */
  schedules: readonly string[];
}

export interface EvalConfig extends ScheduleComparisonInput {
  samples: number;
  steps: number;
  sampler: 'ddpm' | 'ddim';
  /** Classifier-free guidance scale; absent: no CFG. */
  cfgScale?: number;
  /** Images per sampling run (the plan's batch). */
  batch: number;
  /** Batch j of every schedule uses seed + j: the same noise for every schedule. */
  seed: number;
  device: EvalDevice;
  /** The adapter to run on (device gpu); default: one is opened (with `deviceOptions`) and closed. */
  gpu?: GpuContext;
  deviceOptions?: DeviceOptions;
  /** Compute FID (default true; needs ≥ 2 samples of the classifier's 1×28×28 domain). */
  fid?: boolean;
  classifier?: Classifier;
  referenceStats?: FeatureStats;
  /** One untimed run of each plan before timing (default true on the GPU; the CPU executor has no JIT to warm). */
  warmup?: boolean;
  onProgress?: (p: EvalProgress) => void;
  /**
   * Save each sampled batch under `<resumeDir>/eval-progress/` and continue from the batches an
   * earlier run with the same settings saved there (`ditto eval --resume`).
   */
  resumeDir?: string;
  /** Paired bootstrap replicates for FID's standard error and the ΔFID interval (absent/0: none). */
  bootstrap?: number;
}

export interface EvalProgress {
  phase: 'compile' | 'warmup' | 'sample' | 'metrics' | 'bootstrap' | 'queue';
  /** Finished units of the phase and their total (sampling: batch runs over all schedules; queue: samples of finished and running shards). */
  done: number;
  total: number;
  row?: string;
}

/** One line of the result table. */
export interface EvalRow {
  /** 'no cache' for the baseline, else the spec as given. */
  name: string;
  /** The resolved schedule's name ('none' for the baseline). */
  schedule: string;
  /** The first `samples` images [N, C, H, W], in [-1, 1] after sampling (not clamped). */
  images: Tensor;
  classes: number[];
  /** Wall-clock seconds of all timed batch runs. */
  seconds: number;
  /** Baseline seconds / these seconds. */
  speedup: number;
  /** The plan's cost model against the all-compute plan (GPU only; null on the reference executor). */
  predictedSpeedup: number | null;
  /** Fraction of the baseline's FLOPs that run (GPU only). */
  flopsRatio: number | null;
  fid: number | null;
  /** With --bootstrap: the standard deviation of the replicate FIDs (FID's standard error). */
  fidSd: number | null;
  /** With --bootstrap: 95% interval of FID(this) − FID(no cache) on the same resampled images; null for the baseline. */
  fidDelta: { lo: number; hi: number } | null;
  /** Fraction the classifier assigns to the requested class. */
  accuracy: number | null;
  /** Against the baseline from the same noise; +Infinity when identical. */
  psnr: number;
  /** null where images are smaller than the 11×11 window. */
  ssim: number | null;
  relativeL2: number;
}

export interface EvalReport {
  model: string;
  modelFile: string;
  steps: number;
  sampler: 'ddpm' | 'ddim';
  cfgScale: number | null;
  samples: number;
  batch: number;
  seed: number;
  /** The model's class count; image g was sampled for class g mod classCount. */
  classCount: number;
  /** 'gpu: <adapter name>' or 'reference executor (CPU)'. */
  device: string;
  warmup: boolean;
  /** Bootstrap replicates behind fidSd / fidDelta; null when none were run. */
  bootstrap: number | null;
  rows: EvalRow[];
  /** Why a metric is missing, and other caveats worth printing under the table. */
  notes: string[];
}
