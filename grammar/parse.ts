/**
 * Source text → AST plus syntax diagnostics. Never throws on any input: lexer and parser errors
 * become diagnostics (several per file thanks to chevrotain's recovery), and text past the limits
 * of grammar/limits.ts (size, tokens, nesting) is one located error before the parser runs, so
 * the time is linear in the text and the stack is bounded. When there are syntax errors the AST is
 * not built (the checker would only add follow-on noise).
 */
import type { IToken } from './chevrotain.ts';
import { EOF } from './chevrotain.ts';
import { DittoError, type SourceSpan } from '../core/errors.ts';
import type { ProgramAst } from './ast.ts';
import { CstToAst } from './cstToAst.ts';
import { type Diagnostic, closest, CONTROL_CHARS } from './diagnostics.ts';
import { KEYWORDS } from './tokens.ts';
import { lex, parseTokens } from './parser.ts';
import { deeperThan, MAX_LEX_ERRORS, MAX_NESTING, MAX_PARSE_ERRORS, MAX_SOURCE_CHARS, MAX_TREE_DEPTH, MAX_TOKENS, tooDeep } from './limits.ts';

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

/** A position in `text` as a span of one character (for limits hit where no token is). */
function spanAtOffset(file: string, text: string, offset: number): SourceSpan {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return { file, line, column, start: offset, end: offset + 1 };
}

function syntaxError(message: string, span: SourceSpan, suggestion?: string): Diagnostic {
  return { severity: 'error', code: 'E_SYNTAX', message, span, ...(suggestion ? { suggestion } : {}) };
}

export function parseSource(file: string, text: string): ParseResult {
  if (text.length > MAX_SOURCE_CHARS) {
    return { diagnostics: [syntaxError(`the file is longer than ${MAX_SOURCE_CHARS} characters (${text.length}); a ditto source is limited to ${MAX_SOURCE_CHARS}`, spanAtOffset(file, text, MAX_SOURCE_CHARS))] };
  }
  const lexed = lex(text, MAX_LEX_ERRORS);
  const diagnostics: Diagnostic[] = [];
  for (const e of lexed.junk.slice(0, MAX_LEX_ERRORS)) {
    const ch = printable(text.slice(e.offset, e.offset + Math.min(e.length, 20))) + (e.length > 20 ? '…' : '');
    diagnostics.push({
      severity: 'error',
      code: 'E_SYNTAX',
      message: `unexpected character \`${ch}\``,
      span: { file, line: e.line, column: e.column, start: e.offset, end: e.offset + Math.max(1, e.length) },
      expected: 'a name, a number, a string, an operator or punctuation',
    });
  }
  if (lexed.junk.length > MAX_LEX_ERRORS) {
    // The file is most likely not ditto source at all: stop here instead of parsing the rest.
    const e = lexed.junk[MAX_LEX_ERRORS]!;
    diagnostics.push(syntaxError(`more than ${MAX_LEX_ERRORS} unexpected characters; the rest of the file was not read`, { file, line: e.line, column: e.column, start: e.offset, end: e.offset + 1 }, 'is this a ditto source file?'));
    return { diagnostics };
  }
  const tokens = lexed.tokens;
  if (tokens.length > MAX_TOKENS) {
    diagnostics.push(syntaxError(`the file has more than ${MAX_TOKENS} tokens; a ditto source is limited to ${MAX_TOKENS}`, spanOf(file, tokens[MAX_TOKENS]!)));
    return { diagnostics };
  }
  const deep = tooDeep(tokens);
  if (deep) {
    diagnostics.push(syntaxError(`nesting deeper than ${MAX_NESTING} levels (brackets and prefix operators)`, spanOf(file, deep), 'name part of the expression with a parameter or a `let`'));
    return { diagnostics };
  }
  const raw = parseTokens(tokens, MAX_PARSE_ERRORS);
  // Token → index, built once: indexOf per error made thousands of errors quadratic.
  const indexOf = new Map(tokens.map((t, i) => [t, i] as const));
  for (const e of raw.errors.slice(0, MAX_PARSE_ERRORS)) {
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
  if (raw.stopped) {
    const last = raw.errors[raw.errors.length - 1]?.token ?? tokens[tokens.length - 1];
    diagnostics.push(syntaxError(`more than ${MAX_PARSE_ERRORS} syntax errors; the rest of the file was not read`, last ? spanOf(file, last) : { file, line: 1, column: 1, start: 0, end: 1 }));
  }
  if (diagnostics.length > 0 || !raw.cst) return { diagnostics };
  try {
    const ast = new CstToAst(file).program(raw.cst);
    const deep = deeperThan(ast, MAX_TREE_DEPTH) as { span?: SourceSpan } | undefined;
    if (deep) {
      const span = deep.span ?? { file, line: 1, column: 1, start: 0, end: 1 };
      return { diagnostics: [syntaxError(`an expression more than ${MAX_TREE_DEPTH} operators deep`, span, 'split it: name parts with parameters or a `let`')] };
    }
    return { ast, diagnostics };
  } catch (e) {
    // A CST that chevrotain accepted without errors must convert; anything else is our bug.
    if (e instanceof DittoError) throw e;
    throw new DittoError('E_INTERNAL', `CST conversion failed for ${file}: ${(e as Error).message}`);
  }
}

