/**
 * The signal of a dynamic rule's `when` clause: which node a `rel_l1(…)` or `transform_rate(…)`
 * measures — one node (a block's output), or the residual of a span of consecutive blocks. Shared
 * by the rule statements (ruleStatement.ts) and EasyCache's rule (transformRateRule.ts).
 */
import type { ScheduleStmt } from '../../grammar/ast.ts';
import { printSelector } from '../../grammar/printer.ts';
import type { Ctx } from './resolveContext.ts';
import { type Target, blockOutputPath } from './targets.ts';

export type WhenAst = NonNullable<Extract<ScheduleStmt, { kind: 'rule' }>['when']>;

/** The measured node: its path (a `.residual` path for a span), its id, and the span's blocks. */
export interface RuleSignal {
  path: string;
  node: number;
  blocks: string[];
}

/** `rel_l1(node)` or `rel_l1(blocks[n])` (a block's output). */
export function nodeSignal(ctx: Ctx, w: Extract<WhenAst, { kind: 'rel_l1' }>, sig: readonly Target[]): RuleSignal | undefined {
  if (sig.length !== 1) {
    ctx.diags.error(`the signal must be one node, but \`${printSelector(w.signal)}\` selects ${sig.length}`, w.signal.span);
    return undefined;
  }
  const t = sig[0]!;
  const path = t.kind === 'block' ? blockOutputPath(ctx.u, t.path) : t.path;
  const node = ctx.u.graph.nodes.find((n) => n.path === path);
  if (!path || !node) {
    ctx.diags.error(`the signal \`${printSelector(w.signal)}\` has no node`, w.signal.span);
    return undefined;
  }
  return { path, node: node.id, blocks: [] };
}

/** `rel_l1(residual(blocks[a..b]))`: output of the last block of the range minus input of the first. */
export function residualSignal(ctx: Ctx, w: { signal: Extract<WhenAst, { kind: 'rel_l1' }>['signal'] }, sig: readonly Target[]): RuleSignal | undefined {
  const g = ctx.u.graph;
  const blocks = sig.map((t) => (t.kind === 'block' ? g.blocks.find((b) => b.path === t.path) : undefined));
  if (blocks.length === 0 || blocks.some((b) => b === undefined)) {
    ctx.diags.error(`\`residual(…)\` needs a block or a range of blocks, such as \`residual(blocks[0..4])\`, but \`${printSelector(w.signal)}\` selects nodes`, w.signal.span);
    return undefined;
  }
  const span = (blocks as NonNullable<(typeof blocks)[number]>[]).sort((a, b) => a.index - b.index);
  const first = span[0]!;
  const last = span[span.length - 1]!;
  if (span.some((b, j) => b.group !== first.group || b.index !== first.index + j)) {
    ctx.diags.error(`\`residual(…)\` needs consecutive blocks of one repetition`, w.signal.span);
    return undefined;
  }
  const path = span.length === 1 ? `${first.path}.residual` : `${first.group}[${first.index}..${last.index + 1}].residual`;
  return { path, node: last.output, blocks: span.map((b) => b.path) };
}
