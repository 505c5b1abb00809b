/**
 * `sampler ddpm` / `sampler ddim`: the sampler a schedule was made for. What a fitted TeaCache
 * polynomial, a calibrated table or a searched schedule decides was measured under one sampler and
 * means something else under another (under DDPM the DDIM polynomial reuses every decided step), so
 * using the schedule with another sampler is an error, not a warning: the plan would run, exit 0
 * and give wrong images (docs/decisions.md "The sampler a schedule was made for").
 *
 * The statement constrains which plans may be built from the schedule; it is not part of the
 * resolved schedule (ScheduleIR), so plans, plan hashes and evaluation fingerprints are those of
 * the same schedule without it.
 */
import type { ScheduleDecl, ScheduleStmt } from '../../grammar/ast.ts';
import { type DiagnosticBag, didYouMean } from '../../grammar/diagnostics.ts';
import { SAMPLERS, type SamplerKind } from '../passes/options.ts';

type SamplerStmt = Extract<ScheduleStmt, { kind: 'sampler' }>;

function isSampler(name: string): name is SamplerKind {
  return (SAMPLERS as readonly string[]).includes(name);
}

/** The sampler a schedule declares at its top level (the first statement; absent: made for any). */
export function declaredSampler(decl: ScheduleDecl): SamplerKind | undefined {
  const s = decl.body.find((x): x is SamplerStmt => x.kind === 'sampler');
  return s && isSampler(s.name.name) ? s.name.name : undefined;
}

/**
 * Checks the schedule's `sampler` statements (at most one, a known name) and, when the sampler the
 * schedule is used with is known (`used`), that it is the declared one. `ditto check` knows none.
 * Statements inside a branch block are reported by the resolver's walk.
 */
export function checkSampler(decl: ScheduleDecl, used: SamplerKind | undefined, diags: DiagnosticBag): void {
  const stmts = decl.body.filter((x): x is SamplerStmt => x.kind === 'sampler');
  for (const extra of stmts.slice(1)) diags.error('the sampler is given twice; a schedule is made for one sampler', extra.span);
  const first = stmts[0];
  if (!first) return;
  const name = first.name.name;
  if (!isSampler(name)) {
    const s = didYouMean(name, SAMPLERS);
    diags.error(`unknown sampler \`${name}\`; samplers: ${SAMPLERS.join(', ')}`, first.name.span, { expected: SAMPLERS.join(' or '), ...(s ? { suggestion: s } : {}) });
    return;
  }
  if (used === undefined || used === name) return;
  const schedule = decl.name.name;
  diags.error(`schedule \`${schedule}\` was made for the ${name} sampler (\`sampler ${name}\`), but it is used with ${used}: use a schedule made for ${used}, or sample with --sampler ${name}`, first.span, {
    notes: [
      `what it decides was fitted, calibrated or searched under ${name} and does not carry over to ${used}`,
      `to make one for ${used}: fit one for ${used} (\`ditto fit teacache … --sampler ${used}\`), or \`ditto calibrate\` / \`ditto search\` with --sampler ${used}`,
    ],
  });
}
