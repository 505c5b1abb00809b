/**
 * `table …` statements: an EB-Cache code table (a .npy file or a generator), one code per step
 * (0 compute both, 1 reuse attention, 2 reuse both, 3 reuse MLP) in countdown or sampling order,
 * driving each block's attention and MLP nodes.
 */
import { DittoError, type SourceSpan } from '../../core/errors.ts';
import type { MapEntry, ScheduleStmt } from '../../grammar/ast.ts';
import { didYouMean } from '../../grammar/diagnostics.ts';
import type { Action } from '../ir/schedule.ts';
import { evalInt } from '../check/constEval.ts';
import { resolveFrom } from '../check/program.ts';
import { GENERATORS } from './generators.ts';
import { readNpyInts } from './npy.ts';
import { applyCells, type Branch, COMPUTE, type Ctx, namedArgs, stepEnv, warnNoChange } from './resolveContext.ts';
import { type Target, resolveSelector } from './targets.ts';

/** The attention and MLP targets a code table drives: from `map(attn = …, mlp = …)` or the
 *  repetition whose blocks have both `attn` and `mlp` nodes. */
function tableTargets(ctx: Ctx, map: readonly MapEntry[] | undefined, span: SourceSpan): { attn: Target[]; mlp: Target[] } | undefined {
  const env = stepEnv(ctx, undefined, 'a selector');
  if (map) {
    const out: { attn: Target[]; mlp: Target[] } = { attn: [], mlp: [] };
    for (const e of map) {
      if (e.key.value !== 'attn' && e.key.value !== 'mlp') {
        const s = didYouMean(e.key.value, ['attn', 'mlp']);
        ctx.diags.error(`a code table maps \`attn\` and \`mlp\`, not \`${e.key.value}\``, e.key.span, { expected: 'attn or mlp', ...(s ? { suggestion: s } : {}) });
        return undefined;
      }
      const ts = resolveSelector(e.target, env, ctx.u, ctx.diags);
      if (!ts) return undefined;
      out[e.key.value] = ts;
    }
    return out;
  }
  for (const [g, fields] of ctx.u.fields) {
    if (fields.includes('attn') && fields.includes('mlp')) {
      const inst = ctx.u.groups.get(g)!;
      return { attn: inst.map((b) => ({ path: `${b.path}.attn`, kind: 'node' as const })), mlp: inst.map((b) => ({ path: `${b.path}.mlp`, kind: 'node' as const })) };
    }
  }
  ctx.diags.error('no repetition of this model has `attn` and `mlp` nodes; say which nodes the table drives with map(attn = …, mlp = …)', span);
  return undefined;
}

const CODE_ACTIONS: Record<number, { attn: Action; mlp: Action }> = {
  0: { attn: COMPUTE, mlp: COMPUTE },
  1: { attn: { kind: 'reuse' }, mlp: COMPUTE },
  2: { attn: { kind: 'reuse' }, mlp: { kind: 'reuse' } },
  3: { attn: COMPUTE, mlp: { kind: 'reuse' } },
};

function loadCodes(ctx: Ctx, s: Extract<ScheduleStmt, { kind: 'table' }>): number[] | undefined {
  if (s.source.kind === 'file') {
    const file = resolveFrom(ctx.file, s.source.path.value);
    try {
      return readNpyInts(file);
    } catch (e) {
      if (e instanceof DittoError) {
        ctx.diags.error(e.message, s.source.path.span, { code: e.code === 'E_IO' ? 'E_IO' : 'E_TABLE' });
        return undefined;
      }
      throw e;
    }
  }
  const gen = GENERATORS.get(s.source.name.name);
  if (!gen) {
    const s2 = didYouMean(s.source.name.name, GENERATORS.keys());
    ctx.diags.error(`unknown table generator \`${s.source.name.name}\``, s.source.name.span, { expected: [...GENERATORS.keys()].join(', '), ...(s2 ? { suggestion: s2 } : {}) });
    return undefined;
  }
  const args = namedArgs(ctx, s.source.args, gen.params.map((p) => p.name), `\`${s.source.name.name}\``);
  if (!args) return undefined;
  const values: Record<string, number> = {};
  for (const p of gen.params) {
    const a = args.get(p.name);
    if (!a) {
      if (p.default === undefined) {
        ctx.diags.error(`\`${s.source.name.name}\` needs the argument \`${p.name}\``, s.source.name.span);
        return undefined;
      }
      values[p.name] = p.default;
      continue;
    }
    const v = evalInt(a.value, stepEnv(ctx, undefined, `argument \`${p.name}\``), ctx.diags, `\`${p.name}\` of \`${s.source.name.name}\``, p.min);
    if (v === undefined) return undefined;
    values[p.name] = v;
  }
  return gen.generate(ctx.S, values);
}

export function applyCodeTable(ctx: Ctx, s: Extract<ScheduleStmt, { kind: 'table' }>, branches: readonly Branch[]): void {
  const codes = loadCodes(ctx, s);
  if (!codes) return;
  const what = s.source.kind === 'file' ? `table '${resolveFrom(ctx.file, s.source.path.value)}'` : `table \`${s.source.name.name}\``;
  const span = s.source.kind === 'file' ? s.source.path.span : s.source.name.span;
  if (codes.length !== ctx.S) {
    ctx.diags.error(`${what} has ${codes.length} entries but the schedule has ${ctx.S} steps`, span, { code: 'E_TABLE', notes: ['a table holds one code per sampling step; generate one for this step count instead of resampling'] });
    return;
  }
  const bad = codes.findIndex((c) => !(c in CODE_ACTIONS));
  if (bad >= 0) {
    ctx.diags.error(`${what} has unknown code ${codes[bad]} at index ${bad}`, span, { code: 'E_TABLE', expected: 'codes 0 (compute both), 1 (reuse attention), 2 (reuse both), 3 (reuse MLP)' });
    return;
  }
  const atStep = (k: number) => codes[s.order === 'countdown' ? ctx.S - 1 - k : k]!;
  if (atStep(0) !== 0) {
    const idx = s.order === 'countdown' ? ctx.S - 1 : 0;
    ctx.diags.error(`${what}: the first sampling step (index ${idx} in ${s.order} order) must be 0 (compute), found ${atStep(0)}`, span, {
      code: 'E_TABLE',
      notes: s.order === 'countdown' ? ['in countdown order the first step is the last entry; did you mean `order sampling`?'] : ['in sampling order the first step is the first entry; did you mean `order countdown`?'],
    });
    return;
  }
  const targets = tableTargets(ctx, s.map, s.span);
  if (!targets) return;
  const all = Array.from({ length: ctx.S }, () => true);
  let changed = applyCells(ctx, targets.attn, all, (k) => CODE_ACTIONS[atStep(k)]!.attn, branches, s.span);
  changed = applyCells(ctx, targets.mlp, all, (k) => CODE_ACTIONS[atStep(k)]!.mlp, branches, s.span) || changed;
  warnNoChange(ctx, changed, s.span);
}

