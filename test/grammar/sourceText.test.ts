/**
 * Input that is not a .ditto source (a weights file, a table, garbage) must end in a short, clear
 * report: one diagnostic for binary data, and a bounded, linear-time rendering for text that
 * produces thousands of syntax errors.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { decodeSource } from '../../grammar/sourceText.ts';
import { MAX_DIAGNOSTICS_SHOWN, renderDiagnostics } from '../../grammar/diagnostics.ts';
import { parseSource } from '../../grammar/parse.ts';

describe('decodeSource', () => {
  it('passes UTF-8 text through unchanged, multi-byte characters included', () => {
    const text = 'schedule s for DiT { // café — β₁\n  steps 50\n}\n';
    expect(decodeSource('a.ditto', Buffer.from(text))).toEqual({ ok: true, text });
  });

  it('names the line and column of the first NUL byte', () => {
    const r = decodeSource('a.ditto', Buffer.from('model M() {\n  x = 1\n  y =\u0000 2\n}\n'));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.message).toMatch(/not a \.ditto source: it holds binary data \(a NUL byte\) at line 3, column 6/);
    expect(r.span).toMatchObject({ line: 3, column: 6 });
  });

  it('names invalid UTF-8 and recognises the files a user might pass by mistake', () => {
    const cases: [string, RegExp][] = [
      ['models/weights/fmnist-dit.safetensors', /safetensors weights file; weights go to --weights/],
      ['models/schedules/cache_table.npy', /NumPy \.npy array/],
      ['docs/experiment-fmnist/ddpm/no-cache.png', /PNG image/],
    ];
    for (const [file, guess] of cases) {
      const r = decodeSource(file, readFileSync(file));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.message).toMatch(guess);
    }
    const latin1 = decodeSource('a.ditto', Uint8Array.from([0x61, 0x0a, 0x62, 0xe9, 0x0a]));
    expect(latin1.ok ? '' : latin1.message).toMatch(/bytes that are not UTF-8 at line 2, column 2/);
  });

  it('either returns the exact text of the bytes or a span inside the input (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const r = decodeSource('x.ditto', bytes);
        if (r.ok) expect(Buffer.from(r.text, 'utf8').equals(Buffer.from(bytes))).toBe(true);
        else {
          expect(r.span.line).toBeGreaterThanOrEqual(1);
          expect(r.span.start).toBeLessThan(Math.max(1, bytes.length));
        }
      }),
    );
  });
});

describe('rendering many diagnostics', () => {
  it('shows the first ones, counts the rest, and stays fast on a large garbage file', () => {
    // Many parse errors within the token limit (grammar/limits.ts); lexical junk stops after a few.
    const junk = Array.from({ length: 3_000 }, (_, i) => (i % 3 === 0 ? 'use 1\n' : 'model M { let = 1 }\n')).join('');
    const started = performance.now();
    const r = parseSource('junk.ditto', junk);
    const text = renderDiagnostics(r.diagnostics, () => junk);
    const ms = performance.now() - started;
    expect(r.diagnostics.length).toBeGreaterThan(MAX_DIAGNOSTICS_SHOWN);
    expect(text.match(/^junk\.ditto:\d+:\d+: error/gm)!.length).toBe(MAX_DIAGNOSTICS_SHOWN);
    expect(text).toContain(`… and ${r.diagnostics.length - MAX_DIAGNOSTICS_SHOWN} more not shown`);
    expect(text.trimEnd().endsWith(`${r.diagnostics.length} errors`)).toBe(true);
    // Not a timing test of speed, a guard against the quadratic blow-up (minutes before the fix).
    expect(ms).toBeLessThan(60_000);
  });

  it('shows a window of a very long line with the caret under the right character', () => {
    const long = '  x = ' + 'a + '.repeat(150) + ' @ ' + '+ b'.repeat(150);
    const line = `model M() {\n${long}\n}\n`;
    const r = parseSource('long.ditto', line);
    const at = r.diagnostics.filter((d) => d.message.includes('@'));
    expect(at).toHaveLength(1);
    const text = renderDiagnostics(at, () => line);
    const [, src, caret] = text.split('\n');
    expect(src!.length).toBeLessThan(200);
    expect(src).toMatch(/\| …[a +]+ @ [+ b]+…$/);
    expect(src![caret!.indexOf('^')]).toBe('@');
  });

  it('escapes control characters in messages and source lines', () => {
    const text = 'model \u0007M';
    const out = renderDiagnostics(parseSource('c.ditto', text).diagnostics, () => text);
    expect(out).toContain('unexpected character `\\u0007`');
    expect(out).not.toContain('\u0007');
  });
});
