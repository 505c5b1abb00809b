/**
 * The browser's grammar/chevrotain.ts: chevrotain's own entry point, which esbuild bundles (and
 * trims) like any package. The Node module finds chevrotain's single-file build on disk instead.
 */
export { createToken, CstParser, EOF, Lexer } from 'chevrotain';
export type { CstNode, IParserErrorMessageProvider, IToken, TokenType } from 'chevrotain';
