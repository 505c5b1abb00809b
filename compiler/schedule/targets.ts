/**
 * Schedule targets: what a selector (`blocks[*].attn`, `blocks[0..14]`, `c`) names in a lowered
 * graph. Node targets are bound node paths; block targets are repetition instances.
 */
import type { SourceSpan } from '../../core/errors.ts';
import type { Selector } from '../../grammar/ast.ts';
import { type DiagnosticBag, closest, listSome } from '../../grammar/diagnostics.ts';
import { printSelector } from '../../grammar/printer.ts';
import type { BlockInstance, Graph } from '../ir/graph.ts';
import { type ConstEnv, evalInt } from '../check/constEval.ts';

export interface Target {
  readonly path: string;
  readonly kind: 'node' | 'block';
}

export interface TargetUniverse {
  readonly graph: Graph;
  readonly groups: ReadonlyMap<string, readonly BlockInstance[]>;
  /** Field names bound in every instance of a group (`attn`, `mlp`, `h`, …). */
  readonly fields: ReadonlyMap<string, readonly string[]>;
  /** Paths outside any repetition that a rule may name (not inputs, not `#n` shadows). */
  readonly topLevel: ReadonlySet<string>;
}

export function targetUniverse(graph: Graph): TargetUniverse {
  const groups = new Map<string, BlockInstance[]>();
  for (const b of graph.blocks) groups.set(b.group, [...(groups.get(b.group) ?? []), b]);
  const fields = new Map<string, string[]>();
  for (const [g, inst] of groups) {
    const per = inst.map((b) => new Set(b.nodes.map((id) => graph.nodes[id]!.path).filter((p): p is string => !!p && !p.includes('#')).map((p) => p.slice(b.path.length + 1))));
    fields.set(g, [...per[0]!].filter((f) => per.every((s) => s.has(f))));
  }
  const inBlock = new Set(graph.blocks.flatMap((b) => b.nodes));
  const topLevel = new Set(graph.nodes.filter((n) => n.path && !n.path.includes('#') && !inBlock.has(n.id) && n.op.kind !== 'input').map((n) => n.path!));
  return { graph, groups, fields, topLevel };
}

/** The node path that holds a block's output (its carried value). */
export function blockOutputPath(u: TargetUniverse, blockPath: string): string | undefined {
  const b = u.graph.blocks.find((x) => x.path === blockPath);
  return b ? u.graph.nodes[b.output]?.path : undefined;
}

export function resolveSelector(sel: Selector, env: ConstEnv, u: TargetUniverse, diags: DiagnosticBag): Target[] | undefined {
  const text = printSelector(sel);
  const group = u.groups.get(sel.root.name);
  if (!group) {
    if (sel.index || sel.field || !u.topLevel.has(sel.root.name)) {
      if (u.topLevel.has(sel.root.name) && sel.index) {
        diags.error(`\`${sel.root.name}\` is not a repetition and cannot be indexed`, sel.span);
        return undefined;
      }
      const cands = [...u.groups.keys(), ...u.topLevel];
      const best = closest(sel.root.name, cands);
      const fixed = best ? printSelector({ ...sel, root: { ...sel.root, name: best } }) : undefined;
      diags.error(`unknown node \`${text}\``, sel.root.span, {
        expected: `a node or repetition of model \`${u.graph.model}\`: ${listSome(cands)}`,
        ...(fixed ? { suggestion: `did you mean \`${fixed}\`?` } : {}),
      });
      return undefined;
    }
    return [{ path: sel.root.name, kind: 'node' }];
  }
  if (!sel.index) {
    diags.error(`\`${sel.root.name}\` is a repetition of ${group.length} blocks; select some of them`, sel.span, {
      expected: `${sel.root.name}[*], ${sel.root.name}[3] or ${sel.root.name}[0..${Math.min(group.length, 14)}]`,
    });
    return undefined;
  }
  const n = group.length;
  let from = 0;
  let to = n;
  const ix = sel.index;
  if (ix.kind === 'one') {
    const v = evalInt(ix.value, env, diags, 'a block index');
    if (v === undefined) return undefined;
    if (v >= n) {
      diags.error(`block index ${v} is out of range: \`${sel.root.name}\` has blocks 0..${n - 1}`, ix.span);
      return undefined;
    }
    from = v;
    to = v + 1;
  } else if (ix.kind === 'range') {
    const a = evalInt(ix.from, env, diags, 'the start of a block range');
    const b = ix.to ? evalInt(ix.to, env, diags, 'the end of a block range') : n;
    if (a === undefined || b === undefined) return undefined;
    if (b > n || a >= b) {
      diags.error(
        a >= b ? `block range ${a}..${b} is empty` : `block range ${a}..${b} is out of range: \`${sel.root.name}\` has blocks 0..${n - 1} (write ${a}..${n} or ${a}..)`,
        ix.span,
      );
      return undefined;
    }
    from = a;
    to = b;
  }
  const chosen = group.slice(from, to);
  if (!sel.field) return chosen.map((b) => ({ path: b.path, kind: 'block' as const }));
  const fields = u.fields.get(sel.root.name) ?? [];
  if (!fields.includes(sel.field.name)) {
    const best = closest(sel.field.name, fields);
    const fixed = best ? printSelector({ ...sel, field: { ...sel.field, name: best } }) : undefined;
    diags.error(`unknown node \`${text}\``, sel.field.span, {
      expected: `a node of every \`${sel.root.name}\` block: ${listSome(fields)}`,
      ...(fixed ? { suggestion: `did you mean \`${fixed}\`?` } : {}),
    });
    return undefined;
  }
  return chosen.map((b) => ({ path: `${b.path}.${sel.field!.name}`, kind: 'node' as const }));
}

/** Resolves a selector list; two selectors naming the same target is an error (overlap). */
export function resolveSelectors(sels: readonly Selector[], env: ConstEnv, u: TargetUniverse, diags: DiagnosticBag): Target[] | undefined {
  const out: Target[] = [];
  const by = new Map<string, { sel: Selector }>();
  let ok = true;
  for (const s of sels) {
    const ts = resolveSelector(s, env, u, diags);
    if (!ts) {
      ok = false;
      continue;
    }
    for (const t of ts) {
      const prev = by.get(t.path);
      if (prev) {
        diags.error(`overlapping selectors: \`${t.path}\` is selected by both \`${printSelector(prev.sel)}\` and \`${printSelector(s)}\``, s.span);
        ok = false;
        break;
      }
      by.set(t.path, { sel: s });
      out.push(t);
    }
  }
  return ok ? out : undefined;
}

export type { SourceSpan };
