/**
 * ditto's Node API. The CLI is a thin layer over these functions.
 *
 *   import { compile, createRunner } from 'ditto';
 *   const plan = await compile(source, { model: 'DiT-S/2', schedule: 'fora(N=3)', steps: 50, cfg: 1.5 });
 *   const runner = await createRunner(plan, 'DiT-S-2.safetensors');
 *   const { latents } = await runner.run({ seed: 0, classes: [207] });
 *
 * Sources are TypeScript run through tsx (no build step): load with `node --import tsx`.
 */
import path from 'node:path';
import { DittoError } from './core/errors.ts';
import type { Tensor } from './core/tensor.ts';
import { checkSources, lowerModel, resolveSchedule, type Program } from './compiler/frontend.ts';
import { compile as compileGraph } from './compiler/pipeline.ts';
import { loadPlan } from './compiler/plan/load.ts';
import type { Plan } from './compiler/plan/types.ts';
import type { DeviceOptions, GpuContext } from './runtime/device.ts';
import { detectCompileCaps } from './runtime/detectCaps.ts';
import { createRunner as createPlanRunner, type Runner } from './runtime/run/runner.ts';
import { loadWeights } from './runtime/weights/index.ts';
import { renderDiagnostics } from './grammar/diagnostics.ts';

export { DittoError } from './core/errors.ts';
export type { Tensor } from './core/tensor.ts';
export type { Plan } from './compiler/plan/types.ts';
export type { Runner, RunRequest, RunOutput } from './runtime/run/runner.ts';
export { loadPlan };
export { createGpu } from './runtime/device.ts';
export type { DeviceOptions, GpuContext, AdapterReport } from './runtime/device.ts';
export { USEFUL_TOGGLES } from './runtime/dawnToggles.ts';

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

function programFromText(source: string, file: string): Program {
  const { program, diagnostics } = checkSources([file], { inline: new Map([[file, source]]) });
  const errors = diagnostics.filter((d) => d.severity === 'error');
  if (errors.length) {
    throw new DittoError(errors[0]!.code, `${errors.length} error${errors.length === 1 ? '' : 's'} in ${file}; the first: ${errors[0]!.message}`, errors[0]!.span,
      renderDiagnostics(diagnostics, (f) => program.sources.get(f)));
  }
  return program;
}

/** Compiles ditto source text (a model, and optionally schedules) into a plan. */
export async function compile(source: string, options: CompileOptions): Promise<Plan> {
  const file = path.resolve(options.path ?? 'inline.ditto');
  const program = programFromText(source, file);
  const batch = options.batch ?? 1;
  const graph = lowerModel(program, { model: options.model, set: options.set, batch: options.cfg !== undefined ? 2 * batch : batch });
  const schedule = options.schedule ? resolveSchedule(program, options.schedule, graph, { steps: options.steps }) : undefined;
  const caps = await detectCompileCaps(options.caps, options.device);
  return compileGraph(graph, schedule, {
    steps: options.steps, batch, sampler: options.sampler ?? 'ddpm', f16: options.f16 ?? false, guide: options.guide ?? 'first3', caps,
    ...(options.cfg !== undefined ? { cfgScale: options.cfg } : {}),
  }).plan;
}

/**
 * Prepares a plan for running: device, weights (a file path or tensors), pipelines, bind groups.
 * Without `gpu`, a device is opened with `backend` and Dawn `toggles` (e.g. ['allow_unsafe_apis']).
 */
export async function createRunner(plan: Plan | string, weights: string | ReadonlyMap<string, Tensor>, opts: { gpu?: GpuContext } & DeviceOptions = {}): Promise<Runner> {
  const p = typeof plan === 'string' ? loadPlan(plan) : plan;
  const tensors = typeof weights === 'string' ? loadWeights(weights).tensors : weights;
  return createPlanRunner(p, tensors, { ...opts, ...(typeof weights === 'string' ? { weightsFile: weights } : {}) });
}

// Evaluation, whole or in shards (docs/eval.md, docs/distributed.md).
export { runEval } from './runtime/eval/evaluate.ts';
export type { EvalConfig, EvalReport, EvalRow, EvalProgress } from './runtime/eval/types.ts';
export { runEvalShard, parseShardSpec, shardBatches, type ShardSpec, type ShardMeta, type ShardResult } from './runtime/eval/shard.ts';
export { writeShard, readShard } from './runtime/eval/shardFiles.ts';
export { mergeEvalShards, mergeEvalShardDirs, type MergeOptions, type NamedShard } from './runtime/eval/merge.ts';
export { parseRedisUrl, type RedisTarget } from './runtime/eval/queue/connection.ts';
export { runEvalOnQueue, type QueueRunOptions, type QueueProgress } from './runtime/eval/queue/submit.ts';
export { startEvalWorker, type WorkerOptions, type RunningWorker } from './runtime/eval/queue/worker.ts';
