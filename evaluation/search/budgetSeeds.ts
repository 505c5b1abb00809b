/**
 * Seeds fitted to the budget. The uniform-interval seeds land where their whole intervals put them
 * (on the default model FORA N = 4 and 5 straddle a 3.2× budget), and a search of a hundred
 * candidates rarely walks from there to the budget. So once the seeds are evaluated, the search
 * fits the predicted time per image as a line in the share of computed nodes, over the seeds that
 * only compute or reuse (their time is that share priced by the adapter's kernel times, plus the
 * fixed part of a step), and the same over the seeds that only compute or forecast (Taylor order 1),
 * and adds candidates with the most computed steps the budget allows,
 * placed over the steps by a density: uniform (a fractional interval), rising towards the last
 * steps (where the images take their detail), and high at both ends. The density is the only
 * thing that differs between them, so the search starts with the budget spent in different places.
 */
import { allCompute, COMPONENTS, type Genome, repair } from './genome.ts';

/** Share of the attention / MLP nodes a candidate computes, over all blocks and steps. */
export function computedShare(g: Genome): number {
  let computed = 0;
  let all = 0;
  for (const c of COMPONENTS) {
    g[c].forEach((row, b) =>
      row.forEach((a, k) => {
        all++;
        if (a === 'c' && !g.res[b]![k]) computed++;
      }),
    );
  }
  return all ? computed / all : 1;
}

/** What a budget seed does at the steps it does not compute: reuse (FORA) or forecast with Taylor order 1. */
export type SeedAction = 'r' | 'f';

/**
 * Every node either computes or does `action` (order 1 for forecasts), and no block is skipped: the
 * cost of such a schedule is its computed share priced by one line, a different line per action
 * (a forecast is more elementwise work than a reuse).
 */
function computeOr(g: Genome, action: SeedAction): boolean {
  if (g.res.some((row) => row.includes(true))) return false;
  const other = action === 'r' ? 'f' : 'r';
  if (COMPONENTS.some((c) => g[c].some((row) => row.includes(other)))) return false;
  if (action === 'f') return g.attnOrder === 1 && g.mlpOrder === 1 && COMPONENTS.some((c) => g[c].some((row) => row.includes('f')));
  return true;
}

/**
 * The number of whole steps a compute-or-reuse schedule may compute and stay within `budgetMs`,
 * from a least-squares line ms = a + b · share over the evaluated seeds that only compute or reuse;
 * null where the line cannot be fitted (fewer than two shares, or a time that does not rise with
 * the share) or where no cache already meets the budget.
 */
export function computesWithinBudget(evaluated: readonly { genome: Genome; ms: number }[], steps: number, budgetMs: number, action: SeedAction = 'r'): number | null {
  // A Taylor schedule's computed step also updates the forecast's differences, so no cache is not
  // on the forecasts' line: anchored by it, the line put TaylorSeer at 7 of 50 steps where 8 met
  // a 3.2x budget on the default model. No cache joins only where fewer than two forecast seeds exist.
  let pts = evaluated.filter((e) => computeOr(e.genome, action)).map((e) => ({ x: computedShare(e.genome), y: e.ms }));
  if (action === 'f' && pts.length < 2) pts = [...pts, ...evaluated.filter((e) => computedShare(e.genome) === 1).map((e) => ({ x: 1, y: e.ms }))];
  const n = pts.length;
  if (n < 2) return null;
  const mx = pts.reduce((s, p) => s + p.x, 0) / n;
  const my = pts.reduce((s, p) => s + p.y, 0) / n;
  const sxx = pts.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  if (sxx <= 0) return null;
  const b = pts.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0) / sxx;
  if (!(b > 0)) return null;
  const a = my - b * mx;
  const share = (budgetMs - a) / b;
  if (share >= 1) return null;
  const c = Math.floor(share * steps + 1e-9);
  return Math.max(2, Math.min(steps - 1, c));
}

/** Densities over the sampling progress u ∈ [0, 1] (0: the first step). */
export const DENSITIES: readonly { name: string; w: (u: number) => number }[] = [
  { name: 'uniform', w: () => 1 },
  { name: 'rising', w: (u) => 0.25 + u },
  { name: 'late', w: (u) => 0.05 + u * u },
  { name: 'ends', w: (u) => 0.1 + (2 * u - 1) ** 2 },
];

/**
 * Which of `steps` steps compute: step 0 and `computes − 1` more spread by the density `w` (each
 * step's expected share clamped to one compute, then systematic rounding, so the count is exact).
 */
export function placeComputes(steps: number, computes: number, w: (u: number) => number): boolean[] {
  const out = Array.from({ length: steps }, (_, k) => k === 0);
  const rest = Math.min(computes, steps) - 1;
  if (rest <= 0) return out;
  const ws = Array.from({ length: steps - 1 }, (_, i) => Math.max(1e-9, w((i + 1) / Math.max(1, steps - 1))));
  const total = (l: number) => ws.reduce((s, x) => s + Math.min(1, l * x), 0);
  // The scale λ at which the clamped expected counts add up to `rest` (total(λ) rises with λ).
  let lo = 0;
  let hi = 1;
  while (total(hi) < rest) hi *= 2;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (total(mid) < rest) lo = mid;
    else hi = mid;
  }
  let cum = 0;
  ws.forEach((x, i) => {
    const prev = cum;
    cum += Math.min(1, hi * x);
    if (Math.floor(cum + 0.5 - 1e-9) > Math.floor(prev + 0.5 - 1e-9)) out[i + 1] = true;
  });
  return out;
}

/** One candidate per density: every node computes at the placed steps and does `action` at the others. */
export function budgetSeeds(blocks: number, steps: number, computes: number, action: SeedAction = 'r'): Genome[] {
  return DENSITIES.map(({ w }) => {
    const on = placeComputes(steps, computes, w);
    const g = allCompute(blocks, steps);
    for (const c of COMPONENTS) for (let b = 0; b < blocks; b++) for (let k = 0; k < steps; k++) g[c][b]![k] = on[k] ? 'c' : action;
    return repair(g);
  });
}
