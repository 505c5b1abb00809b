/**
 * What a check covers: the files named are checked in full (every model, variant and schedule
 * they declare); a file they only `use` is parsed and its names checked, and its models and
 * variants are lowered when something checked needs them. A broken variant is therefore reported
 * when its own file is checked, when a checked schedule targets it and when it is lowered, and
 * not when an unrelated schedule file merely uses its model file.
 */
import { describe, expect, it } from 'vitest';
import { checkSources, loadProgram, lowerModel } from '../../compiler/frontend.ts';
import { DittoError } from '../../core/errors.ts';
import type { Diagnostic } from '../../grammar/diagnostics.ts';

const MODEL = 'models/scope_model.ditto';
const SCHEDULES = 'models/scope_schedules.ditto';

// A variant whose latent side (9) is not divisible by the patch (2): only lowering finds it.
const modelText = `use "dit.ditto"\nvariant "Good" = DiT(depth = 2, hidden = 64, heads = 4)\nvariant "Bad" = DiT(depth = 2, hidden = 64, heads = 4, latent = 9)\n`;
const schedule = (name: string, target: string) => `schedule ${name} for ${target} {\n  steps 10\n  blocks[*].attn reuse at steps 1..9\n}\n`;

function check(entries: string[], schedulesText: string): Diagnostic[] {
  const inline = new Map([[MODEL, modelText], [SCHEDULES, `use "scope_model.ditto"\n${schedulesText}`]]);
  return checkSources(entries, { inline }).diagnostics.filter((d) => d.severity === 'error');
}

/** The errors of lowering "Bad": in DiT's body, the first one the shape mismatch (the rest follow from it). */
function areBadVariantErrors(errs: readonly Diagnostic[]): boolean {
  return errs.length > 0 && errs.every((d) => d.span?.file === 'models/dit.ditto') && /shape mismatch in `patch_embed`.*not divisible by patch 2/.test(errs[0]!.message);
}

describe('the scope of a check', () => {
  it('reports the broken variant when its own file is checked', () => {
    expect(areBadVariantErrors(check([MODEL], ''))).toBe(true);
  });

  it('does not lower the variants of a file that is only used, when no schedule targets them', () => {
    expect(check([SCHEDULES], schedule('s', 'DiT') + schedule('g', '"Good"'))).toEqual([]);
  });

  it('reports the broken variant when a checked schedule targets it', () => {
    expect(areBadVariantErrors(check([SCHEDULES], schedule('s', 'DiT') + schedule('b', '"Bad"')))).toBe(true);
  });

  it('reports it when both files are named, in whichever order', () => {
    for (const entries of [[MODEL, SCHEDULES], [SCHEDULES, MODEL]]) expect(areBadVariantErrors(check(entries, schedule('s', 'DiT')))).toBe(true);
  });

  it('reports it when the variant is lowered from a program that loaded cleanly', () => {
    const inline = new Map([[MODEL, modelText], [SCHEDULES, `use "scope_model.ditto"\n${schedule('s', 'DiT')}`]]);
    const program = loadProgram(SCHEDULES, { inline });
    expect(lowerModel(program, { model: 'Good', batch: 1 }).blocks).toHaveLength(2);
    try {
      lowerModel(program, { model: 'Bad', batch: 1 });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DittoError);
      expect((e as DittoError).code).toBe('E_CHECK');
      expect((e as DittoError).detail).toMatch(/not divisible by patch 2/);
    }
  });

  it('reports a name declared twice in a used file, and a variant built on an unknown model once a schedule targets it', () => {
    const check1 = (modelFile: string, target: string) =>
      checkSources([SCHEDULES], { inline: new Map([[MODEL, modelFile], [SCHEDULES, `use "scope_model.ditto"\n${schedule('s', target)}`]]) }).diagnostics.map((d) => d.message);
    expect(check1(`use "dit.ditto"\nvariant "DiT-Tiny" = DiT(depth = 1)\n`, 'DiT')).toEqual([expect.stringMatching(/`DiT-Tiny` is already defined at models\/dit\.ditto/)]);
    const typo = `use "dit.ditto"\nvariant "Typo" = DiTT(depth = 2)\n`;
    expect(check1(typo, 'DiT')).toEqual([]);
    expect(check1(typo, '"Typo"')).toEqual([expect.stringMatching(/unknown model or variant `DiTT`/)]);
  });
});
