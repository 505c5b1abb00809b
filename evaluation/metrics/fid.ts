/**
 * Fréchet distance between feature distributions (FID), the reference statistics it compares
 * against, and class accuracy of generated images.
 *
 * FID here = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^{1/2}) over the 128-d penultimate features of
 * the Fashion-MNIST classifier (evaluation/metrics/classifier.ts), with unbiased (N − 1) covariances,
 * all in float64. Tr((Σ₁Σ₂)^{1/2}) is computed as Σ √λᵢ of the symmetric PSD matrix
 * Σ₁^{1/2}·Σ₂·Σ₁^{1/2}, which has the same eigenvalues as Σ₁Σ₂ but, unlike that product, is
 * symmetric, so a symmetric eigensolver applies and no complex parts appear.
 */
import { packagePath } from '../../core/packageRoot.ts';
import { DittoError } from '../../core/errors.ts';
import { shapeString, type Tensor } from '../../core/tensor.ts';
import { loadWeights } from '../../runtime/weights/index.ts';
import { classify, FEATURE_DIM, loadClassifier, NUM_CLASSES, predictedClasses, type Classifier, type ClassifierOutput } from './classifier.ts';
import { matmul, sqrtPsd, symmetricEigenvalues, trace } from './linalg.ts';

export const DEFAULT_STATS_PATH = packagePath('models', 'fid', 'fmnist-test-stats.safetensors');

/** Mean and covariance of a set of feature vectors. */
export interface FeatureStats {
  dim: number;
  /** How many vectors the statistics came from (informational; 0 when unknown). */
  count: number;
  mean: Float64Array;
  /** Row-major dim×dim, unbiased (divided by count − 1). */
  cov: Float64Array;
}

/** Mean and unbiased covariance of `n` row-major vectors of length `dim`, in float64. */
export function featureStats(features: ArrayLike<number>, n: number, dim: number): FeatureStats {
  if (!Number.isInteger(n) || !Number.isInteger(dim) || dim < 1) throw new DittoError('E_INPUT', `feature statistics: bad size n = ${n}, dim = ${dim}`);
  if (features.length !== n * dim) throw new DittoError('E_INPUT', `feature statistics: ${features.length} values are not ${n} vectors of length ${dim}`);
  if (n < 2) throw new DittoError('E_INPUT', `feature statistics need at least 2 vectors for a covariance, got ${n}`);
  const mean = new Float64Array(dim);
  for (let k = 0; k < n; k++) for (let i = 0; i < dim; i++) mean[i] += features[k * dim + i]!;
  for (let i = 0; i < dim; i++) mean[i] /= n;
  // Two passes (centre, then accumulate) rather than Σxxᵀ − nμμᵀ, which cancels badly in float.
  const cov = new Float64Array(dim * dim);
  const centred = new Float64Array(dim);
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < dim; i++) {
      const v = features[k * dim + i]!;
      if (!Number.isFinite(v)) throw new DittoError('E_NUMERIC', `feature statistics: vector ${k} has a non-finite value at ${i}`);
      centred[i] = v - mean[i]!;
    }
    for (let i = 0; i < dim; i++) {
      const ci = centred[i]!;
      if (ci === 0) continue;
      const row = i * dim;
      for (let j = i; j < dim; j++) cov[row + j] += ci * centred[j]!;
    }
  }
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) {
      const v = cov[i * dim + j]! / (n - 1);
      cov[i * dim + j] = v;
      cov[j * dim + i] = v;
    }
  }
  return { dim, count: n, mean, cov };
}

function checkStats(s: FeatureStats, what: string): void {
  if (s.mean.length !== s.dim || s.cov.length !== s.dim * s.dim) {
    throw new DittoError('E_INPUT', `${what}: mean has ${s.mean.length} values and covariance ${s.cov.length}, expected ${s.dim} and ${s.dim * s.dim}`);
  }
}

/** The two terms of the Fréchet distance: ‖μ₁ − μ₂‖² and Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^{1/2}). */
export interface FrechetParts {
  mean: number;
  covariance: number;
}

/** √Σ of statistics already seen; statistics are never mutated once made (featureStats, loadReferenceStats). */
const ROOTS = new WeakMap<FeatureStats, Float64Array>();

function rootOf(s: FeatureStats): Float64Array {
  let root = ROOTS.get(s);
  if (!root) {
    root = sqrtPsd(s.cov, s.dim);
    ROOTS.set(s, root);
  }
  return root;
}

export function frechetParts(a: FeatureStats, b: FeatureStats): FrechetParts {
  checkStats(a, 'first statistics');
  checkStats(b, 'second statistics');
  if (a.dim !== b.dim) throw new DittoError('E_INPUT', `Fréchet distance of ${a.dim}-d and ${b.dim}-d statistics: the dimensions must match`);
  const n = a.dim;
  let meanTerm = 0;
  for (let i = 0; i < n; i++) {
    const d = a.mean[i]! - b.mean[i]!;
    meanTerm += d * d;
  }
  // Tr((Σ₁Σ₂)^{1/2}) = Tr((Σ₂^{1/2} Σ₁ Σ₂^{1/2})^{1/2}): the root is taken of the second argument,
  // which callers pass as the fixed reference, so one decomposition serves every comparison with it.
  const rootB = rootOf(b);
  const m = matmul(matmul(rootB, a.cov, n), rootB, n);
  // Symmetrise away the rounding of the two products before the symmetric solver reads it.
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const s = 0.5 * (m[i * n + j]! + m[j * n + i]!);
      m[i * n + j] = s;
      m[j * n + i] = s;
    }
  }
  let traceRoot = 0;
  for (const l of symmetricEigenvalues(m, n)) traceRoot += Math.sqrt(Math.max(l, 0));
  const covariance = trace(a.cov, n) + trace(b.cov, n) - 2 * traceRoot;
  if (!Number.isFinite(meanTerm) || !Number.isFinite(covariance)) throw new DittoError('E_NUMERIC', 'the Fréchet distance is not finite (non-finite statistics?)');
  return { mean: meanTerm, covariance };
}

/**
 * The Fréchet distance between the Gaussians N(μ₁, Σ₁) and N(μ₂, Σ₂). Rounding can leave the exact
 * answer 0 as a tiny negative number; the result is clamped at 0.
 */
export function frechetDistance(a: FeatureStats, b: FeatureStats): number {
  const p = frechetParts(a, b);
  return Math.max(p.mean + p.covariance, 0);
}

/**
 * Reads reference statistics. The file stores `mu` [dim] and `sigma` [dim, dim] (f64, rounded to
 * f32 by the weight loader) and optionally `mu_residual` / `sigma_residual` (f32), the part the
 * rounding loses; their sum rebuilds the f64 values to ~2⁻⁴⁸ relative.
 */
export function loadReferenceStats(path: string = DEFAULT_STATS_PATH): FeatureStats {
  const t = loadWeights(path).tensors;
  const mu = t.get('mu');
  const sigma = t.get('sigma');
  if (!mu || !sigma) throw new DittoError('E_WEIGHTS', `${path}: FID reference statistics need tensors 'mu' [d] and 'sigma' [d, d]`);
  const dim = mu.shape[0] ?? 0;
  if (mu.shape.length !== 1 || sigma.shape.length !== 2 || sigma.shape[0] !== dim || sigma.shape[1] !== dim) {
    throw new DittoError('E_WEIGHTS', `${path}: 'mu' is ${shapeString(mu.shape)} and 'sigma' ${shapeString(sigma.shape)}; expected [d] and [d, d]`);
  }
  const rebuild = (hi: Tensor, name: string): Float64Array => {
    const out = Float64Array.from(hi.data);
    const lo = t.get(name);
    if (lo) {
      if (lo.data.length !== out.length) throw new DittoError('E_WEIGHTS', `${path}: '${name}' has ${lo.data.length} values, expected ${out.length}`);
      for (let i = 0; i < out.length; i++) out[i] += lo.data[i]!;
    }
    return out;
  };
  return { dim, count: 0, mean: rebuild(mu, 'mu_residual'), cov: rebuild(sigma, 'sigma_residual') };
}

/**
 * The fraction of images the classifier assigns to the class they were generated for. `labels`
 * holds one class per image.
 */
export function classAccuracy(out: ClassifierOutput, labels: ArrayLike<number>): number {
  if (labels.length !== out.n) throw new DittoError('E_INPUT', `class accuracy: ${labels.length} labels for ${out.n} images`);
  const pred = predictedClasses(out);
  let hits = 0;
  for (let k = 0; k < out.n; k++) {
    const y = labels[k]!;
    if (!Number.isInteger(y) || y < 0 || y >= NUM_CLASSES) throw new DittoError('E_INPUT', `class accuracy: label ${k} is ${y}, expected an integer in 0..${NUM_CLASSES - 1}`);
    if (pred[k] === y) hits++;
  }
  return hits / out.n;
}

export interface FidOptions {
  classifier?: Classifier;
  reference?: FeatureStats;
  /** One requested class per image: adds `accuracy` to the report. */
  labels?: ArrayLike<number>;
}

export interface FidReport {
  n: number;
  fid: number;
  accuracy?: number;
}

/** FID (and class accuracy when labels are given) of images [N, 1, 28, 28] against the reference. */
export function computeFid(images: Tensor, opts: FidOptions = {}): FidReport {
  const clf = opts.classifier ?? loadClassifier();
  return fidOfClassified(classify(clf, images), opts.reference ?? loadReferenceStats(), opts.labels);
}

/** computeFid's scoring of images the classifier has already seen (callers that keep the features). */
export function fidOfClassified(out: ClassifierOutput, ref: FeatureStats, labels?: ArrayLike<number>): FidReport {
  if (ref.dim !== FEATURE_DIM) throw new DittoError('E_INPUT', `reference statistics are ${ref.dim}-d, the classifier's features ${FEATURE_DIM}-d`);
  const fid = frechetDistance(featureStats(out.features, out.n, FEATURE_DIM), ref);
  const report: FidReport = { n: out.n, fid };
  if (labels !== undefined) report.accuracy = classAccuracy(out, labels);
  return report;
}
