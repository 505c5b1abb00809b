/**
 * CST → AST. Called only on a CST without syntax errors (after recovery the CST may lack
 * children, and the checker would only report follow-on noise), so missing children here are
 * internal errors.
 */
import type { CstNode, IToken } from './chevrotain.ts';
import { DittoError } from '../core/errors.ts';
import type * as A from './ast.ts';

type Child = CstNode | IToken;

function isToken(c: Child): c is IToken {
  return (c as IToken).image !== undefined;
}

function kids(n: CstNode, key: string): Child[] {
  return n.children[key] ?? [];
}

function node(n: CstNode, key: string, i = 0): CstNode {
  const c = kids(n, key)[i];
  if (!c || isToken(c)) throw new DittoError('E_INTERNAL', `CST ${n.name} lacks ${key}[${i}]`);
  return c;
}

function tok(n: CstNode, key: string, i = 0): IToken {
  const c = kids(n, key)[i];
  if (!c || !isToken(c)) throw new DittoError('E_INTERNAL', `CST ${n.name} lacks token ${key}[${i}]`);
  return c;
}

function has(n: CstNode, key: string): boolean {
  return kids(n, key).length > 0;
}

function nodes(n: CstNode, key: string): CstNode[] {
  return kids(n, key).filter((c): c is CstNode => !isToken(c));
}

function toks(n: CstNode, key: string): IToken[] {
  return kids(n, key).filter(isToken);
}

/** Unescapes the body of a string literal token (`"a\"b"` → `a"b`). */
export function unquote(image: string): string {
  return image.slice(1, -1).replace(/\\(.)/g, (_, ch: string) => (ch === 'n' ? '\n' : ch === 't' ? '\t' : ch));
}

export class CstToAst {
  constructor(private readonly file: string) {}

  tokSpan(t: IToken): A.Span {
    return { file: this.file, line: t.startLine ?? 1, column: t.startColumn ?? 1, start: t.startOffset, end: (t.endOffset ?? t.startOffset) + 1 };
  }

  nodeSpan(n: CstNode): A.Span {
    const l = n.location;
    if (!l || Number.isNaN(l.startOffset)) throw new DittoError('E_INTERNAL', `CST ${n.name} has no location`);
    return { file: this.file, line: l.startLine ?? 1, column: l.startColumn ?? 1, start: l.startOffset, end: (l.endOffset ?? l.startOffset) + 1 };
  }

  join(a: A.Span, b: A.Span): A.Span {
    return { ...a, end: b.end };
  }

  ident(t: IToken): A.Ident {
    return { name: t.image, span: this.tokSpan(t) };
  }

  stringLit(t: IToken): A.StringLit {
    return { value: unquote(t.image), span: this.tokSpan(t) };
  }

  nameLit(n: CstNode): A.StringLit {
    const t = tok(n, 'tok');
    return t.tokenType.name === 'StringLit' ? this.stringLit(t) : { value: t.image, span: this.tokSpan(t) };
  }

  program(n: CstNode): A.ProgramAst {
    const decls: A.Decl[] = [];
    // Declarations of different kinds sit in different child arrays; restore source order.
    const all = [...nodes(n, 'useDecl'), ...nodes(n, 'modelDecl'), ...nodes(n, 'variantDecl'), ...nodes(n, 'scheduleDecl')];
    all.sort((a, b) => (a.location?.startOffset ?? 0) - (b.location?.startOffset ?? 0));
    for (const d of all) {
      switch (d.name) {
        case 'useDecl':
          decls.push({ kind: 'use', path: this.stringLit(tok(d, 'StringLit')), span: this.nodeSpan(d) });
          break;
        case 'modelDecl':
          decls.push(this.model(d));
          break;
        case 'variantDecl':
          decls.push({
            kind: 'variant',
            name: this.nameLit(node(d, 'name')),
            base: this.nameLit(node(d, 'base')),
            args: has(d, 'paramList') ? this.params(node(d, 'paramList')) : [],
            span: this.nodeSpan(d),
          });
          break;
        default:
          decls.push(this.schedule(d));
      }
    }
    return { file: this.file, decls };
  }

  params(n: CstNode): A.Param[] {
    return nodes(n, 'param').map((p) => ({ name: this.ident(tok(p, 'Identifier')), value: this.expr(node(p, 'expr')), span: this.nodeSpan(p) }));
  }

  model(d: CstNode): A.ModelDecl {
    return {
      kind: 'model',
      name: this.ident(tok(d, 'Identifier')),
      params: has(d, 'paramList') ? this.params(node(d, 'paramList')) : [],
      body: nodes(d, 'modelStmt').map((s) => this.modelStmt(s)),
      span: this.nodeSpan(d),
    };
  }

  modelStmt(s: CstNode): A.ModelStmt {
    const [inner] = Object.values(s.children).flat() as CstNode[];
    if (!inner) throw new DittoError('E_INTERNAL', 'empty model statement');
    const span = this.nodeSpan(inner);
    switch (inner.name) {
      case 'inputStmt':
        return {
          kind: 'input',
          name: this.ident(tok(inner, 'name')),
          dtype: this.ident(tok(inner, 'dtype')),
          dims: nodes(inner, 'expr').map((e) => this.expr(e)),
          span,
        };
      case 'outputStmt':
        return { kind: 'output', name: this.ident(tok(inner, 'Identifier')), value: this.expr(node(inner, 'expr')), span };
      case 'letStmt':
        return { kind: 'let', name: this.ident(tok(inner, 'Identifier')), value: this.expr(node(inner, 'expr')), span };
      case 'forStmt':
        return {
          kind: 'for',
          variable: this.ident(tok(inner, 'variable')),
          from: this.addExpr(node(inner, 'from')),
          to: this.addExpr(node(inner, 'to')),
          group: this.ident(tok(inner, 'group')),
          index: this.ident(tok(inner, 'index')),
          ...(has(inner, 'StringLit') ? { weights: this.stringLit(tok(inner, 'StringLit')) } : {}),
          body: nodes(inner, 'modelStmt').map((m) => this.modelStmt(m)),
          span,
        };
      default:
        return { kind: 'bind', names: toks(inner, 'Identifier').map((t) => this.ident(t)), value: this.expr(node(inner, 'expr')), span };
    }
  }

  schedule(d: CstNode): A.ScheduleDecl {
    return {
      kind: 'schedule',
      name: this.ident(tok(d, 'Identifier')),
      params: has(d, 'paramList') ? this.params(node(d, 'paramList')) : [],
      model: this.nameLit(node(d, 'nameLit')),
      body: nodes(d, 'scheduleStmt').map((s) => this.scheduleStmt(s)),
      span: this.nodeSpan(d),
    };
  }

  mapClause(n: CstNode): A.MapEntry[] {
    return nodes(n, 'mapEntry').map((e) => ({ key: this.nameLit(node(e, 'nameLit')), target: this.selector(node(e, 'selector')), span: this.nodeSpan(e) }));
  }

  scheduleStmt(s: CstNode): A.ScheduleStmt {
    const [inner] = Object.values(s.children).flat() as CstNode[];
    if (!inner) throw new DittoError('E_INTERNAL', 'empty schedule statement');
    const span = this.nodeSpan(inner);
    switch (inner.name) {
      case 'stepsStmt':
        return { kind: 'steps', value: this.expr(node(inner, 'expr')), span };
      case 'samplerStmt':
        return { kind: 'sampler', name: this.ident(tok(inner, 'Identifier')), span };
      case 'requireStmt':
        return { kind: 'require', cond: this.expr(node(inner, 'expr')), ...(has(inner, 'StringLit') ? { message: this.stringLit(tok(inner, 'StringLit')) } : {}), span };
      case 'epsStmt':
        if (has(inner, 'Kw_piecewise')) return { kind: 'eps_piecewise', args: this.args(node(inner, 'argList')), span };
        return { kind: 'eps_scale', value: this.expr(node(inner, 'value')), ...(has(inner, 'at') ? { at: this.expr(node(inner, 'at')) } : {}), span };
      case 'cfgCacheStmt':
        return { kind: 'cfg_cache', args: has(inner, 'argList') ? this.args(node(inner, 'argList')) : [], ...(has(inner, 'at') ? { at: this.expr(node(inner, 'at')) } : {}), span };
      case 'tableStmt': {
        const source: A.TableSource = has(inner, 'StringLit')
          ? { kind: 'file', path: this.stringLit(tok(inner, 'StringLit')) }
          : { kind: 'generator', name: this.ident(tok(inner, 'Identifier')), args: this.args(node(inner, 'argList')) };
        return {
          kind: 'table',
          source,
          order: tok(inner, 'orientation').image === 'sampling' ? 'sampling' : 'countdown',
          ...(has(inner, 'mapClause') ? { map: this.mapClause(node(inner, 'mapClause')) } : {}),
          span,
        };
      }
      case 'jsonStmt':
        return {
          kind: 'json',
          path: this.stringLit(tok(inner, 'StringLit')),
          ...(has(inner, 'mapClause') ? { map: this.mapClause(node(inner, 'mapClause')) } : {}),
          span,
        };
      case 'branchStmt':
        return {
          kind: 'branch',
          branch: tok(inner, 'branch').image === 'uncond' ? 'uncond' : 'cond',
          body: nodes(inner, 'scheduleStmt').map((x) => this.scheduleStmt(x)),
          span,
        };
      default:
        return {
          kind: 'rule',
          targets: nodes(inner, 'selector').map((x) => this.selector(x)),
          action: this.action(node(inner, 'action')),
          ...(has(inner, 'expr') ? { at: this.expr(node(inner, 'expr')) } : {}),
          ...(has(inner, 'dynamic') ? { when: this.dynamic(node(inner, 'dynamic')) } : {}),
          span,
        };
    }
  }

  selector(n: CstNode): A.Selector {
    const sel: { root: A.Ident; index?: A.IndexSel; field?: A.Ident; span: A.Span } = { root: this.ident(tok(n, 'root')), span: this.nodeSpan(n) };
    if (has(n, 'indexSel')) {
      const ix = node(n, 'indexSel');
      const span = this.nodeSpan(ix);
      if (has(ix, 'Star')) sel.index = { kind: 'all', span };
      else if (has(ix, 'DotDot')) {
        sel.index = { kind: 'range', from: this.addExpr(node(ix, 'from')), ...(has(ix, 'to') ? { to: this.addExpr(node(ix, 'to')) } : {}), span };
      } else sel.index = { kind: 'one', value: this.addExpr(node(ix, 'from')), span };
    }
    if (has(n, 'field')) sel.field = this.ident(tok(n, 'field'));
    return sel;
  }

  action(n: CstNode): A.ActionAst {
    const span = this.nodeSpan(n);
    if (has(n, 'Kw_tokens')) {
      return {
        kind: 'tokens', fraction: this.expr(node(n, 'fraction')),
        ...(has(n, 'by') ? { by: this.ident(tok(n, 'by')), order: this.ident(tok(n, 'orderName')) } : {}),
        ...(has(n, 'size') ? { size: this.expr(node(n, 'size')) } : {}),
        span,
      };
    }
    if (has(n, 'Kw_compute')) return { kind: 'compute', span };
    if (has(n, 'Kw_forecast')) {
      const scale = has(n, 'scale') ? { scale: this.expr(node(n, 'scale')) } : {};
      const order = has(n, 'order') ? { order: this.expr(node(n, 'order')) } : {};
      const form = has(n, 'Kw_hermite') ? 'hermite' : has(n, 'form') ? tok(n, 'form').image : 'taylor';
      return { kind: 'forecast', form, ...order, ...scale, span };
    }
    return has(n, 'Kw_residual') ? { kind: 'reuse_residual', span } : { kind: 'reuse', span };
  }

  dynamic(n: CstNode): A.DynamicAst {
    const opt = (label: 'threshold' | 'cap' | 'warmup' | 'max' | 'total' | 'retain') => (has(n, label) ? { [label]: this.addExpr(node(n, label)) } : {});
    const span = this.nodeSpan(n);
    const perBranch = has(n, 'perBranch') ? { perBranch: { span: this.tokSpan(tok(n, 'perBranch')) } } : {};
    if (has(n, 'curve')) {
      return { kind: 'magnitude', curve: this.stringLit(tok(n, 'curve')), threshold: this.addExpr(node(n, 'threshold')), ...opt('cap'), ...opt('warmup'), ...opt('max'), ...opt('total'), ...opt('retain'), ...perBranch, span };
    }
    if (has(n, 'rateSignal')) {
      return { kind: 'transform_rate', signal: this.selector(node(n, 'rateSignal')), threshold: this.addExpr(node(n, 'threshold')), ...opt('warmup'), ...opt('max'), ...opt('cap'), ...opt('total'), ...opt('retain'), ...perBranch, span };
    }
    return {
      kind: 'rel_l1',
      signal: this.selector(node(n, 'selector')),
      ...(has(n, 'residualSignal') ? { residual: true } : {}),
      ...(has(n, 'sinceCompute') ? { sinceCompute: true } : {}),
      ...(has(n, 'coefficient') ? { rescale: nodes(n, 'coefficient').map((c) => this.addExpr(c)) } : {}),
      threshold: this.addExpr(node(n, 'threshold')),
      ...opt('cap'),
      ...opt('warmup'),
      ...opt('max'),
      ...opt('total'),
      ...perBranch,
      span,
    };
  }

  args(n: CstNode): A.Arg[] {
    return nodes(n, 'arg').map((a) => ({
      ...(has(a, 'name') ? { name: this.ident(tok(a, 'name')) } : {}),
      value: this.expr(node(a, 'expr')),
      span: this.nodeSpan(a),
    }));
  }

  // ------------------------------------------------------------ expressions

  /** Left-associative chain `operand (op operand)*`. */
  private chain(n: CstNode, sub: (c: CstNode) => A.Expr): A.Expr {
    const operands = nodes(n, 'operand').map(sub);
    const ops = toks(n, 'op');
    let acc = operands[0];
    if (!acc) throw new DittoError('E_INTERNAL', `CST ${n.name} has no operand`);
    for (let i = 0; i < ops.length; i++) {
      const right = operands[i + 1];
      if (!right) throw new DittoError('E_INTERNAL', `CST ${n.name} lacks operand ${i + 1}`);
      acc = { kind: 'binary', op: ops[i]!.image as A.BinaryOp, left: acc, right, span: this.join(acc.span, right.span) };
    }
    return acc;
  }

  expr(n: CstNode): A.Expr {
    return this.chain(n, (c) => this.chain(c, (d) => this.notExpr(d)));
  }

  notExpr(n: CstNode): A.Expr {
    if (has(n, 'Kw_not')) {
      const operand = this.notExpr(node(n, 'notExpr'));
      return { kind: 'unary', op: 'not', operand, span: this.join(this.tokSpan(tok(n, 'Kw_not')), operand.span) };
    }
    return this.chain(node(n, 'cmpExpr'), (c) => this.addExpr(c));
  }

  addExpr(n: CstNode): A.Expr {
    return this.chain(n, (c) => this.chain(c, (d) => this.unaryExpr(d)));
  }

  unaryExpr(n: CstNode): A.Expr {
    if (has(n, 'Minus')) {
      const operand = this.unaryExpr(node(n, 'unaryExpr'));
      return { kind: 'unary', op: '-', operand, span: this.join(this.tokSpan(tok(n, 'Minus')), operand.span) };
    }
    const p = node(n, 'postfixExpr');
    let e = this.primary(node(p, 'primary'));
    for (const s of toks(p, 'StringLit')) {
      const weights = this.stringLit(s);
      e = { kind: 'weights', expr: e, weights, span: this.join(e.span, weights.span) };
    }
    return e;
  }

  primary(n: CstNode): A.Expr {
    const span = this.nodeSpan(n);
    if (has(n, 'NumberLit')) return { kind: 'num', value: Number(tok(n, 'NumberLit').image), span };
    if (has(n, 'Identifier')) {
      const id = this.ident(tok(n, 'Identifier'));
      if (has(n, 'LParen')) return { kind: 'call', callee: id, args: this.args(node(n, 'argList')), span };
      return { kind: 'name', name: id.name, span };
    }
    if (has(n, 'open')) return this.expr(node(n, 'expr'));
    if (has(n, 'Kw_steps')) return { kind: 'steps', from: this.addExpr(node(n, 'from')), to: this.addExpr(node(n, 'to')), span };
    if (has(n, 'Kw_every')) return { kind: 'every', n: this.addExpr(node(n, 'n')), ...(has(n, 'offset') ? { offset: this.addExpr(node(n, 'offset')) } : {}), span };
    return { kind: 'always', span };
  }
}
