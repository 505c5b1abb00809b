import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSources } from '../../compiler/frontend.ts';
import { parseSource } from '../../grammar/parse.ts';
import { printProgram } from '../../grammar/printer.ts';
import { program } from './arbitraries.ts';

import { SHIPPED, stripSpans } from './shared.ts';

const shipped = SHIPPED.map((f) => ({ file: f, text: readFileSync(f, 'utf8') }));

/** Random edits of a text at token-ish granularity: deletions, duplications, swaps, insertions. */
const mutated = fc
  .tuple(
    fc.constantFrom(...shipped),
    fc.array(
      fc.tuple(fc.constantFrom('delete', 'duplicate', 'swap', 'insert'), fc.nat(), fc.nat(), fc.integer({ min: 1, max: 12 }), fc.constantFrom('(', ')', '{', '}', '[', ']', ',', '=', '..', '@', '"', 'reuse', 'for', ' blocks', '\n', '*', ':', '#', 'steps', '0')),
      { minLength: 1, maxLength: 6 },
    ),
  )
  .map(([src, edits]) => {
    let t = src.text;
    for (const [op, a, b, len, ins] of edits) {
      const i = a % (t.length + 1);
      const j = b % (t.length + 1);
      if (op === 'delete') t = t.slice(0, i) + t.slice(i + len);
      else if (op === 'duplicate') t = t.slice(0, i) + t.slice(i, i + len) + t.slice(i);
      else if (op === 'insert') t = t.slice(0, i) + ins + t.slice(i);
      else {
        const [x, y] = i < j ? [i, j] : [j, i];
        if (y - x > len) t = t.slice(0, x) + t.slice(y - len, y) + t.slice(x + len, y - len) + t.slice(x, x + len) + t.slice(y);
      }
    }
    return { file: src.file, text: t };
  });

describe('properties of the front end', () => {
  it('print ∘ parse is the identity on random ASTs', () => {
    fc.assert(
      fc.property(program, (ast) => {
        const text = printProgram(ast);
        const r = parseSource('gen.ditto', text);
        expect(r.diagnostics, text).toEqual([]);
        expect(stripSpans(r.ast)).toEqual(stripSpans(ast));
      }),
      { numRuns: 300 },
    );
  });

  it('random strings give diagnostics, never an exception', () => {
    const alphabet = fc.constantFrom(...'model schedule for in as reuse compute steps every t k ( ) { } [ ] , . .. = == < @ " x 1 2.5 \n / * # - blocks'.split(' '));
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.array(alphabet, { maxLength: 120 }).map((xs) => xs.join(' '))), (text) => {
        const r = parseSource('rand.ditto', text);
        for (const d of r.diagnostics) expect(d.span?.file).toBe('rand.ditto');
      }),
      { numRuns: 300 },
    );
  });

  it('mutations of the shipped files give diagnostics, never an exception, through the checker too', () => {
    fc.assert(
      fc.property(mutated, ({ file, text }) => {
        // Checked under the shipped file's own name, so its `use` imports resolve.
        const { diagnostics } = checkSources([file], { inline: new Map([[file, text]]) });
        for (const d of diagnostics) expect(typeof d.message).toBe('string');
      }),
      { numRuns: 60 },
    );
  });

  it('parses 10 KB of any input in time linear in its size (against the shipped sources, not the clock)', () => {
    // Budgeted by work, not wall clock: the same process parses 10 KB of the shipped sources as the
    // yardstick (best of 3); any input may take a generous multiple of it, since a loaded machine
    // slows one measurement more than another. A super-linear blow-up (error recovery re-scanning
    // the input took minutes at this size before it was fixed) still breaks the bound.
    const base = shipped.map((s) => s.text).join('\n');
    const timeOf = (text: string) => {
      let best = Infinity;
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        parseSource('big.ditto', text);
        best = Math.min(best, performance.now() - t0);
      }
      return best;
    };
    const yardstick = timeOf((base + base + base).slice(0, 10_240));
    fc.assert(
      fc.property(mutated, fc.string({ minLength: 200, maxLength: 400 }), ({ text }, noise) => {
        let big = '';
        while (big.length < 10_000) big += text + noise;
        big = big.slice(0, 10_240);
        expect(timeOf(big)).toBeLessThan(100 * yardstick + 2000);
      }),
      { numRuns: 15 },
    );
  }, 600_000);
});
