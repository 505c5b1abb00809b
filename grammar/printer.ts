/**
 * Pretty-printer: AST → canonical source text. Parenthesises by precedence, so that parsing the
 * output gives the same AST (up to spans); the round-trip is a fast-check property.
 */
import type * as A from './ast.ts';
import { KEYWORDS } from './tokens.ts';

const PREC: Record<A.BinaryOp, number> = {
  or: 1,
  and: 2,
  '==': 4,
  '!=': 4,
  '<': 4,
  '<=': 4,
  '>': 4,
  '>=': 4,
  '+': 5,
  '-': 5,
  '*': 6,
  '/': 6,
  '%': 6,
};

function precOf(e: A.Expr): number {
  switch (e.kind) {
    case 'binary':
      return PREC[e.op];
    case 'unary':
      return e.op === 'not' ? 3 : 7;
    // `steps a..b` and `every n` end in an open expression: keep them atomic by parenthesising
    // them whenever they are not the whole operand of and/or/not.
    case 'steps':
    case 'every':
      return 3;
    case 'weights':
      return 8;
    default:
      return 9;
  }
}

export function printNumber(v: number): string {
  return Number.isInteger(v) || Math.abs(v) >= 1e-4 ? String(v) : v.toExponential();
}

export function printString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t')}"`;
}

/** A name written as an identifier when it can be, else as a string (`"DiT-XL/2"`). */
export function printName(s: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) && !KEYWORDS.has(s) ? s : printString(s);
}

function wrap(e: A.Expr, minPrec: number): string {
  const s = printExpr(e);
  return precOf(e) < minPrec ? `(${s})` : s;
}

export function printExpr(e: A.Expr): string {
  switch (e.kind) {
    case 'num':
      return printNumber(e.value);
    case 'name':
      return e.name;
    case 'call':
      return `${e.callee.name}(${e.args.map(printArg).join(', ')})`;
    case 'binary': {
      const p = PREC[e.op];
      // Comparisons do not chain: both sides must bind tighter.
      const lp = p === 4 ? 5 : p;
      return `${wrap(e.left, lp)} ${e.op} ${wrap(e.right, p + 1)}`;
    }
    case 'unary':
      return e.op === 'not' ? `not ${wrap(e.operand, 3)}` : `-${wrap(e.operand, 7)}`;
    case 'weights':
      return `${wrap(e.expr, 9)} @ ${printString(e.weights.value)}`;
    case 'steps':
      return `steps ${wrap(e.from, 5)}..${wrap(e.to, 5)}`;
    case 'every':
      return `every ${wrap(e.n, 5)}${e.offset ? ` offset ${wrap(e.offset, 5)}` : ''}`;
    case 'always':
      return 'always';
  }
}

function printArg(a: A.Arg): string {
  return a.name ? `${a.name.name}: ${printExpr(a.value)}` : printExpr(a.value);
}

function printParams(ps: readonly A.Param[]): string {
  return `(${ps.map((p) => `${p.name.name} = ${printExpr(p.value)}`).join(', ')})`;
}

export function printSelector(s: A.Selector): string {
  let out = s.root.name;
  if (s.index) {
    const i = s.index;
    const inner = i.kind === 'all' ? '*' : i.kind === 'one' ? wrap(i.value, 5) : `${wrap(i.from, 5)}..${i.to ? wrap(i.to, 5) : ''}`;
    out += `[${inner}]`;
  }
  if (s.field) out += `.${s.field.name}`;
  return out;
}

function printAction(a: A.ActionAst): string {
  switch (a.kind) {
    case 'compute':
      return 'compute';
    case 'tokens':
      return `compute tokens(${printExpr(a.fraction)}${a.order ? `, ${a.by!.name} = ${a.order.name}${a.size ? `(${printExpr(a.size)})` : ''}` : ''})`;
    case 'reuse':
      return 'reuse';
    case 'reuse_residual':
      return 'reuse residual';
    case 'forecast':
      return a.order ? `forecast ${a.form}(${printExpr(a.order)}${a.scale ? `, ${printExpr(a.scale)}` : ''})` : `forecast ${a.form}`;
  }
}

function printMap(m: readonly A.MapEntry[] | undefined): string {
  return m ? ` map(${m.map((e) => `${printName(e.key.value)} = ${printSelector(e.target)}`).join(', ')})` : '';
}

function printModelStmt(s: A.ModelStmt, ind: string): string {
  switch (s.kind) {
    case 'input':
      return `${ind}input ${s.name.name}: ${s.dtype.name}[${s.dims.map(printExpr).join(', ')}]`;
    case 'output':
      return `${ind}output ${s.name.name} = ${printExpr(s.value)}`;
    case 'let':
      return `${ind}let ${s.name.name} = ${printExpr(s.value)}`;
    case 'bind':
      return `${ind}${s.names.map((n) => n.name).join(', ')} = ${printExpr(s.value)}`;
    case 'for':
      return [
        `${ind}for ${s.variable.name} in ${wrap(s.from, 5)}..${wrap(s.to, 5)} as ${s.group.name}[${s.index.name}]${s.weights ? ` @ ${printString(s.weights.value)}` : ''} {`,
        ...s.body.map((b) => printModelStmt(b, ind + '  ')),
        `${ind}}`,
      ].join('\n');
  }
}

function printDynamic(w: A.DynamicAst): string {
  let out: string;
  if (w.kind === 'magnitude') {
    out = ` when magnitude ${printString(w.curve.value)} < ${wrap(w.threshold, 5)}`;
    if (w.cap) out += ` cap ${wrap(w.cap, 5)}`;
    if (w.warmup) out += ` warmup ${wrap(w.warmup, 5)}`;
  } else if (w.kind === 'transform_rate') {
    out = ` when transform_rate(${printSelector(w.signal)}) < ${wrap(w.threshold, 5)}`;
    if (w.cap) out += ` cap ${wrap(w.cap, 5)}`;
    if (w.warmup) out += ` warmup ${wrap(w.warmup, 5)}`;
  } else {
    const sel = printSelector(w.signal);
    out = ` when rel_l1(${w.residual ? `residual(${sel})` : sel})`;
    if (w.sinceCompute) out += ' since compute';
    if (w.rescale) out += ` rescale(${w.rescale.map((c) => wrap(c, 5)).join(', ')})`;
    out += ` < ${wrap(w.threshold, 5)}`;
    if (w.cap) out += ` cap ${wrap(w.cap, 5)}`;
    if (w.warmup) out += ` warmup ${wrap(w.warmup, 5)}`;
  }
  if (w.max) out += ` max ${wrap(w.max, 5)}`;
  if (w.total) out += ` total ${wrap(w.total, 5)}`;
  if (w.kind !== 'rel_l1' && w.retain) out += ` retain ${wrap(w.retain, 5)}`;
  if (w.perBranch) out += ' per_branch';
  return out;
}

function printScheduleStmt(s: A.ScheduleStmt, ind: string): string {
  switch (s.kind) {
    case 'steps':
      return `${ind}steps ${printExpr(s.value)}`;
    case 'sampler':
      return `${ind}sampler ${s.name.name}`;
    case 'require':
      return `${ind}require ${printExpr(s.cond)}${s.message ? ` ${printString(s.message.value)}` : ''}`;
    case 'rule': {
      let out = `${ind}${s.targets.map(printSelector).join(', ')} ${printAction(s.action)}`;
      if (s.at) out += ` at ${printExpr(s.at)}`;
      if (s.when) out += printDynamic(s.when);
      return out;
    }
    case 'table': {
      const src = s.source.kind === 'file' ? printString(s.source.path.value) : `${s.source.name.name}(${s.source.args.map(printArg).join(', ')})`;
      return `${ind}table ${src} order ${s.order}${printMap(s.map)}`;
    }
    case 'json':
      return `${ind}json ${printString(s.path.value)}${printMap(s.map)}`;
    case 'eps_scale':
      return `${ind}eps_scale ${printExpr(s.value)}${s.at ? ` at ${printExpr(s.at)}` : ''}`;
    case 'eps_piecewise':
      return `${ind}eps_scale piecewise(${s.args.map(printArg).join(', ')})`;
    case 'cfg_cache':
      return `${ind}cfg_cache${s.args.length ? `(${s.args.map(printArg).join(', ')})` : ''}${s.at ? ` at ${printExpr(s.at)}` : ''}`;
    case 'branch':
      return [`${ind}${s.branch} {`, ...s.body.map((b) => printScheduleStmt(b, ind + '  ')), `${ind}}`].join('\n');
  }
}

export function printDecl(d: A.Decl): string {
  switch (d.kind) {
    case 'use':
      return `use ${printString(d.path.value)}`;
    case 'model':
      return [`model ${d.name.name}${d.params.length ? printParams(d.params) : ''} {`, ...d.body.map((s) => printModelStmt(s, '  ')), '}'].join('\n');
    case 'variant':
      return `variant ${printName(d.name.value)} = ${printName(d.base.value)}${d.args.length ? printParams(d.args) : ''}`;
    case 'schedule':
      return [
        `schedule ${d.name.name}${d.params.length ? printParams(d.params) : ''} for ${printName(d.model.value)} {`,
        ...d.body.map((s) => printScheduleStmt(s, '  ')),
        '}',
      ].join('\n');
  }
}

export function printProgram(p: A.ProgramAst): string {
  return p.decls.map(printDecl).join('\n\n') + '\n';
}
