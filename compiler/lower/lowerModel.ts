/**
 * Lowering of a `model` declaration to Graph IR, with its checks. The same walk serves `ditto
 * check` (collect every diagnostic, keep going past errors) and `lowerModel` (throw if any).
 *
 * Naming: a value bound by the source gets its name as node path (`h`, `t_emb`); inside a
 * repetition `for i in 0..depth as blocks[i]` the path is `blocks[3].attn`. A name bound again in
 * the same scope keeps the plain path on its last binding; earlier ones get `#1`, `#2`, …
 * (`blocks[3].h#1`). Each repetition instance is a BlockInstance whose carried value is the one
 * outer binding the body rebinds (`h = h + …`).
 */
import type { DType } from '../../core/tensor.ts';
import { shapeString } from '../../core/tensor.ts';
import type { SourceSpan } from '../../core/errors.ts';
import type { Arg, Expr, ModelDecl, ModelStmt } from '../../grammar/ast.ts';
import { type DiagnosticBag, didYouMean, listSome } from '../../grammar/diagnostics.ts';
import { GraphBuilder, ShapeError, broadcastRule } from '../ir/builder.ts';
import type { Graph, NodeId } from '../ir/graph.ts';
import { type ConstEnv, evalConst, evalInt } from '../check/constEval.ts';
import { OPS, type OpSpec } from '../ir/ops.ts';

/** The most instances one `for` repetition unrolls to (DiT-XL has 28 blocks). */
export const MAX_REPETITION = 4096;

type Value = { kind: 'num'; value: number } | { kind: 'tensor'; id: NodeId } | { kind: 'tuple'; ids: NodeId[] };

class Scope {
  readonly values = new Map<string, Value>();
  /** name → node that currently holds the plain path, and how many times the name was bound. */
  readonly bound = new Map<string, { node: NodeId; count: number }>();
  constructor(
    readonly parent: Scope | undefined,
    /** `blocks[3]` inside a repetition instance, '' at top level. */
    readonly pathPrefix: string,
  ) {}

  lookup(name: string): Value | undefined {
    return this.values.get(name) ?? this.parent?.lookup(name);
  }

  names(): string[] {
    return [...this.values.keys(), ...(this.parent?.names() ?? [])];
  }
}

export interface LowerModelOptions {
  /** The name the graph carries (the model's name, also for variants). */
  readonly graphName: string;
  readonly params: Readonly<Record<string, number>>;
  readonly batch: number;
}

const DTYPES: readonly DType[] = ['f32', 'i32'];

export function lowerModelDecl(decl: ModelDecl, opts: LowerModelOptions, diags: DiagnosticBag): Graph | undefined {
  const before = diags.errorCount;
  const g = new GraphBuilder(opts.graphName, opts.params, opts.batch);
  const top = new Scope(undefined, '');
  for (const [k, v] of Object.entries(opts.params)) top.values.set(k, { kind: 'num', value: v });
  const lw = new Lowering(g, diags, opts.batch);
  lw.stmts(decl.body, top, undefined);
  if (g.build().outputs.length === 0 && diags.errorCount === before) {
    diags.error(`model \`${decl.name.name}\` has no output`, decl.name.span, { expected: 'an `output out = …` statement' });
  }
  return diags.errorCount === before ? g.build() : undefined;
}

interface LoopCtx {
  readonly vars: ReadonlyMap<string, number>;
  /** Weight prefix of the repetition, templates already filled (`blocks.3`). */
  readonly weights?: string;
}

class Lowering {
  constructor(
    private readonly g: GraphBuilder,
    private readonly diags: DiagnosticBag,
    private readonly batch: number,
  ) {}

  private constEnv(scope: Scope, what: string): ConstEnv {
    const values = new Map<string, number>();
    for (const n of scope.names().reverse()) {
      const v = scope.lookup(n);
      if (v?.kind === 'num') values.set(n, v.value);
    }
    return {
      values,
      what,
      predicates: false,
      unknownHint: (name) => (scope.lookup(name) ? `\`${name}\` is a tensor; ${what} needs a number known at compile time` : undefined),
    };
  }

  stmts(body: readonly ModelStmt[], scope: Scope, loop: LoopCtx | undefined): void {
    for (const s of body) this.stmt(s, scope, loop);
  }

  private declareName(scope: Scope, name: string, span: SourceSpan): boolean {
    if (scope.lookup(name)?.kind === 'num') {
      this.diags.error(`\`${name}\` is a parameter or a \`let\` constant and cannot be rebound`, span);
      return false;
    }
    return true;
  }

  private bindPath(scope: Scope, name: string, id: NodeId): void {
    const node = this.g.node(id);
    const path = scope.pathPrefix ? `${scope.pathPrefix}.${name}` : name;
    if (node.path !== undefined && node.op.kind !== 'const') return; // an alias of a named value
    const prev = scope.bound.get(name);
    if (prev) {
      this.g.rename(prev.node, `${path}#${prev.count}`);
      scope.bound.set(name, { node: id, count: prev.count + 1 });
    } else scope.bound.set(name, { node: id, count: 1 });
    this.g.rename(id, path);
  }

  private stmt(s: ModelStmt, scope: Scope, loop: LoopCtx | undefined): void {
    switch (s.kind) {
      case 'input': {
        if (scope.parent !== undefined) {
          this.diags.error('inputs must be declared at the top of the model, not inside a repetition', s.span);
          return;
        }
        if (scope.lookup(s.name.name)) {
          this.diags.error(`\`${s.name.name}\` is already defined`, s.name.span);
          return;
        }
        const dtype = s.dtype.name as DType;
        if (!DTYPES.includes(dtype)) {
          this.diags.error(`unknown dtype \`${s.dtype.name}\``, s.dtype.span, { expected: DTYPES.join(' or '), ...sugg(s.dtype.name, DTYPES) });
          return;
        }
        const env = this.constEnv(scope, 'an input shape');
        const values = new Map(env.values);
        values.set('B', this.batch);
        const dims = s.dims.map((d) => evalInt(d, { ...env, values }, this.diags, 'a dimension', 1));
        if (dims.some((d) => d === undefined)) return;
        const id = this.g.input(s.name.name, dtype, dims as number[], { span: s.name.span });
        scope.values.set(s.name.name, { kind: 'tensor', id });
        scope.bound.set(s.name.name, { node: id, count: 1 });
        return;
      }
      case 'let': {
        if (scope.lookup(s.name.name)) {
          this.diags.error(`\`${s.name.name}\` is already defined`, s.name.span);
          return;
        }
        const v = evalConst(s.value, this.constEnv(scope, 'a `let` constant'), this.diags);
        if (v === undefined) return;
        if (typeof v !== 'number') {
          this.diags.error('a `let` constant must be a number, found a condition', s.value.span);
          return;
        }
        scope.values.set(s.name.name, { kind: 'num', value: v });
        return;
      }
      case 'bind': {
        for (const n of s.names) if (!this.declareName(scope, n.name, n.span)) return;
        const v = this.expr(s.value, scope, loop);
        if (v === undefined) return;
        if (s.names.length === 1) {
          const name = s.names[0]!;
          if (v.kind === 'tuple') {
            this.diags.error(`\`chunk\` without \`index\` gives ${v.ids.length} values; unpack them (\`a, b = chunk(x, 2)\`) or pass index:`, s.value.span);
            return;
          }
          if (v.kind === 'num') {
            this.diags.error(`\`${name.name}\` would be a number; bind compile-time numbers with \`let ${name.name} = …\``, s.span);
            return;
          }
          scope.values.set(name.name, v);
          this.bindPath(scope, name.name, v.id);
          return;
        }
        if (v.kind !== 'tuple') {
          this.diags.error(`${s.names.length} names on the left but the right side is a single value`, s.span, {
            expected: `a call that gives ${s.names.length} values, such as chunk(x, ${s.names.length})`,
          });
          return;
        }
        if (v.ids.length !== s.names.length) {
          this.diags.error(`${s.names.length} names on the left but \`chunk\` gives ${v.ids.length} values`, s.span);
          return;
        }
        s.names.forEach((n, k) => {
          scope.values.set(n.name, { kind: 'tensor', id: v.ids[k]! });
          this.bindPath(scope, n.name, v.ids[k]!);
        });
        return;
      }
      case 'output': {
        const v = this.expr(s.value, scope, loop);
        if (v === undefined) return;
        if (v.kind !== 'tensor') {
          this.diags.error('an output must be a tensor', s.value.span);
          return;
        }
        if (this.g.build().outputs.some((o) => o.name === s.name.name)) {
          this.diags.error(`output \`${s.name.name}\` is already defined`, s.name.span);
          return;
        }
        scope.values.set(s.name.name, v);
        this.bindPath(scope, s.name.name, v.id);
        this.g.output(s.name.name, v.id);
        return;
      }
      case 'for':
        this.forLoop(s, scope, loop);
        return;
    }
  }

  private forLoop(s: Extract<ModelStmt, { kind: 'for' }>, scope: Scope, loop: LoopCtx | undefined): void {
    if (loop) {
      this.diags.error('repetitions cannot be nested', s.span);
      return;
    }
    if (s.index.name !== s.variable.name) {
      this.diags.error(`the index in \`as ${s.group.name}[${s.index.name}]\` must be the loop variable \`${s.variable.name}\``, s.index.span);
      return;
    }
    const env = this.constEnv(scope, 'a repetition range');
    const from = evalInt(s.from, env, this.diags, 'the start of a repetition');
    const to = evalInt(s.to, env, this.diags, 'the end of a repetition');
    if (from === undefined || to === undefined) return;
    if (to <= from) {
      this.diags.error(`the repetition ${from}..${to} is empty`, s.span);
      return;
    }
    // Unrolling is linear in the count: a typo'd `--set depth=1e9` must fail fast, not hang.
    if (to - from > MAX_REPETITION) {
      this.diags.error(`the repetition ${from}..${to} has ${to - from} instances, more than the ${MAX_REPETITION} a model may unroll (check the model's parameters and --set)`, s.to.span);
      return;
    }
    if (scope.lookup(s.group.name)) {
      this.diags.error(`\`${s.group.name}\` is already defined; a repetition's group name must be new`, s.group.span);
      return;
    }
    // The carried value: the outer tensor binding(s) the body rebinds.
    const carried = [...new Set(s.body.flatMap((b) => (b.kind === 'bind' ? b.names.map((n) => n.name) : [])))].filter(
      (n) => scope.lookup(n)?.kind === 'tensor',
    );
    if (carried.length !== 1) {
      this.diags.error(
        carried.length === 0
          ? `the repetition \`${s.group.name}\` rebinds no value from outside; its body must update one (e.g. \`h = h + …\`)`
          : `the repetition \`${s.group.name}\` rebinds ${carried.length} values from outside (${carried.join(', ')}); only one value can be carried`,
        s.group.span,
      );
      return;
    }
    const carry = carried[0]!;
    for (let i = from; i < to; i++) {
      const vars = new Map([[s.variable.name, i]]);
      let weights: string | undefined;
      if (s.weights) {
        weights = this.fillTemplate(s.weights.value, s.weights.span, scope, vars);
        if (weights === undefined) return;
      }
      const inner = new Scope(scope, `${s.group.name}[${i}]`);
      inner.values.set(s.variable.name, { kind: 'num', value: i });
      const input = (scope.lookup(carry) as { id: NodeId }).id;
      const first = this.g.size;
      const errs = this.diags.errorCount;
      this.stmts(s.body, inner, { vars, ...(weights !== undefined ? { weights } : {}) });
      if (this.diags.errorCount > errs) return; // the same error would repeat in every instance
      const out = inner.values.get(carry);
      if (out?.kind !== 'tensor') return;
      scope.values.set(carry, out);
      this.g.block({
        path: `${s.group.name}[${i}]`,
        group: s.group.name,
        index: i,
        input,
        output: out.id,
        nodes: Array.from({ length: this.g.size - first }, (_, k) => first + k),
      });
    }
  }

  /** Fills `{name}` in a weight name from loop variables and numbers in scope. */
  private fillTemplate(text: string, span: SourceSpan, scope: Scope, vars: ReadonlyMap<string, number>): string | undefined {
    let ok = true;
    const out = text.replace(/\{([^}]*)\}/g, (_, name: string) => {
      const v = vars.get(name) ?? (scope.lookup(name)?.kind === 'num' ? (scope.lookup(name) as { value: number }).value : undefined);
      if (v === undefined) {
        ok = false;
        const cands = [...vars.keys(), ...scope.names().filter((n) => scope.lookup(n)?.kind === 'num')];
        this.diags.error(`unknown name \`{${name}}\` in the weight name "${text}"`, span, { expected: `one of ${listSome(cands)}`, ...sugg(name, cands) });
        return '';
      }
      return String(v);
    });
    return ok ? out : undefined;
  }

  private expr(e: Expr, scope: Scope, loop: LoopCtx | undefined, weights?: { name: string; span: SourceSpan }): Value | undefined {
    switch (e.kind) {
      case 'num':
        return { kind: 'num', value: e.value };
      case 'name': {
        const v = scope.lookup(e.name);
        if (v) return v;
        const cands = scope.names();
        this.diags.error(`unknown name \`${e.name}\``, e.span, sugg(e.name, cands));
        return undefined;
      }
      case 'weights': {
        if (weights) {
          this.diags.error('an operator call has two weight names', e.weights.span);
          return undefined;
        }
        if (e.expr.kind !== 'call') {
          this.diags.error('a weight name `@ "…"` can only follow an operator call', e.weights.span);
          return undefined;
        }
        const filled = this.fillTemplate(e.weights.value, e.weights.span, scope, loop?.vars ?? new Map());
        if (filled === undefined) return undefined;
        const name = loop?.weights ? `${loop.weights}.${filled}` : filled;
        return this.expr(e.expr, scope, loop, { name, span: e.weights.span });
      }
      case 'call':
        return this.call(e, scope, loop, weights);
      case 'unary': {
        if (e.op === 'not') return this.notHere(e);
        const v = this.expr(e.operand, scope, loop);
        if (v === undefined) return undefined;
        if (v.kind === 'num') return { kind: 'num', value: -v.value };
        if (v.kind === 'tuple') return this.tupleMisuse(e.operand.span);
        return this.safeOp(() => this.g.op({ kind: 'unary', fn: 'neg' }, [v.id], { span: e.span }), e.span);
      }
      case 'binary': {
        if (!['+', '-', '*', '/'].includes(e.op)) {
          if (e.op === '%') {
            const c = evalConst(e, this.constEnv(scope, 'a `%` expression'), this.diags);
            return typeof c === 'number' ? { kind: 'num', value: c } : undefined;
          }
          return this.notHere(e);
        }
        const a = this.expr(e.left, scope, loop);
        const b = this.expr(e.right, scope, loop);
        if (a === undefined || b === undefined) return undefined;
        if (a.kind === 'tuple') return this.tupleMisuse(e.left.span);
        if (b.kind === 'tuple') return this.tupleMisuse(e.right.span);
        if (a.kind === 'num' && b.kind === 'num') {
          if (e.op === '/' && b.value === 0) {
            this.diags.error('division by zero', e.span);
            return undefined;
          }
          const r = e.op === '+' ? a.value + b.value : e.op === '-' ? a.value - b.value : e.op === '*' ? a.value * b.value : a.value / b.value;
          return { kind: 'num', value: r };
        }
        const ida = a.kind === 'num' ? this.g.constant(a.value, { span: e.left.span }) : a.id;
        const idb = b.kind === 'num' ? this.g.constant(b.value, { span: e.right.span }) : b.id;
        const fn = e.op === '+' ? 'add' : e.op === '-' ? 'sub' : e.op === '*' ? 'mul' : 'div';
        const sa = this.g.node(ida).shape;
        const sb = this.g.node(idb).shape;
        return this.safeOp(() => this.g.op({ kind: 'binary', fn, broadcast: broadcastRule(sa, sb) }, [ida, idb], { span: e.span }), e.span, () => `\`${e.op}\``);
      }
      case 'steps':
      case 'every':
      case 'always':
        return this.notHere(e);
    }
  }

  private notHere(e: Expr): undefined {
    this.diags.error('conditions and step predicates belong in schedules, not in models', e.span);
    return undefined;
  }

  private tupleMisuse(span: SourceSpan): undefined {
    this.diags.error('`chunk` without `index` gives several values; unpack them first (`a, b = chunk(x, 2)`)', span);
    return undefined;
  }

  /** `what` names the operation in a shape error; a function, so that the text is built only then. */
  private safeOp(f: () => NodeId, span: SourceSpan, what?: () => string): Value | undefined {
    try {
      return { kind: 'tensor', id: f() };
    } catch (err) {
      if (err instanceof ShapeError) {
        this.diags.error(`shape mismatch${what ? ` in ${what()}` : ''}: ${err.message}`, span);
        return undefined;
      }
      throw err;
    }
  }

  private call(e: Extract<Expr, { kind: 'call' }>, scope: Scope, loop: LoopCtx | undefined, weights: { name: string; span: SourceSpan } | undefined): Value | undefined {
    const spec = OPS.get(e.callee.name);
    if (!spec) {
      this.diags.error(`unknown operator \`${e.callee.name}\``, e.callee.span, { expected: `one of ${[...OPS.keys()].join(', ')}`, ...sugg(e.callee.name, OPS.keys()) });
      return undefined;
    }
    const args = this.bindArgs(spec, e.args, e.span, e.callee.span);
    if (!args) return undefined;
    const inputs: NodeId[] = [];
    let ok = true;
    args.tensors.forEach((a, k) => {
      const v = this.expr(a.value, scope, loop);
      if (v === undefined) ok = false;
      else if (v.kind !== 'tensor') {
        this.diags.error(`\`${spec.name}\` expects a tensor for \`${spec.tensors[k]}\`, found ${v.kind === 'num' ? 'a number' : 'several values'}`, a.value.span);
        ok = false;
      } else inputs.push(v.id);
    });
    const attrs: Record<string, number | undefined> = {};
    // Built only for a call that has attribute arguments (most calls in a model have none).
    let env: ConstEnv | undefined;
    for (const at of spec.attrs) {
      const a = args.attrs.get(at.name);
      if (!a) {
        attrs[at.name] = at.default;
        continue;
      }
      const what = `\`${at.name}\` of \`${spec.name}\``;
      env ??= this.constEnv(scope, `argument of \`${spec.name}\``);
      if (at.type === 'int') attrs[at.name] = evalInt(a.value, env, this.diags, what, at.min ?? 0);
      else if (at.type === 'flag') attrs[at.name] = evalInt(a.value, env, this.diags, what, 0, 1);
      else {
        const v = evalConst(a.value, env, this.diags);
        if (typeof v !== 'number' && v !== undefined) this.diags.error(`${what} must be a number`, a.value.span);
        attrs[at.name] = typeof v === 'number' ? v : undefined;
      }
      if (attrs[at.name] === undefined) ok = false;
    }
    if (spec.weights === 'required' && !weights) {
      this.diags.error(`\`${spec.name}\` reads weights: give it a weight name`, e.span, { expected: `${spec.name}(…) @ "state_dict.prefix"` });
      ok = false;
    }
    if (spec.weights === 'none' && weights) {
      this.diags.error(`\`${spec.name}\` reads no weights; remove the weight name`, weights.span);
      ok = false;
    }
    if (!ok) return undefined;
    const nodes = inputs.map((i) => this.g.node(i));
    const built = spec.build(attrs, nodes);
    if (typeof built === 'string') {
      this.diags.error(built, e.span);
      return undefined;
    }
    const opts = { span: e.span, ...(weights ? { weights: weights.name } : {}) };
    if (built.kind === 'chunk' && attrs.index === undefined) {
      const ids: NodeId[] = [];
      for (let k = 0; k < built.parts; k++) {
        const v = this.safeOp(() => this.g.op({ ...built, index: k }, inputs, opts), e.span, () => '`chunk`');
        if (v?.kind !== 'tensor') return undefined;
        ids.push(v.id);
      }
      return { kind: 'tuple', ids };
    }
    const kindWord = built.kind === 'embedding' || built.kind === 'linear' || built.kind === 'patch_embed' ? 'dtype or shape' : 'shape';
    return this.safeOp(() => this.g.op(built, inputs, opts), e.span, () => `\`${spec.name}\` (${kindWord} of ${nodes.map((n) => `${n.dtype}${shapeString(n.shape)}`).join(', ') || 'no inputs'})`);
  }

  /** Sorts arguments into tensor inputs and attributes; reports arity and naming errors. */
  private bindArgs(spec: OpSpec, args: readonly Arg[], span: SourceSpan, calleeSpan: SourceSpan): { tensors: Arg[]; attrs: Map<string, Arg> } | undefined {
    const positional = args.filter((a) => !a.name);
    const named = args.filter((a) => a.name);
    let ok = true;
    const firstNamed = args.findIndex((a) => a.name);
    if (firstNamed >= 0 && args.slice(firstNamed).some((a) => !a.name)) {
      this.diags.error('a positional argument cannot follow a named one', args.slice(firstNamed).find((a) => !a.name)!.span);
      return undefined;
    }
    const slots = [...spec.tensors, ...spec.attrs.map((a) => a.name)];
    if (positional.length > slots.length) {
      this.diags.error(`\`${spec.name}\` takes at most ${slots.length} argument${slots.length === 1 ? '' : 's'} (${slots.join(', ') || 'none'}), got ${positional.length}`, positional[slots.length]!.span, {
        expected: signature(spec),
      });
      return undefined;
    }
    const tensors: Arg[] = [];
    const attrs = new Map<string, Arg>();
    positional.forEach((a, k) => {
      if (k < spec.tensors.length) tensors.push(a);
      else attrs.set(spec.attrs[k - spec.tensors.length]!.name, a);
    });
    for (const a of named) {
      const name = a.name!.name;
      if (spec.tensors.includes(name)) {
        this.diags.error(`tensor input \`${name}\` of \`${spec.name}\` is passed by position`, a.name!.span, { expected: signature(spec) });
        ok = false;
        continue;
      }
      if (!spec.attrs.some((x) => x.name === name)) {
        const cands = spec.attrs.map((x) => x.name);
        this.diags.error(`\`${spec.name}\` has no argument \`${name}\``, a.name!.span, {
          expected: cands.length ? `one of ${cands.join(', ')}` : 'no named arguments',
          ...sugg(name, cands),
        });
        ok = false;
        continue;
      }
      if (attrs.has(name)) {
        this.diags.error(`argument \`${name}\` of \`${spec.name}\` is given twice`, a.name!.span);
        ok = false;
        continue;
      }
      attrs.set(name, a);
    }
    if (tensors.length < spec.tensors.length) {
      this.diags.error(
        `\`${spec.name}\` takes ${spec.tensors.length} tensor input${spec.tensors.length === 1 ? '' : 's'} (${spec.tensors.join(', ')}), got ${tensors.length}`,
        calleeSpan,
        { expected: signature(spec) },
      );
      ok = false;
    }
    for (const at of spec.attrs) {
      if (at.default === undefined && !at.inferred && !attrs.has(at.name)) {
        this.diags.error(`\`${spec.name}\` needs the argument \`${at.name}\` (${at.doc})`, span, { expected: signature(spec) });
        ok = false;
      }
    }
    return ok ? { tensors, attrs } : undefined;
  }
}

function signature(spec: OpSpec): string {
  const attrs = spec.attrs.map((a) => (a.default !== undefined ? `${a.name}: ${a.default}` : a.inferred ? `${a.name}?` : `${a.name}:`));
  return `${spec.name}(${[...spec.tensors, ...attrs].join(', ')})`;
}

function sugg(word: string, cands: Iterable<string>): { suggestion?: string } {
  const s = didYouMean(word, cands);
  return s ? { suggestion: s } : {};
}
