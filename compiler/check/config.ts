/**
 * Model configurations: a model name or a variant name (`DiT-XL/2`, a model with some parameters
 * set, possibly based on another variant), plus `--set` overrides → the model declaration and
 * the evaluated parameters.
 */
import type { SourceSpan } from '../../core/errors.ts';
import type { ModelDecl, Param } from '../../grammar/ast.ts';
import { type DiagnosticBag, didYouMean, listSome } from '../../grammar/diagnostics.ts';
import { evalConst } from './constEval.ts';
import type { Located, Program } from './program.ts';

export interface ModelConfig {
  /** The name asked for (model or variant). */
  readonly name: string;
  readonly model: Located<ModelDecl>;
  readonly params: Record<string, number>;
}

/** Every model and variant name, models first. */
export function configNames(p: Program): string[] {
  return [...p.models.keys(), ...p.variants.keys()];
}

interface Override {
  readonly value: number;
  readonly span?: SourceSpan;
}

export function resolveConfig(
  p: Program,
  name: string,
  set: Readonly<Record<string, number>>,
  diags: DiagnosticBag,
  span?: SourceSpan,
): ModelConfig | undefined {
  // Walk the variant chain down to the model, collecting argument lists (nearest last).
  const chain: { args: readonly Param[]; file: string }[] = [];
  let cur = name;
  const visited = new Set<string>();
  let curSpan = span;
  for (;;) {
    const m = p.models.get(cur);
    if (m) break;
    const v = p.variants.get(cur);
    if (!v) {
      const all = configNames(p);
      const s = didYouMean(cur, all);
      diags.error(`unknown model or variant \`${cur}\``, curSpan, { expected: all.length ? `one of ${listSome(all)}` : 'a model declared with `model Name(…) { … }`', ...(s ? { suggestion: s } : {}) });
      return undefined;
    }
    if (visited.has(cur)) {
      diags.error(`variant \`${cur}\` is defined in terms of itself`, v.decl.name.span);
      return undefined;
    }
    visited.add(cur);
    chain.unshift({ args: v.decl.args, file: v.file });
    curSpan = v.decl.base.span;
    cur = v.decl.base.value;
  }
  const model = p.models.get(cur)!;
  const paramNames = model.decl.params.map((x) => x.name.name);
  const overrides = new Map<string, Override>();
  let ok = true;
  for (const { args } of chain) {
    for (const a of args) {
      if (!paramNames.includes(a.name.name)) {
        const s = didYouMean(a.name.name, paramNames);
        diags.error(`model \`${cur}\` has no parameter \`${a.name.name}\``, a.name.span, { expected: `one of ${paramNames.join(', ')}`, ...(s ? { suggestion: s } : {}) });
        ok = false;
        continue;
      }
      const v = evalConst(a.value, { values: new Map(), what: 'a variant argument', predicates: false }, diags);
      if (typeof v !== 'number') {
        if (v !== undefined) diags.error('a variant argument must be a number', a.value.span);
        ok = false;
        continue;
      }
      overrides.set(a.name.name, { value: v, span: a.span });
    }
  }
  for (const [k, v] of Object.entries(set)) {
    if (!paramNames.includes(k)) {
      const s = didYouMean(k, paramNames);
      diags.error(`--set ${k}: model \`${cur}\` has no parameter \`${k}\`; valid: ${paramNames.join(', ')}${s ? ` (${s})` : ''}`, undefined, { code: 'E_USAGE' });
      ok = false;
      continue;
    }
    overrides.set(k, { value: v });
  }
  const params = evaluateParams(model.decl, overrides, diags);
  return ok && params ? { name, model, params } : undefined;
}

/** Evaluates a model's parameters in order: a default may use earlier parameters. */
export function evaluateParams(decl: ModelDecl, overrides: ReadonlyMap<string, Override>, diags: DiagnosticBag): Record<string, number> | undefined {
  const values = new Map<string, number>();
  let ok = true;
  for (const prm of decl.params) {
    if (values.has(prm.name.name)) {
      diags.error(`parameter \`${prm.name.name}\` is declared twice`, prm.name.span);
      ok = false;
      continue;
    }
    const o = overrides.get(prm.name.name);
    if (o) {
      values.set(prm.name.name, o.value);
      continue;
    }
    const v = evalConst(prm.value, { values, what: `the default of \`${prm.name.name}\``, predicates: false }, diags);
    if (typeof v !== 'number') {
      if (v !== undefined) diags.error('a parameter default must be a number', prm.value.span);
      ok = false;
      continue;
    }
    values.set(prm.name.name, v);
  }
  return ok ? Object.fromEntries(values) : undefined;
}
