/**
 * `cfg_cache [(low: g, high: g, boundary: b)] [at PRED]` (FasterCache's CFG-Cache) in the language:
 * it resolves to one Schedule IR action on the model output's unconditional half, prints back as
 * written, and bad growths, boundaries, places and mixes are errors at their span.
 */
import { describe, expect, it } from 'vitest';
import { openModel, scheduleFor } from '../../compiler/compileSource.ts';
import { parseSource } from '../../grammar/parse.ts';
import { printProgram } from '../../grammar/printer.ts';
import { errors, rendered, spanText } from './helpers.ts';

const FILE = 'models/test_cfg_cache.ditto';
const schedule = (stmt: string, extra = '') => `use "dit.ditto"\nschedule s(g = 1.2) for DiT {\n  steps 12\n  ${stmt}${extra}\n}\n`;
const SET = { depth: 2, hidden: 32, heads: 2, latent: 8 };
const m = openModel('models/dit.ditto', { model: 'DiT', set: SET, batch: 1, cfg: true });
const resolve = (text: string) => scheduleFor(m, 's', 12, { program: openModel({ text, path: FILE }, { model: 'DiT', set: SET, batch: 1, cfg: true }).program });

describe('cfg_cache', () => {
  it('resolves to a cfg_cache action on the model output, unconditional half only, with FasterCache\'s defaults', () => {
    const s = resolve(schedule('cfg_cache at every 2 offset 1'));
    expect(s.table[1]!['out']).toEqual({ cond: { kind: 'compute' }, uncond: { kind: 'cfg_cache', low: 1.1, high: 1.1, boundary: 0.5 } });
    expect(s.table[2]!['out']).toBeUndefined();
    const p = resolve(schedule('cfg_cache(low: g, high: 0.9, boundary: 0.25) at steps 3..5'));
    expect(p.table[3]!['out']!.uncond).toEqual({ kind: 'cfg_cache', low: 1.2, high: 0.9, boundary: 0.25 });
    expect(Object.keys(p.table[5]!)).toEqual([]);
  });

  it('the shipped fastercache: both halves compute during the warm-up and the last steps, every other step after', () => {
    const s = scheduleFor(m, 'fastercache', 50);
    const cached = s.table.flatMap((row, k) => (row['out']?.uncond.kind === 'cfg_cache' ? [k] : []));
    expect(cached).toEqual(Array.from({ length: 19 }, (_, j) => 11 + 2 * j));
    expect(s.table.every((row) => Object.keys(row).every((p) => p === 'out') && (row['out'] === undefined || row['out'].cond.kind === 'compute'))).toBe(true);
    const short = scheduleFor(m, 'fastercache(warm=4, tail=0)', 10);
    expect(short.table.flatMap((row, k) => (row['out'] ? [k] : []))).toEqual([5, 7, 9]);
  });

  it('prints as it was written', () => {
    for (const stmt of ['cfg_cache', 'cfg_cache at steps 2..S', 'cfg_cache(low: 1.1, high: g, boundary: 0.5) at every 2 offset 1']) {
      expect(printProgram(parseSource(FILE, schedule(stmt)).ast!)).toContain(stmt);
    }
  });

  it('refuses bad growths, boundaries, arguments and places, at the offending text', () => {
    const cases: [string, RegExp, string][] = [
      ['cfg_cache(low: 0) at steps 2..5', /`low` is the factor the low band's weight grows by .* must be a finite number > 0, got 0/, '0'],
      ['cfg_cache(high: 0 - 1) at steps 2..5', /`high` .* must be a finite number > 0, got -1/, '0 - 1'],
      ['cfg_cache(boundary: 1.5) at steps 2..5', /`boundary` is a trajectory fraction t in \[0, 1\].*got 1\.5/, '1.5'],
      ['cfg_cache(lo: 1.1) at steps 2..5', /`cfg_cache` has no argument `lo`/, 'lo'],
      ['cfg_cache(low: 1.1, low: 1.2) at steps 2..5', /argument `low` of `cfg_cache` is given twice/, 'low: 1.2'],
      ['uncond { cfg_cache at steps 2..5 }', /`cfg_cache` sets the unconditional half .* write it outside `cond \{ … \}` \/ `uncond \{ … \}`/, 'cfg_cache at steps 2..5'],
      ['cfg_cache', /`out` is taken from the conditional half \(`cfg_cache`\) at step 0 \(uncond\) before it was ever computed/, 'cfg_cache'],
      ['cfg_cache at every 2 offset 1\n  uncond { out reuse at every 3 offset 2 }', /`out` \(uncond\) takes `cfg_cache` at step 1 and `reuse` at step 2; where it is not taken from the conditional half it must compute/, 'out reuse'],
      ['cfg_cache(low: k) at steps 2..5', /`k`/, 'k'],
    ];
    for (const [stmt, message, at] of cases) {
      const text = schedule(stmt);
      const errs = errors(text, FILE);
      expect(errs.map((e) => e.message).join('\n'), stmt).toMatch(message);
      expect(spanText(text, errs[0]!), stmt).toContain(at);
    }
  });

  it('names the file, line and column of a bad growth', () => {
    const out = rendered(schedule('cfg_cache(high: 0) at steps 2..5'), FILE);
    expect(out).toMatch(/models\/test_cfg_cache\.ditto:4:\d+/);
  });
});
