/**
 * fast-check arbitraries of valid ASTs (spans are dummies; tests compare without them). They
 * produce every construct of the grammar, so print → parse exercises the whole printer.
 */
import fc from 'fast-check';
import type * as A from '../../grammar/ast.ts';

const span: A.Span = { file: 'gen.ditto', line: 1, column: 1, start: 0, end: 0 };
const NAMES = ['x', 'h', 'depth', 'blocks', 'attn', 'mlp', 'N', 't2', 'foo_bar', 'k', 'S', 'Maybe', 'iff', 'orbit', 'notes'];

export const name = fc.constantFrom(...NAMES);
export const ident = name.map((n): A.Ident => ({ name: n, span }));
export const str = fc.string({ unit: fc.constantFrom('a', 'b', '.', '{', '}', '"', '\\', ' ', '/', '-', '\n', 'é'), maxLength: 8 }).map((value): A.StringLit => ({ value, span }));
const number = fc.oneof(fc.integer({ min: 0, max: 100000 }), fc.integer({ min: 0, max: 100000 }).map((n) => n / 100), fc.constantFrom(1e-6, 0.965, 2.5e-5));

const BIN: A.BinaryOp[] = ['+', '-', '*', '/', '%', '==', '!=', '<', '<=', '>', '>=', 'and', 'or'];

export const expr: fc.Arbitrary<A.Expr> = fc.letrec<{ e: A.Expr }>((tie) => ({
  e: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    number.map((value): A.Expr => ({ kind: 'num', value, span })),
    name.map((n): A.Expr => ({ kind: 'name', name: n, span })),
    fc.constant<A.Expr>({ kind: 'always', span }),
    fc.tuple(fc.constantFrom(...BIN), tie('e'), tie('e')).map(([op, left, right]): A.Expr => ({ kind: 'binary', op, left, right, span })),
    fc.tuple(fc.constantFrom<A.UnaryOp>('-', 'not'), tie('e')).map(([op, operand]): A.Expr => ({ kind: 'unary', op, operand, span })),
    fc.tuple(ident, fc.array(fc.tuple(fc.option(ident, { nil: undefined }), tie('e')), { maxLength: 3 })).map(([callee, args]): A.Expr => ({
      kind: 'call',
      callee,
      // Positional arguments first (the checker's rule, not the grammar's, but keep it tidy).
      args: args.map(([n, value]) => ({ ...(n ? { name: n } : {}), value, span })),
      span,
    })),
    fc.tuple(tie('e'), str).map(([e, weights]): A.Expr => ({ kind: 'weights', expr: e, weights, span })),
    fc.tuple(tie('e'), tie('e')).map(([from, to]): A.Expr => ({ kind: 'steps', from, to, span })),
    fc.tuple(tie('e'), fc.option(tie('e'), { nil: undefined })).map(([n, offset]): A.Expr => ({ kind: 'every', n, ...(offset ? { offset } : {}), span })),
  ),
})).e;

const param = fc.tuple(ident, expr).map(([n, value]): A.Param => ({ name: n, value, span }));
const params = fc.array(param, { maxLength: 3 });

const simpleModelStmt: fc.Arbitrary<A.ModelStmt> = fc.oneof(
  fc.tuple(ident, ident, fc.array(expr, { minLength: 1, maxLength: 3 })).map(([n, dtype, dims]): A.ModelStmt => ({ kind: 'input', name: n, dtype, dims, span })),
  fc.tuple(ident, expr).map(([n, value]): A.ModelStmt => ({ kind: 'output', name: n, value, span })),
  fc.tuple(ident, expr).map(([n, value]): A.ModelStmt => ({ kind: 'let', name: n, value, span })),
  fc.tuple(fc.array(ident, { minLength: 1, maxLength: 3 }), expr).map(([names, value]): A.ModelStmt => ({ kind: 'bind', names, value, span })),
);

const modelStmt: fc.Arbitrary<A.ModelStmt> = fc.oneof(
  { weight: 4, arbitrary: simpleModelStmt },
  {
    weight: 1,
    arbitrary: fc.tuple(ident, expr, expr, ident, fc.option(str, { nil: undefined }), fc.array(simpleModelStmt, { maxLength: 3 })).map(
      ([v, from, to, group, weights, body]): A.ModelStmt => ({ kind: 'for', variable: v, from, to, group, index: v, ...(weights ? { weights } : {}), body, span }),
    ),
  },
);

const indexSel: fc.Arbitrary<A.IndexSel> = fc.oneof(
  fc.constant<A.IndexSel>({ kind: 'all', span }),
  expr.map((value): A.IndexSel => ({ kind: 'one', value, span })),
  fc.tuple(expr, fc.option(expr, { nil: undefined })).map(([from, to]): A.IndexSel => ({ kind: 'range', from, ...(to ? { to } : {}), span })),
);

export const selector: fc.Arbitrary<A.Selector> = fc
  .tuple(ident, fc.option(indexSel, { nil: undefined }), fc.option(ident, { nil: undefined }))
  .map(([root, index, field]) => ({ root, ...(index ? { index } : {}), ...(field ? { field } : {}), span }));

const action: fc.Arbitrary<A.ActionAst> = fc.oneof(
  fc.constantFrom<A.ActionAst>({ kind: 'compute', span }, { kind: 'reuse', span }, { kind: 'reuse_residual', span }),
  fc.tuple(fc.constantFrom<'taylor' | 'hermite'>('taylor', 'hermite'), expr, fc.option(expr, { nil: undefined })).map(([form, order, scale]): A.ActionAst => ({ kind: 'forecast', form, order, ...(scale ? { scale } : {}), span })),
  fc.tuple(expr, fc.option(fc.tuple(ident, fc.option(expr, { nil: undefined })), { nil: undefined })).map(([fraction, by]): A.ActionAst => ({
    kind: 'tokens', fraction, ...(by ? { by: { name: 'by', span }, order: by[0], ...(by[1] ? { size: by[1] } : {}) } : {}), span,
  })),
  fc.constantFrom<'foca' | 'exp'>('foca', 'exp').map((form): A.ActionAst => ({ kind: 'forecast', form, span })),
);

const optExpr = fc.option(expr, { nil: undefined });
const relL1: fc.Arbitrary<A.DynamicAst> = fc
  .record({ signal: selector, residual: fc.boolean(), since: fc.boolean(), rescale: fc.option(fc.array(expr, { minLength: 1, maxLength: 3 }), { nil: undefined }), threshold: expr, cap: optExpr, warmup: optExpr, max: optExpr, total: optExpr, perBranch: fc.boolean() })
  .map(({ signal, residual, since, rescale, threshold, cap, warmup, max, total, perBranch }) => ({
    kind: 'rel_l1' as const,
    signal,
    ...(residual ? { residual: true } : {}),
    ...(since ? { sinceCompute: true } : {}),
    ...(rescale ? { rescale } : {}),
    threshold,
    ...(cap ? { cap } : {}),
    ...(warmup ? { warmup } : {}),
    ...(max ? { max } : {}),
    ...(total ? { total } : {}),
    ...(perBranch ? { perBranch: { span } } : {}),
    span,
  }));
const magnitude: fc.Arbitrary<A.DynamicAst> = fc
  .tuple(str, expr, optExpr, optExpr, optExpr)
  .map(([curve, threshold, max, retain, warmup]) => ({ kind: 'magnitude' as const, curve, threshold, ...(warmup ? { warmup } : {}), ...(max ? { max } : {}), ...(retain ? { retain } : {}), span }));
const transformRate: fc.Arbitrary<A.DynamicAst> = fc
  .record({ signal: selector, threshold: expr, warmup: optExpr, max: optExpr })
  .map(({ signal, threshold, warmup, max }) => ({ kind: 'transform_rate' as const, signal, threshold, ...(warmup ? { warmup } : {}), ...(max ? { max } : {}), span }));
const dynamic: fc.Arbitrary<A.DynamicAst> = fc.oneof(relL1, magnitude, transformRate);

const nameLit = fc.oneof(str, name.map((value): A.StringLit => ({ value, span })));
const mapEntries = fc.option(fc.array(fc.tuple(nameLit, selector).map(([key, target]): A.MapEntry => ({ key, target, span })), { minLength: 1, maxLength: 2 }), { nil: undefined });
const args = fc.array(fc.tuple(fc.option(ident, { nil: undefined }), expr).map(([n, value]): A.Arg => ({ ...(n ? { name: n } : {}), value, span })), { maxLength: 3 });

const simpleScheduleStmt: fc.Arbitrary<A.ScheduleStmt> = fc.oneof(
  expr.map((value): A.ScheduleStmt => ({ kind: 'steps', value, span })),
  fc.oneof(fc.constantFrom('ddpm', 'ddim').map((n): A.Ident => ({ name: n, span })), ident).map((n): A.ScheduleStmt => ({ kind: 'sampler', name: n, span })),
  fc
    .tuple(fc.array(selector, { minLength: 1, maxLength: 3 }), action, fc.option(expr, { nil: undefined }), fc.option(dynamic, { nil: undefined }))
    .map(([targets, act, at, when]): A.ScheduleStmt => ({ kind: 'rule', targets, action: act, ...(at ? { at } : {}), ...(when ? { when } : {}), span })),
  fc
    .tuple(fc.oneof(str.map((path): A.TableSource => ({ kind: 'file', path })), fc.tuple(ident, args).map(([n, a]): A.TableSource => ({ kind: 'generator', name: n, args: a }))), fc.constantFrom<A.Orientation>('countdown', 'sampling'), mapEntries)
    .map(([source, order, map]): A.ScheduleStmt => ({ kind: 'table', source, order, ...(map ? { map } : {}), span })),
  fc.tuple(str, mapEntries).map(([path, map]): A.ScheduleStmt => ({ kind: 'json', path, ...(map ? { map } : {}), span })),
  fc.tuple(expr, fc.option(expr, { nil: undefined })).map(([value, at]): A.ScheduleStmt => ({ kind: 'eps_scale', value, ...(at ? { at } : {}), span })),
  args.map((a): A.ScheduleStmt => ({ kind: 'eps_piecewise', args: a, span })),
  fc.tuple(expr, fc.option(str, { nil: undefined })).map(([cond, message]): A.ScheduleStmt => ({ kind: 'require', cond, ...(message ? { message } : {}), span })),
);

const scheduleStmt: fc.Arbitrary<A.ScheduleStmt> = fc.oneof(
  { weight: 5, arbitrary: simpleScheduleStmt },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom<'cond' | 'uncond'>('cond', 'uncond'), fc.array(simpleScheduleStmt, { maxLength: 3 })).map(([branch, body]): A.ScheduleStmt => ({ kind: 'branch', branch, body, span })) },
);

export const decl: fc.Arbitrary<A.Decl> = fc.oneof(
  str.map((path): A.Decl => ({ kind: 'use', path, span })),
  fc.tuple(ident, params, fc.array(modelStmt, { maxLength: 5 })).map(([n, ps, body]): A.Decl => ({ kind: 'model', name: n, params: ps, body, span })),
  fc.tuple(nameLit, nameLit, params).map(([n, base, a]): A.Decl => ({ kind: 'variant', name: n, base, args: a, span })),
  fc.tuple(ident, params, nameLit, fc.array(scheduleStmt, { maxLength: 5 })).map(([n, ps, model, body]): A.Decl => ({ kind: 'schedule', name: n, params: ps, model, body, span })),
);

export const program: fc.Arbitrary<A.ProgramAst> = fc.array(decl, { maxLength: 4 }).map((decls) => ({ file: 'gen.ditto', decls }));
