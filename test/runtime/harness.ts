/**
 * Shared pieces of the runtime suites: a tiny DiT lowered from the shipped model file, seeded random
 * weights, compile for the test adapter, run on the GPU and on the reference executor.
 */
import { fileURLToPath } from 'node:url';
import { loadProgram, lowerModel } from '../../compiler/frontend.ts';
import { graphWeights, type Graph } from '../../compiler/ir/graph.ts';
import type { ScheduleIR } from '../../compiler/ir/schedule.ts';
import { compile } from '../../compiler/pipeline.ts';
import { compileCapsFor, type CompileCaps } from '../../compiler/plan/caps.ts';
import type { Plan } from '../../compiler/plan/types.ts';
import type { Tensor } from '../../core/tensor.ts';
import type { GpuContext } from '../../runtime/device.ts';
import { runPlanOnCpu } from '../../runtime/cpu/planInterpreter.ts';
import { sampleReference } from '../../runtime/reference/sample.ts';
import { createRunner, type RunOutput } from '../../runtime/run/runner.ts';
import { randomWeights } from '../../runtime/weights/index.ts';

export const DIT_FILE = fileURLToPath(new URL('../../models/dit.ditto', import.meta.url));
const program = loadProgram(DIT_FILE);

export interface TinyConfig {
  depth: number;
  hidden: number;
  heads: number;
  latent: number;
  channels: number;
  classes: number;
  learn_sigma: number;
}

export const TINY: TinyConfig = { depth: 2, hidden: 64, heads: 4, latent: 8, channels: 4, classes: 10, learn_sigma: 1 };

export function tinyGraph(cfg: TinyConfig, modelBatch: number): Graph {
  return lowerModel(program, { model: 'DiT', set: { ...cfg, patch: 2, mlp_ratio: 4 }, batch: modelBatch });
}

export interface Scenario {
  cfg: TinyConfig;
  batch: number;
  steps: number;
  cfgScale?: number;
  sampler: 'ddpm' | 'ddim';
  seed: number;
  weightSeed: number;
}

export function planFor(gpu: GpuContext, s: Scenario, schedule: ScheduleIR | undefined): { graph: Graph; plan: Plan } {
  const graph = tinyGraph(s.cfg, s.cfgScale !== undefined ? 2 * s.batch : s.batch);
  const { plan } = compile(graph, schedule, {
    steps: s.steps, batch: s.batch, sampler: s.sampler, caps: compileCapsFor(gpu.report),
    ...(s.cfgScale !== undefined ? { cfgScale: s.cfgScale } : {}),
  });
  return { graph, plan };
}

export function weightsFor(graph: Graph, seed: number): Map<string, Tensor> {
  return randomWeights(graphWeights(graph), seed);
}

export function classesFor(s: Scenario): number[] {
  return Array.from({ length: s.batch }, (_, i) => (i * 3 + s.seed) % s.cfg.classes);
}

export async function runOnGpu(gpu: GpuContext, plan: Plan, weights: Map<string, Tensor>, s: Scenario): Promise<RunOutput> {
  const runner = await createRunner(plan, weights, { gpu });
  try {
    return await runner.run({ seed: s.seed, classes: classesFor(s) });
  } finally {
    runner.destroy();
  }
}

export function runOnReference(graph: Graph, weights: Map<string, Tensor>, schedule: ScheduleIR, s: Scenario): Tensor {
  return sampleReference(graph, weights, schedule, {
    sampler: s.sampler, classes: classesFor(s), seed: s.seed, ...(s.cfgScale !== undefined ? { cfgScale: s.cfgScale } : {}),
  }).latents;
}

/**
 * One scenario compiled for this adapter and run on the GPU, against the reference executor on the
 * same weights, noise and classes: the plan and the largest error relative to the result's scale.
 */
export async function gpuPlanError(gpu: GpuContext, s: Scenario, schedule: ScheduleIR): Promise<{ plan: Plan; err: number }> {
  const { graph, plan } = planFor(gpu, s, schedule);
  const weights = weightsFor(graph, s.weightSeed);
  const got = await runOnGpu(gpu, plan, weights, s);
  return { plan, err: maxRelativeError(got.latents.data, runOnReference(graph, weights, schedule, s).data) };
}

/**
 * One scenario compiled for `caps` and run by the CPU plan interpreter, against the reference
 * executor on the same weights, noise and classes: the largest error relative to the result's scale.
 */
export function cpuPlanError(s: Scenario, schedule: ScheduleIR, caps: CompileCaps): number {
  const graph = tinyGraph(s.cfg, s.cfgScale !== undefined ? 2 * s.batch : s.batch);
  const { plan } = compile(graph, schedule, {
    steps: s.steps, batch: s.batch, sampler: s.sampler, caps, ...(s.cfgScale !== undefined ? { cfgScale: s.cfgScale } : {}),
  });
  const weights = weightsFor(graph, s.weightSeed);
  const got = runPlanOnCpu(plan, weights, { seed: s.seed, classes: classesFor(s) });
  return maxRelativeError(got.latents.data, runOnReference(graph, weights, schedule, s).data);
}

/** Relative agreement at the scale of the result: latents of random-weight models grow large. */
export function maxRelativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(scale, 1e-6));
  return worst;
}
