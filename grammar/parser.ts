/**
 * The ditto parser: one chevrotain CstParser instance (built once, reused for every file), error
 * recovery on. Rules are class fields so their types are checked; grammar/cstToAst.ts turns the
 * CST into the AST. Ordered alternatives inside one rule (operators, keywords) share a LABEL so
 * their order survives in the CST.
 */
import { CstParser, EOF, type CstNode, type IParserErrorMessageProvider, type IToken, type TokenType } from './chevrotain.ts';
import { listSome } from './diagnostics.ts';
import * as T from './tokens.ts';
import { beginLex } from './scanners.ts';

const K = T.Kw;

function label(t: TokenType): string {
  if (t === EOF) return 'end of file';
  if (t.name === 'Identifier') return 'a name';
  return t.LABEL ?? t.name;
}

/** "a, b or c" from token types, deduplicated. */
export function expectedList(types: readonly TokenType[]): string {
  const labels = [...new Set(types.map(label))];
  if (labels.length === 1) return labels[0]!;
  if (labels.length <= 10) return `${labels.slice(0, -1).join(', ')} or ${labels[labels.length - 1]}`;
  return listSome(labels, 10);
}

/**
 * Messages are "<expected>\u0001<kind>"; grammar/parse.ts splits them into a diagnostic's
 * `expected` field and its wording (kind: missing = a token was expected here, extra = input
 * after the end, other).
 */
/**
 * Thrown from the message provider once a parse has produced `errorBudget` errors: chevrotain
 * rethrows what is not its own recognition exception, so the parse stops there. Recovery costs
 * about a millisecond per error, and a file of garbage has one per token.
 */
class TooManyErrors extends Error {}
let errorsLeft = Infinity;

function counted(message: string): string {
  if (--errorsLeft < 0) throw new TooManyErrors();
  return message;
}

const messages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage: ({ expected }) => counted(`${expectedList([expected])}\u0001missing`),
  buildNotAllInputParsedMessage: () => counted(`a declaration (use, model, variant or schedule)\u0001extra`),
  buildNoViableAltMessage: ({ expectedPathsPerAlt }) => counted(`${expectedList(expectedPathsPerAlt.flat().map((p) => p[0]!).filter(Boolean))}\u0001other`),
  buildEarlyExitMessage: ({ expectedIterationPaths }) => counted(`${expectedList(expectedIterationPaths.map((p) => p[0]!).filter(Boolean))}\u0001other`),
};

export class DittoParser extends CstParser {
  /**
   * `validate`: run chevrotain's checks of the grammar itself (ambiguous alternatives, left
   * recursion, …). They find nothing in a grammar that passed them once and cost about a tenth of
   * `ditto check`'s start-up, so the shared instance skips them and a test runs them.
   */
  constructor({ validate = false }: { validate?: boolean } = {}) {
    super(T.allTokens, { recoveryEnabled: true, nodeLocationTracking: 'full', maxLookahead: 3, errorMessageProvider: messages, skipValidations: !validate });
    this.performSelfAnalysis();
  }

  program = this.RULE('program', () => {
    this.MANY(() => {
      this.OR([
        { ALT: () => this.SUBRULE(this.useDecl) },
        { ALT: () => this.SUBRULE(this.modelDecl) },
        { ALT: () => this.SUBRULE(this.variantDecl) },
        { ALT: () => this.SUBRULE(this.scheduleDecl) },
      ]);
    });
  });

  useDecl = this.RULE('useDecl', () => {
    this.CONSUME(K.use);
    this.CONSUME(T.StringLit);
  });

  nameLit = this.RULE('nameLit', () => {
    this.OR([{ ALT: () => this.CONSUME(T.StringLit, { LABEL: 'tok' }) }, { ALT: () => this.CONSUME(T.Identifier, { LABEL: 'tok' }) }]);
  });

  paramList = this.RULE('paramList', () => {
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.param) });
    this.CONSUME(T.RParen);
  });

  param = this.RULE('param', () => {
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr);
  });

  modelDecl = this.RULE('modelDecl', () => {
    this.CONSUME(K.model);
    this.CONSUME(T.Identifier);
    this.OPTION(() => this.SUBRULE(this.paramList));
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.modelStmt));
    this.CONSUME(T.RBrace);
  });

  variantDecl = this.RULE('variantDecl', () => {
    this.CONSUME(K.variant);
    this.SUBRULE(this.nameLit, { LABEL: 'name' });
    this.CONSUME(T.Equals);
    this.SUBRULE2(this.nameLit, { LABEL: 'base' });
    this.OPTION(() => this.SUBRULE(this.paramList));
  });

  modelStmt = this.RULE('modelStmt', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.inputStmt) },
      { ALT: () => this.SUBRULE(this.outputStmt) },
      { ALT: () => this.SUBRULE(this.letStmt) },
      { ALT: () => this.SUBRULE(this.forStmt) },
      { ALT: () => this.SUBRULE(this.bindStmt) },
    ]);
  });

  inputStmt = this.RULE('inputStmt', () => {
    this.CONSUME(K.input);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.CONSUME(T.Colon);
    this.CONSUME2(T.Identifier, { LABEL: 'dtype' });
    this.CONSUME(T.LBracket);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.expr) });
    this.CONSUME(T.RBracket);
  });

  outputStmt = this.RULE('outputStmt', () => {
    this.CONSUME(K.output);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr);
  });

  letStmt = this.RULE('letStmt', () => {
    this.CONSUME(K.let);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr);
  });

  forStmt = this.RULE('forStmt', () => {
    this.CONSUME(K.for);
    this.CONSUME(T.Identifier, { LABEL: 'variable' });
    this.CONSUME(K.in);
    this.SUBRULE(this.addExpr, { LABEL: 'from' });
    this.CONSUME(T.DotDot);
    this.SUBRULE2(this.addExpr, { LABEL: 'to' });
    this.CONSUME(K.as);
    this.CONSUME2(T.Identifier, { LABEL: 'group' });
    this.CONSUME(T.LBracket);
    this.CONSUME3(T.Identifier, { LABEL: 'index' });
    this.CONSUME(T.RBracket);
    this.OPTION(() => {
      this.CONSUME(T.At);
      this.CONSUME(T.StringLit);
    });
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.modelStmt));
    this.CONSUME(T.RBrace);
  });

  bindStmt = this.RULE('bindStmt', () => {
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.CONSUME(T.Identifier) });
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr);
  });

  scheduleDecl = this.RULE('scheduleDecl', () => {
    this.CONSUME(K.schedule);
    this.CONSUME(T.Identifier);
    this.OPTION(() => this.SUBRULE(this.paramList));
    this.CONSUME(K.for);
    this.SUBRULE(this.nameLit);
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.scheduleStmt));
    this.CONSUME(T.RBrace);
  });

  scheduleStmt = this.RULE('scheduleStmt', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.stepsStmt) },
      { ALT: () => this.SUBRULE(this.samplerStmt) },
      { ALT: () => this.SUBRULE(this.requireStmt) },
      { ALT: () => this.SUBRULE(this.epsStmt) },
      { ALT: () => this.SUBRULE(this.cfgCacheStmt) },
      { ALT: () => this.SUBRULE(this.tableStmt) },
      { ALT: () => this.SUBRULE(this.jsonStmt) },
      { ALT: () => this.SUBRULE(this.branchStmt) },
      { ALT: () => this.SUBRULE(this.ruleStmt) },
    ]);
  });

  stepsStmt = this.RULE('stepsStmt', () => {
    this.CONSUME(K.steps);
    this.SUBRULE(this.expr);
  });

  /** `sampler ddim`: the sampler the schedule was made for. The name is an identifier, not a
   *  keyword, so an unknown one is the resolver's error that lists the samplers. */
  samplerStmt = this.RULE('samplerStmt', () => {
    this.CONSUME(K.sampler);
    this.CONSUME(T.Identifier);
  });

  /** `require N >= 1 "why"`: a condition on the parameters, checked when the schedule is resolved. */
  requireStmt = this.RULE('requireStmt', () => {
    this.CONSUME(K.require);
    this.SUBRULE(this.expr);
    this.OPTION(() => this.CONSUME(T.StringLit));
  });

  epsStmt = this.RULE('epsStmt', () => {
    this.CONSUME(K.eps_scale);
    this.OR([
      {
        ALT: () => {
          this.CONSUME(K.piecewise);
          this.CONSUME(T.LParen);
          this.SUBRULE(this.argList);
          this.CONSUME(T.RParen);
        },
      },
      {
        ALT: () => {
          this.SUBRULE(this.expr, { LABEL: 'value' });
          this.OPTION(() => {
            this.CONSUME(K.at);
            this.SUBRULE2(this.expr, { LABEL: 'at' });
          });
        },
      },
    ]);
  });

  /** `cfg_cache [(low: g, high: g, boundary: b)] [at PRED]`: FasterCache's CFG-Cache, the
   *  unconditional model output from the conditional one and the stored frequency bands. */
  cfgCacheStmt = this.RULE('cfgCacheStmt', () => {
    this.CONSUME(K.cfg_cache);
    this.OPTION(() => {
      this.CONSUME(T.LParen);
      this.OPTION2(() => this.SUBRULE(this.argList));
      this.CONSUME(T.RParen);
    });
    this.OPTION3(() => {
      this.CONSUME(K.at);
      this.SUBRULE(this.expr, { LABEL: 'at' });
    });
  });

  tableStmt = this.RULE('tableStmt', () => {
    this.CONSUME(K.table);
    this.OR([
      { ALT: () => this.CONSUME(T.StringLit) },
      {
        ALT: () => {
          this.CONSUME(T.Identifier);
          this.CONSUME(T.LParen);
          this.SUBRULE(this.argList);
          this.CONSUME(T.RParen);
        },
      },
    ]);
    this.CONSUME(K.order);
    this.OR2([{ ALT: () => this.CONSUME(K.countdown, { LABEL: 'orientation' }) }, { ALT: () => this.CONSUME(K.sampling, { LABEL: 'orientation' }) }]);
    this.OPTION(() => this.SUBRULE(this.mapClause));
  });

  jsonStmt = this.RULE('jsonStmt', () => {
    this.CONSUME(K.json);
    this.CONSUME(T.StringLit);
    this.OPTION(() => this.SUBRULE(this.mapClause));
  });

  mapClause = this.RULE('mapClause', () => {
    this.CONSUME(K.map);
    this.CONSUME(T.LParen);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.mapEntry) });
    this.CONSUME(T.RParen);
  });

  mapEntry = this.RULE('mapEntry', () => {
    this.SUBRULE(this.nameLit);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.selector);
  });

  branchStmt = this.RULE('branchStmt', () => {
    this.OR([{ ALT: () => this.CONSUME(K.cond, { LABEL: 'branch' }) }, { ALT: () => this.CONSUME(K.uncond, { LABEL: 'branch' }) }]);
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.scheduleStmt));
    this.CONSUME(T.RBrace);
  });

  ruleStmt = this.RULE('ruleStmt', () => {
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.selector) });
    this.SUBRULE(this.action);
    this.OPTION(() => {
      this.CONSUME(K.at);
      this.SUBRULE(this.expr);
    });
    this.OPTION2(() => this.SUBRULE(this.dynamic));
  });

  selector = this.RULE('selector', () => {
    this.CONSUME(T.Identifier, { LABEL: 'root' });
    this.OPTION(() => {
      this.CONSUME(T.LBracket);
      this.SUBRULE(this.indexSel);
      this.CONSUME(T.RBracket);
    });
    this.OPTION2(() => {
      this.CONSUME(T.Dot);
      this.CONSUME2(T.Identifier, { LABEL: 'field' });
    });
  });

  indexSel = this.RULE('indexSel', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Star) },
      {
        ALT: () => {
          this.SUBRULE(this.addExpr, { LABEL: 'from' });
          this.OPTION(() => {
            this.CONSUME(T.DotDot);
            this.OPTION2(() => this.SUBRULE2(this.addExpr, { LABEL: 'to' }));
          });
        },
      },
    ]);
  });

  action = this.RULE('action', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(K.compute);
          // `compute tokens(f [, by = ORDER[(s)]])`: a partial compute of the token rows.
          this.OPTION6(() => {
            this.CONSUME(K.tokens);
            this.CONSUME2(T.LParen);
            this.SUBRULE3(this.expr, { LABEL: 'fraction' });
            this.OPTION7(() => {
              this.CONSUME2(T.Comma);
              this.CONSUME3(T.Identifier, { LABEL: 'by' });
              this.CONSUME(T.Equals);
              this.CONSUME4(T.Identifier, { LABEL: 'orderName' });
              this.OPTION8(() => {
                this.CONSUME3(T.LParen);
                this.SUBRULE4(this.expr, { LABEL: 'size' });
                this.CONSUME3(T.RParen);
              });
            });
            this.CONSUME2(T.RParen);
          });
        },
      },
      {
        ALT: () => {
          this.CONSUME(K.reuse);
          this.OPTION(() => this.CONSUME(K.residual));
        },
      },
      {
        ALT: () => {
          this.CONSUME(K.forecast);
          this.OR2([
            { ALT: () => this.CONSUME(K.taylor) },
            { ALT: () => this.CONSUME(K.hermite) },
            // The later forms are names, not keywords, so they stay free as schedule names.
            { ALT: () => this.CONSUME(T.Identifier, { LABEL: 'form' }) },
          ]);
          // The arguments are optional here so that `forecast foca` parses; which form takes which
          // arguments is checked in compiler/schedule/ruleStatement.ts, with the form's name.
          this.OPTION3(() => {
            this.CONSUME(T.LParen);
            this.SUBRULE(this.expr, { LABEL: 'order' });
            this.OPTION2(() => {
              this.CONSUME(T.Comma);
              this.SUBRULE2(this.expr, { LABEL: 'scale' });
            });
            this.CONSUME(T.RParen);
          });
        },
      },
    ]);
  });

  // `when rel_l1(SIGNAL) [since compute] [rescale(c…)] < θ [cap c] [warmup w] [max m] [total n] [per_branch]`
  // or `when transform_rate(BLOCKS) < τ [warmup w] [max m]` (EasyCache), both decided on the GPU, or `when magnitude "curve.json" < θ [max K] [retain r]` (MagCache: the
  // calibrated curve makes the decisions static, taken when the schedule is resolved).
  dynamic = this.RULE('dynamic', () => {
    this.CONSUME(K.when);
    this.OR([
      {
        ALT: () => {
          this.CONSUME(K.rel_l1);
          this.CONSUME(T.LParen);
          this.OR2([
            {
              ALT: () => {
                this.CONSUME(K.residual, { LABEL: 'residualSignal' });
                this.CONSUME2(T.LParen);
                this.SUBRULE(this.selector);
                this.CONSUME2(T.RParen);
              },
            },
            { ALT: () => this.SUBRULE2(this.selector) },
          ]);
          this.CONSUME(T.RParen);
          this.OPTION3(() => {
            this.CONSUME(K.since);
            this.CONSUME(K.compute, { LABEL: 'sinceCompute' });
          });
          this.OPTION4(() => {
            this.CONSUME(K.rescale);
            this.CONSUME3(T.LParen);
            this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.addExpr, { LABEL: 'coefficient' }) });
            this.CONSUME3(T.RParen);
          });
        },
      },
      {
        ALT: () => {
          this.CONSUME(K.transform_rate);
          this.CONSUME4(T.LParen);
          this.SUBRULE3(this.selector, { LABEL: 'rateSignal' });
          this.CONSUME4(T.RParen);
        },
      },
      {
        ALT: () => {
          this.CONSUME(K.magnitude);
          this.CONSUME(T.StringLit, { LABEL: 'curve' });
        },
      },
    ]);
    this.CONSUME(T.Lt);
    this.SUBRULE2(this.addExpr, { LABEL: 'threshold' });
    this.OPTION5(() => {
      this.CONSUME(K.cap);
      this.SUBRULE3(this.addExpr, { LABEL: 'cap' });
    });
    this.OPTION(() => {
      this.CONSUME(K.warmup);
      this.SUBRULE4(this.addExpr, { LABEL: 'warmup' });
    });
    this.OPTION2(() => {
      this.CONSUME(K.max);
      this.SUBRULE5(this.addExpr, { LABEL: 'max' });
    });
    this.OPTION6(() => {
      this.CONSUME(K.total);
      this.SUBRULE6(this.addExpr, { LABEL: 'total' });
    });
    this.OPTION7(() => {
      this.CONSUME(K.retain);
      this.SUBRULE7(this.addExpr, { LABEL: 'retain' });
    });
    this.OPTION8(() => this.CONSUME(K.per_branch, { LABEL: 'perBranch' }));
  });

  // ------------------------------------------------------------ expressions

  expr = this.RULE('expr', () => {
    this.SUBRULE(this.andExpr, { LABEL: 'operand' });
    this.MANY(() => {
      this.CONSUME(K.or, { LABEL: 'op' });
      this.SUBRULE2(this.andExpr, { LABEL: 'operand' });
    });
  });

  andExpr = this.RULE('andExpr', () => {
    this.SUBRULE(this.notExpr, { LABEL: 'operand' });
    this.MANY(() => {
      this.CONSUME(K.and, { LABEL: 'op' });
      this.SUBRULE2(this.notExpr, { LABEL: 'operand' });
    });
  });

  notExpr = this.RULE('notExpr', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(K.not);
          this.SUBRULE(this.notExpr);
        },
      },
      { ALT: () => this.SUBRULE(this.cmpExpr) },
    ]);
  });

  cmpExpr = this.RULE('cmpExpr', () => {
    this.SUBRULE(this.addExpr, { LABEL: 'operand' });
    this.OPTION(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.EqEq, { LABEL: 'op' }) },
        { ALT: () => this.CONSUME(T.NotEq, { LABEL: 'op' }) },
        { ALT: () => this.CONSUME(T.LtEq, { LABEL: 'op' }) },
        { ALT: () => this.CONSUME(T.GtEq, { LABEL: 'op' }) },
        { ALT: () => this.CONSUME(T.Lt, { LABEL: 'op' }) },
        { ALT: () => this.CONSUME(T.Gt, { LABEL: 'op' }) },
      ]);
      this.SUBRULE2(this.addExpr, { LABEL: 'operand' });
    });
  });

  addExpr = this.RULE('addExpr', () => {
    this.SUBRULE(this.mulExpr, { LABEL: 'operand' });
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Plus, { LABEL: 'op' }) }, { ALT: () => this.CONSUME(T.Minus, { LABEL: 'op' }) }]);
      this.SUBRULE2(this.mulExpr, { LABEL: 'operand' });
    });
  });

  mulExpr = this.RULE('mulExpr', () => {
    this.SUBRULE(this.unaryExpr, { LABEL: 'operand' });
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Star, { LABEL: 'op' }) },
        { ALT: () => this.CONSUME(T.Slash, { LABEL: 'op' }) },
        { ALT: () => this.CONSUME(T.Percent, { LABEL: 'op' }) },
      ]);
      this.SUBRULE2(this.unaryExpr, { LABEL: 'operand' });
    });
  });

  unaryExpr = this.RULE('unaryExpr', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Minus);
          this.SUBRULE(this.unaryExpr);
        },
      },
      { ALT: () => this.SUBRULE(this.postfixExpr) },
    ]);
  });

  postfixExpr = this.RULE('postfixExpr', () => {
    this.SUBRULE(this.primary);
    this.MANY(() => {
      this.CONSUME(T.At);
      this.CONSUME(T.StringLit);
    });
  });

  primary = this.RULE('primary', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.NumberLit) },
      {
        ALT: () => {
          this.CONSUME(T.Identifier);
          this.OPTION(() => {
            this.CONSUME(T.LParen);
            this.SUBRULE(this.argList);
            this.CONSUME(T.RParen);
          });
        },
      },
      {
        ALT: () => {
          this.CONSUME2(T.LParen, { LABEL: 'open' });
          this.SUBRULE(this.expr);
          this.CONSUME2(T.RParen, { LABEL: 'close' });
        },
      },
      {
        ALT: () => {
          this.CONSUME(K.steps);
          this.SUBRULE(this.addExpr, { LABEL: 'from' });
          this.CONSUME(T.DotDot);
          // The end is required: an open `steps 5..` would swallow the name that starts the
          // next rule (`steps 5..S` is the open range).
          this.SUBRULE2(this.addExpr, { LABEL: 'to' });
        },
      },
      {
        ALT: () => {
          this.CONSUME(K.every);
          this.SUBRULE3(this.addExpr, { LABEL: 'n' });
          this.OPTION3(() => {
            this.CONSUME(K.offset);
            this.SUBRULE4(this.addExpr, { LABEL: 'offset' });
          });
        },
      },
      { ALT: () => this.CONSUME(K.always) },
    ]);
  });

  argList = this.RULE('argList', () => {
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.arg) });
  });

  arg = this.RULE('arg', () => {
    this.OPTION(() => {
      this.CONSUME(T.Identifier, { LABEL: 'name' });
      this.CONSUME(T.Colon);
    });
    this.SUBRULE(this.expr);
  });
}

/** The one parser instance (chevrotain parsers are expensive to build and meant to be reused). */
export const dittoParser = new DittoParser();

export interface LexError {
  offset: number;
  line: number;
  column: number;
  length: number;
}

export interface Lexed {
  /** The tokens a parser sees (junk runs removed). */
  tokens: IToken[];
  /** Runs of characters that start no token, in order. */
  junk: LexError[];
}

/**
 * Splits `text` into tokens; never throws. Runs of junk become errors, not tokens; after
 * `maxJunk` of them the rest of the text is one last junk run (the lexer stops there).
 */
export function lex(text: string, maxJunk = Infinity): Lexed {
  beginLex(maxJunk);
  const lexed = T.dittoLexer.tokenize(text);
  const tokens: IToken[] = [];
  const junk: LexError[] = [];
  for (const t of lexed.tokens) {
    if (t.tokenType === T.Junk) junk.push({ offset: t.startOffset, line: t.startLine ?? 1, column: t.startColumn ?? 1, length: t.image.length });
    else tokens.push(t);
  }
  // Junk matches wherever nothing else does, so chevrotain itself reports nothing; kept for safety.
  for (const e of lexed.errors) junk.push({ offset: e.offset, line: e.line ?? 1, column: e.column ?? 1, length: e.length });
  return { tokens, junk };
}

export interface ParseError {
  message: string;
  token: IToken;
  previousToken?: IToken;
}

/**
 * Parses lexed tokens into a CST; never throws for any input. After `maxErrors` errors the parse
 * stops (`stopped`: the CST is incomplete, which does not matter — with errors it is not used).
 */
export function parseTokens(tokens: IToken[], maxErrors = Infinity): { cst: CstNode | undefined; errors: ParseError[]; stopped: boolean } {
  dittoParser.input = tokens;
  errorsLeft = maxErrors;
  let cst: CstNode | undefined;
  let stopped = false;
  try {
    cst = dittoParser.program();
  } catch (e) {
    if (!(e instanceof TooManyErrors)) throw e;
    stopped = true;
  } finally {
    errorsLeft = Infinity;
  }
  const errors = dittoParser.errors.map((e) => ({
    message: e.message,
    token: e.token,
    previousToken: (e as { previousToken?: IToken }).previousToken,
  }));
  return { cst, errors, stopped };
}
