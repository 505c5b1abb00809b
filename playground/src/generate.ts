/**
 * "Generate": the no-cache plan and the schedule's plan run side by side on the page's GPU from the
 * same seed (ditto's runtime, the same createRunner `ditto run` uses), then their wall-clock, the
 * speed-up, PSNR/SSIM of the cached images against the uncached ones, and the class accuracy of
 * each grid by the Fashion-MNIST classifier behind ditto's FID.
 */
import type { Tensor } from '../../core/tensor.ts';
import type { Plan } from '../../compiler/plan/types.ts';
import type { GpuContext } from '../../runtime/device.ts';
import { createRunner, type RunOutput } from '../../runtime/run/runner.ts';
import { classifierFromTensors, classify, type Classifier } from '../../evaluation/metrics/classifier.ts';
import { classAccuracy } from '../../evaluation/metrics/fid.ts';
import { fidelityToBaseline, type Fidelity } from '../../evaluation/eval/imageMetrics.ts';

export interface RowResult {
  plan: Plan;
  images: Tensor;
  classes: number[];
  /** Wall-clock seconds of the timed run (kernels compiled beforehand by a warm-up). */
  seconds: number;
  accuracy: number;
}

export interface GenerateResult {
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

async function runRow(input: GenerateInput, plan: Plan, label: string, at: number): Promise<{ out: RunOutput; destroy: () => void }> {
  const runner = await createRunner(plan, input.weights, { gpu: input.gpu, weightsFile: 'fmnist-dit.safetensors' });
  input.onPhase(`${label}: compiling kernels`, at);
  await runner.warmUp();
  const S = plan.options.steps;
  const out = await runner.run({ seed: input.seed, onStep: (k) => input.onPhase(`${label}: step ${k + 1}/${S}`, at + (0.5 * (k + 1)) / S) });
  return { out, destroy: () => runner.destroy() };
}

export async function generate(input: GenerateInput): Promise<GenerateResult> {
  const base = await runRow(input, input.baseline, 'no cache', 0);
  base.destroy();
  const cached = await runRow(input, input.cached, input.cached.schedule.name, 0.5);
  cached.destroy();
  const row = (plan: Plan, out: RunOutput): RowResult => ({
    plan,
    images: out.latents,
    classes: out.classes,
    seconds: out.seconds,
    accuracy: classAccuracy(classify(input.classifier, out.latents), out.classes),
  });
  const b = row(input.baseline, base.out);
  const c = row(input.cached, cached.out);
  return { baseline: b, cached: c, speedup: b.seconds / c.seconds, fidelity: fidelityToBaseline(c.images, b.images), seed: input.seed };
}
