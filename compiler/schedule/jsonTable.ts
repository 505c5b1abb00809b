/**
 * `json …` statements: per-component lists of 1 (compute) and 0 (reuse), one entry per step, as
 * the released Δ-DiT/SmoothCache-style schedules ship them; keys map to targets with `map(…)` or
 * name block nodes directly.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { SourceSpan } from '../../core/errors.ts';
import type { ScheduleStmt } from '../../grammar/ast.ts';
import { didYouMean } from '../../grammar/diagnostics.ts';
import { resolveFrom } from '../check/program.ts';
import { applyCells, type Branch, COMPUTE, type Ctx, stepEnv, warnNoChange } from './resolveContext.ts';
import { type Target, resolveSelector } from './targets.ts';

export function applyJson(ctx: Ctx, s: Extract<ScheduleStmt, { kind: 'json' }>, branches: readonly Branch[]): void {
  const file = resolveFrom(ctx.file, s.path.value);
  const fail = (why: string) => ctx.diags.error(`'${file}' is not a usable JSON schedule: ${why}`, s.path.span, { code: 'E_TABLE' });
  if (!existsSync(file)) {
    ctx.diags.error(`cannot read JSON schedule '${file}': no such file`, s.path.span, { code: 'E_IO' });
    return;
  }
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    fail((e as Error).message);
    return;
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    fail('expected an object mapping each component to a list of 0/1 (1 = compute)');
    return;
  }
  const lists = data as Record<string, unknown>;
  const env = stepEnv(ctx, undefined, 'a selector');
  const mapping = new Map<string, { targets: Target[]; span: SourceSpan }>();
  if (s.map) {
    for (const e of s.map) {
      if (!(e.key.value in lists)) {
        const sg = didYouMean(e.key.value, Object.keys(lists));
        ctx.diags.error(`'${file}' has no list \`${e.key.value}\``, e.key.span, { code: 'E_TABLE', expected: Object.keys(lists).join(', '), ...(sg ? { suggestion: sg } : {}) });
        return;
      }
      const ts = resolveSelector(e.target, env, ctx.u, ctx.diags);
      if (!ts) return;
      mapping.set(e.key.value, { targets: ts, span: e.span });
    }
  } else {
    // Without a map, keys name block nodes directly (`attn` → every block's `attn`).
    for (const key of Object.keys(lists)) {
      const group = [...ctx.u.fields].find(([, f]) => f.includes(key));
      if (!group) {
        ctx.diags.error(`'${file}': list \`${key}\` names no node of every block; add map("${key}" = blocks[*].…)`, s.path.span, { code: 'E_TABLE' });
        return;
      }
      mapping.set(key, { targets: ctx.u.groups.get(group[0])!.map((b) => ({ path: `${b.path}.${key}`, kind: 'node' as const })), span: s.span });
    }
  }
  let changed = false;
  for (const [key, { targets }] of mapping) {
    const list = lists[key];
    if (!Array.isArray(list) || list.some((v) => v !== 0 && v !== 1)) {
      fail(`list \`${key}\` must hold only 0 (reuse) and 1 (compute)`);
      return;
    }
    if (list.length !== ctx.S) {
      ctx.diags.error(`'${file}': list \`${key}\` has ${list.length} entries but the schedule has ${ctx.S} steps`, s.path.span, { code: 'E_TABLE' });
      return;
    }
    if (list[0] !== 1) {
      ctx.diags.error(`'${file}': list \`${key}\` must start with 1 (compute): nothing is cached before the first step`, s.path.span, { code: 'E_TABLE' });
      return;
    }
    changed = applyCells(ctx, targets, list.map(() => true), (k) => (list[k] === 1 ? COMPUTE : { kind: 'reuse' }), branches, s.span) || changed;
  }
  warnNoChange(ctx, changed, s.span);
}

