/**
 * `forecast FORM(k, …)`, `forecast foca` / `forecast exp` and `forecast linear(w)` in the language: the named forms resolve to one Schedule IR action with its
 * basis, print back as written, and a form given the wrong arguments is an error at its span.
 */
import { describe, expect, it } from 'vitest';
import { openModel, scheduleFor } from '../../compiler/compileSource.ts';
import { parseSource } from '../../grammar/parse.ts';
import { printProgram } from '../../grammar/printer.ts';
import { errors, spanText } from './helpers.ts';

const FILE = 'models/test_forecast_forms.ditto';
const schedule = (action: string) => `use "dit.ditto"\nschedule s for DiT {\n  steps 12\n  blocks[*].attn ${action} at not every 4\n}\n`;

describe('forecast forms', () => {
  it('hermite(k, σ) resolves to a forecast with the Hermite basis; taylor(k) to one without', () => {
    const m = openModel('models/dit.ditto', { model: 'DiT', set: { depth: 2, hidden: 32, heads: 2, latent: 8 }, batch: 1, cfg: false });
    const at = (text: string) => scheduleFor(m, 's', 12, { program: openModel({ text, path: FILE }, { model: 'DiT', set: { depth: 2, hidden: 32, heads: 2, latent: 8 }, batch: 1, cfg: false }).program }).table[1]!['blocks[0].attn']!.cond;
    expect(at(schedule('forecast hermite(2, 0.25 * 2)'))).toEqual({ kind: 'forecast', order: 2, basis: { form: 'hermite', sigma: 0.5 } });
    expect(at(schedule('forecast taylor(2)'))).toEqual({ kind: 'forecast', order: 2 });
    expect(at(schedule('forecast foca'))).toEqual({ kind: 'forecast', order: 2, basis: { form: 'foca' } });
    expect(at(schedule('forecast exp'))).toEqual({ kind: 'forecast', order: 2, basis: { form: 'exp' } });
    expect(at(schedule('forecast linear(0.25 * 2)'))).toEqual({ kind: 'forecast', order: 1, basis: { form: 'linear', weight: 0.5 } });
    const lib = scheduleFor(m, 'hicache(N=4, sigma=0.75)', 50);
    expect(lib.table[3]!['blocks[1].mlp']!.uncond).toEqual({ kind: 'forecast', order: 2, basis: { form: 'hermite', sigma: 0.75 } });
  });

  it('linear(w) takes its weight at each step: an expression of k, i or t ramps it', () => {
    const opts = { model: 'DiT', set: { depth: 2, hidden: 32, heads: 2, latent: 8 }, batch: 1, cfg: false } as const;
    const ir = scheduleFor(openModel({ text: schedule('forecast linear(1 - t)'), path: FILE }, opts), 's', 12);
    const weights = ir.table.map((row) => row['blocks[1].attn']?.cond).map((a) => (a?.kind === 'forecast' && a.basis?.form === 'linear' ? a.basis.weight : undefined));
    // `not every 4`: steps 0, 4, 8 compute; t = i/S with i = S − 1 − k.
    expect(weights[0]).toBeUndefined();
    expect(weights[1]).toBeCloseTo(1 - 10 / 12, 12);
    expect(weights[11]).toBeCloseTo(1, 12);
    const defined = weights.filter((w): w is number => w !== undefined);
    expect(defined).toHaveLength(9);
    expect(defined.every((w, j) => j === 0 || w > defined[j - 1]!)).toBe(true);
  });

  it('prints a form as it was written', () => {
    for (const action of ['forecast hermite(2, 0.5)', 'forecast taylor(3)', 'forecast foca', 'forecast exp', 'forecast linear(0.5)', 'forecast linear(1 - t)']) {
      const ast = parseSource(FILE, schedule(action)).ast!;
      expect(printProgram(ast)).toContain(action);
    }
  });

  it('refuses a form given the wrong arguments, at the argument', () => {
    const cases: [string, RegExp, string][] = [
      ['forecast taylor(2, 0.5)', /`taylor\(k\)` takes only the order/, '0.5'],
      ['forecast hermite(2)', /`hermite\(k, σ\)` needs its scale σ/, 'hermite(2)'],
      ['forecast hermite(2, 0)', /σ must be a finite number > 0 \(σ = 0 is `taylor\(2\)`\), got 0/, '0'],
      ['forecast hermite(9, 1)', /Hermite order/, '9'],
      ['forecast foca(2)', /`foca` takes no arguments: it is BDF2 with a Heun calibration/, '2'],
      ['forecast exp(1)', /`exp` takes no arguments: it is an exponential fit/, '1'],
      ['forecast taylor', /`taylor` needs its order in parentheses/, 'taylor'],
      ['forecast legendre(2)', /unknown forecast form `legendre`; the forms are taylor\(k\), hermite\(k, σ\), foca, exp and linear\(w\)/, 'legendre'],
      ['forecast linear', /`linear` needs its weight in parentheses/, 'linear'],
      ['forecast linear(0.5, 1)', /`linear\(w\)` takes one argument, the weight/, '1'],
      ['forecast linear(-0.5)', /weight must be a finite number ≥ 0 \(0 is reuse\), got -0.5 at step 1/, '-0.5'],
      ['forecast linear(t - 0.5)', /weight must be a finite number ≥ 0 \(0 is reuse\), got -0.0833333 at step 6/, 't - 0.5'],
      ['forecast linear(nope)', /nope/, 'nope'],
      ['forecast hermite', /`hermite` needs its order in parentheses/, 'hermite'],
    ];
    for (const [action, message, at] of cases) {
      const text = schedule(action);
      const errs = errors(text, FILE);
      expect(errs.map((e) => e.message).join('\n'), action).toMatch(message);
      expect(spanText(text, errs[0]!)).toContain(at);
    }
  });
});
