/**
 * A candidate as ditto schedule source: one rule per (component, action) naming the blocks that
 * share a step set, with the steps written as unions of half-open ranges (`steps 3..7 or steps 9..10`).
 * Residual rules come last, so that a block skipped by `reuse residual` is decided by that rule.
 * The text is what `ditto search` writes as a chosen schedule, so it must read well too.
 */
import type { SamplerKind } from '../../compiler/passes/options.ts';
import type { Action, Component, Genome } from './genome.ts';
import { COMPONENTS } from './genome.ts';

export interface EmitContext {
  /** The schedule's name (an identifier). */
  name: string;
  /** The model the schedule is `for` (graph.model). */
  model: string;
  /** The repetition (`blocks`). */
  group: string;
  steps: number;
  /** The `use` path as written in the file. */
  use: string;
  /** eps_scale expressions (index = Genome.eps); '1' emits no eps_scale line. */
  epsScales: readonly string[];
  /** Comment lines above the schedule. */
  header?: readonly string[];
  /** The sampler the schedule was searched under, written as `sampler X` (compiling it for another
   *  is refused); absent for the search's own candidates, which never leave it. */
  sampler?: SamplerKind;
}

/** Steps where `pick` holds, as a predicate over k: `steps a..b or steps c..d`; undefined when none. */
export function stepsPredicate(pick: readonly boolean[]): string | undefined {
  const ranges: string[] = [];
  let k = 0;
  while (k < pick.length) {
    if (!pick[k]) {
      k++;
      continue;
    }
    let e = k;
    while (e < pick.length && pick[e]) e++;
    ranges.push(`steps ${k}..${e}`);
    k = e;
  }
  return ranges.length ? ranges.join(' or ') : undefined;
}

/** Blocks grouped by an identical predicate, each group's blocks as contiguous half-open ranges. */
function byPredicate(blocks: number, predicateOf: (b: number) => string | undefined): Map<string, [number, number][]> {
  const groups = new Map<string, [number, number][]>();
  for (let b = 0; b < blocks; b++) {
    const p = predicateOf(b);
    if (p === undefined) continue;
    const ranges = groups.get(p) ?? [];
    const last = ranges[ranges.length - 1];
    if (last && last[1] === b) last[1] = b + 1;
    else ranges.push([b, b + 1]);
    groups.set(p, ranges);
  }
  return groups;
}

/** `group[*]` when the range is the whole stack, so a schedule found on one depth reads the same on any. */
function selector(group: string, [a, b]: [number, number], blocks: number, node?: Component): string {
  const range = a === 0 && b === blocks ? '*' : b - a === 1 ? `${a}` : `${a}..${b}`;
  return `${group}[${range}]${node ? `.${node}` : ''}`;
}

/** The rules of a candidate, in the order they are written. */
export function scheduleRules(g: Genome, group: string): string[] {
  const blocks = g.attn.length;
  const rules: string[] = [];
  const actions: [Exclude<Action, 'c'>, (c: Component) => string][] = [
    ['r', () => 'reuse'],
    ['f', (c) => `forecast taylor(${c === 'attn' ? g.attnOrder : g.mlpOrder})`],
  ];
  for (const [act, verb] of actions) {
    for (const comp of COMPONENTS) {
      const m = g[comp];
      for (const [pred, ranges] of byPredicate(blocks, (b) => stepsPredicate(m[b]!.map((a, k) => a === act && !g.res[b]![k])))) {
        rules.push(`${ranges.map((r) => selector(group, r, blocks, comp)).join(', ')} ${verb(comp)} at ${pred}`);
      }
    }
  }
  for (const [pred, ranges] of byPredicate(blocks, (b) => stepsPredicate(g.res[b]!))) {
    rules.push(`${ranges.map((r) => selector(group, r, blocks)).join(', ')} reuse residual at ${pred}`);
  }
  return rules;
}

/** The schedule declaration alone (no `use`), e.g. for a file that declares several. */
export function scheduleDecl(g: Genome, ctx: Omit<EmitContext, 'use' | 'header'>): string {
  const lines = [`schedule ${ctx.name} for ${ctx.model} {`, `  steps ${ctx.steps}`];
  if (ctx.sampler) lines.push(`  sampler ${ctx.sampler}`);
  for (const r of scheduleRules(g, ctx.group)) lines.push(`  ${r}`);
  const eps = ctx.epsScales[g.eps] ?? '1';
  if (eps.trim() !== '1') lines.push(`  eps_scale ${eps}`);
  lines.push('}');
  return lines.join('\n') + '\n';
}

/** A whole .ditto file holding the candidate. */
export function scheduleSource(g: Genome, ctx: EmitContext): string {
  return [...(ctx.header ?? []).map((h) => `// ${h}`), `use "${ctx.use}"`, '', scheduleDecl(g, ctx)].join('\n');
}
