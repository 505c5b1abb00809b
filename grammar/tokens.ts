/**
 * The lexer of the ditto language. Keywords are real tokens (with `longer_alt: Identifier`, so
 * `reuse_x` stays an identifier); everything else a user writes is an identifier, a number or a
 * string. Comments are `// …` and `/* … *\/`.
 */
import { createToken, Lexer, type TokenType } from './chevrotain.ts';
import { blockCommentAt, junkAt, stringAt } from './scanners.ts';

export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/ });

function kw(word: string): TokenType {
  return createToken({ name: `Kw_${word}`, pattern: word, longer_alt: Identifier, label: `'${word}'` });
}

export const Kw = {
  use: kw('use'),
  model: kw('model'),
  variant: kw('variant'),
  schedule: kw('schedule'),
  input: kw('input'),
  output: kw('output'),
  let: kw('let'),
  for: kw('for'),
  in: kw('in'),
  as: kw('as'),
  steps: kw('steps'),
  sampler: kw('sampler'),
  require: kw('require'),
  every: kw('every'),
  offset: kw('offset'),
  at: kw('at'),
  when: kw('when'),
  warmup: kw('warmup'),
  max: kw('max'),
  table: kw('table'),
  json: kw('json'),
  order: kw('order'),
  countdown: kw('countdown'),
  sampling: kw('sampling'),
  map: kw('map'),
  compute: kw('compute'),
  reuse: kw('reuse'),
  residual: kw('residual'),
  forecast: kw('forecast'),
  taylor: kw('taylor'),
  hermite: kw('hermite'),
  tokens: kw('tokens'),
  eps_scale: kw('eps_scale'),
  cfg_cache: kw('cfg_cache'),
  piecewise: kw('piecewise'),
  rel_l1: kw('rel_l1'),
  transform_rate: kw('transform_rate'),
  since: kw('since'),
  rescale: kw('rescale'),
  cap: kw('cap'),
  total: kw('total'),
  magnitude: kw('magnitude'),
  retain: kw('retain'),
  per_branch: kw('per_branch'),
  cond: kw('cond'),
  uncond: kw('uncond'),
  and: kw('and'),
  or: kw('or'),
  not: kw('not'),
  always: kw('always'),
} as const;

export type KeywordName = keyof typeof Kw;

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r\n]+/, group: Lexer.SKIPPED });
export const LineComment = createToken({ name: 'LineComment', pattern: /\/\/[^\n]*/, group: Lexer.SKIPPED });
// Block comments and strings are scanned by hand (grammar/scanners.ts): the regular expressions
// rescanned to the end of the text or line at every unclosed `/*` or `"`, quadratic on long lines.
export const BlockComment = createToken({ name: 'BlockComment', pattern: { exec: blockCommentAt }, group: Lexer.SKIPPED, line_breaks: true });

export const NumberLit = createToken({ name: 'NumberLit', pattern: /\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/, label: 'a number' });
export const StringLit = createToken({ name: 'StringLit', pattern: { exec: stringAt }, line_breaks: false, label: 'a string' });

function punct(name: string, pattern: RegExp | string, label: string): TokenType {
  return createToken({ name, pattern, label: `'${label}'` });
}

export const DotDot = punct('DotDot', '..', '..');
export const Dot = punct('Dot', '.', '.');
export const LParen = punct('LParen', '(', '(');
export const RParen = punct('RParen', ')', ')');
export const LBrace = punct('LBrace', '{', '{');
export const RBrace = punct('RBrace', '}', '}');
export const LBracket = punct('LBracket', '[', '[');
export const RBracket = punct('RBracket', ']', ']');
export const Comma = punct('Comma', ',', ',');
export const Colon = punct('Colon', ':', ':');
export const At = punct('At', '@', '@');
export const EqEq = punct('EqEq', '==', '==');
export const NotEq = punct('NotEq', '!=', '!=');
export const LtEq = punct('LtEq', '<=', '<=');
export const GtEq = punct('GtEq', '>=', '>=');
export const Lt = punct('Lt', '<', '<');
export const Gt = punct('Gt', '>', '>');
export const Equals = punct('Equals', '=', '=');
export const Plus = punct('Plus', '+', '+');
export const Minus = punct('Minus', '-', '-');
export const Star = punct('Star', '*', '*');
export const Slash = punct('Slash', '/', '/');
export const Percent = punct('Percent', '%', '%');

/**
 * Characters no token can start with, one run per token. Tried last, so it only matches where
 * nothing else does; grammar/parse.ts reports each run as "unexpected character" and drops it.
 * As a token it costs one scan per run, where chevrotain's own error recovery retried every
 * pattern at every dropped character (seconds on a megabyte of junk).
 */
export const Junk = createToken({ name: 'Junk', pattern: { exec: junkAt }, line_breaks: false, label: 'an unexpected character' });

export const allTokens: TokenType[] = [
  WhiteSpace,
  BlockComment,
  LineComment,
  // Longest keywords first: `for` must not win over `forecast` (longer_alt only falls back to
  // Identifier, not to another keyword).
  ...Object.values(Kw).sort((a, b) => String(b.PATTERN).length - String(a.PATTERN).length),
  Identifier,
  NumberLit,
  StringLit,
  DotDot,
  Dot,
  LParen,
  RParen,
  LBrace,
  RBrace,
  LBracket,
  RBracket,
  Comma,
  Colon,
  At,
  EqEq,
  NotEq,
  LtEq,
  GtEq,
  Lt,
  Gt,
  Equals,
  Plus,
  Minus,
  Star,
  Slash,
  Percent,
  Junk,
];

/**
 * The lexer's options. Its checks of the token definitions (unreachable or empty patterns, …) are
 * skipped for the shared lexer, as the parser skips its grammar checks: a test runs them.
 */
export const LEXER_CONFIG = { positionTracking: 'full', ensureOptimizations: false } as const;

export const dittoLexer = new Lexer(allTokens, { ...LEXER_CONFIG, skipValidations: true });

/** All keyword spellings (the checker uses them to explain "`order` is a keyword"). */
export const KEYWORDS: ReadonlySet<string> = new Set(Object.keys(Kw));
