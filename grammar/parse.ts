/**
 * Source text → AST plus syntax diagnostics. Never throws on any input: lexer and parser errors
 * become diagnostics (several per file thanks to chevrotain's recovery). When there are syntax
 * errors the AST is not built (the checker would only add follow-on noise).
 */
import type { IToken } from 'chevrotain';
import { EOF } from 'chevrotain';
import { DittoError, type SourceSpan } from '../core/errors.ts';
import type { ProgramAst } from './ast.ts';
import { CstToAst } from './cstToAst.ts';
import { type Diagnostic, closest, CONTROL_CHARS } from './diagnostics.ts';
import { KEYWORDS } from './tokens.ts';
import { dittoParser, parseRaw } from './parser.ts';

export interface ParseResult {
  readonly ast?: ProgramAst;
  readonly diagnostics: Diagnostic[];
}

function describe(tok: IToken): string {
  if (tok.tokenType === EOF || Number.isNaN(tok.startOffset)) return 'end of file';
  return `\`${tok.image}\``;
}

function spanOf(file: string, t: IToken): SourceSpan {
  return { file, line: t.startLine ?? 1, column: t.startColumn ?? 1, start: t.startOffset, end: (t.endOffset ?? t.startOffset) + 1 };
}

/** The span just after a token (where a missing token belongs). */
function spanAfter(file: string, t: IToken): SourceSpan {
  const end = (t.endOffset ?? t.startOffset) + 1;
  return { file, line: t.endLine ?? t.startLine ?? 1, column: (t.endColumn ?? t.startColumn ?? 1) + 1, start: end, end: end + 1 };
}

/** Control characters shown as escapes (\\u0007), so a message never carries raw bytes to the terminal. */
function printable(s: string): string {
  return s.replace(CONTROL_CHARS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Words that begin a step predicate, and the last words of an action, for the missing-`at` hint. */
const STEP_PREDICATE_STARTS = new Set(['every', 'steps', 't', 'i', 'k', 'always']);
const ACTION_ENDS = new Set(['reuse', 'compute', 'residual', ')']);

export function parseSource(file: string, text: string): ParseResult {
  const raw = parseRaw(text);
  const diagnostics: Diagnostic[] = [];
  for (const e of raw.lexErrors) {
    const ch = printable(text.slice(e.offset, e.offset + Math.min(e.length, 20))) + (e.length > 20 ? '…' : '');
    diagnostics.push({
      severity: 'error',
      code: 'E_SYNTAX',
      message: `unexpected character \`${ch}\``,
      span: { file, line: e.line, column: e.column, start: e.offset, end: e.offset + Math.max(1, e.length) },
      expected: 'a name, a number, a string, an operator or punctuation',
    });
  }
  const tokens = dittoParser.input;
  // Token → index, built once: indexOf per error made thousands of errors quadratic.
  const indexOf = new Map(tokens.map((t, i) => [t, i] as const));
  for (const e of raw.parseErrors) {
    const [expectedText = '', kind = ''] = e.message.split('\u0001');
    const tok = e.token;
    const idx = indexOf.get(tok) ?? -1;
    const prev = e.previousToken && !Number.isNaN(e.previousToken.startOffset) ? e.previousToken : idx > 0 ? tokens[idx - 1] : tokens.length > 0 && idx < 0 ? tokens[tokens.length - 1] : undefined;
    const atEnd = tok.tokenType === EOF || Number.isNaN(tok.startOffset);
    // A missing token belongs right after the previous token: at end of input, or when the token
    // found is already on a later line (the usual "forgot the `)`" case).
    const attachToPrev = prev !== undefined && (atEnd || (kind === 'missing' && (tok.startLine ?? 0) > (prev.endLine ?? prev.startLine ?? 0)));
    const span = attachToPrev ? spanAfter(file, prev!) : atEnd ? { file, line: 1, column: 1, start: 0, end: 1 } : spanOf(file, tok);
    let suggestion: string | undefined;
    if (!atEnd && tok.tokenType.name === 'Identifier') {
      const kw = closest(tok.image, KEYWORDS);
      if (kw && expectedText.includes(`'${kw}'`)) suggestion = `did you mean \`${kw}\`?`;
    }
    // A keyword where it cannot go is most often meant as a name (`model M(order = 2)`).
    if (!atEnd && KEYWORDS.has(tok.image) && !expectedText.includes(`'${tok.image}'`)) {
      // A step predicate written straight after an action (`reuse every 2`) lacks its `at`.
      const before = idx > 0 ? tokens[idx - 1] : undefined;
      suggestion = STEP_PREDICATE_STARTS.has(tok.image) && before !== undefined && ACTION_ENDS.has(before.image) && !/\bat\b/.test(expectedText)
        ? `a rule's steps follow \`at\`: write \`${before.image} at ${tok.image} …\``
        : `\`${tok.image}\` is a keyword and cannot be used as a name`;
    }
    diagnostics.push({
      severity: 'error',
      code: 'E_SYNTAX',
      message:
        kind === 'extra'
          ? `unexpected ${describe(tok)} after the end of the program`
          : kind === 'missing'
            ? attachToPrev
              ? `missing ${expectedText} after \`${prev!.image}\``
              : `expected ${expectedText}, found ${describe(tok)}`
            : `unexpected ${describe(tok)}`,
      span,
      ...(expectedText ? { expected: expectedText } : {}),
      ...(suggestion ? { suggestion } : {}),
    });
  }
  if (diagnostics.length > 0) return { diagnostics };
  try {
    return { ast: new CstToAst(file).program(raw.cst), diagnostics };
  } catch (e) {
    // A CST that chevrotain accepted without errors must convert; anything else is our bug.
    if (e instanceof DittoError) throw e;
    throw new DittoError('E_INTERNAL', `CST conversion failed for ${file}: ${(e as Error).message}`);
  }
}

