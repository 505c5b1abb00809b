/**
 * The cache states a calibrated table chooses between, and the pure decision rules of the
 * calibration (docs/ebcache.md "Attention and MLP schedules", "Calibration"): the stage-dependent candidate, the threshold
 * δ(t), the per-sample choice and the vote over samples.
 *
 * Codes are the language's table codes: 0 compute both, 1 reuse attention (compute MLP), 2 reuse
 * both, 3 reuse MLP (compute attention).
 */

export type CacheState = 0 | 1 | 2 | 3;

/** Paper's stage threshold on t = i/S: early (high noise) is t > 0.4, the code's `i > 0.4·S`. */
export const STAGE_THRESHOLD = 0.4;

/** Trajectory fraction of sampling step k of S: t = i/S with i = S−1−k (1 at the first step's side, 0 at the last). */
export function trajectoryFraction(k: number, steps: number): number {
  return (steps - 1 - k) / steps;
}

/** The single-module candidate of a stage: reuse the MLP early (attention keeps updating the
 *  low-frequency structure), reuse attention late (the MLP keeps the high-frequency detail). */
export function singleModuleState(t: number): 1 | 3 {
  return t > STAGE_THRESHOLD ? 3 : 1;
}

/** How much work a state saves, for preferring and for breaking ties: 0 < single-module < both. */
export function savingRank(s: CacheState): number {
  return s === 0 ? 0 : s === 2 ? 2 : 1;
}

/** δ(t) = scale · (a + b·t): the acceptance threshold on the relative eps-norm gap. */
export interface Threshold {
  a: number;
  b: number;
}

export function thresholdAt(th: Threshold, scale: number, t: number): number {
  return scale * (th.a + th.b * t);
}

/** Relative gap of the eps norms: |‖cand‖ − ‖full‖| / ‖full‖ (NaN when ‖full‖ is 0 → never accepted). */
export function normGap(candNorm: number, fullNorm: number): number {
  return Math.abs(candNorm - fullNorm) / fullNorm;
}

/** Accepted when the gap is at most δ; δ = 0 accepts nothing (so scale 0 is the all-compute table). */
export function accepts(gap: number, delta: number): boolean {
  return delta > 0 && gap <= delta;
}

/** One sample's choice: the most saving acceptable state (both, else the stage's single module, else compute). */
export function sampleChoice(gapBoth: number, gapSingle: number, single: 1 | 3, delta: number): CacheState {
  if (accepts(gapBoth, delta)) return 2;
  if (accepts(gapSingle, delta)) return single;
  return 0;
}

/** Plurality vote over the samples' choices; a tie goes to the less saving state. */
export function vote(choices: readonly CacheState[]): CacheState {
  const counts = new Map<CacheState, number>();
  for (const c of choices) counts.set(c, (counts.get(c) ?? 0) + 1);
  let best: CacheState = 0;
  let bestCount = -1;
  for (const [s, n] of counts) {
    if (n > bestCount || (n === bestCount && savingRank(s) < savingRank(best))) {
      best = s;
      bestCount = n;
    }
  }
  return best;
}
