/**
 * AST of the ditto language. Every node carries the span of the source text it came from, so the
 * checker can point at it. The AST is produced by grammar/cstToAst.ts and printed back by
 * grammar/printer.ts; print ∘ parse is the identity up to spans (a tested property).
 */
import type { SourceSpan } from '../core/errors.ts';

export type Span = SourceSpan;

export interface Ident {
  readonly name: string;
  readonly span: Span;
}

export interface StringLit {
  readonly value: string;
  readonly span: Span;
}

export type BinaryOp = '+' | '-' | '*' | '/' | '%' | '==' | '!=' | '<' | '<=' | '>' | '>=' | 'and' | 'or';
export type UnaryOp = '-' | 'not';

export interface Arg {
  /** Present for `name: value`. */
  readonly name?: Ident;
  readonly value: Expr;
  readonly span: Span;
}

export type Expr =
  | { readonly kind: 'num'; readonly value: number; readonly span: Span }
  | { readonly kind: 'name'; readonly name: string; readonly span: Span }
  | { readonly kind: 'call'; readonly callee: Ident; readonly args: readonly Arg[]; readonly span: Span }
  | { readonly kind: 'binary'; readonly op: BinaryOp; readonly left: Expr; readonly right: Expr; readonly span: Span }
  | { readonly kind: 'unary'; readonly op: UnaryOp; readonly operand: Expr; readonly span: Span }
  /** `expr @ "weight.prefix"`: the weight name of the operator call `expr`. */
  | { readonly kind: 'weights'; readonly expr: Expr; readonly weights: StringLit; readonly span: Span }
  /** Step predicate `steps a..b` (sampling order k, half-open; `steps a..S` runs to the end). */
  | { readonly kind: 'steps'; readonly from: Expr; readonly to: Expr; readonly span: Span }
  /** Step predicate `every n [offset o]`: k mod n == o mod n. */
  | { readonly kind: 'every'; readonly n: Expr; readonly offset?: Expr; readonly span: Span }
  /** Step predicate `always`. */
  | { readonly kind: 'always'; readonly span: Span };

export type ExprKind = Expr['kind'];

/** `name = default` in a parameter list, or `name = value` in a variant's arguments. */
export interface Param {
  readonly name: Ident;
  readonly value: Expr;
  readonly span: Span;
}

// ---------------------------------------------------------------- models

export type ModelStmt =
  | { readonly kind: 'input'; readonly name: Ident; readonly dtype: Ident; readonly dims: readonly Expr[]; readonly span: Span }
  | { readonly kind: 'output'; readonly name: Ident; readonly value: Expr; readonly span: Span }
  | { readonly kind: 'let'; readonly name: Ident; readonly value: Expr; readonly span: Span }
  | { readonly kind: 'bind'; readonly names: readonly Ident[]; readonly value: Expr; readonly span: Span }
  | {
      readonly kind: 'for';
      readonly variable: Ident;
      readonly from: Expr;
      readonly to: Expr;
      /** `as blocks[i]`: the group name and the index variable written in brackets. */
      readonly group: Ident;
      readonly index: Ident;
      readonly weights?: StringLit;
      readonly body: readonly ModelStmt[];
      readonly span: Span;
    };

export interface ModelDecl {
  readonly kind: 'model';
  readonly name: Ident;
  readonly params: readonly Param[];
  readonly body: readonly ModelStmt[];
  readonly span: Span;
}

export interface VariantDecl {
  readonly kind: 'variant';
  /** Written as a string (`"DiT-XL/2"`) or an identifier. */
  readonly name: StringLit;
  /** A model name or another variant's name. */
  readonly base: StringLit;
  readonly args: readonly Param[];
  readonly span: Span;
}

export interface UseDecl {
  readonly kind: 'use';
  readonly path: StringLit;
  readonly span: Span;
}

// ---------------------------------------------------------------- schedules

export type IndexSel =
  | { readonly kind: 'all'; readonly span: Span }
  | { readonly kind: 'one'; readonly value: Expr; readonly span: Span }
  | { readonly kind: 'range'; readonly from: Expr; readonly to?: Expr; readonly span: Span };

/** `blocks[*].attn`, `blocks[0..14]`, `c`. */
export interface Selector {
  readonly root: Ident;
  readonly index?: IndexSel;
  readonly field?: Ident;
  readonly span: Span;
}

export type ActionAst =
  | { readonly kind: 'compute'; readonly span: Span }
  /** `compute tokens(f)` / `compute tokens(f, by = staleness | cluster(s))`: a partial compute of
   *  a fraction f of the token rows (compiler/ir/rules.ts `TokenHistory`). `by` holds the word
   *  before `=` (checked to be `by`), `order` the order's name, `size` a cluster's side. */
  | { readonly kind: 'tokens'; readonly fraction: Expr; readonly by?: Ident; readonly order?: Ident; readonly size?: Expr; readonly span: Span }
  | { readonly kind: 'reuse'; readonly span: Span }
  | { readonly kind: 'reuse_residual'; readonly span: Span }
  /** `forecast taylor(k)`, `forecast hermite(k, σ)`, `forecast foca`, `forecast exp`, `forecast
   *  linear(w)`: one forecast construct, named forms (compiler/ir/rules.ts). `form` is as written:
   *  which names exist and which arguments each takes is checked in compiler/schedule/ruleStatement.ts
   *  (`order` is the first argument, the weight for `linear`). */
  | { readonly kind: 'forecast'; readonly form: string; readonly order?: Expr; readonly scale?: Expr; readonly span: Span };

/** `when …`: a rule decided by a measured signal (`rel_l1`, `transform_rate`, on the GPU) or by a calibrated
 *  magnitude-ratio curve (`magnitude`, MagCache; static). */
export type DynamicAst =
  | {
      readonly kind: 'rel_l1';
      readonly signal: Selector;
      /** `rel_l1(residual(blocks[a..b]))`: the span's output − input. */
      readonly residual?: boolean;
      /** `since compute`: measured against the last compute, not the previous step. */
      readonly sinceCompute?: boolean;
      readonly rescale?: readonly Expr[];
      readonly threshold: Expr;
      readonly cap?: Expr;
      readonly warmup?: Expr;
      readonly max?: Expr;
      readonly total?: Expr;
      /** `per_branch`: one accumulator and one decision per CFG branch (its span, for errors). */
      readonly perBranch?: { readonly span: Span };
      readonly span: Span;
    }
  | {
      /** `transform_rate(blocks[a..b])`: EasyCache — the span's output change estimated from its
       *  input's change and the transformation rate measured at the computes. */
      readonly kind: 'transform_rate';
      readonly signal: Selector;
      readonly threshold: Expr;
      readonly warmup?: Expr;
      readonly max?: Expr;
      /** Parsed so that the checker can say they do not apply (rel_l1's and magnitude's options). */
      readonly cap?: Expr;
      readonly total?: Expr;
      readonly retain?: Expr;
      readonly perBranch?: { readonly span: Span };
      readonly span: Span;
    }
  | {
      readonly kind: 'magnitude';
      readonly curve: StringLit;
      readonly threshold: Expr;
      readonly max?: Expr;
      readonly retain?: Expr;
      /** Parsed so that the checker can say they do not apply (rel_l1's and transform_rate's options). */
      readonly warmup?: Expr;
      readonly cap?: Expr;
      readonly total?: Expr;
      readonly perBranch?: { readonly span: Span };
      readonly span: Span;
    };

/** `key = selector` in a table's or JSON file's `map(…)`. */
export interface MapEntry {
  readonly key: StringLit;
  readonly target: Selector;
  readonly span: Span;
}

export type TableSource =
  | { readonly kind: 'file'; readonly path: StringLit }
  | { readonly kind: 'generator'; readonly name: Ident; readonly args: readonly Arg[] };

export type Orientation = 'countdown' | 'sampling';

export type ScheduleStmt =
  | { readonly kind: 'steps'; readonly value: Expr; readonly span: Span }
  /** `sampler ddpm`: the sampler the schedule was made for (fitted, calibrated or searched under);
   *  compiling it for another is refused. The name is checked by the resolver (compiler/schedule/sampler.ts). */
  | { readonly kind: 'sampler'; readonly name: Ident; readonly span: Span }
  /** A condition on the parameters (and S) that must hold, with an optional explanation. */
  | { readonly kind: 'require'; readonly cond: Expr; readonly message?: StringLit; readonly span: Span }
  | { readonly kind: 'rule'; readonly targets: readonly Selector[]; readonly action: ActionAst; readonly at?: Expr; readonly when?: DynamicAst; readonly span: Span }
  | {
      readonly kind: 'table';
      readonly source: TableSource;
      readonly order: Orientation;
      readonly map?: readonly MapEntry[];
      readonly span: Span;
    }
  | { readonly kind: 'json'; readonly path: StringLit; readonly map?: readonly MapEntry[]; readonly span: Span }
  | { readonly kind: 'eps_scale'; readonly value: Expr; readonly at?: Expr; readonly span: Span }
  | { readonly kind: 'eps_piecewise'; readonly args: readonly Arg[]; readonly span: Span }
  /** `cfg_cache [(low: g, high: g, boundary: b)] [at PRED]` (FasterCache's CFG-Cache). */
  | { readonly kind: 'cfg_cache'; readonly args: readonly Arg[]; readonly at?: Expr; readonly span: Span }
  | { readonly kind: 'branch'; readonly branch: 'cond' | 'uncond'; readonly body: readonly ScheduleStmt[]; readonly span: Span };

export interface ScheduleDecl {
  readonly kind: 'schedule';
  readonly name: Ident;
  readonly params: readonly Param[];
  readonly model: StringLit;
  readonly body: readonly ScheduleStmt[];
  readonly span: Span;
}

export type Decl = UseDecl | ModelDecl | VariantDecl | ScheduleDecl;

export interface ProgramAst {
  readonly file: string;
  readonly decls: readonly Decl[];
}
