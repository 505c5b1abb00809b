/**
 * Matmul family: C[M, N] = epilogue(A'[M, K] · W[N, K]ᵀ), W in PyTorch Linear layout [out, in].
 *
 * A' is A read through a layout (plain rows with offset/row stride, so chunked views need no copy;
 * or the patches of an image, which makes patch_embed an indexed matmul), optionally through SiLU
 * (adaLN: all adaLN projections of a step as one matmul over silu(c)). Epilogue, in order:
 * + bias[N], GELU-tanh, then `residual + gate ⊙ v` with a per-sample gate (row r belongs to
 * sample ⌊r / tokens⌋). An optional batch runs independent problems in dispatch z.
 *
 * Variants (matmulCommon.ts describes each; docs/kernels.md has the measured figures):
 * - `subgroup` (software adapters, matmulSubgroup.ts);
 * - `tiled` (hardware: 128×128 / 128×64 tiles with 8×8 per invocation, 64×64 / 32×32 with 4×4;
 *   vec4 loads, double buffering, optional f16 math; matmulTiled.ts);
 * - `subgroup_matrix` (adapters exposing Dawn's experimental subgroup matrices; matmulSubgroupMatrix.ts).
 * `selectMatmul` picks the default; `matmulCandidates` lists the alternatives `ditto tune` times.
 * Ragged edges (M, N, K not multiples of the tile) are guarded, never padded, in every variant.
 */
import { DittoError } from '../../core/errors.ts';
import { ACTIVATIONS_WGSL, assertNonNegInts, assertPositiveInts, canonicalJson, ceilDiv, checkBindingSizes, enables } from './common.ts';
import {
  declareMatmulBindings, matmulBindings, matmulKey, matmulPreamble, vec4Eligible,
  type MatmulALayout, type MatmulConfig, type MatmulProblem, type MatmulSubgroupMatrixVariant, type MatmulSubgroupVariant,
  type MatmulTiledVariant, type MatmulVariant,
} from './matmulCommon.ts';
import { emitSubgroupMatmul } from './matmulSubgroup.ts';
import { emitSubgroupMatrixMatmul, subgroupMatrixStorageBytes, subgroupMatrixTile } from './matmulSubgroupMatrix.ts';
import { emitTiledMatmul, tiledStorageBytes, tiledThreads } from './matmulTiled.ts';
import type { AdapterCaps, EmittedKernel, SubgroupMatrixConfig } from './types.ts';

export * from './matmulCommon.ts';
export { tiledStorageBytes, tiledThreads } from './matmulTiled.ts';
export { subgroupMatrixStorageBytes } from './matmulSubgroupMatrix.ts';

interface Shape {
  M: number;
  N: number;
  K: number;
  a: MatmulALayout;
  wBatchStride: number;
}

/** The adapter can run the subgroup (software) variant: lavapipe-class adapters with subgroups. */
function softwareSubgroups(caps: AdapterCaps): boolean {
  return caps.isSoftware && caps.hasSubgroups && caps.subgroupMinSize >= 4;
}

function subgroupVariant(s: Shape, caps: AdapterCaps, rows: number, cols: number, kBlock: number): MatmulSubgroupVariant {
  const sg = Math.min(8, caps.subgroupMinSize);
  // Fewer rows than the subgroup when M is small (adaLN GEMV, M = batch): lanes past `rows` load a
  // clamped row that is never broadcast, and no FMAs are spent on absent rows.
  const r = s.M < sg ? s.M : Math.min(rows, sg * Math.ceil(s.M / sg));
  // Two subgroups per workgroup (docs/lavapipe.md "Kernels on the software adapter"); one when N is narrow, to waste fewer columns.
  const lanes = Math.min(caps.maxInvocations, s.N <= cols * sg ? sg : 2 * sg);
  const vec = vec4Eligible(s);
  return { kind: 'subgroup', rows: r, lanes, subgroup: sg, cols, kBlock, unroll: 1, vec4A: vec.a, vec4W: vec.w };
}

function tiledVariant(s: Shape, caps: AdapterCaps, f16Math: boolean, tileM: number, tileN: number, tileK: number, stages: 1 | 2): MatmulTiledVariant {
  const vec = vec4Eligible(s);
  const thread = tileM >= 128 ? 8 : 4;
  const threads = (tileM / thread) * (tileN / thread);
  // vec4 loads where aligned and the tile's vec4s split evenly over the invocations.
  const vec4A = vec.a && ((tileM * tileK) / 4) % threads === 0;
  const vec4W = vec.w && ((tileN * tileK) / 4) % threads === 0;
  return { kind: 'tiled', tileM, tileN, tileK, threadM: thread, threadN: thread, vec4A, vec4W, stages, math: f16Math ? 'f16' : 'f32' };
}

function tiledFits(v: MatmulTiledVariant, caps: AdapterCaps): boolean {
  const threads = tiledThreads(v);
  const splits = (rows: number, vec: boolean) => ((rows * v.tileK) / (vec ? 4 : 1)) % threads === 0;
  return threads <= caps.maxInvocations && tiledStorageBytes(v) <= caps.maxWorkgroupStorage && splits(v.tileM, v.vec4A) && splits(v.tileN, v.vec4W);
}

/** The adapter's subgroup-matrix configuration for this math (f16 or f32 operands, f32 results), if any. */
function subgroupMatrixConfig(caps: AdapterCaps, f16Math: boolean): SubgroupMatrixConfig | undefined {
  const want = f16Math ? 'f16' : 'f32';
  return (caps.subgroupMatrixConfigs ?? []).find((m) => m.componentType === want && m.resultComponentType === 'f32');
}

function subgroupMatrixVariant(caps: AdapterCaps, m: SubgroupMatrixConfig, frags: number): MatmulSubgroupMatrixVariant {
  return {
    kind: 'subgroup_matrix', fragM: m.M, fragN: m.N, fragK: m.K, component: m.componentType as 'f16' | 'f32',
    subgroupSize: caps.subgroupMaxSize, fragsM: frags, fragsN: frags, tileK: 2 * m.K,
  };
}

function subgroupMatrixFits(v: MatmulSubgroupMatrixVariant, caps: AdapterCaps): boolean {
  return v.subgroupSize > 0 && subgroupMatrixTile(v).threads <= caps.maxInvocations && subgroupMatrixStorageBytes(v) <= caps.maxWorkgroupStorage;
}

/**
 * The default variant: subgroup on software adapters, subgroup matrices where the adapter has a
 * configuration for the math, else tiles — 128×128 (8×8 per invocation) when that still gives at
 * least 96 workgroups, then 128×64, else 64×64 / 32×32 (4×4 per invocation); double-buffered where
 * workgroup memory allows. `ditto tune` measures the alternatives (matmulCandidates).
 */
function defaultVariant(s: Shape, caps: AdapterCaps, f16Math: boolean): MatmulVariant {
  if (softwareSubgroups(caps)) return subgroupVariant(s, caps, 16, 4, 4);
  const sm = subgroupMatrixConfig(caps, f16Math);
  if (sm && !caps.isSoftware) {
    const v = subgroupMatrixVariant(caps, sm, 2);
    if (subgroupMatrixFits(v, caps)) return v;
  }
  const groups = (tm: number, tn: number) => ceilDiv(s.M, tm) * ceilDiv(s.N, tn);
  const shapes: [number, number][] = [];
  if (groups(128, 128) >= 96) shapes.push([128, 128]);
  if (groups(128, 64) >= 96) shapes.push([128, 64]);
  if (s.M >= 64 && s.N >= 64) shapes.push([64, 64]);
  shapes.push([32, 32]);
  for (const [tm, tn] of shapes) {
    for (const [tk, stages] of [[16, 2], [8, 2], [16, 1], [8, 1], [4, 1]] as const) {
      const v = tiledVariant(s, caps, f16Math, tm, tn, tk, stages);
      if (tiledFits(v, caps)) return v;
    }
  }
  throw new DittoError('E_GPU', `matmul: this adapter's workgroup limits (${caps.maxWorkgroupStorage} bytes, ${caps.maxInvocations} invocations) are below WebGPU's minimum`);
}

/**
 * Every variant worth timing for this problem on this adapter (the default first), for `ditto tune`.
 * All of them compute the same result within the kernel tolerance; they differ in speed only.
 */
export function matmulCandidates(c: MatmulConfig, caps: AdapterCaps): MatmulVariant[] {
  const f16Math = c.variant.kind === 'tiled' ? c.variant.math === 'f16' : c.variant.kind === 'subgroup_matrix' ? c.variant.component === 'f16' : false;
  const s: Shape = c;
  const out: MatmulVariant[] = [defaultVariant(s, caps, f16Math)];
  const add = (v: MatmulVariant) => {
    if (!out.some((o) => canonicalJson(o) === canonicalJson(v))) out.push(v);
  };
  if (softwareSubgroups(caps)) {
    for (const [rows, cols, kBlock] of [[8, 4, 8], [16, 4, 8], [8, 4, 4], [24, 4, 4], [8, 8, 4]] as const) add(subgroupVariant(s, caps, rows, cols, kBlock));
    return out;
  }
  const sm = subgroupMatrixConfig(caps, f16Math);
  if (sm && !caps.isSoftware) {
    for (const frags of [1, 2]) {
      const v = subgroupMatrixVariant(caps, sm, frags);
      if (subgroupMatrixFits(v, caps)) add(v);
    }
  }
  for (const [tm, tn] of [[128, 128], [128, 64], [64, 64], [32, 32]] as const) {
    for (const [tk, stages] of [[16, 2], [8, 2], [16, 1]] as const) {
      const v = tiledVariant(s, caps, f16Math, tm, tn, tk, stages);
      if (tiledFits(v, caps)) add(v);
    }
  }
  return out;
}

/** `c` with another variant (a tuned choice), checked against the problem and the adapter. */
export function withMatmulVariant(c: MatmulConfig, variant: MatmulVariant, caps: AdapterCaps): MatmulConfig {
  checkVariant(c, variant, caps, false);
  return { ...c, variant };
}

/** A variant handed in (a tuned plan, the tuning cache) must fit this problem and adapter. */
function checkVariant(s: Shape, v: MatmulVariant, caps: AdapterCaps, f16Math: boolean): void {
  const bad = (why: string): never => {
    throw new DittoError('E_GPU', `matmul variant ${canonicalJson(v)} cannot run on this adapter: ${why}`);
  };
  if (v.kind === 'subgroup') {
    if (!caps.hasSubgroups || caps.subgroupMinSize < v.subgroup) bad('it needs subgroups of at least ' + v.subgroup + ' invocations');
    if (v.rows > v.subgroup && v.rows % v.subgroup) bad('rows must be a multiple of the subgroup width');
    if (v.cols % 4 || (v.kBlock !== 4 && v.kBlock !== 8) || v.unroll < 1 || v.lanes > caps.maxInvocations) bad('malformed subgroup variant');
    const ok = vec4Eligible(s);
    if ((v.vec4A && !ok.a) || (v.vec4W && !ok.w)) bad('vec4 loads need 16-byte aligned rows');
  } else if (v.kind === 'tiled') {
    const ok = vec4Eligible(s);
    if ((v.vec4A && !ok.a) || (v.vec4W && !ok.w)) bad('vec4 loads need 16-byte aligned rows');
    if (v.math === 'f16' && !caps.hasF16) bad('f16 math needs shader-f16');
    if (!tiledFits(v, caps)) bad('the tile exceeds the workgroup limits');
  } else {
    const have = (caps.subgroupMatrixConfigs ?? []).some((m) => m.M === v.fragM && m.N === v.fragN && m.K === v.fragK && m.componentType === v.component && m.resultComponentType === 'f32');
    if (!have) bad('the adapter has no such subgroup-matrix configuration');
    if (!subgroupMatrixFits(v, caps)) bad('the tile exceeds the workgroup limits');
  }
  void f16Math;
}

/**
 * Resolves a problem for an adapter: every default filled in and a variant chosen (or `choice`, a
 * variant from `matmulCandidates`, as `ditto tune` does; it is checked against the adapter).
 */
export function selectMatmul(p: MatmulProblem, caps: AdapterCaps, choice?: MatmulVariant): MatmulConfig {
  const batch = p.batch ?? 1;
  assertPositiveInts('matmul', { M: p.M, N: p.N, K: p.K, batch });
  const a: MatmulALayout = p.a ?? { kind: 'rows', offset: 0, rowStride: p.K, batchStride: p.M * p.K };
  if (a.kind === 'rows') {
    assertNonNegInts('matmul', { aOffset: a.offset, aBatchStride: a.batchStride });
    if (a.rowStride < p.K) throw new DittoError('E_INTERNAL', `matmul: A row stride ${a.rowStride} is smaller than K=${p.K}`);
  } else {
    assertPositiveInts('matmul', { channels: a.channels, height: a.height, width: a.width, patch: a.patch });
    if (a.offset !== undefined) assertPositiveInts('matmul', { patchesOffset: a.offset });
    if (a.height % a.patch || a.width % a.patch) {
      throw new DittoError('E_INTERNAL', `matmul: image ${a.height}×${a.width} is not a multiple of patch ${a.patch}`);
    }
    if (p.K !== a.channels * a.patch * a.patch) throw new DittoError('E_INTERNAL', `matmul: patches need K = C·p² = ${a.channels * a.patch * a.patch}, got ${p.K}`);
    if (p.M % ((a.height / a.patch) * (a.width / a.patch))) throw new DittoError('E_INTERNAL', `matmul: M=${p.M} is not a whole number of images`);
    if (batch !== 1) throw new DittoError('E_INTERNAL', 'matmul: the patches layout does not take a batch');
  }
  const cRowStride = p.cRowStride ?? p.N;
  if (cRowStride < p.N) throw new DittoError('E_INTERNAL', `matmul: C row stride ${cRowStride} is smaller than N=${p.N}`);
  const wDtype = p.wDtype ?? 'f32';
  if (wDtype === 'f16' && !caps.hasF16) throw new DittoError('E_GPU', 'matmul: f16 weights need the adapter feature shader-f16, which this adapter lacks');
  const biasDtype = p.biasDtype ?? 'f32';
  if (biasDtype === 'f16' && !caps.hasF16) throw new DittoError('E_GPU', 'matmul: an f16 bias needs the adapter feature shader-f16, which this adapter lacks');
  const f16Math = p.f16Math ?? false;
  if (f16Math && !caps.hasF16) throw new DittoError('E_GPU', 'matmul: f16 math needs the adapter feature shader-f16, which this adapter lacks');
  const g = p.gatedResidual ?? null;
  if (g) assertPositiveInts('matmul', { tokens: g.tokens });
  const shape = { M: p.M, N: p.N, K: p.K, a, wBatchStride: p.wBatchStride ?? 0 };
  const variant = choice ?? defaultVariant(shape, caps, f16Math);
  checkVariant(shape, variant, caps, f16Math);
  const config: MatmulConfig = {
    M: p.M, N: p.N, K: p.K, batch, a,
    wBatchStride: p.wBatchStride ?? 0,
    cOffset: p.cOffset ?? 0,
    cRowStride,
    cBatchStride: p.cBatchStride ?? p.M * cRowStride,
    wDtype,
    siluInput: p.siluInput ?? false,
    bias: p.bias ?? false,
    biasDtype,
    gelu: p.gelu ?? false,
    gatedResidual: g,
    variant,
    maxWorkgroupsPerDimension: caps.maxWorkgroupsPerDimension,
  };
  checkBindingSizes('matmul', matmulBindings(config), caps);
  return config;
}

function dispatchOf(c: MatmulConfig): [number, number, number] {
  const v = c.variant;
  if (v.kind === 'subgroup') return [ceilDiv(c.M, v.rows), ceilDiv(c.N, v.cols * v.lanes), c.batch];
  if (v.kind === 'tiled') return [ceilDiv(c.N, v.tileN), ceilDiv(c.M, v.tileM), c.batch];
  const { TM, TN } = subgroupMatrixTile(v);
  return [ceilDiv(c.N, TN), ceilDiv(c.M, TM), c.batch];
}

export function emitMatmul(c: MatmulConfig): EmittedKernel {
  const bindings = matmulBindings(c);
  const v = c.variant;
  const dispatch = dispatchOf(c);
  if (dispatch.some((d) => d > c.maxWorkgroupsPerDimension)) {
    throw new DittoError('E_GPU', `matmul ${c.M}×${c.N}×${c.K} (batch ${c.batch}) needs ${dispatch.join('×')} workgroups, over this adapter's ${c.maxWorkgroupsPerDimension} per dimension`);
  }
  const vec = v.kind === 'subgroup_matrix' ? { a: false, w: false } : { a: v.vec4A, w: v.vec4W };
  const types = bindings.map((b) => b.elemType);
  if ((v.kind === 'tiled' && v.math === 'f16') || (v.kind === 'subgroup_matrix' && v.component === 'f16')) types.push('f16');
  const header = `// ditto matmul ${v.kind}: C[${c.M},${c.N}] = A[${c.M},${c.K}] * W[${c.N},${c.K}]^T, batch ${c.batch}\n`;
  const extension = v.kind === 'subgroup_matrix' ? 'enable chromium_experimental_subgroup_matrix;\n' : '';
  const body = v.kind === 'subgroup' ? emitSubgroupMatmul(c, v) : v.kind === 'tiled' ? emitTiledMatmul(c, v) : emitSubgroupMatrixMatmul(c, v);
  const wgsl = [
    header + enables(types, v.kind === 'subgroup') + extension,
    declareMatmulBindings(c, vec),
    ACTIVATIONS_WGSL,
    matmulPreamble(c, vec),
    body,
    '',
  ].join('\n');
  const workgroupSize: [number, number, number] =
    v.kind === 'tiled' ? [v.tileN / v.threadN, v.tileM / v.threadM, 1] : v.kind === 'subgroup' ? [v.lanes, 1, 1] : [subgroupMatrixTile(v).threads, 1, 1];
  return { family: 'matmul', key: matmulKey(c), wgsl, entryPoint: 'main', workgroupSize, bindings, dispatch };
}
