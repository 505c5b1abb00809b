/**
 * The two ways an evaluation turns (schedule, seed, classes) into images: the compiled plan on the
 * GPU, or the CPU reference executor. Both draw the noise from `noiseForRun(seed, …)`, so a seed
 * means the same x_T and step noise on either, and for every schedule.
 */
import type { Tensor } from '../../core/tensor.ts';
import { graphWeights } from '../../compiler/ir/graph.ts';
import { computeEverything, type ScheduleIR } from '../../compiler/ir/schedule.ts';
import { planFor, type SourceModel } from '../../compiler/compileSource.ts';
import { HARDWARE_CAPS, LAVAPIPE_CAPS } from '../../compiler/plan/caps.ts';
import type { GpuContext } from '../../runtime/device.ts';
import { createRunner } from '../../runtime/run/runner.ts';
import { noiseForRun, type RunNoise } from '../../runtime/sampler/noise.ts';
import { sampleReference } from '../../runtime/reference/sample.ts';
import { validateWeights } from '../../runtime/weights/index.ts';
import { graphHash, sha256 } from '../../compiler/plan/tables.ts';
import { canonicalJson } from '../../compiler/kernels/common.ts';

export interface SampleSettings {
  steps: number;
  batch: number;
  sampler: 'ddpm' | 'ddim';
  cfgScale?: number;
}

/** One schedule, ready to sample batches. */
export interface PreparedSampler {
  /** From the plan's cost model (GPU); null on the reference executor. */
  predictedSpeedup: number | null;
  flopsRatio: number | null;
  /**
   * What decides this schedule's images besides the noise: the compiled plan's hash on the GPU, a
   * hash of the schedule and sampler settings on the reference executor. Shards of one evaluation
   * must agree on it (merge.ts).
   */
  planHash: string;
  /**
   * `batch` images [batch, C, H, W] and the wall-clock seconds the run took. On the GPU the noise is
   * drawn before the clock starts and shared by every schedule of the same seed: it is the same input
   * for all of them, and timing it would pull every speed-up towards 1.
   */
  sample(seed: number, classes: number[]): Promise<{ images: Tensor; seconds: number }>;
  destroy(): void;
}

export interface SamplerBackend {
  /** Shown in reports: 'gpu: <adapter>' or 'reference executor (CPU)'. */
  readonly label: string;
  readonly needsWarmup: boolean;
  prepare(model: SourceModel, schedule: ScheduleIR | undefined, s: SampleSettings): Promise<PreparedSampler>;
}

/**
 * Plans compiled with the profile of the adapter's kind (lavapipe's kernels on a software adapter,
 * the generic hardware profile otherwise).
 */
export function gpuBackend(gpu: GpuContext, weights: ReadonlyMap<string, Tensor>, weightsFile: string): SamplerBackend {
  const caps = gpu.report.isSoftware ? LAVAPIPE_CAPS : HARDWARE_CAPS;
  // Rows are sampled batch by batch with the same seed: keep the last batch's noise for the next row.
  let lastNoise: { key: string; noise: RunNoise } | undefined;
  const noiseFor = (seed: number, batch: number, perImage: readonly number[], steps: number): RunNoise => {
    const key = `${seed}|${batch}|${perImage.join('x')}|${steps}`;
    if (lastNoise?.key !== key) lastNoise = { key, noise: noiseForRun(seed, batch, perImage, steps) };
    return lastNoise.noise;
  };
  return {
    label: `gpu: ${gpu.report.name}`,
    needsWarmup: true,
    async prepare(model, schedule, s) {
      const { plan } = planFor(model, schedule, { steps: s.steps, sampler: s.sampler, caps, ...(s.cfgScale !== undefined ? { cfgScale: s.cfgScale } : {}) });
      const runner = await createRunner(plan, weights, { gpu, weightsFile });
      const perImage = plan.buffers[plan.io.latent]!.shape!.slice(1);
      return {
        predictedSpeedup: plan.cost.predictedSpeedup,
        flopsRatio: plan.cost.flopsRatio,
        planHash: plan.hash,
        async sample(seed, classes) {
          const noise = noiseFor(seed, s.batch, perImage, s.steps);
          const t0 = performance.now();
          const out = await runner.run({ seed, classes, noise });
          return { images: out.latents, seconds: (performance.now() - t0) / 1000 };
        },
        destroy: () => runner.destroy(),
      };
    },
  };
}

export function referenceBackend(weights: ReadonlyMap<string, Tensor>, weightsFile: string): SamplerBackend {
  let validated = false;
  return {
    label: 'reference executor (CPU)',
    needsWarmup: false,
    async prepare({ graph }, schedule, s) {
      if (!validated) {
        validateWeights({ tensors: new Map(weights), format: 'safetensors', path: weightsFile }, graphWeights(graph));
        validated = true;
      }
      const ir = schedule ?? computeEverything(graph.model, s.steps);
      return {
        predictedSpeedup: null,
        flopsRatio: null,
        planHash: sha256(canonicalJson({ executor: 'reference', graph: graphHash(graph), schedule: ir, ...s })),
        async sample(seed, classes) {
          const t0 = performance.now();
          const r = sampleReference(graph, weights, ir, { sampler: s.sampler, classes, seed, ...(s.cfgScale !== undefined ? { cfgScale: s.cfgScale } : {}) });
          return { images: r.latents, seconds: (performance.now() - t0) / 1000 };
        },
        destroy: () => undefined,
      };
    },
  };
}
