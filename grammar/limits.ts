/**
 * Limits of the language's front end, so that any text — a megabyte on one line, ten thousand
 * unclosed `(`, a file of junk — is answered with located syntax errors in time linear in its
 * length, never with a stack overflow. The largest shipped file (models/vae.ditto) has under 900
 * tokens and nests 6 levels; the limits are far above what a person writes.
 */
import type { IToken, TokenType } from './chevrotain.ts';
import * as T from './tokens.ts';

/** Characters in one source file (the largest shipped file has about 5 000). */
export const MAX_SOURCE_CHARS = 256 * 1024;
/** Tokens in one source file. */
export const MAX_TOKENS = 20_000;
/**
 * Nesting levels: open brackets plus a run of prefix operators (`-`, `not`). Each level is about
 * ten recursive calls in the parser and the checker; 64 leaves the stack wide margin.
 */
export const MAX_NESTING = 64;
/**
 * Depth of the syntax tree: a chain `a + b + … ` is as deep as it is long, and the checker and
 * the lowering walk trees recursively (a chain of 9 000 terms overflowed the stack).
 */
export const MAX_TREE_DEPTH = 256;
/** Lexical errors reported per file: past these the rest of the file is not looked at. */
export const MAX_LEX_ERRORS = 20;
/** Parse errors kept per file (recovery after the first few mostly reports follow-on noise). */
export const MAX_PARSE_ERRORS = 100;

const OPEN = new Set<TokenType>([T.LParen, T.LBracket, T.LBrace]);
const CLOSE = new Set<TokenType>([T.RParen, T.RBracket, T.RBrace]);
const PREFIX = new Set<TokenType>([T.Minus, T.Plus, T.Kw.not]);

/** The first token at which nesting exceeds MAX_NESTING, or undefined. */
export function tooDeep(tokens: readonly IToken[]): IToken | undefined {
  let depth = 0;
  let prefixRun = 0;
  for (const t of tokens) {
    if (OPEN.has(t.tokenType)) depth++;
    else if (CLOSE.has(t.tokenType)) depth = Math.max(0, depth - 1);
    prefixRun = PREFIX.has(t.tokenType) ? prefixRun + 1 : 0;
    if (depth + prefixRun > MAX_NESTING) return t;
  }
  return undefined;
}

/** The first node (an object with a `kind`) deeper than `max` in the tree, walked without recursion. */
export function deeperThan(root: object, max: number): { span?: unknown } | undefined {
  const stack: [unknown, number][] = [[root, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    const isNode = 'kind' in node;
    const d = isNode ? depth + 1 : depth;
    if (d > max) return node as { span?: unknown };
    for (const v of Object.values(node)) if (v !== null && typeof v === 'object') stack.push([v, d]);
  }
  return undefined;
}
