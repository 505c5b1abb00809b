/**
 * F3/F6: the front end answers any text with located syntax errors — deep nesting, long chains,
 * a megabyte on one line, files of junk — never with a stack overflow, and in linear time.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSource } from '../../grammar/parse.ts';
import { checkSources } from '../../compiler/frontend.ts';
import { MAX_LEX_ERRORS, MAX_NESTING, MAX_PARSE_ERRORS, MAX_SOURCE_CHARS, MAX_TREE_DEPTH } from '../../grammar/limits.ts';
import { stringAt } from '../../grammar/scanners.ts';
import { ROOT } from '../cli/helpers.ts';

const SCHEDULE = `${ROOT}/models/schedules/fuzz.ditto`;
const schedule = (predicate: string) => `use "../dit.ditto"\nschedule s for DiT {\n  steps 4\n  blocks[*].attn reuse at ${predicate}\n}\n`;

/** Every diagnostic of checking `text` as a schedule file; fails the test if anything throws. */
function diagnose(text: string) {
  return checkSources([SCHEDULE], { inline: new Map([[SCHEDULE, text]]) }).diagnostics;
}

describe('nesting and chains', () => {
  it('reports 160 nested parentheses as a located syntax error (was: stack overflow)', () => {
    const d = diagnose(schedule(`${'('.repeat(160)}always${')'.repeat(160)}`));
    expect(d).toHaveLength(1);
    expect(d[0]!.code).toBe('E_SYNTAX');
    expect(d[0]!.message).toMatch(new RegExp(`nesting deeper than ${MAX_NESTING}`));
    // The schedule's `{` is the first level: the 64th parenthesis (column 26 + 64) is one too many.
    expect(d[0]!.span).toMatchObject({ line: 4, column: 26 + MAX_NESTING });
  });

  it('10 000 unclosed parentheses and 1 000 prefix minus signs are one syntax error each', () => {
    for (const text of [schedule('('.repeat(10_000)), schedule(`i == ${'-'.repeat(1000)}1`), schedule(`${'not '.repeat(1000)}always`)]) {
      const d = diagnose(text);
      expect(d).toHaveLength(1);
      expect(d[0]!.message).toMatch(/nesting deeper/);
    }
  });

  it('nesting within the limit still parses', () => {
    expect(diagnose(schedule(`i == ${'('.repeat(40)}1${')'.repeat(40)} or i == 3 or steps 0..2`)).filter((d) => d.code === 'E_SYNTAX')).toEqual([]);
  });

  it('a chain of 9 000 additions is a syntax error, not a stack overflow in the checker', () => {
    const d = diagnose(schedule(`i == 1${'+1'.repeat(9000)}`));
    expect(d).toHaveLength(1);
    expect(d[0]!.message).toMatch(new RegExp(`more than ${MAX_TREE_DEPTH} operators deep`));
  });
});

describe('long lines and junk', () => {
  it('a 1 MB line is refused by the size limit before it is lexed', () => {
    for (const unit of ['1+', '#', '/*', '"\\"']) {
      const text = schedule(`i == ${unit.repeat(2 ** 20 / unit.length)}`);
      const r = parseSource(SCHEDULE, text);
      expect(r.diagnostics).toHaveLength(1);
      expect(r.diagnostics[0]!.message).toMatch(new RegExp(`limited to ${MAX_SOURCE_CHARS}`));
      expect(r.diagnostics[0]!.span!.start).toBe(MAX_SOURCE_CHARS);
    }
  });

  it('the lexer stops after the error limit on a file of junk', () => {
    const text = '#a'.repeat(100_000);
    const d = parseSource('junk.ditto', text).diagnostics;
    expect(d).toHaveLength(MAX_LEX_ERRORS + 1);
    expect(d.at(-1)!.message).toMatch(/the rest of the file was not read/);
  });

  it('the parser stops after the error limit (64 KB of `/*` cost 25 s of recovery before)', () => {
    const d = parseSource(SCHEDULE, schedule(`i == ${'/*'.repeat(2 ** 15)}`)).diagnostics;
    expect(d).toHaveLength(MAX_PARSE_ERRORS + 1);
    expect(d.at(-1)!.message).toMatch(/more than \d+ syntax errors/);
  });

  it('the string scanner matches exactly what the old regular expression matched', () => {
    const re = /"(?:[^"\\\n]|\\.)*"/y;
    fc.assert(
      fc.property(fc.array(fc.constantFrom('"', '\\', 'a', '\n', '\r', ' ', '\u2028'), { maxLength: 30 }), fc.nat(30), (chars, at) => {
        const text = chars.join('');
        const offset = Math.min(at, text.length);
        re.lastIndex = offset;
        const m = re.exec(text);
        expect(stringAt(text, offset)?.[0] ?? null).toBe(m ? m[0] : null);
      }),
    );
  });

  it('arbitrary text never throws', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        parseSource('any.ditto', text);
      }),
      { numRuns: 300 },
    );
  });
});
