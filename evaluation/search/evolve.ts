/**
 * The search method: an evolutionary multi-objective search in the manner of ECAD (Aggarwal et al.,
 * 2025: a genetic algorithm over per-step × per-block caching masks with NSGA-II selection), with
 * the differences docs/search.md lists — the population is seeded by uniform-interval families
 * (FORA, Taylor forecasts, early / late windows, Δ-DiT-style residual tails) instead of random
 * masks; the objectives are the fidelity loss and the time over the budget (predicted from kernel
 * times measured on the adapter), so the population gathers at the budget instead of spreading over
 * every speed; mutations act on windows of steps and ranges of blocks,
 * which is what the language writes compactly.
 *
 * Everything here is deterministic for a seed: the random stream is mulberry32(seed), and the
 * evaluator is asked in a fixed order, so a search replayed against its memo of evaluations (resume)
 * takes exactly the same path.
 */
import { uniformStream } from '../../core/random.ts';
import { budgetSeeds, computesWithinBudget, DENSITIES } from './budgetSeeds.ts';
import { type Action, allCompute, cloneGenome, type Component, COMPONENTS, type Genome, genomeKey, repair } from './genome.ts';

export interface Scored {
  key: string;
  genome: Genome;
  /** Predicted ms per image. */
  ms: number;
  loss: number;
}

export interface EvolveOptions {
  blocks: number;
  steps: number;
  seed: number;
  population: number;
  generations: number;
  /** The largest predicted ms per image a schedule may take to meet the budget. */
  budgetMs: number;
  /** Evaluates a candidate (memoised by the caller). */
  evaluate: (g: Genome, key: string) => Promise<Scored>;
  /** Told after every candidate the search asks for (memo hits included). */
  onCandidate?: (done: number, total: number) => void;
}

type Rng = () => number;
const int = (rng: Rng, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;

export interface Family {
  comps: readonly Component[];
  /** Blocks [from, to). */
  from: number;
  to: number;
  /** Steps [start, end) follow the interval; the others compute. */
  start: number;
  end: number;
  /** Compute at (k − start) % n == 0, else `action` (n = Infinity: compute at `start` only). */
  n: number;
  action: Exclude<Action, 'c'> | 'residual';
}

/** Writes a uniform-interval family into a genome. */
export function applyFamily(g: Genome, f: Family): void {
  for (let b = f.from; b < f.to; b++) {
    for (let k = f.start; k < f.end; k++) {
      const on = (k - f.start) % f.n !== 0;
      if (f.action === 'residual') g.res[b]![k] = on;
      else for (const c of f.comps) g[c][b]![k] = on ? f.action : 'c';
    }
  }
}

/** The seeds: no cache, and uniform-interval families over all blocks and both components. */
export function seedGenomes(blocks: number, steps: number): Genome[] {
  const S = steps;
  const both = COMPONENTS;
  const out: Genome[] = [allCompute(blocks, S)];
  const fam = (f: Partial<Family>, order?: 1 | 2) => {
    const g = allCompute(blocks, S);
    applyFamily(g, { comps: both, from: 0, to: blocks, start: 0, end: S, n: 2, action: 'r', ...f });
    if (order) g.attnOrder = g.mlpOrder = order;
    out.push(repair(g));
  };
  for (const n of [2, 3, 4, 5, 6]) fam({ n }); // FORA
  for (const n of [3, 4, 5]) fam({ n, action: 'f' }, 1); // TaylorSeer, order 1
  fam({ n: 4, action: 'f' }, 2);
  const tail = Math.max(1, Math.round(0.8 * S));
  for (const n of [3, 4, 6]) fam({ n, end: tail }); // cache early, compute the last 20 %
  for (const n of [2, 3]) fam({ n, comps: ['attn'] });
  for (const n of [2, 3]) fam({ n, comps: ['mlp'] });
  const half = Math.floor(blocks / 2);
  if (half > 0) for (const n of [2, 3]) fam({ n, from: half, action: 'residual' }); // Δ-DiT: the later blocks
  return out;
}

/** An interval of a window: 2 … 6 steps, or (one time in four) the whole window after its first step. */
function interval(rng: Rng): number {
  return rng() < 0.25 ? Infinity : int(rng, 2, 6);
}

/** A child: one or two window mutations, sometimes after a one-point crossover over steps. */
export function mutate(rng: Rng, parent: Genome, other: Genome | undefined, blocks: number, steps: number): Genome {
  let g = cloneGenome(parent);
  if (other && rng() < 0.3) {
    const cut = int(rng, 1, steps - 1);
    for (const c of COMPONENTS) for (let b = 0; b < blocks; b++) for (let k = cut; k < steps; k++) g[c][b]![k] = other[c][b]![k]!;
    for (let b = 0; b < blocks; b++) for (let k = cut; k < steps; k++) g.res[b]![k] = other.res[b]![k]!;
  }
  const moves = 1 + (rng() < 0.4 ? 1 : 0);
  for (let m = 0; m < moves; m++) {
    const from = int(rng, 0, blocks - 1);
    const to = rng() < 0.5 ? blocks : int(rng, from + 1, blocks);
    const comps = pick(rng, [['attn'], ['mlp'], COMPONENTS] as const);
    const r = rng();
    if (r < 0.35) {
      // A window follows a uniform interval.
      const start = int(rng, 1, steps - 1);
      const end = int(rng, start + 1, steps);
      applyFamily(g, { comps, from, to, start, end, n: interval(rng), action: rng() < 0.7 ? 'r' : 'f' });
    } else if (r < 0.45) {
      // A computed step moved by one or two steps on a block range (the cost stays, the placement changes):
      // once the population sits at the budget, where the computes go is what is left to choose.
      shiftCompute(rng, g, comps, from, to, steps);
    } else if (r < 0.8) {
      // A short window set to one action (s: the blocks skipped by residual reuse).
      const start = int(rng, 1, steps - 1);
      const end = Math.min(steps, start + int(rng, 1, 4));
      const action = pick(rng, ['c', 'c', 'r', 'f', 's'] as const);
      for (let b = from; b < to; b++) {
        for (let k = start; k < end; k++) {
          if (action === 's') g.res[b]![k] = true;
          else for (const c of comps) g[c][b]![k] = action;
        }
      }
    } else if (r < 0.88) {
      // Residual skipping of a block range on a window, or clearing it.
      const start = int(rng, 1, steps - 1);
      const end = int(rng, start + 1, steps);
      const how = rng();
      if (how < 0.5) applyFamily(g, { comps, from, to, start, end, n: interval(rng), action: 'residual' });
      else {
        // A short window skipped outright, or a window cleared.
        const stop = how < 0.8 ? Math.min(end, start + int(rng, 1, 4)) : end;
        for (let b = from; b < to; b++) for (let k = start; k < stop; k++) g.res[b]![k] = how < 0.8;
      }
    } else if (r < 0.96) {
      // One block's whole pattern copied onto a block range (what works for one block often works for its neighbours).
      const src = int(rng, 0, blocks - 1);
      for (let b = from; b < to; b++) {
        for (const c of COMPONENTS) g[c][b] = [...g[c][src]!];
        g.res[b] = [...g.res[src]!];
      }
    } else {
      const c = pick(rng, COMPONENTS);
      if (c === 'attn') g.attnOrder = g.attnOrder === 1 ? 2 : 1;
      else g.mlpOrder = g.mlpOrder === 1 ? 2 : 1;
    }
  }
  g = repair(g);
  return g;
}

/**
 * Moves one step at which every node of `comps` in blocks [from, to) computes to a step one or two
 * away at which they do not, swapping the two steps' actions (step 0 always computes, so it stays).
 */
export function shiftCompute(rng: Rng, g: Genome, comps: readonly Component[], from: number, to: number, steps: number): void {
  const computes = (k: number) => comps.every((c) => g[c].slice(from, to).every((row) => row[k] === 'c'));
  const at = Array.from({ length: steps - 1 }, (_, i) => i + 1).filter(computes);
  if (!at.length) return;
  const k = pick(rng, at);
  const d = (rng() < 0.5 ? -1 : 1) * int(rng, 1, 2);
  const j = k + d;
  if (j < 1 || j >= steps || computes(j)) return;
  for (const c of comps) {
    for (let b = from; b < to; b++) {
      const row = g[c][b]!;
      [row[k], row[j]] = [row[j]!, row[k]!];
    }
  }
}

/** How far a candidate is over the budget (0: within it): the budget as an objective. */
export function overBudget(s: Scored, budgetMs: number): number {
  return Math.max(0, s.ms - budgetMs);
}

/**
 * a dominates b on (time over the budget, loss): every candidate within the budget ties on the first
 * objective, so among them the loss decides, while a candidate slightly over the budget with a
 * lower loss than all those within stays in the population as a parent (the constraint treated as
 * an objective, as in multi-objective constraint handling).
 */
export function dominates(a: Scored, b: Scored, budgetMs: number): boolean {
  const va = overBudget(a, budgetMs);
  const vb = overBudget(b, budgetMs);
  return va <= vb && a.loss <= b.loss && (va < vb || a.loss < b.loss);
}

/** Non-dominated fronts (NSGA-II's fast non-dominated sort, quadratic: populations are small). */
export function fronts(xs: readonly Scored[], budgetMs: number): Scored[][] {
  const out: Scored[][] = [];
  let rest = [...xs];
  while (rest.length) {
    const front = rest.filter((a) => !rest.some((b) => b !== a && dominates(b, a, budgetMs)));
    out.push(front);
    rest = rest.filter((a) => !front.includes(a));
  }
  return out;
}

/** Crowding distance within a front (objectives: ms and loss). */
function crowding(front: readonly Scored[]): Map<Scored, number> {
  const d = new Map(front.map((s) => [s, 0]));
  for (const obj of [(s: Scored) => s.ms, (s: Scored) => s.loss]) {
    const sorted = [...front].sort((a, b) => obj(a) - obj(b) || a.key.localeCompare(b.key));
    const lo = obj(sorted[0]!);
    const hi = obj(sorted[sorted.length - 1]!);
    d.set(sorted[0]!, Infinity);
    d.set(sorted[sorted.length - 1]!, Infinity);
    for (let i = 1; i < sorted.length - 1; i++) {
      const span = hi - lo;
      d.set(sorted[i]!, d.get(sorted[i]!)! + (span > 0 ? (obj(sorted[i + 1]!) - obj(sorted[i - 1]!)) / span : 0));
    }
  }
  return d;
}

/** The best `n` of `xs`: by front, then by crowding distance, then by key (a total, seed-free order). */
export function survivors(xs: readonly Scored[], n: number, budgetMs: number): Scored[] {
  const out: Scored[] = [];
  for (const f of fronts(xs, budgetMs)) {
    if (out.length + f.length <= n) {
      out.push(...[...f].sort((a, b) => a.key.localeCompare(b.key)));
      continue;
    }
    const c = crowding(f);
    out.push(...[...f].sort((a, b) => c.get(b)! - c.get(a)! || a.key.localeCompare(b.key)).slice(0, n - out.length));
    break;
  }
  return out;
}

/** Every candidate the search asked for, in the order asked (seeds first). */
export async function evolve(o: EvolveOptions): Promise<Scored[]> {
  const rng = uniformStream(o.seed);
  const seeds = seedGenomes(o.blocks, o.steps);
  let total = seeds.length + o.generations * o.population;
  const seen = new Map<string, Scored>();
  const all: Scored[] = [];
  let asked = 0;
  const ask = async (g: Genome): Promise<Scored> => {
    const key = genomeKey(g);
    let s = seen.get(key);
    if (!s) {
      s = await o.evaluate(g, key);
      seen.set(key, s);
      all.push(s);
    }
    o.onCandidate?.(++asked, total);
    return s;
  };
  let pop: Scored[] = [];
  for (const g of seeds) pop.push(await ask(g));
  // Seeds fitted to the budget (budgetSeeds.ts): the most computed steps the budget allows, placed by densities.
  // Reuse first, then Taylor forecasts (a forecast buys more fidelity per computed step, at a higher price).
  for (const action of ['r', 'f'] as const) {
    const computes = computesWithinBudget(pop, o.steps, o.budgetMs, action);
    if (computes === null) continue;
    total += DENSITIES.length;
    for (const g of budgetSeeds(o.blocks, o.steps, computes, action)) pop.push(await ask(g));
  }
  pop = survivors(dedupe(pop), o.population, o.budgetMs);
  for (let gen = 0; gen < o.generations; gen++) {
    const children: Scored[] = [];
    for (let c = 0; c < o.population; c++) {
      const parent = tournament(rng, pop, o.budgetMs);
      const other = tournament(rng, pop, o.budgetMs);
      children.push(await ask(mutate(rng, parent.genome, other.genome, o.blocks, o.steps)));
    }
    pop = survivors(dedupe([...pop, ...children]), o.population, o.budgetMs);
  }
  return all;
}

function dedupe(xs: readonly Scored[]): Scored[] {
  const m = new Map<string, Scored>();
  for (const s of xs) m.set(s.key, s);
  return [...m.values()];
}

/** Binary tournament: the dominating one of two, else the one with the lower loss. */
function tournament(rng: Rng, pop: readonly Scored[], budgetMs: number): Scored {
  const a = pick(rng, pop);
  const b = pick(rng, pop);
  if (dominates(a, b, budgetMs)) return a;
  if (dominates(b, a, budgetMs)) return b;
  return a.loss <= b.loss ? a : b;
}

/** The (ms, loss) Pareto front of all evaluated candidates, fastest first. */
export function paretoFront(xs: readonly Scored[]): Scored[] {
  const front = xs.filter((a) => !xs.some((b) => b !== a && b.ms <= a.ms && b.loss <= a.loss && (b.ms < a.ms || b.loss < a.loss)));
  const unique = new Map<string, Scored>();
  for (const s of front) if (![...unique.values()].some((u) => u.ms === s.ms && u.loss === s.loss)) unique.set(s.key, s);
  return [...unique.values()].sort((a, b) => a.ms - b.ms || a.loss - b.loss);
}
