/**
 * The greedy calibration pass and the search over δ's scale that meets a FLOPs budget.
 *
 * A pass with scale λ walks the sampling steps in order. At step k ≥ 1 it evaluates, from the same
 * x_t and the caches the earlier decisions left, the model under state 0 (compute), the stage's
 * single-module state and state 2 (reuse both); each sample accepts the most saving state whose
 * relative eps-norm gap is within δ(t) = λ·(a + b·t); the samples vote; the winner is applied
 * (its evaluation advances x_t and refreshes the caches) before step k+1 is scored. Step 0 computes.
 *
 * Passes with different λ share work: the scores at step k depend only on the decisions before k,
 * so they are memoised by that prefix. A pass whose decisions repeat an earlier pass's prefix costs
 * nothing there; where it leaves known ground, one trajectory is replayed (one evaluation per step,
 * the chosen state only) up to that step. Late bisection passes usually cost nothing at all.
 */
import { DittoError } from '../../core/errors.ts';
import type { TrajectoryModel } from './trajectory.ts';
import { Trajectory } from './trajectory.ts';
import { normGap, sampleChoice, singleModuleState, thresholdAt, trajectoryFraction, vote, type CacheState, type Threshold } from './states.ts';

/** Per-sample relative gaps at one step, for the stage's single-module state and for reuse-both. */
export interface StepScores {
  single: 1 | 3;
  gapSingle: Float64Array;
  gapBoth: Float64Array;
}

export class GreedyCalibration implements Decider {
  private readonly memo = new Map<string, StepScores>();
  private live: Trajectory;

  /** `onScore(k)` is told each time a step is scored afresh (progress of long runs). */
  constructor(readonly model: TrajectoryModel, private readonly onScore?: (k: number, steps: number) => void) {
    this.live = new Trajectory(model);
  }

  get steps(): number {
    return this.model.setup.steps;
  }

  /** The table (sampling order) a pass with δ scale λ produces. */
  decide(th: Threshold, scale: number): CacheState[] {
    const S = this.steps;
    const decisions: CacheState[] = [0];
    for (let k = 1; k < S; k++) {
      const t = trajectoryFraction(k, S);
      const delta = thresholdAt(th, scale, t);
      const sc = this.scoresAfter(decisions);
      const choices = Array.from(sc.gapBoth, (gb, b) => sampleChoice(gb, sc.gapSingle[b]!, sc.single, delta));
      decisions.push(vote(choices));
    }
    return decisions;
  }

  /** The scores of step `prefix.length` on the trajectory that took `prefix` (memoised). */
  scoresAfter(prefix: readonly CacheState[]): StepScores {
    const key = prefix.join('');
    const known = this.memo.get(key);
    if (known) return known;
    const tr = this.trajectoryAt(prefix);
    const k = tr.k;
    this.onScore?.(k, this.steps);
    const single = singleModuleState(trajectoryFraction(k, this.steps));
    const full = tr.evaluate(0);
    const gaps = (s: CacheState) => {
      const e = tr.evaluate(s);
      return Float64Array.from(e.norms, (n, b) => normGap(n, full.norms[b]!));
    };
    const sc: StepScores = { single, gapSingle: gaps(single), gapBoth: gaps(2) };
    this.memo.set(key, sc);
    return sc;
  }

  /** A trajectory at step `prefix.length` having taken `prefix`: the live one moved forward, or a replay. */
  trajectoryAt(prefix: readonly CacheState[]): Trajectory {
    const live = this.live;
    const onPath = live.k <= prefix.length && live.decisions.every((d, k) => d === prefix[k]);
    const tr = onPath ? live : new Trajectory(this.model);
    while (tr.k < prefix.length) tr.advance(prefix[tr.k]!);
    this.live = tr;
    return tr;
  }

  /** The final latents [B, C, H, W] of following `table` (sampling order) from the same noise. */
  latents(table: readonly CacheState[]): Float32Array {
    if (table.length !== this.steps) throw new DittoError('E_INTERNAL', `table has ${table.length} entries for ${this.steps} steps`);
    const tr = this.trajectoryAt(table.slice(0, -1));
    tr.advance(table[table.length - 1]!);
    return tr.x;
  }
}

/** What the budget search needs of a calibration: the table a pass with δ scale λ produces. */
export interface Decider {
  readonly steps: number;
  decide(th: Threshold, scale: number): CacheState[];
}

export interface BudgetSearchOptions {
  threshold: Threshold;
  /** Target FLOPs ratio R in (0, 1]. */
  budget: number;
  /** FLOPs ratio of a table (sampling order) under the compiler's cost model. */
  ratioOf: (table: readonly CacheState[]) => number;
  /** Bisection passes after the bracket is found (default 24). */
  iterations?: number;
  /** Told after every pass (progress of long runs). */
  onPass?: (pass: { n: number; scale: number; ratio: number; table: readonly CacheState[] }) => void;
}

export interface BudgetSearchResult {
  table: CacheState[];
  ratio: number;
  /** The δ scale λ of the chosen table: δ(t) = λ·(a + b·t). */
  scale: number;
  /** Passes run (each a full greedy pass, memoised). */
  passes: number;
}

/**
 * Finds the smallest δ scale whose table meets the budget (ratio ≤ R), i.e. the table closest to R
 * from below. λ = 0 accepts nothing (all-compute, ratio 1). From λ = 1 (the user's δ line) the
 * search brackets the boundary by factors of 4 (up while the budget is missed, down while it is
 * met), then bisects geometrically (gaps span orders of magnitude between models). The ratio is
 * not strictly monotone in λ (decisions change the trajectory), so every pass's table is a
 * candidate: the best feasible one seen wins, ties to the smaller λ.
 */
export function searchBudget(cal: Decider, opts: BudgetSearchOptions): BudgetSearchResult {
  const { threshold, budget, ratioOf } = opts;
  const allCompute: CacheState[] = Array.from({ length: cal.steps }, () => 0);
  let passes = 0;
  let best: BudgetSearchResult | undefined;
  const consider = (scale: number): boolean => {
    const table = scale === 0 ? allCompute : cal.decide(threshold, scale);
    passes++;
    const ratio = ratioOf(table);
    opts.onPass?.({ n: passes, scale, ratio, table });
    const ok = ratio <= budget + 1e-12;
    if (ok && (!best || ratio > best.ratio || (ratio === best.ratio && scale < best.scale))) best = { table, ratio, scale, passes: 0 };
    return ok;
  };
  const done = () => ({ ...best!, passes });
  if (consider(0)) return done();
  const MAX_BRACKET = 40;
  let lo: number;
  let hi: number;
  if (consider(1)) {
    hi = 1;
    lo = 1 / 4;
    for (let n = 0; consider(lo); n++) {
      if (n >= MAX_BRACKET) return done(); // even δ ≈ 0⁺ meets the budget: the gaps are exactly 0
      hi = lo;
      lo /= 4;
    }
  } else {
    lo = 1;
    hi = 4;
    for (let n = 0; !consider(hi); n++) {
      if (n >= MAX_BRACKET) {
        throw new DittoError('E_NUMERIC', `no δ scale up to ${hi.toExponential(2)} meets the budget ${budget}: the model never tolerates a cached state (are its outputs finite?)`);
      }
      lo = hi;
      hi *= 4;
    }
  }
  for (let it = 0; it < (opts.iterations ?? 24) && best!.ratio < budget && hi / lo > 1 + 1e-4; it++) {
    const mid = Math.sqrt(lo * hi);
    if (consider(mid)) hi = mid;
    else lo = mid;
  }
  return done();
}
