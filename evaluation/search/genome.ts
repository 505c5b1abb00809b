/**
 * A candidate of the search: what every block's attention and MLP do at every sampling step, which
 * blocks are skipped by residual reuse, the Taylor orders and the eps scale. It is plain data; the
 * .ditto text it stands for comes from emit.ts, and `repair` keeps every candidate inside what the
 * language accepts (so every emitted candidate checks and compiles).
 */

/** c compute · r reuse · f forecast (Taylor). */
export type Action = 'c' | 'r' | 'f';
export const COMPONENTS = ['attn', 'mlp'] as const;
export type Component = (typeof COMPONENTS)[number];

export interface Genome {
  /** [block][step] for attention and MLP. */
  attn: Action[][];
  mlp: Action[][];
  /** [block][step]: the block is skipped by `reuse residual` (its attn / mlp actions are then moot). */
  res: boolean[][];
  /** Taylor order of the forecasts of each component (1 or 2). */
  attnOrder: 1 | 2;
  mlpOrder: 1 | 2;
  /** Index into the search's list of eps scales (0: the first, normally 1). */
  eps: number;
}

export function allCompute(blocks: number, steps: number): Genome {
  const grid = <T>(v: T) => Array.from({ length: blocks }, () => Array.from({ length: steps }, () => v));
  return { attn: grid<Action>('c'), mlp: grid<Action>('c'), res: grid(false), attnOrder: 1, mlpOrder: 1, eps: 0 };
}

export function cloneGenome(g: Genome): Genome {
  return { attn: g.attn.map((r) => [...r]), mlp: g.mlp.map((r) => [...r]), res: g.res.map((r) => [...r]), attnOrder: g.attnOrder, mlpOrder: g.mlpOrder, eps: g.eps };
}

/** A stable text key (memo of evaluations, resume, dedup). */
export function genomeKey(g: Genome): string {
  const rows = (m: readonly (readonly string[])[]) => m.map((r) => r.join('')).join('/');
  return `a:${rows(g.attn)}|m:${rows(g.mlp)}|s:${rows(g.res.map((r) => r.map((b) => (b ? 's' : '.'))))}|o:${g.attnOrder}${g.mlpOrder}|e:${g.eps}`;
}

/**
 * Makes a candidate valid for the language: step 0 computes everything (nothing is cached before
 * it); a residual step leaves its block's nodes at `c` (the block rule decides them); a node whose
 * computed steps cannot feed its Taylor order forecasts nothing (its `f` become `r`); a node with
 * no forecast does not need an order, so the order is normalised to 1 where no node forecasts.
 */
export function repair(g: Genome): Genome {
  const out = cloneGenome(g);
  const B = out.attn.length;
  for (let b = 0; b < B; b++) {
    out.attn[b]![0] = 'c';
    out.mlp[b]![0] = 'c';
    out.res[b]![0] = false;
    out.res[b]!.forEach((s, k) => {
      if (s) {
        out.attn[b]![k] = 'c';
        out.mlp[b]![k] = 'c';
      }
    });
  }
  for (const comp of COMPONENTS) {
    const order = comp === 'attn' ? out.attnOrder : out.mlpOrder;
    const m = out[comp];
    for (let b = 0; b < B; b++) {
      // Computed steps of the node: where its action is c and the block is not skipped.
      const computes = m[b]!.filter((a, k) => a === 'c' && !out.res[b]![k]).length;
      if (computes < order + 1) m[b] = m[b]!.map((a) => (a === 'f' ? 'r' : a));
    }
    if (!m.some((row) => row.includes('f'))) {
      if (comp === 'attn') out.attnOrder = 1;
      else out.mlpOrder = 1;
    }
  }
  return out;
}

/** Per step: how many node evaluations a candidate skips (a cheap, model-free measure of its saving). */
export function skippedNodes(g: Genome): number {
  let n = 0;
  g.attn.forEach((row, b) =>
    row.forEach((a, k) => {
      if (g.res[b]![k]) n += 2;
      else n += (a !== 'c' ? 1 : 0) + (g.mlp[b]![k] !== 'c' ? 1 : 0);
    }),
  );
  return n;
}
