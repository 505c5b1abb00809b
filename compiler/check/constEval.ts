/**
 * Compile-time evaluation of expressions over numbers: model parameters and `let`s, shape
 * dimensions, schedule parameters, and step predicates (with k, i, t, S bound per step).
 * Errors become diagnostics and the result `undefined`, so one bad expression does not stop the
 * check of the rest.
 */
import type { Expr } from '../../grammar/ast.ts';
import { type DiagnosticBag, didYouMean } from '../../grammar/diagnostics.ts';

export type ConstValue = number | boolean;

export interface ConstEnv {
  readonly values: ReadonlyMap<string, number>;
  /** What the expression is, for messages ("a model parameter", "a step predicate"). */
  readonly what: string;
  /** Whether `steps a..b`, `every n`, `always` are allowed (needs k and S in `values`). */
  readonly predicates: boolean;
  /** Extra text for unknown names (e.g. "tensors cannot be used here"). */
  readonly unknownHint?: (name: string) => string | undefined;
}

const describeKind: Record<Expr['kind'], string> = {
  num: 'a number',
  name: 'a name',
  call: 'an operator call',
  binary: 'an expression',
  unary: 'an expression',
  weights: 'a weight annotation',
  steps: 'a step range',
  every: 'an `every` predicate',
  always: '`always`',
};

export function evalConst(e: Expr, env: ConstEnv, diags: DiagnosticBag): ConstValue | undefined {
  const num = (x: Expr): number | undefined => {
    const v = evalConst(x, env, diags);
    if (v === undefined) return undefined;
    if (typeof v !== 'number') {
      diags.error(`expected a number in ${env.what}, found a condition`, x.span);
      return undefined;
    }
    return v;
  };
  const bool = (x: Expr): boolean | undefined => {
    const v = evalConst(x, env, diags);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') {
      diags.error(`expected a condition in ${env.what}, found a number`, x.span, { expected: 'a comparison such as `t > 0.4`, `steps 0..10` or `every 2`' });
      return undefined;
    }
    return v;
  };
  switch (e.kind) {
    case 'num':
      return e.value;
    case 'name': {
      const v = env.values.get(e.name);
      if (v !== undefined) return v;
      const hint = env.unknownHint?.(e.name);
      if (hint) {
        diags.error(hint, e.span);
        return undefined;
      }
      const s = didYouMean(e.name, env.values.keys());
      diags.error(`unknown name \`${e.name}\` in ${env.what}`, e.span, s ? { suggestion: s } : {});
      return undefined;
    }
    case 'unary': {
      if (e.op === '-') {
        const v = num(e.operand);
        return v === undefined ? undefined : -v;
      }
      const b = bool(e.operand);
      return b === undefined ? undefined : !b;
    }
    case 'binary': {
      if (e.op === 'and' || e.op === 'or') {
        const a = bool(e.left);
        const b = bool(e.right);
        if (a === undefined || b === undefined) return undefined;
        return e.op === 'and' ? a && b : a || b;
      }
      const a = num(e.left);
      const b = num(e.right);
      if (a === undefined || b === undefined) return undefined;
      switch (e.op) {
        case '+':
          return a + b;
        case '-':
          return a - b;
        case '*':
          return a * b;
        case '/':
        case '%':
          if (b === 0) {
            diags.error(`division by zero in ${env.what}`, e.span);
            return undefined;
          }
          return e.op === '/' ? a / b : ((a % b) + b) % b;
        case '==':
          return a === b;
        case '!=':
          return a !== b;
        case '<':
          return a < b;
        case '<=':
          return a <= b;
        case '>':
          return a > b;
        case '>=':
          return a >= b;
      }
      return undefined;
    }
    case 'steps':
    case 'every':
    case 'always': {
      if (!env.predicates) {
        diags.error(`${describeKind[e.kind]} is a step predicate and cannot be used in ${env.what}`, e.span);
        return undefined;
      }
      const k = env.values.get('k')!;
      const S = env.values.get('S')!;
      if (e.kind === 'always') return true;
      if (e.kind === 'steps') {
        const from = num(e.from);
        const to = num(e.to);
        if (from === undefined || to === undefined) return undefined;
        if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to > S || from > to) {
          diags.error(`step range ${from}..${to} is outside 0..${S} (steps are counted 0..${S - 1} in sampling order)`, e.span);
          return undefined;
        }
        return k >= from && k < to;
      }
      const n = num(e.n);
      const o = e.offset ? num(e.offset) : 0;
      if (n === undefined || o === undefined) return undefined;
      if (!Number.isInteger(n) || n < 1) {
        diags.error(`\`every\` needs a whole number ≥ 1, got ${n}`, e.n.span);
        return undefined;
      }
      if (!Number.isInteger(o) || o < 0) {
        diags.error(`\`offset\` needs a whole number ≥ 0, got ${o}`, e.offset!.span);
        return undefined;
      }
      return k % n === o % n;
    }
    case 'call':
    case 'weights':
      diags.error(`${describeKind[e.kind]} cannot be used in ${env.what}; only numbers, names and arithmetic`, e.span);
      return undefined;
  }
}

/** Evaluates to a number and checks it is a whole number within [min, max]. */
export function evalInt(e: Expr, env: ConstEnv, diags: DiagnosticBag, what: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = evalConst(e, env, diags);
  if (v === undefined) return undefined;
  if (typeof v !== 'number') {
    diags.error(`${what} must be a number, found a condition`, e.span);
    return undefined;
  }
  if (!Number.isInteger(v) || v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `a whole number ≥ ${min}` : `a whole number in ${min}..${max}`;
    diags.error(`${what} must be ${range}, got ${Number.isInteger(v) ? v : v.toPrecision(6)}`, e.span);
    return undefined;
  }
  return v;
}

export function evalNumber(e: Expr, env: ConstEnv, diags: DiagnosticBag, what: string): number | undefined {
  const v = evalConst(e, env, diags);
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    diags.error(`${what} must be a number`, e.span);
    return undefined;
  }
  return v;
}
