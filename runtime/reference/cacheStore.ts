/**
 * The cache of the reference executor: per target and CFG branch, the values stored at the last
 * compute steps (the ungated node output, or a block's residual output − input), and the three
 * ways a non-computing step reads them (reuse, forecast) — plus the rel-L1 signal of dynamic rules.
 */
import { DittoError } from '../../core/errors.ts';

export interface Stored {
  /** Sampling step k at which the value was computed. */
  step: number;
  value: Float32Array;
}

/** The last `keep` computed values of one target in one branch, oldest first. */
export class History {
  private readonly entries: Stored[] = [];
  constructor(readonly keep: number) {}

  push(step: number, value: Float32Array): void {
    this.entries.push({ step, value });
    if (this.entries.length > this.keep) this.entries.shift();
  }

  get size(): number {
    return this.entries.length;
  }

  get all(): readonly Stored[] {
    return this.entries;
  }

  last(): Stored | undefined {
    return this.entries[this.entries.length - 1];
  }
}

/**
 * Weights w over stored values at steps s_0 < … < s_m such that Σ w_i·f(s_i) is the Taylor
 * forecast at step k: Σ_j f[s_m, …, s_{m−j}]·(k − s_m)^j, where f[…] are Newton divided
 * differences (the j-th derivative estimate divided by j!). With evenly spaced computes this is
 * TaylorSeer's forecast exactly; order 0 is plain reuse, order 1 is exact on a linear signal.
 */
export function forecastWeights(steps: readonly number[], k: number): number[] {
  const m = steps.length - 1;
  if (m < 0) throw new DittoError('E_INTERNAL', 'forecast needs at least one stored value');
  // dd[a] holds the coefficient vector of f[s_a, …, s_{a−j}] for the current order j.
  let dd: number[][] = steps.map((_, a) => steps.map((__, i) => (i === a ? 1 : 0)));
  const weights = [...dd[m]!];
  let power = 1;
  for (let j = 1; j <= m; j++) {
    const next: number[][] = dd.map(() => []);
    for (let a = j; a <= m; a++) {
      const span = steps[a]! - steps[a - j]!;
      next[a] = dd[a]!.map((c, i) => (c - dd[a - 1]![i]!) / span);
    }
    dd = next;
    power *= k - steps[m]!;
    for (let i = 0; i <= m; i++) weights[i]! += dd[m]![i]! * power;
  }
  return weights;
}

/** Taylor forecast of order ≤ `order` at step k from the newest order+1 stored values. */
export function forecast(h: History, order: number, k: number): Float32Array {
  const used = h.all.slice(Math.max(0, h.size - (order + 1)));
  const w = forecastWeights(
    used.map((s) => s.step),
    k,
  );
  const n = used[0]!.value.length;
  const out = new Float32Array(n);
  for (let e = 0; e < n; e++) {
    let s = 0;
    for (let i = 0; i < used.length; i++) s += w[i]! * used[i]!.value[e]!;
    out[e] = s;
  }
  return out;
}

/** Relative L1 change mean|cur − prev| / mean|prev| (0/0 counts as no change). */
export function relL1(prev: Float32Array, cur: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < cur.length; i++) {
    num += Math.abs(cur[i]! - prev[i]!);
    den += Math.abs(prev[i]!);
  }
  if (den === 0) return num === 0 ? 0 : Infinity;
  return num / den;
}
