/**
 * The per-schedule numbers of an evaluation: FID and class accuracy from the Fashion-MNIST
 * classifier (only where the images are in its 1×28×28 domain), and fidelity to the no-cache
 * images from the same noise.
 */
import type { Tensor } from '../../core/tensor.ts';
import { IMAGE_SIZE, NUM_CLASSES } from '../metrics/classifier.ts';
import { psnr, relativeL2, ssim } from '../metrics/fidelity.ts';

const SSIM_WINDOW = 11;

export interface Fidelity {
  psnr: number;
  ssim: number | null;
  relativeL2: number;
}

export function fidelityToBaseline(images: Tensor, baseline: Tensor): Fidelity {
  const big = (images.shape[2] ?? 0) >= SSIM_WINDOW && (images.shape[3] ?? 0) >= SSIM_WINDOW;
  return { psnr: psnr(images, baseline), ssim: big ? ssim(images, baseline) : null, relativeL2: relativeL2(images, baseline) };
}

/** Why the classifier metrics cannot be computed for these images, or undefined when they can. */
export function classifierMetricsUnavailable(imageShape: readonly number[], modelClasses: number): string | undefined {
  const [c, h, w] = imageShape;
  if (c !== 1 || h !== IMAGE_SIZE || w !== IMAGE_SIZE) {
    return `FID and accuracy need 1×${IMAGE_SIZE}×${IMAGE_SIZE} images (the Fashion-MNIST classifier's domain); these are ${c}×${h}×${w}`;
  }
  if (modelClasses !== NUM_CLASSES) return `accuracy needs a ${NUM_CLASSES}-class model (Fashion-MNIST's classes); this one has ${modelClasses}`;
  return undefined;
}
