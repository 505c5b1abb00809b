/**
 * The scoring half of an evaluation: from every row's images (and the classifier's outputs on
 * them) to the report — FID, accuracy, the bootstrap, PSNR/SSIM against the baseline, speed-ups.
 *
 * One function for both ways an evaluation ends: `runEval` after sampling every batch itself, and
 * `mergeEvalShards` after reading the batches of several shards. Given the same images in the same
 * order it does the same arithmetic in the same order, which is what makes a merged evaluation
 * bit-identical to a single-process one. The classifier sees one image at a time, so outputs
 * computed shard by shard and concatenated equal the outputs of one pass over all images.
 */
import { tensor, type Tensor } from '../../core/tensor.ts';
import { classify, FEATURE_DIM, loadClassifier, type Classifier, type ClassifierOutput } from '../metrics/classifier.ts';
import { classAccuracy, fidOfClassified, loadReferenceStats, type FeatureStats } from '../metrics/fid.ts';
import { bootstrapFid, type FidBootstrap } from '../metrics/bootstrap.ts';
import { classifierMetricsUnavailable, fidelityToBaseline } from './imageMetrics.ts';
import type { EvalProgress, EvalReport, EvalRow } from './types.ts';

/** Class of image g: cycling through the model's classes (0 for an unconditional model). */
export function classOfImage(g: number, classCount: number): number {
  return classCount > 0 ? g % classCount : 0;
}

/** Classes of images [first, end). */
export function classesOfRange(first: number, end: number, classCount: number): number[] {
  return Array.from({ length: end - first }, (_, k) => classOfImage(first + k, classCount));
}

/** The classifier's outputs for every row's images, or undefined where the classifier does not apply. */
export function classifyRows(
  images: readonly Tensor[],
  imageShape: readonly number[],
  classCount: number,
  classifier: Classifier | undefined,
  progress: (p: EvalProgress) => void = () => undefined,
): ClassifierOutput[] | undefined {
  if (classifierMetricsUnavailable(imageShape, classCount)) return undefined;
  const clf = classifier ?? loadClassifier();
  return images.map((im, i) => {
    progress({ phase: 'metrics', done: i, total: images.length });
    return classify(clf, im);
  });
}

export interface ScoredRowInput {
  name: string;
  schedule: string;
  /** All `samples` images of the row, in global index order. */
  images: Tensor;
  seconds: number;
  predictedSpeedup: number | null;
  flopsRatio: number | null;
}

export interface ScoreInput {
  /** The report's header fields. */
  header: Omit<EvalReport, 'rows' | 'notes' | 'bootstrap'>;
  /** [C, H, W] of one image: decides whether FID and accuracy apply. */
  imageShape: readonly number[];
  rows: ScoredRowInput[];
  /** classifyRows(…) of the rows' images; undefined where the classifier does not apply. */
  classified: ClassifierOutput[] | undefined;
  /** Notes of the sampling side, printed before the scoring's own. */
  notes: string[];
  fid?: boolean;
  bootstrap?: number;
  referenceStats?: FeatureStats;
  onProgress?: (p: EvalProgress) => void;
}

export function scoreEval(input: ScoreInput): EvalReport {
  const { header, rows } = input;
  const samples = header.samples;
  const notes = [...input.notes];
  const progress = input.onProgress ?? (() => undefined);
  const classes = classesOfRange(0, samples, header.classCount);
  const why = classifierMetricsUnavailable(input.imageShape, header.classCount);
  const wantFid = input.fid ?? true;
  if (why) notes.push(why);
  else if (wantFid && samples < 2) notes.push('FID needs at least 2 samples (a covariance); only accuracy is reported');
  else if (wantFid && samples < 1000) notes.push(`FID from ${samples} samples is biased upward; compare rows with each other, and see docs/metrics.md for the floor at this N`);
  let reference: FeatureStats | undefined;
  const referenceStats = () => (reference ??= input.referenceStats ?? loadReferenceStats());
  const withFid = !why && wantFid && samples >= 2;
  const scored = rows.map((_, i) => {
    const out = input.classified?.[i];
    if (why || !out) return { fid: null, accuracy: null };
    if (withFid) {
      const r = fidOfClassified(out, referenceStats(), classes);
      return { fid: r.fid, accuracy: r.accuracy! };
    }
    return { fid: null, accuracy: classAccuracy(out, classes) };
  });
  const reps = input.bootstrap ?? 0;
  let boot: FidBootstrap | undefined;
  if (reps > 0 && withFid && input.classified) {
    const features = input.classified.map((o) => o.features);
    boot = bootstrapFid(features, samples, FEATURE_DIM, referenceStats(), reps, header.seed, (done) => progress({ phase: 'bootstrap', done, total: reps }));
  } else if (reps > 0) notes.push('no FID bootstrap: FID is not computed for these images');
  const out: EvalRow[] = rows.map((row, i) => ({
    name: row.name,
    schedule: row.schedule,
    images: row.images,
    classes,
    seconds: row.seconds,
    speedup: rows[0]!.seconds / row.seconds,
    predictedSpeedup: row.predictedSpeedup,
    flopsRatio: row.flopsRatio,
    fid: scored[i]!.fid,
    fidSd: boot ? boot.sd[i]! : null,
    fidDelta: boot ? boot.delta[i]! : null,
    accuracy: scored[i]!.accuracy,
    ...fidelityToBaseline(row.images, rows[0]!.images),
  }));
  return { ...header, bootstrap: boot ? reps : null, rows: out, notes };
}

/** The first n images of parts, one tensor (a run's batches, or the shards of a merge). */
export function concatImages(parts: Tensor[], n: number): Tensor {
  const per = parts[0]!.data.length / parts[0]!.shape[0]!;
  const data = new Float32Array(n * per);
  let o = 0;
  for (const p of parts) {
    const take = Math.min(p.data.length, data.length - o);
    data.set(p.data.subarray(0, take) as Float32Array, o);
    o += take;
  }
  return tensor([n, ...parts[0]!.shape.slice(1)], data);
}
