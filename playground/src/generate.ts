/**
 * "Generate": the no-cache plan and the schedule's plan run one after the other on the page's GPU from the
 * same seed (ditto's runtime, the same createRunner `ditto run` uses), then their wall-clock, the
 * speed-up, PSNR/SSIM of the cached images against the uncached ones, and the class accuracy of
 * each grid by the Fashion-MNIST classifier behind ditto's FID.
 */
import type { Tensor } from '../../core/tensor.ts';
import type { Plan } from '../../compiler/plan/types.ts';
import type { GpuContext } from '../../runtime/device.ts';
import { createRunner, preparePipelines, type RunOutput } from '../../runtime/run/runner.ts';
import { classifierFromTensors, classify, type Classifier } from '../../evaluation/metrics/classifier.ts';
import { classAccuracy } from '../../evaluation/metrics/fid.ts';
import { fidelityToBaseline, type Fidelity } from '../../evaluation/eval/imageMetrics.ts';

export interface RowResult {
  plan: Plan;
  images: Tensor;
  classes: number[];
  /** Wall-clock seconds of the timed run (kernels compiled beforehand by a warm-up). */
  seconds: number;
  /** Seconds to set the row up (buffers, weights, pipelines) and to warm it up: not in `seconds`. */
  setupSeconds: number;
  warmUpSeconds: number;
  accuracy: number;
}

export interface GenerateResult {
  /** Seconds Generate waited for pipelines still being built when it started (before any row). */
  kernelWaitSeconds: number;
  baseline: RowResult;
  cached: RowResult;
  speedup: number;
  fidelity: Fidelity;
  seed: number;
}

export interface GenerateInput {
  gpu: GpuContext;
  weights: ReadonlyMap<string, Tensor>;
  classifier: Classifier;
  baseline: Plan;
  cached: Plan;
  seed: number;
  onPhase: (text: string, fraction: number) => void;
}

export { classifierFromTensors };

interface RowRun {
  out: RunOutput;
  setupSeconds: number;
  warmUpSeconds: number;
  destroy: () => void;
}

async function runRow(input: GenerateInput, plan: Plan, label: string, at: number): Promise<RowRun> {
  const t0 = performance.now();
  input.onPhase(`${label}: warming up`, at);
  const runner = await createRunner(plan, input.weights, { gpu: input.gpu, weightsFile: 'fmnist-dit.safetensors' });
  const t1 = performance.now();
  await runner.warmUp();
  const t2 = performance.now();
  const S = plan.options.steps;
  const out = await runner.run({ seed: input.seed, onStep: (k) => input.onPhase(`${label}: step ${k + 1}/${S}`, at + (0.5 * (k + 1)) / S) });
  return { out, setupSeconds: (t1 - t0) / 1000, warmUpSeconds: (t2 - t1) / 1000, destroy: () => runner.destroy() };
}

export async function generate(input: GenerateInput): Promise<GenerateResult> {
  // Every pipeline of both plans is built before anything is timed (the page starts building them
  // when it compiles a plan; this waits for the rest), so that no shader compilation runs beside a
  // timed run; each row's warm-up then only dispatches.
  input.onPhase('compiling kernels', 0);
  const k0 = performance.now();
  await Promise.all([preparePipelines(input.gpu, input.baseline), preparePipelines(input.gpu, input.cached)]);
  const kernelWaitSeconds = (performance.now() - k0) / 1000;
  const base = await runRow(input, input.baseline, 'no cache', 0);
  base.destroy();
  const cached = await runRow(input, input.cached, input.cached.schedule.name, 0.5);
  cached.destroy();
  const row = (plan: Plan, r: RowRun): RowResult => ({
    plan,
    images: r.out.latents,
    classes: r.out.classes,
    seconds: r.out.seconds,
    setupSeconds: r.setupSeconds,
    warmUpSeconds: r.warmUpSeconds,
    accuracy: classAccuracy(classify(input.classifier, r.out.latents), r.out.classes),
  });
  const b = row(input.baseline, base);
  const c = row(input.cached, cached);
  return { kernelWaitSeconds, baseline: b, cached: c, speedup: b.seconds / c.seconds, fidelity: fidelityToBaseline(c.images, b.images), seed: input.seed };
}
