/**
 * Elementwise family: kernels generated from small expression trees, one invocation per element of
 * a logical iteration shape. Used for CFG combine, eps scale, DDPM/DDIM updates, Taylor forecast,
 * reuse-and-gate, position-embedding add.
 *
 * Every input and output is a strided VIEW of a flat buffer: `offset + Σ strides[k]·i[k]` over the
 * iteration coordinates. Stride 0 broadcasts (a [B, D] gate over tokens: strides [rowStride, 0, 1]);
 * the offset selects a chunk. Per-step scalars (sampler coefficients) are uniforms so one pipeline
 * serves every step; fixed scalars are consts baked into the text.
 *
 * An `{ op: 'output' }` leaf reads an output's current value at its own element (in-place updates
 * such as x ← x + …, which WebGPU cannot express by binding one buffer twice). Every value is read
 * before any output is written.
 */
import { DittoError } from '../../core/errors.ts';
import { assertPositiveInts, cacheKey, checkBindingSizes, declareBindings, enables, f32Lit, fold1d } from './common.ts';
import { ACTIVATIONS_WGSL } from './common.ts';
import type { AdapterCaps, EmittedKernel, KernelBinding, StorageDType } from './types.ts';

export type UnaryFn = 'neg' | 'exp' | 'sqrt' | 'log' | 'silu' | 'gelu_tanh';
/** min, max and pow are WGSL's built-ins (pow of a positive base only: the caller keeps it so). */
export type BinaryFn = 'add' | 'sub' | 'mul' | 'div' | 'min' | 'max' | 'pow';

export type Expr =
  | { op: 'input'; index: number }
  | { op: 'output'; index: number }
  | { op: 'const'; value: number }
  | { op: 'uniform'; index: number }
  | { op: UnaryFn; a: Expr }
  | { op: BinaryFn; a: Expr; b: Expr };

/** Small constructors so expression trees read like formulas. */
export const ex = {
  input: (index: number): Expr => ({ op: 'input', index }),
  output: (index: number): Expr => ({ op: 'output', index }),
  c: (value: number): Expr => ({ op: 'const', value }),
  u: (index: number): Expr => ({ op: 'uniform', index }),
  neg: (a: Expr): Expr => ({ op: 'neg', a }),
  exp: (a: Expr): Expr => ({ op: 'exp', a }),
  sqrt: (a: Expr): Expr => ({ op: 'sqrt', a }),
  log: (a: Expr): Expr => ({ op: 'log', a }),
  silu: (a: Expr): Expr => ({ op: 'silu', a }),
  gelu: (a: Expr): Expr => ({ op: 'gelu_tanh', a }),
  add: (a: Expr, b: Expr): Expr => ({ op: 'add', a, b }),
  sub: (a: Expr, b: Expr): Expr => ({ op: 'sub', a, b }),
  mul: (a: Expr, b: Expr): Expr => ({ op: 'mul', a, b }),
  div: (a: Expr, b: Expr): Expr => ({ op: 'div', a, b }),
  min: (a: Expr, b: Expr): Expr => ({ op: 'min', a, b }),
  max: (a: Expr, b: Expr): Expr => ({ op: 'max', a, b }),
  pow: (a: Expr, b: Expr): Expr => ({ op: 'pow', a, b }),
};

export interface TensorView {
  offset: number;
  /** One stride per axis of the iteration shape; 0 broadcasts along that axis. */
  strides: number[];
}

/** Row-major contiguous view of `shape` at `offset`. */
export function contiguousView(shape: readonly number[], offset = 0): TensorView {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    strides[k] = shape[k] === 1 ? 0 : s;
    s *= shape[k]!;
  }
  return { offset, strides };
}

export interface ElementwiseInput {
  name: string;
  view: TensorView;
  dtype?: StorageDType;
}

export interface ElementwiseOutput {
  name: string;
  view: TensorView;
  expr: Expr;
}

export interface ElementwiseProblem {
  /** Logical iteration shape (any rank ≥ 1). */
  shape: number[];
  inputs: ElementwiseInput[];
  outputs: ElementwiseOutput[];
  /** Number of f32 uniforms the expressions read (`{ op: 'uniform', index }` < uniforms). */
  uniforms?: number;
  /** Optional label written into the WGSL header comment (e.g. `cfg_combine`). */
  label?: string;
}

export interface ElementwiseConfig {
  shape: number[];
  inputs: Required<ElementwiseInput>[];
  outputs: ElementwiseOutput[];
  uniforms: number;
  label: string;
  threads: number;
  maxWorkgroupsPerDimension: number;
}

const UNARY: readonly string[] = ['neg', 'exp', 'sqrt', 'log', 'silu', 'gelu_tanh'];
const INFIX: Partial<Record<BinaryFn, string>> = { add: '+', sub: '-', mul: '*', div: '/' };

function checkExpr(e: Expr, p: ElementwiseProblem, where: string): void {
  const bad = (msg: string) => new DittoError('E_INTERNAL', `elementwise ${where}: ${msg}`);
  switch (e.op) {
    case 'input':
      if (!(e.index >= 0 && e.index < p.inputs.length)) throw bad(`input ${e.index} does not exist (${p.inputs.length} inputs)`);
      return;
    case 'output':
      if (!(e.index >= 0 && e.index < p.outputs.length)) throw bad(`output ${e.index} does not exist`);
      return;
    case 'uniform':
      if (!(e.index >= 0 && e.index < (p.uniforms ?? 0))) throw bad(`uniform ${e.index} does not exist (${p.uniforms ?? 0} uniforms)`);
      return;
    case 'const':
      if (!Number.isFinite(e.value)) throw bad(`constant ${e.value} is not finite`);
      return;
    case 'add': case 'sub': case 'mul': case 'div': case 'min': case 'max': case 'pow':
      checkExpr(e.a, p, where);
      checkExpr(e.b, p, where);
      return;
    default:
      if (!UNARY.includes(e.op)) throw bad(`unknown op '${(e as { op: string }).op}'`);
      checkExpr(e.a, p, where);
  }
}

export function selectElementwise(p: ElementwiseProblem, caps: AdapterCaps): ElementwiseConfig {
  if (p.shape.length === 0) throw new DittoError('E_INTERNAL', 'elementwise: empty iteration shape');
  p.shape.forEach((d, k) => assertPositiveInts('elementwise', { [`shape[${k}]`]: d }));
  if (p.outputs.length === 0) throw new DittoError('E_INTERNAL', 'elementwise: no outputs');
  for (const v of [...p.inputs, ...p.outputs]) {
    if (v.view.strides.length !== p.shape.length) throw new DittoError('E_INTERNAL', `elementwise: view of '${v.name}' has ${v.view.strides.length} strides for a rank-${p.shape.length} shape`);
    if (v.view.offset < 0 || v.view.strides.some((s) => !Number.isInteger(s) || s < 0)) throw new DittoError('E_INTERNAL', `elementwise: view of '${v.name}' has a negative or fractional stride/offset`);
  }
  for (const o of p.outputs) checkExpr(o.expr, p, `output '${o.name}'`);
  for (const i of p.inputs) if (i.dtype === 'f16' && !caps.hasF16) throw new DittoError('E_GPU', 'elementwise: f16 storage needs shader-f16');
  const names = [...p.inputs, ...p.outputs].map((v) => v.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i || !/^[a-z][a-z0-9_]*$/i.test(n) || n === 'u');
  if (dup !== undefined) throw new DittoError('E_INTERNAL', `elementwise: binding name '${dup}' is repeated or not a plain identifier`);
  const c: ElementwiseConfig = {
    shape: [...p.shape],
    inputs: p.inputs.map((i) => ({ name: i.name, view: i.view, dtype: i.dtype ?? 'f32' })),
    outputs: p.outputs,
    uniforms: p.uniforms ?? 0,
    label: p.label ?? 'elementwise',
    threads: Math.min(caps.isSoftware ? 64 : 256, caps.maxInvocations),
    maxWorkgroupsPerDimension: caps.maxWorkgroupsPerDimension,
  };
  checkBindingSizes('elementwise', elementwiseBindings(c), caps);
  return c;
}

export function elementwiseKey(c: ElementwiseConfig): string {
  return cacheKey('elementwise', c);
}

function viewExtent(shape: readonly number[], v: TensorView): number {
  return v.offset + shape.reduce((acc, d, k) => acc + (d - 1) * v.strides[k]!, 0) + 1;
}

function elementwiseBindings(c: ElementwiseConfig): KernelBinding[] {
  const b: KernelBinding[] = c.inputs.map((i) => ({ name: i.name, access: 'read', elemType: i.dtype, elements: viewExtent(c.shape, i.view) }));
  for (const o of c.outputs) b.push({ name: o.name, access: 'read_write', elemType: 'f32', elements: viewExtent(c.shape, o.view) });
  if (c.uniforms > 0) b.push({ name: 'u', access: 'uniform', elemType: 'f32', elements: c.uniforms });
  return b;
}

/** WGSL index expression of a view, from the iteration coordinates `i0, i1, …`. */
function viewIndex(shape: readonly number[], v: TensorView): string {
  const contiguous = contiguousView(shape, v.offset);
  if (contiguous.strides.every((s, k) => s === v.strides[k] || shape[k] === 1)) return v.offset ? `${v.offset}u + idx` : 'idx';
  const terms = v.strides.map((s, k) => (s === 0 || shape[k] === 1 ? '' : s === 1 ? `i${k}` : `i${k} * ${s}u`)).filter(Boolean);
  if (v.offset) terms.unshift(`${v.offset}u`);
  return terms.length ? terms.join(' + ') : '0u';
}

function exprWgsl(e: Expr, c: ElementwiseConfig, outIdx: readonly string[]): string {
  switch (e.op) {
    case 'input': return `v_in${e.index}`;
    case 'output': return `${ident(c.outputs[e.index]!.name)}[${outIdx[e.index]}]`;
    case 'const': return f32Lit(e.value);
    case 'uniform': return `u.v[${e.index >> 2}][${e.index & 3}]`;
    case 'neg': return `(-(${exprWgsl(e.a, c, outIdx)}))`;
    case 'exp': case 'sqrt': case 'log': case 'silu': case 'gelu_tanh':
      return `${e.op}(${exprWgsl(e.a, c, outIdx)})`;
    case 'min': case 'max': case 'pow':
      return `${e.op}(${exprWgsl(e.a, c, outIdx)}, ${exprWgsl(e.b, c, outIdx)})`;
    default: return `(${exprWgsl(e.a, c, outIdx)} ${INFIX[e.op]} ${exprWgsl(e.b, c, outIdx)})`;
  }
}

/** WGSL identifier of a binding: prefixed, so plan-chosen names never hit WGSL keywords. */
function ident(name: string): string {
  return name === 'u' ? 'u' : `t_${name}`;
}

function usedInputs(e: Expr, into: Set<number>): Set<number> {
  if (e.op === 'input') into.add(e.index);
  else if ('a' in e) {
    usedInputs(e.a, into);
    if ('b' in e) usedInputs(e.b, into);
  }
  return into;
}

export function emitElementwise(c: ElementwiseConfig): EmittedKernel {
  const bindings = elementwiseBindings(c);
  const total = c.shape.reduce((a, b) => a * b, 1);
  const dispatch = fold1d(Math.ceil(total / c.threads), c.maxWorkgroupsPerDimension);
  const L: string[] = [];
  L.push(`// ditto elementwise ${c.label}: shape [${c.shape.join(', ')}]`);
  L.push(enables(bindings.map((b) => b.elemType)) + declareBindings(bindings, ident));
  L.push(ACTIVATIONS_WGSL);
  L.push(`const TOTAL = ${total}u;`);
  L.push(`@compute @workgroup_size(${c.threads})`);
  L.push(`fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {`);
  L.push(`  let idx = (wid.x + wid.y * ${dispatch[0]}u) * ${c.threads}u + lid;`);
  L.push(`  if (idx >= TOTAL) { return; }`);
  // Coordinates of idx in the iteration shape (only emitted when some view is not contiguous).
  let rest = 1;
  const coords: string[] = [];
  for (let k = c.shape.length - 1; k >= 0; k--) {
    const d = c.shape[k]!;
    coords.unshift(k === 0 ? `  let i${k} = idx / ${rest}u;` : `  let i${k} = (idx / ${rest}u) % ${d}u;`);
    rest *= d;
  }
  const inIdx = c.inputs.map((i) => viewIndex(c.shape, i.view));
  const outIdx = c.outputs.map((o) => viewIndex(c.shape, o.view));
  if ([...inIdx, ...outIdx].some((s) => /\bi\d/.test(s))) L.push(...coords);
  const used = new Set<number>();
  for (const o of c.outputs) usedInputs(o.expr, used);
  c.inputs.forEach((inp, n) => {
    if (used.has(n)) L.push(`  let v_in${n} = f32(${ident(inp.name)}[${inIdx[n]}]);`);
  });
  c.outputs.forEach((o, n) => L.push(`  let r${n} = ${exprWgsl(o.expr, c, outIdx)};`));
  c.outputs.forEach((o, n) => L.push(`  ${ident(o.name)}[${outIdx[n]}] = r${n};`));
  L.push(`}`, '');
  return { family: 'elementwise', key: elementwiseKey(c), wgsl: L.join('\n'), entryPoint: 'main', workgroupSize: [c.threads, 1, 1], bindings, dispatch };
}
