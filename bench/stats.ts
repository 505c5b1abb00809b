/**
 * Statistics and the interleaved runner shared by every benchmark.
 *
 * Why interleaved: on a shared machine (and on a software GPU that competes with everything else
 * for the same cores) load drifts over minutes. Running A A A … then B B B … attributes that drift
 * to whichever candidate ran second; running A B A B … after a warm-up spreads it over all of them,
 * in one process, on one device, so every candidate sees the same JIT caches and the same clocks.
 */
import { DittoError } from '../core/errors.ts';

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
  mean: number;
}

/** Median, min, max and mean of a non-empty list of finite samples. */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new DittoError('E_INTERNAL', 'summarize: no samples');
  if (samples.some((s) => !Number.isFinite(s))) throw new DittoError('E_INTERNAL', `summarize: non-finite sample in [${samples.join(', ')}]`);
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  const mid = n >> 1;
  const median = n % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  const mean = sorted.reduce((s, x) => s + x, 0) / n;
  return { n, median, min: sorted[0]!, max: sorted[n - 1]!, mean };
}

/** One thing to time: `run` is one repetition (for example one image, or one forward). */
export interface Candidate {
  name: string;
  run: () => unknown;
}

export interface InterleaveOptions {
  /** Untimed rounds first (JIT, caches, allocator), each candidate in turn. Default 1. */
  warmup?: number;
  /** Timed rounds; every round runs every candidate once, in the given order. */
  runs: number;
  /** Clock in milliseconds (injectable for tests). Default `performance.now`. */
  now?: () => number;
  /**
   * Reverse the order on every other timed round (A B C, C B A, A B C, …). With an even number of
   * rounds this cancels a load that drifts linearly over the bench, which a fixed order would
   * charge to the candidates late in each round. Default false (fixed order).
   */
  alternate?: boolean;
  /** Called after each timed repetition (progress output). */
  onSample?: (name: string, round: number, ms: number) => void;
}

export interface CandidateResult {
  name: string;
  /** Wall milliseconds of each timed repetition, in round order. */
  samples: number[];
  summary: Summary;
}

/**
 * Runs the candidates as W warm-up rounds then R timed rounds of A B C A B C … (or A B C C B A …
 * with `alternate`), awaiting each repetition, and returns per-candidate wall times in
 * milliseconds, in round order.
 */
export async function interleave(candidates: readonly Candidate[], opts: InterleaveOptions): Promise<CandidateResult[]> {
  const { warmup = 1, runs, now = () => performance.now() } = opts;
  if (candidates.length === 0) throw new DittoError('E_USAGE', 'nothing to benchmark: no candidates');
  if (!Number.isInteger(runs) || runs < 1) throw new DittoError('E_USAGE', `--runs must be a positive integer, got ${runs}`);
  if (!Number.isInteger(warmup) || warmup < 0) throw new DittoError('E_USAGE', `--warmup must be a non-negative integer, got ${warmup}`);
  const names = new Set<string>();
  for (const c of candidates) {
    if (names.has(c.name)) throw new DittoError('E_USAGE', `benchmark candidate '${c.name}' is listed twice`);
    names.add(c.name);
  }
  for (let w = 0; w < warmup; w++) for (const c of candidates) await c.run();
  const samples = candidates.map(() => [] as number[]);
  for (let r = 0; r < runs; r++) {
    for (let j = 0; j < candidates.length; j++) {
      const i = opts.alternate && r % 2 === 1 ? candidates.length - 1 - j : j;
      const c = candidates[i]!;
      const t0 = now();
      await c.run();
      const ms = now() - t0;
      samples[i]!.push(ms);
      opts.onSample?.(c.name, r, ms);
    }
  }
  return candidates.map((c, i) => ({ name: c.name, samples: samples[i]!, summary: summarize(samples[i]!) }));
}

/** Speed-up of `candidate` over `baseline` from their median times: >1 means faster. */
export function speedup(baseline: Summary, candidate: Summary): number {
  return baseline.median / candidate.median;
}

/**
 * How much of a predicted speed-up became wall-clock time: measured / predicted (1 = all of it).
 * Both are speed-ups (≥ 0); a predicted speed-up of 1 (no saving) gives measured itself.
 */
export function realisedRatio(measuredSpeedup: number, predictedSpeedup: number): number {
  if (!(predictedSpeedup > 0)) throw new DittoError('E_INTERNAL', `predicted speed-up must be positive, got ${predictedSpeedup}`);
  return measuredSpeedup / predictedSpeedup;
}

/** Share of the saved time that was realised: (1 − 1/measured) / (1 − 1/predicted); NaN without a predicted saving. */
export function realisedSavingShare(measuredSpeedup: number, predictedSpeedup: number): number {
  const predictedSaving = 1 - 1 / predictedSpeedup;
  if (predictedSaving === 0) return Number.NaN;
  return (1 - 1 / measuredSpeedup) / predictedSaving;
}

/** Operations per second in G units: `count` operations (FLOPs or bytes) done in `ms` milliseconds. */
export function gigaPerSecond(count: number, ms: number): number {
  return count / (ms * 1e6);
}
