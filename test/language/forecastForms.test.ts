/**
 * `forecast FORM(k, …)` and `forecast foca` / `forecast exp` in the language: the named forms resolve to one Schedule IR action with its
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
    const lib = scheduleFor(m, 'hicache(N=4, sigma=0.75)', 50);
    expect(lib.table[3]!['blocks[1].mlp']!.uncond).toEqual({ kind: 'forecast', order: 2, basis: { form: 'hermite', sigma: 0.75 } });
  });

  it('prints a form as it was written', () => {
    for (const action of ['forecast hermite(2, 0.5)', 'forecast taylor(3)', 'forecast foca', 'forecast exp']) {
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
      ['forecast legendre(2)', /unknown forecast form `legendre`; the forms are taylor\(k\), hermite\(k, σ\), foca and exp/, 'legendre'],
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
