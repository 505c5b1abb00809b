import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseSource } from '../../grammar/parse.ts';
import { printProgram } from '../../grammar/printer.ts';
import { renderDiagnostics } from '../../grammar/diagnostics.ts';
import { SHIPPED, stripSpans } from './shared.ts';
import { createToken, Lexer } from '../../grammar/chevrotain.ts';
import { DittoParser } from '../../grammar/parser.ts';
import { allTokens, LEXER_CONFIG } from '../../grammar/tokens.ts';


function syntax(text: string) {
  const r = parseSource('f.ditto', text);
  return { ...r, rendered: renderDiagnostics(r.diagnostics, () => text) };
}

describe('parser', () => {
  it("passes chevrotain's own checks of the grammar and the tokens (skipped by the shared instances for start-up)", () => {
    expect(() => new DittoParser({ validate: true })).not.toThrow();
    expect(() => new Lexer(allTokens, LEXER_CONFIG)).not.toThrow();
    // The token check is live: a token that an earlier one always shadows is rejected.
    const shadowed = createToken({ name: 'Shadowed', pattern: /model/ });
    expect(() => new Lexer([...allTokens.slice(0, -1), shadowed, allTokens.at(-1)!], LEXER_CONFIG)).toThrow(/Shadowed/);
  });

  it('parses every shipped file without diagnostics, and print ∘ parse is the identity on them', () => {
    for (const f of SHIPPED) {
      const text = readFileSync(f, 'utf8');
      const r = parseSource(f, text);
      expect(r.diagnostics, f).toEqual([]);
      const again = parseSource(f, printProgram(r.ast!));
      expect(again.diagnostics, f).toEqual([]);
      expect(stripSpans(again.ast)).toEqual(stripSpans(r.ast));
    }
  });

  it('gives AST nodes spans that cover their source text', () => {
    const text = 'model M(a = 2) {\n  input t: f32[B]\n  output o = silu(t) @ "w"\n}\n';
    const ast = parseSource('f.ditto', text).ast!;
    const m = ast.decls[0]!;
    expect(m.kind).toBe('model');
    if (m.kind !== 'model') return;
    const out = m.body[1]!;
    expect(text.slice(out.span.start, out.span.end)).toBe('output o = silu(t) @ "w"');
    expect(out.span).toMatchObject({ file: 'f.ditto', line: 3, column: 3 });
    if (out.kind !== 'output') return;
    expect(text.slice(out.value.span.start, out.value.span.end)).toBe('silu(t) @ "w"');
  });

  it('attaches a missing token to the previous token, with what was expected', () => {
    const r = syntax('model M {\n  input t: f32[B]\n  o = silu(t\n  output p = o\n}\n');
    const d = r.diagnostics[0]!;
    expect(d.message).toBe("missing ')' after `t`");
    expect(d.span).toMatchObject({ line: 3, column: 13 });
    expect(d.expected).toBe("')'");
    expect(r.rendered).toContain("f.ditto:3:13: error: missing ')' after `t`\n  3 |   o = silu(t\n    |             ^\n  = expected: ')'");
  });

  it('attaches an error at end of input to the last token', () => {
    const d = syntax('model M {\n  input t: f32[B]\n').diagnostics[0]!;
    expect(d.message).toMatch(/missing '}' after `\]`/);
    expect(d.span).toMatchObject({ line: 2, column: 18 });
  });

  it('reports several errors in one run thanks to recovery', () => {
    const r = syntax('schedule s for DiT {\n  blocks[*].attn reus at every 2\n  steps 50\n}\nmodel M {\n  input t: f32[B\n  o = silu(t)\n}\n');
    expect(r.diagnostics.length).toBeGreaterThanOrEqual(2);
    expect(r.diagnostics[0]).toMatchObject({ message: 'unexpected `reus`', suggestion: 'did you mean `reuse`?', expected: "'compute', 'reuse' or 'forecast'" });
    expect(r.diagnostics.some((d) => d.span?.line === 6)).toBe(true);
  });

  it('reports unexpected characters from the lexer and keeps parsing', () => {
    const r = syntax('model M {\n  input t: f32[B]\n  o = silu(t) $ 2\n  output p = o\n}\n');
    expect(r.diagnostics[0]).toMatchObject({ code: 'E_SYNTAX', message: 'unexpected character `$`', span: { line: 3, column: 15 } });
  });

  it('explains a keyword used as a name', () => {
    const r = syntax('model M(order = 2) {\n}\n');
    expect(r.diagnostics[0]!.suggestion).toBe('`order` is a keyword and cannot be used as a name');
  });

  it('points out the missing `at` before a rule\'s steps', () => {
    const r = syntax('schedule s for DiT {\n  blocks[*].mlp reuse every 2\n}\n');
    expect(r.diagnostics[0]).toMatchObject({ message: "expected '}', found `every`", suggestion: "a rule's steps follow `at`: write `reuse at every …`", span: { line: 2, column: 23 } });
  });

  it('reports input after the last declaration', () => {
    const r = syntax('use "a.ditto"\n)\n');
    expect(r.diagnostics[0]!.message).toMatch(/unexpected `\)`/);
  });

  it('requires the end of a step range (an open range would swallow the next rule)', () => {
    const r = syntax('schedule s for DiT {\n  blocks[*].attn reuse at steps 2..\n  blocks[*].mlp reuse\n}\n');
    expect(r.diagnostics.length).toBeGreaterThan(0);
    expect(syntax('schedule s for DiT {\n  blocks[*].attn reuse at steps 2..S\n  blocks[*].mlp reuse\n}\n').diagnostics).toEqual([]);
  });
});
