/**
 * Schedule IR: a schedule resolved against a lowered graph into plain data, one entry per sampling
 * step. This is what the reference executor interprets and what the GPU compiler specialises.
 *
 * Step indexing: `k` = 0 .. steps−1 in sampling order (k = 0 is the first, noisiest step). The
 * count-down index used by the DiT / EB-Cache code is i = steps − 1 − k. The trajectory fraction
 * used by `t > 0.4` predicates and b(t) is t = i / steps (the code's stage test `i > 0.4·S`).
 *
 * Targets: an action applies to a *target*, which is either a bound node path (`blocks[3].attn`:
 * reuse / forecast that node's output) or a block instance path (`blocks[3]`: reuse its residual).
 * A target absent from a step's map computes.
 */

export type Action =
  | { kind: 'compute' }
  /** The node's value is the one stored at the last step where it was computed. */
  | { kind: 'reuse' }
  /** Block output = block input + (output − input) stored at the block's last compute step. */
  | { kind: 'reuse_residual' }
  /** Taylor extrapolation of order `order` from the last order+1 computed values (finite
   *  differences over step distance). With fewer stored values than order+1 it uses the order
   *  the history allows (the checker warns when that can happen). */
  | { kind: 'forecast'; order: number; basis?: ForecastBasis }
  /** Partial compute (token-level caching): the tokens `TokenHistory.select` (compiler/ir/rules.ts) picks
   *  at this step — a `fraction` of them, chosen `by` — are computed; every other token keeps the
   *  value stored at its own last compute. Only for token-wise node targets. */
  | { kind: 'tokens'; fraction: number; by: TokenOrder }
  /** Decided at run time by dynamic rule `rule` (index into ScheduleIR.dynamic). */
  | { kind: 'dynamic'; rule: number }
  /** FasterCache's CFG-Cache, only on the model output in the `uncond` branch: the unconditional
   *  output is the conditional one plus the bands of (uncond − cond) stored at the last step both
   *  computed, weighted (compiler/ir/rules.ts `cfgCacheWeights`, `uncondFromBands`). */
  | CfgCacheAction;

/** `cfg_cache(low: g, high: g, boundary: b)`: at each such step after a compute, the low band's
 *  weight is multiplied by `low` while t > `boundary`, the high band's by `high` from there on. */
export interface CfgCacheAction {
  readonly kind: 'cfg_cache';
  readonly low: number;
  readonly high: number;
  readonly boundary: number;
}

export type ActionKind = Action['kind'];

/**
 * The form of a forecast over the stored differences (compiler/ir/rules.ts). Absent: Taylor's
 * monomials m^j/j!. `hermite`: HiCache's scaled Hermite polynomials σ^j·He_j(m/σ)/j!, which equal
 * Taylor's as σ → 0. `foca`: FoCa's BDF2 forecast with a Heun calibration (order 2). `exp`: an
 * exponential fit of the last three computes (order 2; not linear in the differences). `linear`:
 * FasterCache's dynamic feature reuse, the last compute plus `weight` times the change between the
 * last two computes (order 1), the weight given per step.
 */
export type ForecastBasis = { form: 'hermite'; sigma: number } | { form: 'foca' } | { form: 'exp' } | { form: 'linear'; weight: number };

/**
 * How a partial compute picks its tokens. Both are *static* (they need no data, so the compiler
 * bakes them into the plan): the tokens whose last compute is oldest go first, ties broken by
 * raster order (`staleness`), or by the position inside each size×size patch of the token grid and
 * then the patch (`cluster`: with fraction 1/size², exactly one token per patch, rotating).
 */
export type TokenOrder = { form: 'staleness' } | { form: 'cluster'; size: number };

/** Classifier-free guidance runs the batch as [cond; uncond]; each half may follow its own rule. */
export interface BranchActions {
  readonly cond: Action;
  readonly uncond: Action;
}

/**
 * A dynamic rule: at steps where a target's action is `{kind:'dynamic', rule}`, the target is
 * reused (with `then`) when the accumulated signal is under `threshold`, else computed.
 *
 * Signal: relative L1 change of node `signal` between consecutive steps,
 *   s_k = mean|v_k − v_{k−1}| / mean|v_{k−1}|,
 * accumulated since the last step on which the targets were computed (acc += s_k). Decision at step k:
 * reuse iff k ≥ warmup and acc < threshold and the number of consecutive reuses so far < maxConsecutive;
 * on compute, acc resets to 0. The signal node itself must compute at every step. The decision is
 * taken once per step for the whole batch (the signal is the mean over the batch), per CFG branch
 * both branches follow the same decision.
 */
export interface DynamicRule {
  /** A named node, `<block>.residual`, or `<group>[a..b].residual` (output of block b−1 − input of block a). */
  readonly signal: string;
  /** `rel_l1`: s_k is the signal's relative L1 change. `transform_rate` (EasyCache): the signal is
   *  a block span's output − input and s_k the output change estimated from the input's change
   *  and the transformation rate measured at the computes (compiler/ir/rules.ts). */
  readonly metric: 'rel_l1' | 'transform_rate';
  readonly threshold: number;
  readonly warmup: number;
  readonly maxConsecutive: number;
  readonly then: 'reuse' | 'reuse_residual';
  /** What the change s_k is measured against: the signal at the previous step (`step`, the default;
   *  s is accumulated and the sum compared with the threshold) or at the last step the rule did not
   *  reuse (`compute`, DBCache; s itself is compared, the sum bounded by `cap`). */
  readonly against?: 'step' | 'compute';
  /** Polynomial applied to s_k before it is used, highest degree first (TeaCache's rescaling). */
  readonly rescale?: readonly number[];
  /** Bound on Σ s since the last compute (DBCache's accumulated cap); absent: none. */
  readonly cap?: number;
  /** Most reuses in a whole run (DBCache's max cached steps); absent: none. */
  readonly maxReused?: number;
  /** `per_branch` (needs CFG): each CFG branch measures its half of the signal and keeps its own
   *  accumulator and decision, as TeaCache does; absent: one decision for the whole batch. */
  readonly perBranch?: boolean;
}

export interface ScheduleIR {
  readonly name: string;
  readonly model: string;
  readonly steps: number;
  /** `steps` entries, sampling order; each maps target path → actions for the two CFG branches. */
  readonly table: readonly Readonly<Record<string, BranchActions>>[];
  /** `steps` entries: the multiplier applied to the predicted noise (eps channels, after CFG) at
   *  step k. 1 everywhere unless the schedule sets an exposure-bias scale. */
  readonly epsScale: readonly number[];
  readonly dynamic: readonly DynamicRule[];
}

export const COMPUTE: Action = Object.freeze({ kind: 'compute' });

/** The all-compute schedule for `steps` steps (what "no schedule" means). */
export function computeEverything(model: string, steps: number): ScheduleIR {
  return {
    name: 'none',
    model,
    steps,
    table: Array.from({ length: steps }, () => ({})),
    epsScale: Array.from({ length: steps }, () => 1),
    dynamic: [],
  };
}

/** The action of `target` at step k for one branch. */
export function actionAt(s: ScheduleIR, k: number, target: string, branch: 'cond' | 'uncond'): Action {
  const entry = s.table[k]?.[target];
  return entry ? entry[branch] : COMPUTE;
}
