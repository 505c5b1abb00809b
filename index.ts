/**
 * ditto's Node API (docs/api.md). The CLI is a thin layer over these functions.
 *
 *   import { compile, createRunner, shipped } from 'ditto';
 *   const plan = await compile(`use "${shipped.fmnistModel}"`, { model: 'DiT-FMNIST', schedule: 'fora(N=2)', steps: 50, cfg: 3 });
 *   const runner = await createRunner(plan, shipped.fmnistWeights);
 *   const { latents } = await runner.run({ seed: 0, onStep: (k) => console.log(k) });
 *   runner.close();
 *
 * The package runs as compiled JavaScript (dist/, built by `npm run build`); in a checkout the
 * sources also run directly through tsx.
 */
import path from 'node:path';
import type { Tensor } from './core/tensor.ts';
import { compileSource } from './compiler/compileSource.ts';
import { loadAnyPlan, loadPlan } from './compiler/plan/load.ts';
import type { AnyPlan, Plan, PlanTuning } from './compiler/plan/types.ts';
import { createGpu, type DeviceOptions, type GpuContext } from './runtime/device.ts';
import { tunePlan, type TuneOptions } from './runtime/tune.ts';
import { detectCompileCaps } from './runtime/detectCaps.ts';
import { createRunner as createPlanRunner, type Runner } from './runtime/run/runner.ts';
import { loadWeights } from './runtime/weights/index.ts';
import { packagePath } from './core/packageRoot.ts';
import { runPlanOnCpu as runOnCpu, type CpuRunOutput, type CpuRunRequest } from './runtime/cpu/planInterpreter.ts';
import { openModel, planFor } from './compiler/compileSource.ts';
import { graphWeights } from './compiler/ir/graph.ts';
import { compileCapsFor } from './compiler/plan/caps.ts';
import { withAllComputeStep, type KernelTimes } from './compiler/plan/kernelTimes.ts';
import { randomWeights } from './runtime/weights/index.ts';
import { measureKernelTimes } from './evaluation/search/measure.ts';
import { calibrationProbes } from './evaluation/search/probes.ts';

export { DittoError, isDittoError, type ErrorCode, type SourceSpan } from './core/errors.ts';
export { tensor, type Tensor } from './core/tensor.ts';
export type { Plan, AnyPlan, PlanTuning } from './compiler/plan/types.ts';
export type { TuneOptions } from './runtime/tune.ts';
export type { Runner, RunRequest, RunOutput } from './runtime/run/runner.ts';
export { createGpu, type GpuContext, type AdapterReport, type DeviceOptions } from './runtime/device.ts';
export { noiseForRun, type RunNoise } from './runtime/sampler/noise.ts';
export { encodeGridPng, encodeImagePngs, type GridOptions } from './runtime/image.ts';
export { loadWeights } from './runtime/weights/index.ts';
export { packageVersion as version } from './core/packageRoot.ts';
export { loadPlan };
export { USEFUL_TOGGLES } from './runtime/dawnToggles.ts';

/** The files that ship with ditto, as absolute paths (for `use "…"` in a source, or as weights). */
export const shipped = {
  /** DiT-S/B/L/XL and their variants (models/dit.ditto). */
  ditModel: packagePath('models', 'dit.ditto'),
  /** DiT-FMNIST, the small Fashion-MNIST model the demo runs (models/fmnist.ditto). */
  fmnistModel: packagePath('models', 'fmnist.ditto'),
  /** Trained weights of DiT-FMNIST (EMA, models/weights/README.md). */
  fmnistWeights: packagePath('models', 'weights', 'fmnist-dit.safetensors'),
  /** The schedule library searched by name (`fora(N=2)`, `ebcache_table`, …). */
  schedules: packagePath('models', 'schedules'),
  /** The Fashion-MNIST classifier and test-set statistics behind FID (docs/metrics.md). */
  fidClassifier: packagePath('models', 'fid', 'fmnist-classifier.safetensors'),
  fidStatistics: packagePath('models', 'fid', 'fmnist-test-stats.safetensors'),
} as const;

export interface CompileOptions {
  /** Model or variant name (`DiT-S/2`); default: the source's only model. */
  model?: string;
  /** Model parameter overrides. */
  set?: Record<string, number>;
  /** A schedule of the source, of the shipped library (`fora(N=2)`), or a .ditto path; default: none. */
  schedule?: string;
  steps: number;
  sampler?: 'ddpm' | 'ddim';
  /** Classifier-free guidance scale; absent = no CFG. */
  cfg?: number;
  batch?: number;
  f16?: boolean;
  guide?: 'first3' | 'all';
  /** Kernel-selection profile: 'auto' asks the adapter (default), or 'hardware' / 'lavapipe'. */
  caps?: 'auto' | 'hardware' | 'lavapipe';
  /** Backend and Dawn toggles of the adapter that caps 'auto' asks. */
  device?: DeviceOptions;
  /** The path the source is read as (relative `use` imports resolve from it); default ./inline.ditto. */
  path?: string;
}

/** Compiles ditto source text (a model, and optionally schedules) into a plan. */
export async function compile(source: string, options: CompileOptions): Promise<Plan> {
  const { path: file, caps, device, cfg, ...rest } = options;
  return (await compileSource({ text: source, path: path.resolve(file ?? 'inline.ditto') }, {
    ...rest, sampler: options.sampler ?? 'ddpm', f16: options.f16 ?? false, guide: options.guide ?? 'first3',
    caps: () => detectCompileCaps(caps, device), ...(cfg !== undefined ? { cfgScale: cfg } : {}),
  })).plan;
}

/**
 * Prepares a plan (or its JSON text) for running: device, weights (a file path or tensors),
 * pipelines, bind groups. Pass `gpu` to run on a device you opened with createGpu (and close
 * yourself); otherwise the runner opens one with `backend` and Dawn `toggles` (e.g.
 * ['allow_unsafe_apis']) and `close()` releases it.
 */
export async function createRunner(plan: Plan | string, weights: string | ReadonlyMap<string, Tensor>, opts: { gpu?: GpuContext } & DeviceOptions = {}): Promise<Runner> {
  const p = typeof plan === 'string' ? loadPlan(plan) : plan;
  const tensors = typeof weights === 'string' ? loadWeights(weights).tensors : weights;
  return createPlanRunner(p, tensors, { ...opts, ...(typeof weights === 'string' ? { weightsFile: weights } : {}) });
}

/**
 * Times the candidate matmul variants of every matmul kernel of a plan (an object or its JSON text)
 * on this adapter (or `opts.gpu`) and returns the plan with the fastest, the choices recorded in
 * `plan.tuning` and the hash recomputed. `opts.cacheFile` reuses and extends a per-adapter cache.
 */
export async function tune<P extends AnyPlan>(plan: P | string, opts: TuneOptions & { gpu?: GpuContext } & DeviceOptions = {}): Promise<{ plan: P; tuning: PlanTuning }> {
  const p = (typeof plan === 'string' ? loadAnyPlan(plan) : plan) as P;
  const { gpu: given, budgetMs, maxCandidates, cacheFile, log, ...device } = opts;
  const gpu = given ?? (await createGpu(device));
  try {
    return await tunePlan(gpu, p, { ...(budgetMs !== undefined ? { budgetMs } : {}), ...(maxCandidates !== undefined ? { maxCandidates } : {}), ...(cacheFile ? { cacheFile } : {}), ...(log ? { log } : {}) });
  } finally {
    if (!given) gpu.device.destroy();
  }
}

/**
 * Runs a plan without a GPU: the CPU plan interpreter executes the plan's dispatch list with plain
 * TypeScript kernels (semantics, not speed; docs/plan.md "Running a plan without a GPU").
 */
export function runPlanOnCpu(plan: Plan | string, weights: string | ReadonlyMap<string, Tensor>, req: CpuRunRequest): CpuRunOutput {
  const p = typeof plan === 'string' ? loadPlan(plan) : plan;
  return runOnCpu(p, typeof weights === 'string' ? loadWeights(weights).tensors : weights, req);
}
export type { CpuRunOutput, CpuRunRequest };

// Evaluation, whole or in shards (docs/eval.md, docs/distributed.md).
export { runEval } from './evaluation/eval/evaluate.ts';
export type { EvalConfig, EvalReport, EvalRow, EvalProgress } from './evaluation/eval/types.ts';
export { runEvalShard, parseShardSpec, shardBatches, type ShardSpec, type ShardMeta, type ShardResult } from './evaluation/eval/shard.ts';
export { writeShard, readShard } from './evaluation/eval/shardFiles.ts';
export { mergeEvalShards, mergeEvalShardDirs, type MergeOptions, type NamedShard } from './evaluation/eval/merge.ts';
export { parseRedisUrl, type RedisTarget } from './evaluation/eval/queue/connection.ts';
export { runEvalOnQueue, type QueueRunOptions, type QueueProgress } from './evaluation/eval/queue/submit.ts';
export { startEvalWorker, type WorkerOptions, type RunningWorker } from './evaluation/eval/queue/worker.ts';

// Cache methods' offline measurements and step-count transfer (docs/calibrate.md, docs/cli.md).
export { fitFromSource as fit, type FitOptions } from './evaluation/calibrate/fit.ts';
export { retimeSource as retime, type RetimeOptions, type RetimeResult } from './compiler/retimeSource.ts';

// Schedules found under a speed budget (docs/search.md).
export { runSearch, parseBudget, type Budget, type SearchOptions, type SearchResult, type SearchProgress, type CandidateReport, type FinalistReport, type KernelTimes } from './evaluation/search/index.ts';

// Predicted time and speed-up from kernel times measured on an adapter (docs/bench.md "Predicted
// speed-ups", docs/search.md): pure pricing of a plan, the table reader, and the measurement.
export {
  predictPlan, dispatchMs, calibratedPrediction, kernelTimesIn, readKernelTimesFile, withAllComputeStep, allComputeKey, rooflineKernelTimes,
  type CalibratedPrediction, type PlanTime, type Line,
} from './compiler/plan/kernelTimes.ts';

export interface KernelTimesOptions extends DeviceOptions {
  model?: string;
  set?: Record<string, number>;
  /** Images per run (the batch the plans you will price run at); default 1. */
  batch?: number;
  /** Classifier-free guidance scale; absent = no CFG. */
  cfg?: number;
  sampler?: 'ddpm' | 'ddim';
  /** A weights file or tensors; default: random weights (seed 0), which time the same. */
  weights?: string | ReadonlyMap<string, Tensor>;
  /** The probe candidates' random stream. */
  seed?: number;
  gpu?: GpuContext;
  onProbe?: (done: number, total: number, name: string) => void;
}

/**
 * Measures kernel times on this adapter (or `opts.gpu`) the way `ditto bench` does: the search's
 * probe plans of a model file (no cache, reuse, forecast, residual skipping…, 4 steps) at a batch,
 * each dispatch timed; the result prices any plan of that model and adapter (`predictPlan`,
 * `calibratedPrediction`) and carries the model's calibrated all-compute step.
 */
export async function measureKernelTimesFor(modelFile: string, opts: KernelTimesOptions = {}): Promise<KernelTimes> {
  const { gpu: given, model, set, batch, cfg, sampler, weights, seed, onProbe, ...device } = opts;
  const m = openModel(modelFile, { model, set, batch: batch ?? 1, cfg: cfg !== undefined });
  const tensors = typeof weights === 'string' ? loadWeights(weights).tensors : (weights ?? randomWeights(graphWeights(m.graph), 0));
  const gpu = given ?? (await createGpu(device));
  try {
    const caps = compileCapsFor(gpu.report);
    const options = { sampler: sampler ?? 'ddpm', caps, ...(cfg !== undefined ? { cfgScale: cfg } : {}) } as const;
    const times = await measureKernelTimes({
      gpu, weights: tensors, weightsFile: typeof weights === 'string' ? weights : 'weights', caps,
      probes: calibrationProbes(modelFile, m, options, seed ?? 0), ...(onProbe ? { onProbe } : {}),
    });
    return withAllComputeStep(times, planFor(m, undefined, { ...options, steps: 1 }).plan, caps);
  } finally {
    if (!given) gpu.device.destroy();
  }
}
