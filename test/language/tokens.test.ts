/**
 * `compute tokens(f [, by = staleness | cluster(s)])` in the language: it resolves to one Schedule
 * IR action, prints back as written, and bad fractions, orders and targets are errors at their span
 * (file, line and column in the rendered message).
 */
import { describe, expect, it } from 'vitest';
import { openModel, scheduleFor } from '../../compiler/compileSource.ts';
import { parseSource } from '../../grammar/parse.ts';
import { printProgram } from '../../grammar/printer.ts';
import { errors, rendered, spanText } from './helpers.ts';

const FILE = 'models/test_tokens.ditto';
const schedule = (action: string, target = 'blocks[*].mlp', extra = '') =>
  `use "dit.ditto"\nschedule s(f = 0.25) for DiT {\n  steps 12\n  ${target} ${action} at steps 1..12${extra}\n}\n`;
const SET = { depth: 2, hidden: 32, heads: 2, latent: 8 };

describe('compute tokens(…)', () => {
  it('resolves to a partial compute with its fraction and order; the fraction may be a parameter', () => {
    const m = openModel('models/dit.ditto', { model: 'DiT', set: SET, batch: 1, cfg: false });
    const at = (text: string) => scheduleFor(m, 's', 12, { program: openModel({ text, path: FILE }, { model: 'DiT', set: SET, batch: 1, cfg: false }).program }).table[1]!['blocks[0].mlp']!.cond;
    expect(at(schedule('compute tokens(f)'))).toEqual({ kind: 'tokens', fraction: 0.25, by: { form: 'staleness' } });
    expect(at(schedule('compute tokens(0.5, by = staleness)'))).toEqual({ kind: 'tokens', fraction: 0.5, by: { form: 'staleness' } });
    expect(at(schedule('compute tokens(1 / 4, by = cluster(1 + 1))'))).toEqual({ kind: 'tokens', fraction: 0.25, by: { form: 'cluster', size: 2 } });
    const lib = scheduleFor(m, 'toca(N=4, fraction=0.25, side=2)', 50);
    expect(lib.table[2]!['blocks[1].mlp']!.uncond).toEqual({ kind: 'tokens', fraction: 0.25, by: { form: 'cluster', size: 2 } });
    expect(lib.table[2]!['blocks[1].attn']!.cond).toEqual({ kind: 'tokens', fraction: 0.25, by: { form: 'cluster', size: 2 } });
    expect(scheduleFor(m, 'toca_mlp', 50).table[2]!['blocks[1].attn']!.cond).toEqual({ kind: 'reuse' });
    expect(lib.table[0]!['blocks[1].mlp']).toBeUndefined();
  });

  it('duca alternates a whole reuse and a partial compute between full computes, the reuse first', () => {
    const m = openModel('models/dit.ditto', { model: 'DiT', set: SET, batch: 1, cfg: false });
    for (const N of [2, 3, 4, 5]) {
      const table = scheduleFor(m, `duca(N=${N}, fraction=0.5)`, 50).table;
      let since = 0;
      for (let k = 0; k < 50; k++) {
        const i = 49 - k;
        const full = i === 49 || i % N === 0;
        since = full ? 0 : since + 1;
        const got = [table[k]!['blocks[0].attn'], table[k]!['blocks[1].mlp']].map((a) => a?.cond);
        // The reference count: a full compute (no entry), then steps 1, 3, … after it reuse whole
        // and steps 2, 4, … compute half their tokens, stalest first.
        const want = full ? undefined : since % 2 === 1 ? { kind: 'reuse' } : { kind: 'tokens', fraction: 0.5, by: { form: 'staleness' } };
        expect(got, `N=${N} k=${k}`).toEqual([want, want]);
      }
    }
    expect(() => scheduleFor(m, 'duca(N=1)', 50)).toThrow(/requires N >= 2 and N % 1 == 0, but N = 1: N is the interval, in steps, between full computations \(at least 2\)/);
  });

  it('prints as it was written', () => {
    for (const action of ['compute tokens(0.25)', 'compute tokens(f, by = cluster(2))', 'compute tokens(0.5, by = staleness)']) {
      const ast = parseSource(FILE, schedule(action)).ast!;
      expect(printProgram(ast)).toContain(action);
    }
  });

  it('refuses bad fractions, orders and targets, at the offending text', () => {
    const cases: [string, RegExp, string, string?][] = [
      ['compute tokens(0)', /fraction of tokens computed must be > 0 and ≤ 1 \(1 computes every token\), got 0/, '0'],
      ['compute tokens(1.5)', /must be > 0 and ≤ 1.*got 1\.5/, '1.5'],
      ['compute tokens(0 - 0.25)', /must be > 0 and ≤ 1.*got -0\.25/, '0 - 0.25'],
      ['compute tokens(0.25, by = random)', /unknown token order `random`; the orders are `staleness` \(the default\) and `cluster\(s\)`/, 'random'],
      ['compute tokens(0.25, using = cluster(2))', /expected `by = staleness` or `by = cluster\(s\)`, found `using =`/, 'using'],
      ['compute tokens(0.25, by = cluster)', /`by = cluster\(s\)` needs the side s/, 'cluster'],
      ['compute tokens(0.25, by = staleness(2))', /`by = staleness` takes no size/, '2'],
      ['compute tokens(0.25, by = cluster(17))', /cluster size must be a whole number from 1 to the token grid's side 16, got 17/, 'compute tokens(0.25, by = cluster(17))'],
      ['compute tokens(0.25)', /`blocks\[0\]` is a block; a partial compute `compute tokens\(…\)` applies to a token-wise node such as `blocks\[0\].mlp`/, 'compute tokens(0.25)', 'blocks[0]'],
      ['compute tokens(0.25)', /`c` cannot be computed on some tokens: it is \[1, 1152\], not token rows/, 'compute tokens(0.25)', 'c'],
    ];
    for (const [action, message, at, target] of cases) {
      const text = schedule(action, target);
      const errs = errors(text, FILE);
      expect(errs.map((e) => e.message).join('\n'), action).toMatch(message);
      expect(spanText(text, errs[0]!), action).toContain(at);
    }
  });

  it('refuses a partial compute before the first compute, and one mixed with a forecast', () => {
    const first = `use "dit.ditto"\nschedule s for DiT {\n  steps 12\n  blocks[*].mlp compute tokens(0.25)\n}\n`;
    expect(errors(first, FILE).map((e) => e.message).join('\n')).toMatch(/`blocks\[0\].mlp` is computed on some tokens \(the others reused\) at step 0 \(cond\) before it was ever computed/);
    const mixed = `use "dit.ditto"\nschedule s for DiT {\n  steps 12\n  blocks[*].mlp compute tokens(0.25) at steps 1..6\n  blocks[*].mlp forecast taylor(1) at steps 8..12\n}\n`;
    expect(errors(mixed, FILE).map((e) => e.message).join('\n')).toMatch(/`blocks\[0\].mlp` is computed on some tokens at step 1 and forecast at step 8; a target takes one or the other/);
  });

  it('names the file, line and column of a bad fraction', () => {
    const out = rendered(schedule('compute tokens(2)'), FILE);
    expect(out).toMatch(/models\/test_tokens\.ditto:4:\d+/);
    expect(out).toMatch(/got 2/);
  });
});
