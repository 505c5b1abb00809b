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
  /** Seconds Generate waited for pipelines still being built (outside the timed runs). */
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

/** One row: set up, warm up, wait for `beforeTimedRun`, then the timed run. */
async function runRow(input: GenerateInput, plan: Plan, label: string, at: number, beforeTimedRun: () => Promise<void>): Promise<RowRun> {
  const t0 = performance.now();
  input.onPhase(`${label}: warming up`, at);
  const runner = await createRunner(plan, input.weights, { gpu: input.gpu, weightsFile: 'fmnist-dit.safetensors' });
  const t1 = performance.now();
  await runner.warmUp();
  const t2 = performance.now();
  await beforeTimedRun();
  const S = plan.options.steps;
  const out = await runner.run({ seed: input.seed, onStep: (k) => input.onPhase(`${label}: step ${k + 1}/${S}`, at + (0.5 * (k + 1)) / S) });
  return { out, setupSeconds: (t1 - t0) / 1000, warmUpSeconds: (t2 - t1) / 1000, destroy: () => runner.destroy() };
}

export async function generate(input: GenerateInput): Promise<GenerateResult> {
  // Every pipeline of both plans is built before the first timed run (the page starts building
  // them when it compiles a plan), so that no shader compilation runs beside a timed run. The
  // schedule's own kernels may still be compiling while the no-cache row sets up and warms up,
  // which is not timed.
  let kernelWaitSeconds = 0;
  const wait = async (ready: Promise<void>) => {
    const t = performance.now();
    await ready;
    kernelWaitSeconds += (performance.now() - t) / 1000;
  };
  input.onPhase('compiling kernels', 0);
  await wait(preparePipelines(input.gpu, input.baseline));
  const cachedKernels = preparePipelines(input.gpu, input.cached);
  cachedKernels.catch(() => undefined); // awaited below; a failure of the first row must not leave it unhandled
  const base = await runRow(input, input.baseline, 'no cache', 0, () => wait(cachedKernels));
  base.destroy();
  const cached = await runRow(input, input.cached, input.cached.schedule.name, 0.5, () => wait(cachedKernels));
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
