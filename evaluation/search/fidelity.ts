/**
 * Fidelity of a candidate to the no-cache trajectory: the final images of the calibration samples
 * (same noise, same classes) compared with the no-cache images, in pixels and in the features of the
 * FID classifier.
 *
 *   imageError   = Σ‖x − x₀‖² / Σ‖x₀ − mean(x₀)‖²      (1 − R² of the images; PSNR is read from it)
 *   featureError = Σ‖f(x) − f(x₀)‖² / Σ‖f(x₀) − mean f(x₀)‖²
 *   loss         = (imageError + featureError) / 2, or imageError where the classifier does not apply
 *
 * Both are relative, so 0 is the no-cache images themselves and 1 is as far as an unrelated image
 * of the same batch; the loss is what the search minimises (docs/search.md).
 */
import type { Tensor } from '../../core/tensor.ts';
import { classify, FEATURE_DIM, type Classifier } from '../metrics/classifier.ts';
import { psnr } from '../metrics/fidelity.ts';

export interface Fidelity {
  loss: number;
  imageError: number;
  /** null where the classifier does not apply to these images. */
  featureError: number | null;
  /** dB against the no-cache images; Infinity when identical. */
  psnr: number;
}

export interface Reference {
  images: Tensor;
  features: Float64Array | null;
  imageSpread: number;
  featureSpread: number;
}

function spread(data: ArrayLike<number>, n: number, dim: number): number {
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j]! += data[i * dim + j]! / n;
  let s = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) s += (data[i * dim + j]! - mean[j]!) ** 2;
  return s;
}

function sqDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return s;
}

/** The no-cache images and what the comparison needs of them; `classifier` undefined: pixels only. */
export function referenceOf(images: Tensor, classifier: Classifier | undefined): Reference {
  const n = images.shape[0]!;
  const per = images.data.length / n;
  const features = classifier ? classify(classifier, images).features : null;
  return {
    images,
    features,
    imageSpread: Math.max(1e-30, spread(images.data, n, per)),
    featureSpread: features ? Math.max(1e-30, spread(features, n, FEATURE_DIM)) : 1,
  };
}

export function fidelityTo(ref: Reference, images: Tensor, classifier: Classifier | undefined): Fidelity {
  const imageError = sqDistance(images.data, ref.images.data) / ref.imageSpread;
  const featureError = classifier && ref.features ? sqDistance(classify(classifier, images).features, ref.features) / ref.featureSpread : null;
  const loss = featureError === null ? imageError : (imageError + featureError) / 2;
  return { loss, imageError, featureError, psnr: psnr(images, ref.images) };
}
