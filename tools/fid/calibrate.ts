/**
 * Calibrates ditto's Fashion-MNIST FID with the TypeScript metric code: what FID real images get
 * (the floor a generator cannot beat at that sample count), how far noise pushes it, and whether
 * the TS classifier agrees with torch on the whole test set. Writes docs/metrics.md and
 * models/fid/calibration.json.
 *
 *     nice -n 10 npx tsx tools/fid/calibrate.ts
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tensor, type Tensor } from '../../core/tensor.ts';
import { openWeights } from '../../runtime/weights/index.ts';
import { classify, DEFAULT_CLASSIFIER_PATH, FEATURE_DIM, loadClassifier, type ClassifierOutput } from '../../evaluation/metrics/classifier.ts';
import { classAccuracy, featureStats, frechetDistance, frechetParts, loadReferenceStats } from '../../evaluation/metrics/fid.ts';
import { loadFashionMnist, takeImages } from './idx.ts';
import { openUniformStream, uniformStream } from '../../core/random.ts';

const root = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));

/** A seeded permutation (mulberry32 + Fisher–Yates), so the subsets are reproducible. */
function permutation(n: number, seed: number): Int32Array {
  const rand = uniformStream(seed);
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

function featureRows(out: ClassifierOutput, idx: ArrayLike<number>): Float64Array {
  const f = new Float64Array(idx.length * FEATURE_DIM);
  for (let j = 0; j < idx.length; j++) f.set(out.features.subarray(idx[j]! * FEATURE_DIM, (idx[j]! + 1) * FEATURE_DIM), j * FEATURE_DIM);
  return f;
}

function summary(values: number[]): { mean: number; min: number; max: number; runs: number } {
  return { mean: values.reduce((a, b) => a + b, 0) / values.length, min: Math.min(...values), max: Math.max(...values), runs: values.length };
}

function withNoise(images: Tensor, sigma: number, seed: number): Tensor {
  const uniform = openUniformStream(seed);
  const out = new Float32Array(images.data.length);
  for (let i = 0; i < out.length; i++) {
    const z = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
    out[i] = Math.min(1, Math.max(-1, images.data[i]! + sigma * z));
  }
  return tensor(images.shape, out);
}

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

const t0 = Date.now();
const clf = loadClassifier();
const ref = loadReferenceStats();
const meta = openWeights(DEFAULT_CLASSIFIER_PATH);
const torchAccuracy = Number(meta.metadata.test_accuracy);
meta.close();

const test = loadFashionMnist('t10k');
const testOut = classify(clf, test.images);
const tsAccuracy = classAccuracy(testOut, test.labels.data);
// Unclamped, so the size of the disagreement (rounding only, if TS and torch agree) is visible.
const testSelfParts = frechetParts(featureStats(testOut.features, testOut.n, FEATURE_DIM), ref);
const testSelf = testSelfParts.mean + testSelfParts.covariance;
log(`test: TS accuracy ${tsAccuracy}, FID(TS test features, stored stats) ${testSelf}`);

const train = loadFashionMnist('train');
const trainOut = classify(clf, train.images);
const trainAccuracy = classAccuracy(trainOut, train.labels.data);
log(`train: accuracy ${trainAccuracy}`);

const perm = permutation(train.images.shape[0]!, 0);
const fidOf = (idx: ArrayLike<number>) => frechetDistance(featureStats(featureRows(trainOut, idx), idx.length, FEATURE_DIM), ref);
const floors: Record<string, ReturnType<typeof summary>> = {};
for (const [n, runs] of [[1000, 10], [2000, 10], [5000, 6], [10000, 6]] as const) {
  floors[String(n)] = summary(Array.from({ length: runs }, (_, r) => fidOf(perm.subarray(r * n, (r + 1) * n))));
  log(`floor n=${n}: ${JSON.stringify(floors[String(n)])}`);
}
floors['60000'] = summary([fidOf(perm)]);

// Degradations of 1k real training images, to give FID differences a scale.
const first1k = takeImages(train.images, perm.subarray(0, 1000));
const noise: Record<string, number> = {};
for (const sigma of [0.05, 0.1, 0.2, 0.4]) {
  const out = classify(clf, withNoise(first1k, sigma, 1));
  noise[String(sigma)] = frechetDistance(featureStats(out.features, out.n, FEATURE_DIM), ref);
  log(`noise σ=${sigma}: ${noise[String(sigma)]}`);
}
const seconds = (Date.now() - t0) / 1000;

const calibration = {
  classifier: { torchTestAccuracy: torchAccuracy, tsTestAccuracy: tsAccuracy, trainAccuracy },
  testFeaturesVsStoredStats: testSelf,
  realTrainFloor: floors,
  gaussianNoiseOn1k: noise,
  seconds,
};
writeFileSync(root('models/fid/calibration.json'), JSON.stringify(calibration, null, 2) + '\n');

const f = (x: number, d = 2) => x.toFixed(d);
const row = (n: string) => {
  const s = floors[n]!;
  return `| ${Number(n).toLocaleString('en-US')} | ${f(s.mean)} | ${s.runs > 1 ? `${f(s.min)} – ${f(s.max)}` : '—'} | ${s.runs} |`;
};

const doc = `# Metrics: FID, class accuracy, PSNR, SSIM

How ditto judges the images of a cache schedule for the Fashion-MNIST model. Code:
\`evaluation/metrics/\` (classifier.ts, fid.ts, linalg.ts, fidelity.ts); weights and statistics:
\`models/fid/\`; trainer: \`tools/fid/train_classifier.py\`; this page is written by
\`tools/fid/calibrate.ts\` (numbers below are from its last run, ${f(seconds, 0)} s).

## The feature network

Inception-v3 features, which the usual FID uses, mean nothing on 28×28 greyscale clothes, so FID
here uses a small classifier trained on the Fashion-MNIST training set:

    x [N,1,28,28] in [-1,1] → conv3×3(1→16) ReLU maxpool2 → conv3×3(16→32) ReLU maxpool2
      → flatten 1568 → fc 128 + ReLU  (= the features) → fc 10 (= logits)

207 k parameters (f32, 0.8 MB, \`models/fid/fmnist-classifier.safetensors\`), 10 epochs of Adam
with a one-cycle schedule and random horizontal flips, seed 0, about two minutes on one core.
Test accuracy: **${f(torchAccuracy * 100)} %** (torch) / **${f(tsAccuracy * 100)} %** (the TypeScript forward on all
10 000 test images); training-set accuracy ${f(trainAccuracy * 100)} %. The TS forward runs in float64 on the
CPU and matches torch's features and logits to ~2·10⁻⁶ (test/metrics/classifier.test.ts).

The features are the 128 ReLU outputs that feed the logits (the analogue of Inception's pool3).

## FID

FID = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^{1/2}), the Fréchet distance between Gaussians fitted to
the features of the generated images (1) and of the **10 000 Fashion-MNIST test images** (2).

- Means and covariances in float64; covariances unbiased (divided by N − 1), as pytorch-fid does.
- Tr((Σ₁Σ₂)^{1/2}) = Σᵢ √λᵢ(Σ₁^{1/2} Σ₂ Σ₁^{1/2}): that matrix has the eigenvalues of Σ₁Σ₂ but is
  symmetric positive semi-definite, so a symmetric eigensolver (cyclic Jacobi, float64) applies,
  no complex square roots appear, and eigenvalues that rounding pushes below zero are clamped to 0.
  The result is clamped at 0.
- The reference statistics (\`models/fid/fmnist-test-stats.safetensors\`) store \`mu\` [128] and
  \`sigma\` [128,128] as f64. ditto's weight loader turns floats into f32, so the file also holds
  \`mu_residual\` / \`sigma_residual\` = value − f32(value) and the loader adds them back (≈ 2⁻⁴⁸
  relative). FID of the TS features of the test images against the stored statistics, before
  clamping: ${testSelf.toExponential(2)} (torch and TS features agree).
- FID is biased upwards at small N (the covariance estimate is noisy): **compare FIDs only at
  the same sample count**, and read them against the floor below.

## Calibration: the floor (real training images against the test statistics)

Disjoint random subsets of the 60 000 training images (seeded permutation):

| images | FID (mean) | min – max | subsets |
|---:|---:|---:|---:|
${['1000', '2000', '5000', '10000', '60000'].map(row).join('\n')}

A perfect generator would score about these values at the same N. For scale, the same 1 000
images with Gaussian pixel noise (clamped to [-1, 1]):

| noise σ | ${Object.keys(noise).join(' | ')} |
|---|${Object.keys(noise).map(() => '---:').join('|')}|
| FID (1k) | ${Object.values(noise).map((v) => f(v)).join(' | ')} |

## Class accuracy

The fraction of generated images the classifier assigns to the class they were generated for
(arg-max of the logits). Real test images score ${f(tsAccuracy * 100)} %, which is the ceiling to read it against.

## Fidelity to a reference batch (\`evaluation/metrics/fidelity.ts\`)

For a cached schedule against the no-cache output from the same noise; images in [-1, 1]:

- **PSNR** = 10·log10(2² / MSE) with the squared error pooled over the whole batch (range 2 is
  the span of [-1, 1]; identical batches give +∞). \`psnrPerImage\` gives per-image values.
- **Relative L2** = ‖a − ref‖₂ / ‖ref‖₂ over the batch.
- **SSIM**: single scale, Wang et al. (2004): pixels mapped to [0, 1], Gaussian window 11×11 with
  σ = 1.5, K₁ = 0.01, K₂ = 0.03, L = 1, averaged over the valid 18×18 positions of each 28×28
  channel, then over channels and images.

## Command line

\`ditto fid IMAGES.safetensors [--labels 3 | 0,1,2,… ] [--json] [--classifier F] [--stats F]\`:
FID (and class accuracy) of the tensor \`images\` [N,1,28,28] in the file; labels come from
\`--labels\` (one class for all, or one per image) or else from the file's \`labels\` tensor.

## Reproducing

    OPENBLAS_NUM_THREADS=1 nice -n 10 /usr/bin/python3 tools/fid/train_classifier.py
    nice -n 10 npx tsx tools/fid/calibrate.ts
`;
writeFileSync(root('docs/metrics.md'), doc);
log(`wrote docs/metrics.md and models/fid/calibration.json in ${f(seconds, 0)} s`);
