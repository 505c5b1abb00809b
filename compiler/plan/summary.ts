/** The plan summary printed by `ditto compile --json` and `ditto explain --json` (docs/cli.md). */
import type { Plan } from './types.ts';

export interface PlanSummary {
  format: string;
  version: number;
  hash: string;
  model: string;
  schedule: string;
  steps: number;
  sampler: string;
  cfgScale: number | null;
  batch: number;
  kernels: number;
  bodies: number;
  dispatchesPerStep: number[];
  flopsPerStep: number[];
  allComputeFlopsPerStep: number;
  flopsRatio: number;
  predictedSpeedup: number;
  predictedSecondsPerRun: number;
  peakMemoryBytes: number;
  memory: Record<string, number>;
}

export function planSummary(p: Plan): PlanSummary {
  return {
    format: p.format,
    version: p.version,
    hash: p.hash,
    model: p.model.name,
    schedule: p.schedule.name,
    steps: p.options.steps,
    sampler: p.options.sampler,
    cfgScale: p.options.cfgScale,
    batch: p.options.batch,
    kernels: p.kernels.length,
    bodies: p.bodies.length,
    dispatchesPerStep: p.cost.perStep.map((c) => c.dispatches),
    flopsPerStep: p.cost.perStep.map((c) => c.flops),
    allComputeFlopsPerStep: p.cost.allCompute.flops,
    flopsRatio: p.cost.flopsRatio,
    predictedSpeedup: p.cost.predictedSpeedup,
    predictedSecondsPerRun: p.cost.prologue.seconds + p.cost.perStep.reduce((a, c) => a + c.seconds, 0),
    peakMemoryBytes: p.cost.peakMemoryBytes,
    memory: p.cost.memory,
  };
}
