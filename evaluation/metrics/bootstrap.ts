/**
 * How much of an FID difference is noise: a paired bootstrap over images.
 *
 * Every row of an evaluation samples image g from the same noise and class, so rows are compared
 * on the same resampled index set: each replicate draws n indices with replacement, computes every
 * row's FID on those images, and records FID(row) − FID(baseline). The 2.5th and 97.5th
 * percentiles of those differences bound the difference; where the interval excludes 0 the
 * schedule changed FID beyond what this many samples can resolve. The spread (standard deviation)
 * of each row's replicate FIDs is its standard error.
 *
 * Caveat: FID is biased upward at finite n and a resample with repeated images has fewer distinct
 * images, so replicate FIDs sit above the full-sample FID; the paired difference is what is
 * reliable, the bias largely cancels in it. (docs/metrics.md)
 */
import { DittoError } from '../../core/errors.ts';
import { featureStats, frechetDistance, type FeatureStats } from './fid.ts';
import { uniformStream } from '../../core/random.ts';

export interface FidBootstrap {
  replicates: number;
  /** Per row: standard deviation of the replicate FIDs. */
  sd: number[];
  /** Per row: 95% percentile interval of FID(row) − FID(row 0); null for row 0. */
  delta: ({ lo: number; hi: number } | null)[];
}

function percentile(sorted: readonly number[], q: number): number {
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * `features[r]`: row r's n × dim feature vectors (row-major), image g of every row from the same
 * noise. Row 0 is the baseline the differences are taken against.
 */
export function bootstrapFid(features: readonly Float64Array[], n: number, dim: number, reference: FeatureStats, replicates: number, seed = 0, onReplicate?: (done: number) => void): FidBootstrap {
  if (!Number.isInteger(replicates) || replicates < 2) throw new DittoError('E_USAGE', `the FID bootstrap needs at least 2 replicates, got ${replicates}`);
  if (n < 2) throw new DittoError('E_USAGE', `the FID bootstrap needs at least 2 images per row, got ${n}`);
  for (const [r, f] of features.entries()) {
    if (f.length !== n * dim) throw new DittoError('E_INTERNAL', `bootstrap: row ${r} has ${f.length} feature values, expected ${n}×${dim}`);
  }
  // Seeded, so the same seed gives the same replicates on every machine.
  const next = uniformStream(seed);
  const fids = features.map(() => [] as number[]);
  const gathered = new Float64Array(n * dim);
  const idx = new Int32Array(n);
  for (let b = 0; b < replicates; b++) {
    for (let k = 0; k < n; k++) idx[k] = Math.floor(next() * n);
    for (const [r, f] of features.entries()) {
      for (let k = 0; k < n; k++) gathered.set(f.subarray(idx[k]! * dim, (idx[k]! + 1) * dim), k * dim);
      fids[r]!.push(frechetDistance(featureStats(gathered, n, dim), reference));
    }
    onReplicate?.(b + 1);
  }
  const sd = fids.map((v) => {
    const m = v.reduce((a, x) => a + x, 0) / v.length;
    return Math.sqrt(v.reduce((a, x) => a + (x - m) ** 2, 0) / (v.length - 1));
  });
  const delta = fids.map((v, r) => {
    if (r === 0) return null;
    const d = v.map((x, b) => x - fids[0]![b]!).sort((a, c) => a - c);
    return { lo: percentile(d, 0.025), hi: percentile(d, 0.975) };
  });
  return { replicates, sd, delta };
}
